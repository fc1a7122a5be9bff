"""detect: people in a frame, with a YOLOX detector (ONNX Runtime, TensorRT or torch).

Pose-guided (MediaPipe style) when the optional ``previous`` input is wired as a back edge
from the pose (or smoother) output and ``every`` > 1: the detector then runs only every
``every`` frames or when a person may be lost or entering (see
:mod:`rtpose.tracking.guided`); on the other frames each tracked person's box is taken
from their keypoints on the previous frame, and the tracker keeps their id by IoU.
"""

from __future__ import annotations

from pydantic import Field

from rtpose.api import Detections, Image, Node, Params, Poses, register_node
from rtpose.models.registry import resolve_model
from rtpose.models.yolox import YoloxDetector
from rtpose.tracking.guided import DetectionSchedule


class DetectParams(Params):
    model: str = Field("yolox_nano", description="a known model name (`rtpose models list`) or a .onnx/.engine path")
    backend: str = Field("auto", description="auto, onnxruntime, tensorrt or torch")
    device: str = Field("auto", description="auto, cpu or cuda")
    score_threshold: float = Field(0.3, ge=0, le=1, description="objectness x class score to keep a box")
    nms_threshold: float = Field(0.45, ge=0, le=1, description="IoU above which overlapping boxes are merged")
    max_people: int = Field(20, ge=1, description="keep at most this many boxes, best first")
    classes: list[int] = Field([0], description="COCO class ids to keep (0 = person)")
    threads: int | None = Field(None, ge=1, description="ONNX Runtime threads (default: half the cores)")
    every: int = Field(1, ge=1, description=(
        "With `previous` wired: run the detector at least every N frames, else take boxes from the previous "
        "keypoints (1: every frame)"))
    guide_min_keypoints: int = Field(8, ge=1, le=17, description=(
        "A previous pose with fewer confident keypoints is weak: run the detector"))
    guide_min_score: float = Field(0.5, ge=0, le=1, description=(
        "A previous pose whose confident keypoints score below this on average is weak: run the detector"))
    guide_keypoint_score: float = Field(0.3, ge=0, le=1, description="A keypoint is confident from this score")
    guide_border: float = Field(4.0, ge=0, description=(
        "Run the detector when a pose-derived box comes this close (pixels) to the frame border"))
    guide_max_overlap: float = Field(0.3, ge=0, le=1, description=(
        "Run the detector when two pose-derived boxes overlap more than this IoU (people crossing)"))


@register_node("detect")
class Detect(Node):
    """Finds people: letterbox, one inference, grid decode and NMS."""

    inputs = {"image": Image, "previous": Poses}
    optional_inputs = frozenset({"previous"})
    outputs = {"detections": Detections}
    Params = DetectParams

    def open(self) -> None:
        p = self.params
        options = {"threads": p.threads} if p.threads else {}
        self.detector = YoloxDetector(resolve_model(p.model), backend=p.backend, device=p.device,
                                      score_threshold=p.score_threshold, nms_threshold=p.nms_threshold,
                                      classes=tuple(p.classes), max_detections=p.max_people, **options)
        self.schedule = DetectionSchedule(every=p.every, min_score=p.guide_keypoint_score,
                                          min_keypoints=p.guide_min_keypoints, min_mean_score=p.guide_min_score,
                                          border=p.guide_border, max_overlap=p.guide_max_overlap)

    def process(self, image: Image, previous: Poses | None = None) -> dict:
        # without `previous` wired (or with every: 1) the schedule always says run: today's behaviour
        decision = self.schedule.decide(previous, image.width, image.height)
        if decision.run or previous is None:
            detections = self.detector(image.pixels)
            self.schedule.detected(detections)
            return {"detections": detections}
        return {"detections": self.schedule.boxes(previous)}

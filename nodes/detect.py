"""detect: people in a frame, with a YOLOX detector (ONNX Runtime, TensorRT or torch).

Pose-guided (MediaPipe style) when the optional ``previous`` input is wired as a back edge
from the tracker's output and ``every`` > 1: the detector then runs only every ``every``
frames or when a person may be lost, entering or crossing someone (see
:class:`rtpose.tracking.guided.DetectionSchedule`), and outputs no detections on the other
frames; the tracker, fed the previous poses, continues each person from their keypoints.
The first frame of every segment (each photo of a folder, the frame after a loop or a
reconnect) is always detected: ``reset()`` restarts the schedule.
"""

from __future__ import annotations

import time

from pydantic import Field

from rtpose.api import Detections, Image, Node, Params, Tracks, register_node
from rtpose.backends.batching import join_batch_group
from rtpose.models.registry import node_model
from rtpose.models.yolox import YoloxDetector
from rtpose.tracking.guided import DetectionSchedule


class DetectParams(Params):
    model: str = Field("yolox_nano", description="a known model name (`rtpose models list`) or a .onnx/.engine path")
    backend: str = Field("auto", description="auto, onnxruntime, tensorrt, torch, or triton (a model served "
                                             "by `rtpose serve` elsewhere; set url)")
    url: str | None = Field(None, description="backend triton: the server's host:port (gRPC), e.g. gpu-box:8001")
    reconnect: int = Field(0, ge=0, description="backend triton: attempts to reach a server that stopped "
                                               "answering before failing (0: fail at once)")
    device: str = Field("auto", description="auto, cpu or cuda")
    score_threshold: float = Field(0.3, ge=0, le=1, description="objectness x class score to keep a box")
    nms_threshold: float = Field(0.45, ge=0, le=1, description="IoU above which overlapping boxes are merged")
    max_people: int = Field(20, ge=1, description="keep at most this many boxes, best first")
    classes: list[int] = Field([0], description="COCO class ids to keep (0 = person)")
    threads: int | None = Field(None, ge=1, description="ONNX Runtime threads (default: half the cores)")
    every: int = Field(1, ge=1, description=(
        "With `previous` wired: run the detector at least every N frames, and in between only when a "
        "track was lost, touches the border, overlaps another or a new person was found (1: every frame)"))
    skip_border: float = Field(4.0, ge=0, description=(
        "Run the detector when a track box comes this close (pixels) to the frame border"))
    skip_max_overlap: float = Field(0.3, ge=0, le=1, description=(
        "Run the detector when two track boxes overlap more than this IoU (people crossing)"))
    new_person_score: float = Field(0.6, ge=0, le=1, description=(
        "Run the detector again when its last run found a box scoring at least this that no track covers "
        "(keep at or above the tracker's new_track_thresh)"))
    batch_group: str | None = Field(None, description=(
        "Nodes naming the same group (one per stream) share one model that runs their waiting frames as one "
        "batch (docs/multicam.md)"))
    batch_wait_ms: float = Field(5.0, ge=0, description="batch_group: the longest a frame waits for other streams")


@register_node("detect")
class Detect(Node):
    """Finds people: letterbox, one inference, grid decode and NMS."""

    inputs = {"image": Image, "previous": Tracks}
    optional_inputs = frozenset({"previous"})
    outputs = {"detections": Detections}
    Params = DetectParams
    _model_s = 0.0  # seconds spent in the model over the run (for stats())

    def open(self) -> None:
        p = self.params
        options = {"threads": p.threads} if p.threads else {}
        options |= {"reconnect_attempts": p.reconnect} if p.backend == "triton" else {}
        model = node_model(p.model, p.backend, p.url, self.name)
        if p.batch_group:
            model = join_batch_group(p.batch_group, model, p.backend, p.device, p.batch_wait_ms, **options)
        self.detector = YoloxDetector(model, backend=p.backend, device=p.device,
                                      score_threshold=p.score_threshold, nms_threshold=p.nms_threshold,
                                      classes=tuple(p.classes), max_detections=p.max_people, **options)
        self.schedule = DetectionSchedule(every=p.every, border=p.skip_border, max_overlap=p.skip_max_overlap,
                                          new_person_score=p.new_person_score)

    def reset(self) -> None:
        self.schedule.reset()

    def process(self, image: Image, previous: Tracks | None = None) -> dict:
        # without `previous` wired (or with every: 1) the schedule always says run
        if not self.schedule.decide(previous, image.width, image.height).run:
            return {"detections": Detections()}
        start = time.perf_counter()
        detections = self.detector(image.pixels)
        self._model_s += time.perf_counter() - start
        self.schedule.detected(detections)
        return {"detections": detections}

    def stats(self) -> dict[str, float]:
        """The share of frames the model ran on, and its cost per run (the node's own p50 mixes in
        the skipped frames, which cost nothing)."""
        runs, frames = self.schedule.runs, self.schedule.frames
        return {"ran": runs / frames if frames else 0.0, "ms_per_run": 1000 * self._model_s / runs if runs else 0.0}

    def close(self) -> None:
        if self.params.batch_group:  # leave the group; its last member closes the shared model
            self.detector.backend.close()

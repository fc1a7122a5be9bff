"""The payload types that travel on graph edges.

Each output port of a node declares one of these classes; an input port accepts
an output whose class is the same or a subclass (a ``Poses`` is also a
``Tracks`` and a ``Detections``), which is how graph validation checks wiring.
All arrays are numpy, so heavy work on them releases the GIL.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from rtpose.schemas import COCO17, KeypointSchema

COCO_KEYPOINTS: tuple[str, ...] = COCO17.keypoints
"""The 17 COCO body keypoints (the ``coco17`` schema's names)."""
COCO_SKELETON: tuple[tuple[int, int], ...] = COCO17.skeleton
COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = COCO17.flip_pairs
COCO_SIGMAS: np.ndarray = COCO17.oks_sigmas()


@dataclass(frozen=True)
class Image:
    """One video frame as it left its source.

    ``pixels`` is HxWx3 uint8 BGR (OpenCV's order). ``timestamp`` is the media time in
    seconds: the position in the file for files, the capture time for live sources; it sets
    rates and time steps (smoothing, cadence). When a frame left its source on the runtime's
    clock (``time.monotonic()``, for latency and ages) is ``Node.frame.captured``, for every
    kind of source.
    ``segment`` numbers the source's runs of continuous frames: it changes at every break
    (a video that loops or seeks, a stream that reconnects) and on every photo of a folder,
    so frames of one segment continue each other and frames of two never do.
    """

    pixels: np.ndarray
    timestamp: float
    source: str = ""
    segment: int = 0

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def _f32(rows: int, cols: int | None = None) -> np.ndarray:
    return np.zeros((rows,) if cols is None else (rows, cols), np.float32)


@dataclass
class Detections:
    """People (or objects) found in one frame.

    ``boxes`` is (N, 4) float32 ``x1, y1, x2, y2`` in image pixels, ``scores`` (N,)
    and ``class_ids`` (N,) int64 (0 = person for COCO detectors).
    """

    boxes: np.ndarray = field(default_factory=lambda: _f32(0, 4))
    scores: np.ndarray = field(default_factory=lambda: _f32(0))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(len(self.boxes))

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        self.class_ids = np.asarray(self.class_ids, np.int64).reshape(-1)
        if not (len(self.boxes) == len(self.scores) == len(self.class_ids)):
            raise ValueError(
                f"{type(self).__name__}: boxes, scores and class_ids differ in length "
                f"({len(self.boxes)}, {len(self.scores)}, {len(self.class_ids)})")


@dataclass
class Tracks(Detections):
    """Detections with a track id each (``track_ids`` (N,) int64; -1 = not tracked)."""

    track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.track_ids) == 0 and len(self.boxes):
            self.track_ids = np.full(len(self.boxes), -1, np.int64)
        self.track_ids = np.asarray(self.track_ids, np.int64).reshape(-1)
        if len(self.track_ids) != len(self.boxes):
            raise ValueError(f"Tracks: {len(self.track_ids)} track ids for {len(self.boxes)} boxes")


@dataclass
class Poses(Tracks):
    """Tracked people with keypoints.

    ``keypoints`` is (N, K, 3) float32 ``x, y, score`` in image pixels, where K and the
    meaning of each keypoint come from ``schema``. ``attributes`` holds further per-person
    values, each a sequence of length N (e.g. ``handedness``, ``keypoints_3d``, ``reps``):
    export writes them as fields of each person, and :meth:`take` keeps them aligned.
    """

    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, len(COCO17), 3), np.float32))
    schema: KeypointSchema = COCO17
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(-1, len(self.schema), 3)
        if len(self.keypoints) != len(self.boxes):
            raise ValueError(f"Poses: {len(self.keypoints)} keypoint sets for {len(self.boxes)} boxes")
        for key, values in self.attributes.items():
            if len(values) != len(self.boxes):
                raise ValueError(f"Poses: attribute {key!r} has {len(values)} values for {len(self.boxes)} people")

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        return self.schema.keypoints

    def take(self, indices: Sequence[int] | np.ndarray) -> Poses:
        """The people at ``indices`` (in that order), every array and attribute alike."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        return replace(
            self, boxes=self.boxes[idx], scores=self.scores[idx], class_ids=self.class_ids[idx],
            track_ids=self.track_ids[idx], keypoints=self.keypoints[idx],
            attributes={k: _take(v, idx) for k, v in self.attributes.items()})


def _take(values: Any, idx: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[idx]
    return [values[i] for i in idx]

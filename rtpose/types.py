"""The payload types that travel on graph edges.

Each output port of a node declares one of these classes; an input port accepts
an output whose class is the same or a subclass (a ``Poses`` is also a
``Tracks`` and a ``Detections``), which is how graph validation checks wiring.
All arrays are numpy, so heavy work on them releases the GIL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
"""The 17 COCO body keypoints, in the order every body model here outputs them."""

COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
"""Limbs as pairs of keypoint indices (the COCO dataset's own skeleton, 0-based)."""

COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

COCO_SIGMAS: np.ndarray = np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
     0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089], dtype=np.float32)
"""Per-keypoint OKS sigmas from the COCO keypoint evaluation."""


@dataclass(frozen=True)
class Image:
    """One video frame as it left its source.

    ``pixels`` is HxWx3 uint8 BGR (OpenCV's order). ``timestamp`` is in seconds:
    the position in the file for files, the monotonic capture time for live sources.
    """

    pixels: np.ndarray
    timestamp: float
    source: str = ""

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
    """Tracked people with keypoints: ``keypoints`` is (N, K, 3) float32 ``x, y, score``."""

    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, len(COCO_KEYPOINTS), 3), np.float32))
    keypoint_names: tuple[str, ...] = COCO_KEYPOINTS

    def __post_init__(self) -> None:
        super().__post_init__()
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(-1, len(self.keypoint_names), 3)
        if len(self.keypoints) != len(self.boxes):
            raise ValueError(f"Poses: {len(self.keypoints)} keypoint sets for {len(self.boxes)} boxes")

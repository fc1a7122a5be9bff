"""Pose-guided boxes (MediaPipe style): run the person detector only when it is needed.

On most frames a tracked person's box is best taken from their keypoints on the
previous frame: the pose model then re-finds them in a crop around where they
were, and the detector (the costliest model of the body graph) can be skipped.
The detector still runs

- every ``every`` frames (counted from its last run), to find people who entered,
- when there is no previous pose at all (start of the stream, nobody tracked),
- when a previous pose is weak (too few confident keypoints, or a low mean score):
  the person may be lost, half hidden or the crop may have slipped off them,
- when a pose-derived box touches the frame border: someone may be leaving or entering,
- when two pose-derived boxes overlap (people crossing): a crop around one person can
  latch onto the other, which only a detector run can tell apart,
- when the detector's last run found someone no previous pose covers (a person who just
  entered, or a track not yet confirmed: the tracker needs ``min_hits`` detections in a row
  before it reports, and poses, a new person).

Pure functions and one small stateful class, no threads: the ``detect`` node gets
the previous frame's poses through a back edge of the graph and asks a
:class:`DetectionSchedule` whether to run; on skipped frames it outputs
:func:`guided_detections` (boxes from keypoints, the track ids kept), which the
unchanged tracker associates to the same ids by IoU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtpose.tracking.bytetrack import boxes_from_keypoints
from rtpose.tracking.oks import iou_matrix
from rtpose.types import Detections, Poses, Tracks

GUIDE_PADDING = 0.1
"""Box padding around the confident keypoints (fraction of their extent per side): the eyes-to-ankles
extent grown by 10% per side is about the size of a detector's person box (head top and feet included),
so the tracker's Kalman box does not jump between detector and pose-derived boxes."""


def pose_confidence(keypoints: np.ndarray, min_score: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Per person: the number of keypoints scoring at least ``min_score`` and their mean score.

    ``keypoints`` is (N, K, 3); returns ``(count (N,) int, mean (N,) float32)`` (mean 0 without any).
    """
    kps = np.asarray(keypoints, np.float32).reshape(len(keypoints), -1, 3)
    confident = kps[..., 2] >= min_score
    count = confident.sum(axis=1)
    total = np.where(confident, kps[..., 2], 0.0).sum(axis=1)
    return count.astype(np.int64), (total / np.maximum(count, 1)).astype(np.float32)


def guided_detections(previous: Poses, min_score: float = 0.3, min_keypoints: int = 3,
                      padding: float = GUIDE_PADDING) -> Tracks:
    """Where to look for each previously posed person on this frame: boxes from their keypoints.

    Returns :class:`Tracks` (a kind of ``Detections``) with one row per person of ``previous``
    that has at least ``min_keypoints`` confident keypoints: the box around those keypoints,
    the score = the pose confidence (mean score of the confident keypoints), the class id and
    the track id of ``previous`` kept (the tracker re-associates by IoU; the ids are for callers
    and tests).
    """
    if len(previous) == 0:
        return Tracks()
    boxes = boxes_from_keypoints(previous.keypoints, min_score=min_score, padding=padding,
                                 min_keypoints=min_keypoints)
    keep = ~np.isnan(boxes).any(axis=1)
    _, mean = pose_confidence(previous.keypoints, min_score)
    return Tracks(boxes=boxes[keep], scores=mean[keep], class_ids=previous.class_ids[keep],
                  track_ids=previous.track_ids[keep])


@dataclass
class Decision:
    """What :meth:`DetectionSchedule.decide` chose, and why (for logs, metrics and tests)."""

    run: bool
    reason: str


@dataclass
class DetectionSchedule:
    """Decides, frame by frame, whether the detector must run or pose-guided boxes suffice.

    Args:
        every: the detector runs at least every ``every`` frames (1: on every frame, today's
            behaviour). Counted from its last run, so a triggered run restarts the count.
        min_score: a keypoint is confident at or above this score.
        min_keypoints: a pose with fewer confident keypoints is weak (run the detector).
        min_mean_score: a pose whose confident keypoints score below this on average is weak.
        border: a pose-derived box closer than this many pixels to the frame border runs the
            detector (someone may be leaving, or entering beside them).
        max_overlap: two pose-derived boxes overlapping more than this IoU run the detector
            (crossing people: a crop may latch onto the wrong one).
        padding: box padding around the keypoints (see :data:`GUIDE_PADDING`).
        new_person_score: a detection of the last run scoring at least this that no previous
            pose box overlaps (IoU < ``covered_iou``) runs the detector again: someone untracked.
        covered_iou: see ``new_person_score``.

    The caller reports each detector run's output with :meth:`detected`.
    """

    every: int = 1
    min_score: float = 0.3
    min_keypoints: int = 8
    min_mean_score: float = 0.5
    border: float = 4.0
    max_overlap: float = 0.3
    padding: float = GUIDE_PADDING
    new_person_score: float = 0.5
    covered_iou: float = 0.3
    since_run: int = field(default=0, init=False)  # frames since the detector last ran
    runs: int = field(default=0, init=False)
    frames: int = field(default=0, init=False)
    reasons: dict[str, int] = field(default_factory=dict, init=False)
    _last_detected: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32), init=False)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")

    def decide(self, previous: Poses | None, width: int, height: int) -> Decision:
        """Run the detector on this frame? ``previous``: the poses of the frame handled before (or None)."""
        decision = self._decide(previous, width, height)
        self.frames += 1
        self.since_run = 0 if decision.run else self.since_run + 1
        self.runs += decision.run
        self.reasons[decision.reason] = self.reasons.get(decision.reason, 0) + 1
        return decision

    def _decide(self, previous: Poses | None, width: int, height: int) -> Decision:
        if self.every <= 1:
            return Decision(True, "every frame")
        if previous is None:
            return Decision(True, "no previous poses")
        if self.frames == 0 or self.since_run + 1 >= self.every:
            return Decision(True, "periodic")
        if len(previous) == 0:
            return Decision(True, "nobody tracked")
        if len(self._last_detected):
            covered = iou_matrix(self._last_detected, previous.boxes).max(axis=1) if len(previous) else 0.0
            if (np.asarray(covered) < self.covered_iou).any():
                return Decision(True, "untracked detection")
        count, mean = pose_confidence(previous.keypoints, self.min_score)
        if (count < self.min_keypoints).any() or (mean < self.min_mean_score).any():
            return Decision(True, "weak pose")
        boxes = boxes_from_keypoints(previous.keypoints, min_score=self.min_score, padding=self.padding,
                                     min_keypoints=self.min_keypoints)
        if np.isnan(boxes).any():  # cannot happen after the count check; kept for safety
            return Decision(True, "weak pose")
        b = self.border
        if ((boxes[:, 0] <= b) | (boxes[:, 1] <= b) | (boxes[:, 2] >= width - b) | (boxes[:, 3] >= height - b)).any():
            return Decision(True, "at the border")
        if len(boxes) > 1:
            iou = iou_matrix(boxes, boxes)
            np.fill_diagonal(iou, 0.0)
            if iou.max() > self.max_overlap:
                return Decision(True, "people overlap")
        return Decision(False, "guided")

    def detected(self, detections: Detections) -> None:
        """Tell the schedule what a detector run found (its confident boxes are checked against
        the next previous poses: see ``new_person_score``)."""
        self._last_detected = detections.boxes[detections.scores >= self.new_person_score]

    def boxes(self, previous: Poses) -> Tracks:
        """The pose-guided detections for a skipped frame (see :func:`guided_detections`)."""
        return guided_detections(previous, self.min_score, self.min_keypoints, self.padding)

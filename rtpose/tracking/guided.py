"""Pose-guided tracking (MediaPipe style): run the person detector only when it is needed.

A tracked person's box on the next frame is best taken from their keypoints on the
previous frame: the pose model then re-finds them in a crop around where they were,
and the detector (the costliest model of the body graph) can be skipped. Two parts:

- **Boxes from poses** (:func:`pose_confidence`, :func:`boxes_from_keypoints`,
  :func:`confident_pose_boxes`): the tracker (:class:`~rtpose.tracking.bytetrack.ByteTracker`)
  gets the previous frame's poses through a back edge and continues every track that no
  detection matched, but whose previous pose is confident, with the box around that pose.
  This works on frames where the detector was skipped and on frames where it ran but
  missed someone (e.g. half hidden behind another person).
- **When to run the detector** (:class:`DetectionSchedule`): the ``detect`` node gets the
  tracker's previous output through a back edge and runs the model

  - every ``every`` frames (counted from its last run), to find people who entered,
  - when nobody is tracked,
  - on the first frame of every segment (:meth:`DetectionSchedule.reset`: each photo of a folder,
    the frame after a video looped or a stream reconnected), where nothing earlier can guide it,
  - when a track was lost (an id of the frame before is gone: a weak pose, a person hidden),
  - when a track box touches the frame border (someone leaving, or entering beside them),
  - when two track boxes overlap (people crossing: a crop around one can latch onto the other),
  - when its last run found a confident box that no track covers yet (a new person: the
    tracker needs ``min_hits`` detections in a row before it reports them).

  On the other frames it outputs no detections, at no cost.

Pure functions and one small stateful class, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

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


def boxes_from_keypoints(keypoints: np.ndarray, min_score: float = 0.3, padding: float = 0.25,
                         min_keypoints: int = 3) -> np.ndarray:
    """Where to look for each person on the next frame: the box around their confident keypoints.

    The extent of the keypoints scoring at least ``min_score``, grown by ``padding`` times its
    size on every side (room for the head top and feet, which have no keypoint). ``keypoints``
    is (N, K, 3); returns (N, 4) float32 xyxy, with NaN rows for people with fewer than
    ``min_keypoints`` confident keypoints.
    """
    kps = np.asarray(keypoints, np.float32).reshape(len(keypoints), -1, 3)
    out = np.full((len(kps), 4), np.nan, np.float32)
    for i, person in enumerate(kps):
        pts = person[person[:, 2] >= min_score, :2]
        if len(pts) < min_keypoints:
            continue
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        size = hi - lo
        # a person seen edge-on or with only a few joints is thin: keep the box at least 1/3 as wide as tall
        size = np.maximum(size, size[::-1] / 3)
        centre = (lo + hi) / 2
        half = size * (0.5 + padding)
        out[i] = np.concatenate([centre - half, centre + half])
    return out


def confident_pose_boxes(poses: Poses, min_score: float = 0.3, min_keypoints: int = 8,
                         min_mean_score: float = 0.5,
                         padding: float = GUIDE_PADDING) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The boxes of the confident poses of ``poses``: ``(boxes (N, 4), confidence (N,), ok (N,) bool)``.

    A pose is confident with at least ``min_keypoints`` keypoints scoring ``min_score`` or more,
    whose mean score is at least ``min_mean_score`` (the confidence); its box is
    :func:`boxes_from_keypoints` with ``padding``. Rows of weak poses are NaN boxes, ``ok`` False.
    """
    count, mean = pose_confidence(poses.keypoints, min_score)
    boxes = boxes_from_keypoints(poses.keypoints, min_score=min_score, padding=padding, min_keypoints=min_keypoints)
    ok = (count >= max(min_keypoints, 1)) & (mean >= min_mean_score)
    return boxes, mean, ok


def uncovered_boxes(found: np.ndarray, tracked: np.ndarray, min_iou: float) -> int:
    """How many of the ``found`` boxes no ``tracked`` box covers: the IoU-maximising one-to-one
    assignment leaves them unpaired, or paired with an IoU under ``min_iou``."""
    if len(found) == 0 or len(tracked) == 0:
        return len(found)
    iou = iou_matrix(found, tracked)
    rows, cols = linear_sum_assignment(-iou)
    return len(found) - int((iou[rows, cols] >= min_iou).sum())


@dataclass
class Decision:
    """What :meth:`DetectionSchedule.decide` chose, and why (for logs, metrics and tests)."""

    run: bool
    reason: str


@dataclass
class DetectionSchedule:
    """Decides, frame by frame, from the tracker's previous output, whether the detector must run.

    Args:
        every: the detector runs at least every ``every`` frames (1: on every frame, no
            skipping). Counted from its last run, so a triggered run restarts the count.
        border: a track box closer than this many pixels to the frame border runs the detector.
        max_overlap: two track boxes overlapping more than this IoU run the detector.
        new_person_score: a detection of the last run scoring at least this that no track covers
            runs the detector again: someone not yet tracked. Keep it at or above the tracker's
            ``new_track_thresh`` (lower ones never start a track).
        covered_iou: a track covers a detection when the two are paired by a one-to-one (Hungarian)
            assignment on IoU with an IoU of at least this. One to one, because a person who just
            stepped out from behind someone overlaps that person's track but is not tracked yet.

    The caller reports each detector run's output with :meth:`detected`.
    """

    every: int = 1
    border: float = 4.0
    max_overlap: float = 0.3
    new_person_score: float = 0.6
    covered_iou: float = 0.3
    since_run: int = field(default=0, init=False)  # frames since the detector last ran
    runs: int = field(default=0, init=False)
    frames: int = field(default=0, init=False)
    reasons: dict[str, int] = field(default_factory=dict, init=False)
    _last_detected: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32), init=False)
    _last_ids: set[int] = field(default_factory=set, init=False)
    _new_segment: bool = field(default=False, init=False)  # set by reset(); the first frame always runs anyway

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")

    def decide(self, previous: Tracks | None, width: int, height: int) -> Decision:
        """Run the detector on this frame? ``previous``: the tracks of the frame handled before (or None)."""
        ids = set() if previous is None else {int(i) for i in previous.track_ids}
        lost = bool(self._last_ids - ids)
        self._last_ids = ids
        decision = Decision(True, "new segment") if self._new_segment else self._decide(previous, lost, width, height)
        self._new_segment = False
        self.frames += 1
        self.since_run = 0 if decision.run else self.since_run + 1
        self.runs += decision.run
        self.reasons[decision.reason] = self.reasons.get(decision.reason, 0) + 1
        return decision

    def _decide(self, previous: Tracks | None, lost: bool, width: int, height: int) -> Decision:
        if self.every <= 1:
            return Decision(True, "every frame")
        if previous is None:
            return Decision(True, "no previous tracks")
        if self.frames == 0 or self.since_run + 1 >= self.every:
            return Decision(True, "periodic")
        if len(previous) == 0:
            return Decision(True, "nobody tracked")
        if lost:
            return Decision(True, "track lost")
        boxes = previous.boxes
        if uncovered_boxes(self._last_detected, boxes, self.covered_iou):
            return Decision(True, "untracked detection")
        b = self.border
        if ((boxes[:, 0] <= b) | (boxes[:, 1] <= b) | (boxes[:, 2] >= width - b) | (boxes[:, 3] >= height - b)).any():
            return Decision(True, "at the border")
        if len(boxes) > 1:
            iou = iou_matrix(boxes, boxes)
            np.fill_diagonal(iou, 0.0)
            if iou.max() > self.max_overlap:
                return Decision(True, "people overlap")
        return Decision(False, "skipped")

    def reset(self) -> None:
        """A new segment starts (a photo, a loop, a reconnect): the next frame is detected whatever
        ``previous`` says, and nothing of the last segment (its tracks, its detections) counts any more.
        The counters (``runs``, ``frames``, ``reasons``) keep adding up over the whole run."""
        self.since_run = 0
        self._last_detected = np.zeros((0, 4), np.float32)
        self._last_ids = set()
        self._new_segment = True

    def detected(self, detections: Detections) -> None:
        """Tell the schedule what a detector run found (its confident boxes are checked against
        the next tracks: see ``new_person_score``)."""
        self._last_detected = detections.boxes[detections.scores >= self.new_person_score]

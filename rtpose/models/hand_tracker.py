"""Hands across frames: where to look (previous landmarks, palms, bodies), which hand is which.

MediaPipe Hands' loop, for any number of hands and with bodies as a second source of regions:

1. every hand found on the previous frame is looked for again in the region its landmarks give
   (:func:`~rtpose.models.hand.landmarks_region`), which follows a moving hand and keeps it upright;
2. new regions come from the palm detector and/or from tracked bodies (forearm -> hand), unless a
   continued hand already covers them (the same body's same side, or an overlapping region);
3. the landmark model runs on every region; a fresh region (not from landmarks) is cropped again
   around what it found, whatever its presence (one second pass: a region from a palm or a forearm
   is only roughly upright and sized, and an upright crop is what the model needs; a forearm's
   first pass often says "no hand" with the points nearly right), and the better pass is kept;
4. hands below the presence threshold are dropped (so they are re-detected next frame), duplicates
   of one hand found from two regions are merged, and the rest are remembered for the next frame.

Hand ids: a continued hand keeps its id; a hand from a body gets one id per (body track, side),
kept for as long as that body track lives; a hand from a palm gets a new id. ``reset()`` forgets
the previous frame's hands and the ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

import numpy as np

from rtpose.models.hand import HandLandmarker, HandLandmarks, forearm_region, landmarks_region
from rtpose.models.palm import palm_region
from rtpose.models.region import Region
from rtpose.schemas import KeypointSchema
from rtpose.tracking.oks import iou_matrix

SIDES = ("left", "right")
SAME_REGION_IOU = 0.5
"""A new region overlapping a continued hand's by more than this (IoU of their enclosing boxes) is
that hand (MediaPipe's association threshold)."""
SAME_HAND_IOU = 0.5
"""Two results whose landmark boxes overlap by more than this are one hand."""


@dataclass
class Candidate:
    """A region to run the landmark model on, and what is known about the hand in it."""

    region: Region
    source: str  # "landmarks", "palm" or "body"
    track_id: int = -1
    body_track_id: int = -1
    side: str | None = None  # from a body: which wrist; otherwise the model says


@dataclass
class TrackedHands:
    """One frame's hands: landmarks and, per hand, its id, the body track it came from (-1: none) and
    its side (``"left"``/``"right"``, see :mod:`rtpose.models.hand` for the convention)."""

    landmarks: HandLandmarks
    track_ids: np.ndarray
    body_track_ids: np.ndarray
    handedness: list[str]

    def __len__(self) -> int:
        return len(self.track_ids)

    def boxes(self) -> np.ndarray:
        """(N, 4) ``x1, y1, x2, y2`` around each hand's 21 points."""
        return points_boxes(self.landmarks.image)


def points_boxes(points: np.ndarray) -> np.ndarray:
    """(N, 4) ``x1, y1, x2, y2`` around each of N sets of points (N, K, 2+)."""
    pts = np.asarray(points, np.float32)[..., :2]
    if not len(pts):
        return np.zeros((0, 4), np.float32)
    return np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1)


def body_candidates(keypoints: np.ndarray, boxes: np.ndarray, track_ids: np.ndarray, schema: KeypointSchema,
                    min_score: float = 0.3) -> list[Candidate]:
    """A forearm region per confident elbow + wrist of each body (any schema naming ``left_wrist``,
    ``left_elbow``, ``right_wrist``, ``right_elbow``)."""
    names = [f"{side}_{joint}" for side in SIDES for joint in ("wrist", "elbow")]
    if not set(names) <= set(schema.keypoints):
        raise ValueError(f"bodies in the {schema.name!r} schema have no {', '.join(names)}: "
                         "hands are found from the elbows and wrists of body poses (e.g. coco17)")
    found = []
    for side in SIDES:
        wrist, elbow = schema.index(f"{side}_wrist"), schema.index(f"{side}_elbow")
        for kp, box, tid in zip(keypoints, boxes, track_ids):
            if kp[wrist, 2] >= min_score and kp[elbow, 2] >= min_score:
                size = float(max(box[2] - box[0], box[3] - box[1]))
                found.append(Candidate(forearm_region(kp[wrist], kp[elbow], size), "body",
                                       body_track_id=int(tid), side=side))
    return found


def palm_candidates(boxes: np.ndarray, keypoints: np.ndarray) -> list[Candidate]:
    """The hand region of each palm (MediaPipe's palm -> hand ROI)."""
    return [Candidate(palm_region(box, kp), "palm") for box, kp in zip(boxes, keypoints)]


def _region_boxes(candidates: list[Candidate]) -> np.ndarray:
    return np.array([c.region.bounding_box() for c in candidates], np.float32).reshape(-1, 4)


def _covered(fresh: list[Candidate], continued: list[Candidate]) -> list[Candidate]:
    """The fresh candidates no continued hand already covers (same body and side, or overlapping region)."""
    if not continued:
        return fresh
    keys = {(c.body_track_id, c.side) for c in continued if c.body_track_id >= 0}
    iou = iou_matrix(_region_boxes(fresh), _region_boxes(continued))
    return [c for i, c in enumerate(fresh)
            if (c.body_track_id, c.side) not in keys and not (iou[i] > SAME_REGION_IOU).any()]


class HandTracker:
    """``(image, palms?, bodies?) -> TrackedHands``, remembering the previous frame's hands."""

    def __init__(self, landmarker: HandLandmarker, min_presence: float = 0.5, second_pass: bool = True,
                 mirrored: bool = False, max_hands: int = 8) -> None:
        self.landmarker = landmarker
        self.min_presence, self.second_pass, self.mirrored, self.max_hands = \
            min_presence, second_pass, mirrored, max_hands
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame's hands and the body -> hand ids (a new segment)."""
        self.previous: list[Candidate] = []
        self.body_hand_ids: dict[tuple[int, str], int] = {}
        self.new_ids = count()

    def __call__(self, image_bgr: np.ndarray, palms: list[Candidate] | None = None,
                 bodies: list[Candidate] | None = None) -> TrackedHands:
        continued = self.previous
        fresh = _covered([*(bodies or []), *(palms or [])], continued)
        candidates = [*continued, *fresh][: max(self.max_hands, len(continued))]
        found = self.landmarker(image_bgr, [c.region for c in candidates])
        if self.second_pass:
            again = [i for i, c in enumerate(candidates) if c.source != "landmarks"]
            if again:
                better = self.landmarker(image_bgr, [landmarks_region(found.image[i]) for i in again])
                for j, i in enumerate(again):
                    if better.presence[j] >= found.presence[i]:
                        _replace(found, i, better, j)
        keep = self._keep(found, candidates)
        hands = self._identify(found.take(keep), [candidates[i] for i in keep])
        self.previous = [Candidate(landmarks_region(points), "landmarks", int(tid), int(body), side)
                         for points, tid, body, side in zip(hands.landmarks.image, hands.track_ids,
                                                            hands.body_track_ids, self._sides(hands))]
        return hands

    def _keep(self, found: HandLandmarks, candidates: list[Candidate]) -> list[int]:
        """Present hands, one result per hand: continued hands first, then by presence."""
        order = sorted((i for i in range(len(candidates)) if found.presence[i] >= self.min_presence),
                       key=lambda i: (candidates[i].source != "landmarks", -found.presence[i]))
        boxes = points_boxes(found.image[order])
        iou = iou_matrix(boxes, boxes)
        kept: list[int] = []
        for rank, i in enumerate(order):
            if not any(iou[rank, order.index(k)] > SAME_HAND_IOU for k in kept):
                kept.append(i)
        return kept

    def _identify(self, found: HandLandmarks, candidates: list[Candidate]) -> TrackedHands:
        ids, bodies, sides = [], [], []
        for i, c in enumerate(candidates):
            side = c.side or self._model_side(float(found.right[i]))
            if c.track_id >= 0:
                tid = c.track_id
            elif c.body_track_id >= 0:
                if (c.body_track_id, side) not in self.body_hand_ids:
                    self.body_hand_ids[(c.body_track_id, side)] = next(self.new_ids)
                tid = self.body_hand_ids[(c.body_track_id, side)]
            else:
                tid = next(self.new_ids)
            ids.append(tid)
            bodies.append(c.body_track_id)
            sides.append(side)
        return TrackedHands(found, np.array(ids, np.int64), np.array(bodies, np.int64), sides)

    def _model_side(self, right: float) -> str:
        return "right" if (right >= 0.5) != self.mirrored else "left"

    @staticmethod
    def _sides(hands: TrackedHands) -> list[str | None]:
        """What a continued hand keeps: a body's side (certain); the model's is asked again each frame."""
        return [side if body >= 0 else None for side, body in zip(hands.handedness, hands.body_track_ids)]


def _replace(found: HandLandmarks, i: int, better: HandLandmarks, j: int) -> None:
    found.image[i], found.world[i] = better.image[j], better.world[j]
    found.presence[i], found.right[i] = better.presence[j], better.right[j]
    found.regions[i] = better.regions[j]

"""ByteTrack-style multi-person tracking: Kalman boxes, two-stage Hungarian association.

Why ByteTrack: a person half hidden behind another gets a low detector score;
dropping such boxes (as SORT does) loses the track exactly when identities are
most at risk. ByteTrack matches confident boxes first and then uses the
low-score leftovers only to keep already-tracked people alive, never to start
new tracks. Association is a Hungarian assignment on ``1 - IoU`` between each
track's Kalman-predicted box and the detections, gated by ``match_thresh``,
optionally blended with pose similarity (OKS) when keypoints are known for both.
A third, pose-guided stage (MediaPipe style) continues every track that no detection
matched but whose pose on the previous frame is confident, with the box around that
pose (see :mod:`rtpose.tracking.guided`): the detector may then skip frames, and a
person it misses (half hidden behind someone) keeps their track.
Given the frame, each track also learns its person's clothing colours while nobody
overlaps them (:mod:`rtpose.tracking.appearance`): a detection or pose-continued box showing
other colours is someone else (a crop latched onto the person in front) and is not matched,
and a confident new detection that looks like a lost track brings that track (and its id)
back instead of starting a new one.

Pure computation, no threads: one :class:`ByteTracker` per video stream.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator
from scipy.optimize import linear_sum_assignment

from rtpose.node import Params
from rtpose.tracking.appearance import appearance_distance, torso_histograms
from rtpose.tracking.guided import GUIDE_PADDING, confident_pose_boxes, pose_confidence
from rtpose.tracking.kalman_box import KalmanBoxFilter
from rtpose.tracking.oks import iou_matrix, oks_matrix
from rtpose.types import Detections, Poses, Tracks

_BOX_TO_OKS_AREA = 0.53
"""A person's segment area is about this fraction of their box (COCO statistics)."""


class TrackState(enum.IntEnum):
    """Lifecycle of a track: tentative -> confirmed <-> lost -> removed."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2
    REMOVED = 3


@dataclass(eq=False)
class _Track:
    kf: KalmanBoxFilter
    box: np.ndarray  # last matched detection box (xyxy)
    score: float
    class_id: int
    keypoints: np.ndarray | None
    last_frame: int
    hits: int = 1
    state: TrackState = TrackState.TENTATIVE
    track_id: int = -1
    det_index: int = -1  # index of the detection matched this frame
    appearance: np.ndarray | None = None  # running torso colour histogram, learnt while unoccluded
    seen: np.ndarray | None = None  # torso histogram of this frame's box, once measured (learning reuses it)

    def shifted_keypoints(self) -> np.ndarray | None:
        """Last keypoints moved by the predicted box motion (so OKS compares like with like)."""
        if self.keypoints is None:
            return None
        pred = self.kf.box
        shift = (pred[:2] + pred[2:]) / 2 - (self.box[:2] + self.box[2:]) / 2
        out = self.keypoints.copy()
        out[:, :2] += shift
        return out


class TrackerSettings(Params):
    """What :class:`ByteTracker` can be told: the one place its settings, defaults and docs live
    (the ``track`` node's params are these)."""

    high_thresh: float = Field(0.5, ge=0, le=1, description="Detections scoring at least this are matched first.")
    low_thresh: float = Field(0.1, ge=0, le=1, description=(
        "Detections below this are ignored; between low_thresh and high_thresh they only keep "
        "already-tracked people alive (e.g. while half hidden), never start a track."))
    match_thresh: float = Field(0.8, gt=0, le=1, description=(
        "Largest accepted association cost 1 - IoU (blended with 1 - OKS when keypoints are known)."))
    track_buffer: int = Field(30, ge=0, description=(
        "Frames a person who is no longer detected is remembered (and predicted) so they keep their id."))
    min_hits: int = Field(2, ge=1, description="Consecutive detections before a new track is reported.")
    new_track_thresh: float | None = Field(None, ge=0, le=1, description=(
        "Smallest score that starts a new track; default high_thresh + 0.1."))
    pose_weight: float = Field(0.5, ge=0, le=1, description=(
        "Weight of pose similarity (OKS) against box IoU, when the detections carry keypoints."))
    fuse_score: bool = Field(False, description="Multiply IoU by the detection score in the first stage.")
    coast_frames: int = Field(0, ge=0, description=(
        "A person no longer detected (nor continued from their pose) is still reported at the predicted "
        "box for this many frames."))
    pose_min_keypoints: int = Field(8, ge=1, le=17, description=(
        "With `previous` wired: a previous pose continues its track with at least this many confident "
        "keypoints ..."))
    pose_min_score: float = Field(0.5, ge=0, le=1, description=(
        "... whose mean score is at least this (the track's score on that frame)."))
    pose_keypoint_score: float = Field(0.3, ge=0, le=1, description="A keypoint is confident from this score.")
    appearance_veto: float = Field(0.6, ge=0, le=1, description=(
        "With `image` wired: a detection or a box continued from a pose whose colours are farther than "
        "this (Bhattacharyya distance, 0 same, 1 disjoint) from the person's is someone else: refused."))
    reid_distance: float = Field(0.4, ge=0, le=1, description=(
        "With `image` wired: a new confident detection this close to a lost person's colours gets their id back."))
    reid_buffer: int = Field(150, ge=0, description=(
        "With `image` wired: frames a lost person can be recognised by their colours."))
    pose_nms_oks: float = Field(1.0, gt=0, le=1, description=(
        "With `previous` wired: pose NMS. Two people whose previous poses are this similar (OKS) are one "
        "person (a crop latched onto the person in front, or two boxes on one): the better is kept, the "
        "other hidden until a detection finds them again (1: off; on the walk clips it did not lower "
        "id switches, see ARCHITECTURE.md)."))

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> "TrackerSettings":
        if self.low_thresh > self.high_thresh:
            raise ValueError(f"need low_thresh <= high_thresh, got {self.low_thresh}, {self.high_thresh}")
        return self


class ByteTracker:
    """Multi-object tracker in the manner of ByteTrack (Zhang et al., 2022).

    Settings are a :class:`TrackerSettings` or its fields as keywords; the keywords below tune
    the matching further (their defaults fit every clip tried).

    Args:
        low_match_thresh: largest ``1 - IoU`` in the second (low-score) stage.
        tentative_match_thresh: largest cost when matching tentative tracks.
        pose_padding: padding of the box around a previous pose (see :data:`GUIDE_PADDING`).
        duplicate_oks: a previous pose this similar (OKS) to the pose of a track that is kept this
            frame is on the same person (its crop latched onto them): it does not continue its track.
        appearance_momentum: weight of the old histogram when a track's appearance is updated.
        clean_iou: a track learns its appearance only on frames where its box overlaps no other
            tracked box by more than this IoU (otherwise it would learn the colours of the occluder).
        pose_nms_keypoints: pose NMS (``pose_nms_oks``) compares two poses on at least this many
            keypoints confident in both.
    """

    def __init__(self, settings: TrackerSettings | None = None, *, low_match_thresh: float = 0.5,
                 tentative_match_thresh: float = 0.7, pose_padding: float = GUIDE_PADDING,
                 duplicate_oks: float = 0.7, appearance_momentum: float = 0.9, clean_iou: float = 0.3,
                 pose_nms_keypoints: int = 4, **fields: object) -> None:
        settings = settings or TrackerSettings.model_validate(fields)
        s = settings
        self.high_thresh, self.low_thresh, self.match_thresh = s.high_thresh, s.low_thresh, s.match_thresh
        self.track_buffer, self.min_hits, self.coast_frames = s.track_buffer, s.min_hits, s.coast_frames
        self.new_track_thresh = s.high_thresh + 0.1 if s.new_track_thresh is None else s.new_track_thresh
        self.pose_weight, self.fuse_score = s.pose_weight, s.fuse_score
        self.pose_keypoint_score, self.pose_min_keypoints = s.pose_keypoint_score, s.pose_min_keypoints
        self.pose_min_score, self.pose_nms_oks = s.pose_min_score, s.pose_nms_oks
        self.appearance_veto, self.reid_distance, self.reid_buffer = s.appearance_veto, s.reid_distance, s.reid_buffer
        self.low_match_thresh = low_match_thresh
        self.tentative_match_thresh = tentative_match_thresh
        self.pose_padding = pose_padding
        self.duplicate_oks = duplicate_oks
        self.appearance_momentum = appearance_momentum
        self.clean_iou = clean_iou
        self.pose_nms_keypoints = pose_nms_keypoints
        self._suppressed: set[int] = set()
        self.frame_id = 0
        self._tracks: list[_Track] = []
        self._next_id = 1
        self.last_detection_indices = np.zeros(0, np.int64)
        """After ``update()``: for each output track, the index of its detection in the input
        (-1: continued from its previous pose, or coasting)."""

    def reset(self) -> None:
        """Forget all tracks (a new scene); ids keep counting so they are never reused."""
        self._tracks = []
        self.frame_id = 0

    # ------------------------------------------------------------------ update
    def update(self, detections: Detections, keypoints: np.ndarray | None = None,
               previous: Poses | None = None, image: np.ndarray | None = None) -> Tracks:
        """Associate one frame's detections with the tracks and return the tracked people.

        ``keypoints`` (N, K, 3), one pose per detection, enables pose-aware matching; when
        omitted and ``detections`` is a :class:`Poses`, its keypoints are used. ``previous``:
        the poses estimated for this tracker's output of the frame before (by track id);
        tracks no detection matched continue from their confident poses (see the class doc).
        ``image``: this frame (BGR), which enables the appearance cues (see the module doc).
        Outputs only confirmed tracks matched (or continued) in this frame, sorted by track id.
        As in ByteTrack, the people of the first frame are confirmed at once (there is no earlier
        frame to confirm them on), so they continue from their poses when the detector then skips.
        On that frame every detection of at least ``low_thresh`` starts a track, not only those of
        ``new_track_thresh``: without an earlier frame the detector's own judgement is all there is,
        so a photo (a segment of one frame, after :meth:`reset`) gets the people a detector-only
        graph gets.
        """
        self.frame_id += 1
        if keypoints is None and isinstance(detections, Poses) and len(detections):
            keypoints = detections.keypoints
        kps = None if keypoints is None else np.asarray(keypoints, np.float32).reshape(len(detections), -1, 3)
        boxes, scores = detections.boxes, detections.scores
        self._suppress_duplicate_poses(previous, image)
        for t in self._tracks:
            t.det_index, t.seen = -1, None
            t.kf.predict(freeze_height=t.state == TrackState.LOST)

        high = np.flatnonzero(scores >= self.high_thresh)
        low = np.flatnonzero((scores >= self.low_thresh) & (scores < self.high_thresh))
        by_state = {s: [t for t in self._tracks if t.state == s] for s in TrackState}

        # Stage 1: confident detections against every tracked or lost track.
        pool = by_state[TrackState.CONFIRMED] + [t for t in by_state[TrackState.LOST]
                                                  if self._predictable(t) and t.track_id not in self._suppressed]
        looks = torso_histograms(image, boxes) if image is not None else None
        left_tracks, left_high = self._match(pool, high, detections, kps, self.match_thresh, self.fuse_score,
                                             looks=looks)
        still = [t for t in left_tracks if t.state == TrackState.CONFIRMED]
        # Stage 2: low-score detections only keep still-tracked people alive.
        unmatched, _ = self._match(still, low, detections, kps, self.low_match_thresh, False, use_pose=False,
                                   looks=looks)
        # Stage 2b: tracks still unmatched continue from their confident previous poses.
        lost_left = [t for t in left_tracks if t.state == TrackState.LOST]
        unmatched = self._continue_from_poses(unmatched + lost_left, previous, image)
        for t in unmatched:
            t.state = TrackState.LOST
        # Stage 3: tentative tracks get the confident leftovers; unmatched ones die at once.
        dead, left_high = self._match(by_state[TrackState.TENTATIVE], left_high, detections, kps,
                                      self.tentative_match_thresh, self.fuse_score)
        for t in dead:
            t.state = TrackState.REMOVED
        if self.frame_id == 1:  # a segment's first frame: nothing earlier confirms or refutes a detection
            left_high = np.flatnonzero(scores >= self.low_thresh)
        else:
            left_high = left_high[scores[left_high] >= self.new_track_thresh]
        if image is not None:
            left_high = self._reidentify(left_high, detections, kps, looks)
        for di in left_high:
            self._tracks.append(self._new_track(boxes[di], float(scores[di]), int(detections.class_ids[di]),
                                                None if kps is None else kps[di], int(di)))
        for t in self._tracks:
            remembered = self.reid_buffer if image is not None and t.appearance is not None else 0
            if t.state == TrackState.LOST and self.frame_id - t.last_frame > max(self.track_buffer, remembered):
                t.state = TrackState.REMOVED
        self._tracks = [t for t in self._tracks if t.state != TrackState.REMOVED]
        if image is not None:
            self._learn_appearance(image)
        return self._output()

    def _new_track(self, box: np.ndarray, score: float, class_id: int,
                   kps: np.ndarray | None, det_index: int) -> _Track:
        t = _Track(kf=KalmanBoxFilter(box), box=box.copy(), score=score, class_id=class_id,
                   keypoints=None if kps is None else kps.copy(), last_frame=self.frame_id, det_index=det_index)
        if self.min_hits <= 1 or self.frame_id == 1:
            t.state = TrackState.CONFIRMED
        return t

    def _hit(self, t: _Track, di: int, detections: Detections, kps: np.ndarray | None,
             looks: np.ndarray | None = None) -> None:
        """Correct a track with its matched detection (``looks``: every detection's torso
        histogram, when known) and advance its lifecycle."""
        self._observe(t, detections.boxes[di], float(detections.scores[di]))
        t.class_id = int(detections.class_ids[di])
        if kps is not None:
            t.keypoints = kps[di].copy()
        t.det_index = int(di)
        t.seen = None if looks is None else looks[di]

    def _observe(self, t: _Track, box: np.ndarray, score: float) -> None:
        """Correct a track with a measured box (a detection's or a pose's) and advance its lifecycle."""
        t.kf.update(box)
        t.box = np.array(box, np.float32)
        t.score = score
        t.hits += 1  # tentative tracks die when unmatched, so their hits are consecutive
        t.last_frame = self.frame_id
        if t.state == TrackState.LOST or (t.state == TrackState.TENTATIVE and t.hits >= self.min_hits):
            t.state = TrackState.CONFIRMED

    def _continue_from_poses(self, tracks: list[_Track], previous: Poses | None,
                             image: np.ndarray | None) -> list[_Track]:
        """Continue each of ``tracks`` whose pose in ``previous`` (same track id) is confident with the
        box around that pose, moved by the track's velocity (the pose is one frame old); its score is
        the pose confidence. A pose on the same person as a pose kept this frame (OKS at least
        ``duplicate_oks``) does not count, nor (given ``image``) one whose box shows colours other than
        the track's (``appearance_veto``). Returns the tracks left unmatched."""
        if previous is None or not len(previous) or not tracks:
            return tracks
        boxes, confidence, ok = confident_pose_boxes(previous, self.pose_keypoint_score, self.pose_min_keypoints,
                                                     self.pose_min_score, self.pose_padding)
        row = {int(tid): i for i, tid in enumerate(previous.track_ids)}
        matched = {t.track_id for t in self._tracks if t.last_frame == self.frame_id}
        kept = [row[tid] for tid in matched if tid in row]
        wh = boxes[:, 2:] - boxes[:, :2]
        areas = wh[:, 0] * wh[:, 1] * _BOX_TO_OKS_AREA
        left = []
        candidates = [(t, -1 if t.track_id in self._suppressed else row.get(t.track_id, -1)) for t in tracks]
        for t, i in sorted(candidates, key=lambda c: -confidence[c[1]] if c[1] >= 0 else 0.0):
            if i < 0 or not ok[i]:
                left.append(t)
                continue
            if kept:
                oks = oks_matrix(previous.keypoints[i][None], previous.keypoints[kept], areas[kept])
                if np.nanmax(np.nan_to_num(oks, nan=0.0)) >= self.duplicate_oks:
                    left.append(t)
                    continue
            step = t.kf.peek() - t.kf.box  # one frame of motion
            shift = (step[:2] + step[2:]) / 2
            box = boxes[i] + np.tile(shift, 2)
            seen = None if image is None or t.appearance is None else torso_histograms(image, box[None])[0]
            if seen is not None and appearance_distance(t.appearance, seen)[0, 0] > self.appearance_veto:
                left.append(t)
                continue
            self._observe(t, box, float(confidence[i]))
            t.seen = seen
            t.det_index = -1
            kept.append(i)
        return left

    def _predictable(self, t: _Track) -> bool:
        """Whether a lost track's Kalman prediction is still worth matching (lost <= ``track_buffer``)."""
        return self.frame_id - t.last_frame <= self.track_buffer

    def _reidentify(self, det_idx: np.ndarray, detections: Detections, kps: np.ndarray | None,
                    looks: np.ndarray) -> np.ndarray:
        """Revive lost tracks with the confident unmatched detections ``det_idx`` that look like them
        (one-to-one, at most ``reid_distance``); their Kalman filter restarts at the detection, as the
        person may be far from where it predicted. Returns the detections left."""
        lost = [t for t in self._tracks if t.state == TrackState.LOST and t.appearance is not None]
        if not lost or len(det_idx) == 0:
            return det_idx
        distance = appearance_distance(np.stack([t.appearance for t in lost]), looks[det_idx])
        rows, cols = linear_sum_assignment(distance)
        revived = set()
        for r, c in zip(rows, cols):
            if distance[r, c] <= self.reid_distance:
                lost[r].kf = KalmanBoxFilter(detections.boxes[det_idx[c]])
                self._hit(lost[r], int(det_idx[c]), detections, kps, looks)
                revived.add(int(c))
        return np.array([d for j, d in enumerate(det_idx) if j not in revived], np.int64)

    def _suppress_duplicate_poses(self, previous: Poses | None, image: np.ndarray | None) -> None:
        """Pose NMS on the previous frame's poses (see ``pose_nms_oks``): the worse track of each
        duplicate pair is hidden (lost) and takes no part in this frame's pose continuation. Given
        ``image``, "better" first means: the track whose colours are those around the pose."""
        self._suppressed = set()
        if self.pose_nms_oks >= 1 or previous is None or len(previous) < 2:
            return
        shown = {t.track_id: t for t in self._tracks
                 if t.track_id >= 0 and t.state == TrackState.CONFIRMED and t.last_frame == self.frame_id - 1}
        rows = [i for i, tid in enumerate(previous.track_ids.tolist()) if tid in shown]
        if len(rows) < 2:
            return
        poses = previous.take(rows)
        tracks = [shown[int(tid)] for tid in poses.track_ids]
        wh = poses.boxes[:, 2:] - poses.boxes[:, :2]
        oks = oks_matrix(poses.keypoints, poses.keypoints, wh[:, 0] * wh[:, 1] * _BOX_TO_OKS_AREA,
                         poses.schema.oks_sigmas(), self.pose_keypoint_score)
        oks = np.nan_to_num(np.fmax(oks, oks.T), nan=0.0)  # at the larger person's scale: a partial pose counts
        confident = poses.keypoints[..., 2] >= self.pose_keypoint_score
        duplicate = (oks >= self.pose_nms_oks) & ((confident[:, None] & confident[None]).sum(-1)
                                                  >= self.pose_nms_keypoints)
        np.fill_diagonal(duplicate, False)
        if not duplicate.any():
            return
        _, confidence = pose_confidence(poses.keypoints, self.pose_keypoint_score)
        boxes, _, _ = confident_pose_boxes(poses, self.pose_keypoint_score, 1, 0.0, self.pose_padding)
        looks = None if image is None else torso_histograms(image, np.nan_to_num(boxes))

        def merit(i: int) -> tuple[float, bool, float]:
            t = tracks[i]
            known = t.appearance is not None and looks is not None
            distance = appearance_distance(t.appearance, looks[i])[0, 0] if known else self.reid_distance
            return -float(distance), t.det_index >= 0, float(confidence[i])

        kept: list[int] = []
        for i in sorted(range(len(tracks)), key=merit, reverse=True):
            if duplicate[i, kept].any():
                tracks[i].state = TrackState.LOST
                self._suppressed.add(tracks[i].track_id)
            else:
                kept.append(i)

    def _learn_appearance(self, image: np.ndarray) -> None:
        """Update the appearance of every track seen this frame whose box overlaps no other's."""
        current = [t for t in self._tracks if t.last_frame == self.frame_id and t.state == TrackState.CONFIRMED]
        if not current:
            return
        boxes = np.stack([t.box for t in current])
        overlap = iou_matrix(boxes, np.stack([t.kf.box for t in self._tracks]))
        itself = np.array([[t is u for u in self._tracks] for t in current])
        overlap[itself] = 0.0
        clean = overlap.max(axis=1) <= self.clean_iou
        if not clean.any():
            return
        for t in (t for t, c in zip(current, clean) if c):
            h = t.seen if t.seen is not None else torso_histograms(image, t.box[None])[0]
            m = self.appearance_momentum
            t.appearance = h if t.appearance is None else m * t.appearance + (1 - m) * h

    def _match(self, tracks: list[_Track], det_idx: np.ndarray, detections: Detections,
               kps: np.ndarray | None, thresh: float, fuse_score: bool,
               use_pose: bool = True, looks: np.ndarray | None = None) -> tuple[list[_Track], np.ndarray]:
        """Hungarian-assign ``det_idx`` to ``tracks``; update matches, return what is left of both.
        ``looks``: every detection's torso histogram (the frame was given), to refuse a pair whose
        colours differ (``appearance_veto``)."""
        if not tracks or len(det_idx) == 0:
            return list(tracks), det_idx
        cost = self._cost(tracks, det_idx, detections, kps if use_pose else None, fuse_score)
        if looks is not None:  # a detection showing other colours than a track's is not that person
            known = [i for i, t in enumerate(tracks) if t.appearance is not None]
            if known:
                far = appearance_distance(np.stack([tracks[i].appearance for i in known]), looks[det_idx])
                cost[known] = np.where(far > self.appearance_veto, np.inf, cost[known])
        rows, cols = linear_sum_assignment(np.where(cost <= thresh, cost, 1e6))
        ok = cost[rows, cols] <= thresh
        for r, c in zip(rows[ok], cols[ok]):
            self._hit(tracks[r], int(det_idx[c]), detections, kps, looks)
        matched_r, matched_c = set(rows[ok].tolist()), set(cols[ok].tolist())
        left_tracks = [t for i, t in enumerate(tracks) if i not in matched_r]
        left_dets = np.array([d for j, d in enumerate(det_idx) if j not in matched_c], np.int64)
        return left_tracks, left_dets

    def _cost(self, tracks: list[_Track], det_idx: np.ndarray, detections: Detections,
              kps: np.ndarray | None, fuse_score: bool) -> np.ndarray:
        """``1 - IoU`` of predicted boxes and detections, blended with ``1 - OKS`` where both have poses."""
        det_boxes = detections.boxes[det_idx]
        iou = iou_matrix(np.stack([t.kf.box for t in tracks]), det_boxes)
        if fuse_score:
            iou = iou * detections.scores[det_idx][None, :]
        cost = 1.0 - iou
        with_kps = [i for i, t in enumerate(tracks) if t.keypoints is not None]
        if kps is None or self.pose_weight <= 0 or not with_kps:
            return cost
        wh = det_boxes[:, 2:] - det_boxes[:, :2]
        areas = wh[:, 0] * wh[:, 1] * _BOX_TO_OKS_AREA
        track_kps = np.stack([tracks[i].shifted_keypoints() for i in with_kps])
        oks = oks_matrix(track_kps, kps[det_idx], areas)
        blended = (1 - self.pose_weight) * cost[with_kps] + self.pose_weight * (1.0 - oks)
        cost[with_kps] = np.where(np.isnan(oks), cost[with_kps], blended)
        return cost

    # ------------------------------------------------------------------ output
    def _output(self) -> Tracks:
        out = [t for t in self._tracks if (t.last_frame == self.frame_id and t.state == TrackState.CONFIRMED)
               or (t.state == TrackState.LOST and self.frame_id - t.last_frame <= self.coast_frames)]
        for t in out:
            if t.track_id < 0:  # ids are handed out when a track is first shown: no gaps
                t.track_id = self._next_id
                self._next_id += 1
        out.sort(key=lambda t: t.track_id)
        self.last_detection_indices = np.array([t.det_index for t in out], np.int64)
        return Tracks(boxes=np.array([t.box if t.last_frame == self.frame_id else t.kf.box for t in out],
                                     np.float32).reshape(-1, 4),
                      scores=np.array([t.score for t in out], np.float32),
                      class_ids=np.array([t.class_id for t in out], np.int64),
                      track_ids=np.array([t.track_id for t in out], np.int64))

    @property
    def num_tracks(self) -> dict[str, int]:
        """How many tracks are in each state (for logs and tests)."""
        return {s.name.lower(): sum(t.state == s for t in self._tracks) for s in TrackState if s != TrackState.REMOVED}


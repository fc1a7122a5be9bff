"""``track``: give every detected person an id that stays theirs from frame to frame.

A thin node over :class:`rtpose.tracking.bytetrack.ByteTracker` (ByteTrack: Kalman
boxes, confident detections matched first, low-score ones only keep people alive).
With the optional ``previous`` input wired as a back edge from the pose output, a
person no detection matched (the detector skipped the frame, or missed them) continues
from their confident pose on the previous frame. With the optional ``image`` wired, each
track learns its person's clothing colours: a continued box showing someone else's colours
is refused, and a person back after an occlusion gets their old id again.
At a new segment (a photo, a loop, a reconnect) ``reset()`` forgets every track: the people of
the segment's first frame get new ids and are reported at once (as on the very first frame).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rtpose.api import Detections, Image, Node, Params, Poses, Tracks, register_node
from rtpose.tracking.bytetrack import ByteTracker


@register_node("track")
class Track(Node):
    """Multi-person tracking: detections in, detections with stable track ids out."""

    inputs = {"detections": Detections, "previous": Poses, "image": Image}
    optional_inputs = frozenset({"previous", "image"})
    outputs = {"tracks": Tracks}

    class Params(Params):
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

    def open(self) -> None:
        p = self.params
        assert isinstance(p, Track.Params)
        self.tracker = ByteTracker(high_thresh=p.high_thresh, low_thresh=p.low_thresh, match_thresh=p.match_thresh,
                                   track_buffer=p.track_buffer, min_hits=p.min_hits,
                                   new_track_thresh=p.new_track_thresh, pose_weight=p.pose_weight,
                                   fuse_score=p.fuse_score, coast_frames=p.coast_frames,
                                   pose_keypoint_score=p.pose_keypoint_score, pose_min_keypoints=p.pose_min_keypoints,
                                   pose_min_score=p.pose_min_score, appearance_veto=p.appearance_veto,
                                   reid_distance=p.reid_distance, reid_buffer=p.reid_buffer,
                                   pose_nms_oks=p.pose_nms_oks)

    def reset(self) -> None:
        self.tracker.reset()

    def process(self, detections: Detections, previous: Poses | None = None,
                image: Image | None = None) -> dict[str, Any]:
        pixels = None if image is None else image.pixels
        return {"tracks": self.tracker.update(detections, previous=previous, image=pixels)}

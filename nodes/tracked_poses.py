"""``tracked_poses``: bottom-up poses with the ids the tracker gave their boxes.

In a bottom-up graph the pose model runs before the tracker (its people are the tracker's
detections), and the ``track`` node outputs ``Tracks``, boxes and ids without keypoints. This
node joins the two: a tracked box is the very box of the pose the tracker matched to it on this
frame, so each track takes the pose whose box it overlaps (IoU at least ``min_iou``, one to one).
Poses no track took (people not yet confirmed) and tracks with no pose of this frame (coasting
on a prediction) are left out, as the top-down graph poses only tracked people.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pydantic import Field

from rtpose.api import Node, Params, Poses, Tracks, register_node
from rtpose.tracking.oks import match_boxes


@register_node("tracked_poses")
class TrackedPoses(Node):
    """Gives each pose its track's id (joined by box); keeps only tracked people."""

    inputs = {"poses": Poses, "tracks": Tracks}
    outputs = {"poses": Poses}

    class Params(Params):
        min_iou: float = Field(0.99, gt=0, le=1, description=(
            "A track and a pose are one person when their boxes overlap at least this much (the tracker "
            "reports the matched detection's own box)."))

    def process(self, poses: Poses, tracks: Tracks) -> dict:
        pairs = match_boxes(tracks.boxes, poses.boxes, self.params.min_iou)
        people = poses.take([p for _, p in pairs])
        ids = np.array([tracks.track_ids[t] for t, _ in pairs], np.int64)
        return {"poses": replace(people, track_ids=ids)}

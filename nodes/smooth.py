"""``smooth``: remove keypoint jitter and bridge short keypoint drop-outs, per track id.

A thin node over :class:`rtpose.tracking.smoothing.PoseSmoother` (vectorised Kalman
filter, constant velocity or acceleration, or the One-Euro filter). Poses that carry 3D
skeletons (``keypoints_3d``, from ``pose3d`` or ``lift3d``) have them smoothed per track too.

Timing: with the optional ``image`` input wired (to the capture output), each frame's
``image.timestamp`` sets the filter's time step, so frames dropped on a live source (or
an irregular camera) give the right dt; without it, consecutive inputs are ``1 / fps``
apart. Timestamps that stand still or jump backwards or by more than 10 frame intervals
fall back to ``1 / fps`` per frame (see :class:`PoseSmoother`).

Nothing is smoothed across a break: ``reset()`` (each photo, a loop, a reconnect) forgets every track.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pydantic import Field

from rtpose.api import Image, Node, Poses, register_node
from rtpose.tracking.smoothing import PoseSmoother, SmoothingSettings

BODY_SIZE_M = 1.8
"""A person's size for 3D smoothing, whose noise levels are fractions of it (as boxes are in 2D)."""


@register_node("smooth")
class Smooth(Node):
    """Temporal keypoint smoothing of tracked people."""

    inputs = {"poses": Poses, "image": Image}
    optional_inputs = frozenset({"image"})
    outputs = {"poses": Poses}

    class Params(SmoothingSettings):
        fps: float = Field(30.0, gt=0, description=(
            "Frame rate assumed between consecutive inputs (sets dt) when `image` is not wired, or its "
            "timestamps are unusable."))
        smooth_3d: bool = Field(True, description=(
            "Also smooth each person's `keypoints_3d` (from a pose3d or lift3d node), with the same settings "
            "and a person size of 1.8 m."))

    def open(self) -> None:
        p = self.params
        assert isinstance(p, Smooth.Params)
        settings = SmoothingSettings.model_validate(p.model_dump(include=set(SmoothingSettings.model_fields)))
        self.smoother = PoseSmoother(settings, default_dt=1.0 / p.fps)
        self.smoother_3d = PoseSmoother(settings, default_dt=1.0 / p.fps, dims=3)

    def reset(self) -> None:
        self.smoother.reset()
        self.smoother_3d.reset()

    def process(self, poses: Poses, image: Image | None = None, **_: Any) -> dict[str, Any]:
        timestamp = None if image is None else image.timestamp
        smoothed = self.smoother.update(poses, timestamp)
        points = poses.attributes.get("keypoints_3d")
        if self.params.smooth_3d and points is not None and len(poses):
            scored = np.concatenate([np.asarray(points, np.float32), np.ones((*np.shape(points)[:2], 1), np.float32)],
                                    axis=-1)
            out = self.smoother_3d.smooth(poses.track_ids, scored, np.full(len(poses), BODY_SIZE_M), timestamp)
            smoothed.attributes = smoothed.attributes | {"keypoints_3d": out[..., :3]}
        return {"poses": smoothed}

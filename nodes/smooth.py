"""``smooth``: remove keypoint jitter and bridge short keypoint drop-outs, per track id.

A thin node over :class:`rtpose.tracking.smoothing.PoseSmoother` (vectorised Kalman
filter, constant velocity or acceleration, or the One-Euro filter).

Timing: with the optional ``image`` input wired (to the capture output), each frame's
``image.timestamp`` sets the filter's time step, so frames dropped on a live source (or
an irregular camera) give the right dt; without it, consecutive inputs are ``1 / fps``
apart. Timestamps that stand still or jump backwards or by more than 10 frame intervals
fall back to ``1 / fps`` per frame (see :class:`PoseSmoother`).

Nothing is smoothed across a break: ``reset()`` (each photo, a loop, a reconnect) forgets every track.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rtpose.api import Image, Node, Params, Poses, register_node
from rtpose.tracking.smoothing import PoseSmoother


@register_node("smooth")
class Smooth(Node):
    """Temporal keypoint smoothing of tracked people."""

    inputs = {"poses": Poses, "image": Image}
    optional_inputs = frozenset({"image"})
    outputs = {"poses": Poses}

    class Params(Params):
        method: Literal["kalman", "one_euro"] = Field("kalman", description=(
            "kalman: predicts motion (no lag at constant speed, bridges gaps); one_euro: adaptive low-pass, "
            "smoother at rest, a little lag when moving."))
        model: Literal["cv", "ca"] = Field("cv", description="Kalman motion model: constant velocity or acceleration.")
        process_noise: float | None = Field(None, gt=0, description=(
            "Kalman process noise in person sizes / s^2 (default 2.0 for cv, 0.5 for ca); higher follows "
            "fast motion better, lower smooths more."))
        measurement_noise: float = Field(0.01, gt=0, description=(
            "Keypoint noise of the pose model at score 1, as a fraction of the person's size; divided by the score."))
        min_score: float = Field(0.3, ge=0, le=1, description=(
            "Keypoints scoring below this are predicted from their motion instead of used."))
        max_missing: int = Field(5, ge=0, description=(
            "Frames a low-score keypoint is predicted before it is reported with score 0."))
        gate: float = Field(0.3, gt=0, description=(
            "A keypoint further than this many person sizes from its prediction restarts (new person, flip)."))
        forget_after: int = Field(30, ge=1, description="Frames after which a track no longer seen is forgotten.")
        min_cutoff: float = Field(1.5, gt=0, description="One-Euro: cutoff frequency at rest (Hz); lower is smoother.")
        beta: float = Field(10.0, ge=0, description="One-Euro: cutoff increase per person size / s of speed.")
        d_cutoff: float = Field(1.0, gt=0, description="One-Euro: cutoff of the speed estimate (Hz).")
        fps: float = Field(30.0, gt=0, description=(
            "Frame rate assumed between consecutive inputs (sets dt) when `image` is not wired, or its "
            "timestamps are unusable."))

    def open(self) -> None:
        p = self.params
        assert isinstance(p, Smooth.Params)
        self.smoother = PoseSmoother(method=p.method, model=p.model, process_noise=p.process_noise,
                                     measurement_noise=p.measurement_noise, min_score=p.min_score,
                                     max_missing=p.max_missing, gate=p.gate, forget_after=p.forget_after,
                                     min_cutoff=p.min_cutoff, beta=p.beta, d_cutoff=p.d_cutoff,
                                     default_dt=1.0 / p.fps)

    def reset(self) -> None:
        self.smoother.reset()

    def process(self, poses: Poses, image: Image | None = None, **_: Any) -> dict[str, Any]:
        return {"poses": self.smoother.update(poses, None if image is None else image.timestamp)}

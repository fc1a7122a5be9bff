"""Temporal smoothing of tracked keypoints: a vectorised Kalman filter, or One-Euro.

Pose models jitter by a few pixels from frame to frame even on a still person,
and drop joints for a frame or two when they are briefly occluded. Smoothing
per track id removes the jitter and bridges the gaps.

The Kalman filter is the filterpy model (``F``, ``H``, and ``Q`` from
``filterpy.common.Q_discrete_white_noise``) with its equations written out in
numpy for all 17 keypoints of a track at once: filterpy's ``KalmanFilter``
costs ~50 us per predict+update, so 5 people x 17 keypoints would take ~8 ms a
frame, while the vectorised form takes well under 1 ms. The x and y axes share
``F``, ``Q``, ``R`` and therefore ``P``, which halves the work again.

All noise levels are relative to the person's size (the longer side of their
box), so the same parameters suit a person filling the frame and one far away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

import numpy as np
from filterpy.common import Q_discrete_white_noise
from pydantic import Field

from rtpose.node import Params
from rtpose.types import Poses

_EPS = 1e-3
DEFAULT_PROCESS_NOISE = {"cv": 2.0, "ca": 0.5}
"""Default process noise (std of the white-noise acceleration for ``cv``, of its change per
frame for ``ca``, in person sizes / s^2). Tuned so that at 30 FPS with keypoint noise of 1%
of the person's size, frame-to-frame jitter at rest drops by ~60% while a point moving at
constant speed has no lag and a 1 Hz arm swing lags under half a frame."""


@lru_cache(maxsize=64)
def _model(order: int, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """``F`` and unit-variance ``Q`` of a 1-D polynomial model with ``order`` state terms."""
    f = np.eye(order)
    for k in range(1, order):
        f += np.diag(np.full(order - k, dt ** k / math.factorial(k)), k)
    q = np.asarray(Q_discrete_white_noise(dim=order, dt=dt, var=1.0), np.float64)
    return f, q


class _Bank:
    """Per-track filter state kept in arrays with one row (slot) per track.

    Why: a frame's people are then filtered together in a handful of numpy calls
    instead of a handful per person, which is what keeps 5 people under 0.2 ms.
    """

    def __init__(self, fields: dict[str, tuple[tuple[int, ...], type]]) -> None:
        self._fields = fields
        self.arrays: dict[str, np.ndarray] = {k: np.zeros((0, *shape), dt) for k, (shape, dt) in fields.items()}
        self._free: list[int] = []

    def allocate(self) -> int:
        """A zeroed slot for a new track (the bank grows by doubling)."""
        if not self._free:
            old = len(next(iter(self.arrays.values())))
            new = max(8, 2 * old)
            for k, (shape, dt) in self._fields.items():
                grown = np.zeros((new, *shape), dt)
                grown[:old] = self.arrays[k]
                self.arrays[k] = grown
            self._free = list(range(new - 1, old - 1, -1))
        slot = self._free.pop()
        for a in self.arrays.values():
            a[slot] = 0
        return slot

    def release(self, slot: int) -> None:
        self._free.append(slot)

    def gather(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        return {k: a[slots] for k, a in self.arrays.items()}

    def scatter(self, slots: np.ndarray, state: dict[str, np.ndarray]) -> None:
        for k, a in self.arrays.items():
            a[slots] = state[k]


def _gap_output(keypoints: np.ndarray, seen: np.ndarray, estimate: np.ndarray, st: dict[str, np.ndarray],
                max_missing: int, dims: int = 2) -> np.ndarray:
    """Smoothed positions; predicted keypoints get a fading score, unseen unpredicted ones score 0.

    Updates ``st["alive"]``, ``st["missing"]`` and ``st["last_score"]`` in place.
    """
    st["missing"] = np.where(seen, 0, st["missing"] + 1)
    st["last_score"] = np.where(seen, keypoints[..., dims], st["last_score"])
    expired = st["alive"] & (st["missing"] > max_missing)
    st["alive"] &= ~expired
    alive = st["alive"]
    out = keypoints.astype(np.float32)  # a copy
    out[..., :dims] = np.where(alive[..., None], estimate, out[..., :dims])
    fade = 1.0 - st["missing"] / (max_missing + 1.0)
    out[..., dims] = np.where(alive & ~seen, st["last_score"] * fade, out[..., dims])
    out[..., dims] = np.where(~seen & ~alive, 0.0, out[..., dims])  # unseen and no longer (or never) predicted
    return out


class KeypointKalman:
    """Kalman filters of the K keypoints of many people, one bank slot per person.

    Constant velocity (``cv``) or constant acceleration (``ca``) per keypoint and axis.
    Keypoints whose score is below ``min_score`` are predicted instead of corrected,
    for at most ``max_missing`` frames (their velocity decays meanwhile, so they drift
    to a stop rather than fly off); a keypoint whose innovation exceeds ``gate`` person
    sizes restarts at the measurement (a new person under the same id, or a left/right
    swap). Noise: ``Q = Q_discrete_white_noise(dt) * (process_noise * size)^2`` and
    ``R = (measurement_noise * size / score)^2``.
    """

    def __init__(self, num_keypoints: int, model: Literal["cv", "ca"] = "cv", process_noise: float | None = None,
                 measurement_noise: float = 0.01, min_score: float = 0.3, max_missing: int = 5,
                 gate: float = 0.3, missing_velocity_decay: float = 0.8, dims: int = 2) -> None:
        self.order = {"cv": 2, "ca": 3}[model]
        self.dims = dims
        self.q = DEFAULT_PROCESS_NOISE[model] if process_noise is None else process_noise
        self.r = measurement_noise
        self.min_score, self.max_missing, self.gate = min_score, max_missing, gate
        self.decay = missing_velocity_decay
        k, n = num_keypoints, self.order
        self.bank = _Bank({"x": ((k, dims, n), np.float64), "P": ((k, n, n), np.float64), "alive": ((k,), bool),
                           "missing": ((k,), np.int64), "last_score": ((k,), np.float64)})

    def update(self, slots: np.ndarray, keypoints: np.ndarray, scales: np.ndarray, dts: np.ndarray) -> np.ndarray:
        """Filter one frame: ``keypoints`` (B, K, dims + 1: coordinates, score) of the people in ``slots`` (B,)."""
        st = self.bank.gather(slots)
        d = self.dims
        xy = keypoints[..., :d].astype(np.float64)
        seen = keypoints[..., d] >= self.min_score
        scale = np.asarray(scales, np.float64)[:, None]  # (B, 1)
        r_var = (self.r * scale / np.maximum(keypoints[..., d], _EPS)) ** 2  # (B, K)
        f, q = (np.stack(m) for m in zip(*(_model(self.order, round(float(dt), 5)) for dt in dts)))
        x, p = st["x"], st["P"]
        x[..., 1:] *= np.where(~seen & st["alive"], self.decay, 1.0)[..., None, None]
        x = np.einsum("bij,bkaj->bkai", f, x)
        p = f[:, None] @ p @ np.swapaxes(f, 1, 2)[:, None] + (q * ((self.q * scale[:, 0]) ** 2)[:, None, None])[:, None]
        innov = xy - x[..., 0]  # (B, K, dims)
        jump = np.linalg.norm(innov, axis=-1) > self.gate * scale
        restart = seen & (~st["alive"] | jump)
        gain = p[..., :, 0] / (p[..., 0, 0] + r_var)[..., None]  # (B, K, n); H = [1, 0, ...]
        gain[~(seen & ~restart)] = 0.0
        x = x + gain[..., None, :] * innov[..., None]
        p = p - gain[..., :, None] * p[..., None, 0, :]
        x[restart] = 0.0
        x[restart, :, 0] = xy[restart]
        p[restart] = self._initial_covariance(r_var, scale)[restart]
        st["x"], st["P"] = x, p
        st["alive"] = st["alive"] | restart
        out = _gap_output(keypoints, seen, x[..., 0], st, self.max_missing, d)
        self.bank.scatter(slots, st)
        return out

    def _initial_covariance(self, r_var: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Position as uncertain as the measurement, derivatives free to move fast."""
        p0 = np.zeros((*r_var.shape, self.order, self.order))
        p0[..., 0, 0] = r_var
        for k in range(1, self.order):
            p0[..., k, k] = ((self.q * scale) ** 2) * (10.0 if k == 1 else 100.0)
        return p0


def one_euro_step(x_prev: np.ndarray, dx_prev: np.ndarray, x: np.ndarray, dt: np.ndarray | float,
                  min_cutoff: float, beta: float, d_cutoff: float,
                  scale: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One step of the One-Euro filter on arrays: returns the filtered value and speed."""
    def alpha(cutoff: np.ndarray | float) -> np.ndarray:
        return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * np.asarray(dt)))

    dx = (x - x_prev) / dt
    edx = dx_prev + alpha(d_cutoff) * (dx - dx_prev)
    cutoff = min_cutoff + beta * np.abs(edx) / np.maximum(scale, _EPS)
    return x_prev + alpha(cutoff) * (x - x_prev), edx


class KeypointOneEuro:
    """One-Euro filters of the K keypoints of many people, with the Kalman's gap and jump rules.

    Low-score keypoints hold their last value (One-Euro has no motion model to predict with).
    """

    def __init__(self, num_keypoints: int, min_cutoff: float = 1.5, beta: float = 10.0, d_cutoff: float = 1.0,
                 min_score: float = 0.3, max_missing: int = 5, gate: float = 0.3, dims: int = 2) -> None:
        self.params = (min_cutoff, beta, d_cutoff)
        self.min_score, self.max_missing, self.gate = min_score, max_missing, gate
        self.dims = dims
        k = num_keypoints
        self.bank = _Bank({"x": ((k, dims), np.float64), "dx": ((k, dims), np.float64), "alive": ((k,), bool),
                           "missing": ((k,), np.int64), "last_score": ((k,), np.float64)})

    def update(self, slots: np.ndarray, keypoints: np.ndarray, scales: np.ndarray, dts: np.ndarray) -> np.ndarray:
        """Filter one frame: ``keypoints`` (B, K, dims + 1: coordinates, score) of the people in ``slots`` (B,)."""
        st = self.bank.gather(slots)
        xy = keypoints[..., :self.dims].astype(np.float64)
        seen = keypoints[..., self.dims] >= self.min_score
        scale = np.asarray(scales, np.float64)[:, None, None]
        new, edx = one_euro_step(st["x"], st["dx"], xy, np.asarray(dts, np.float64)[:, None, None],
                                 *self.params, scale=scale)
        jump = np.linalg.norm(xy - st["x"], axis=-1) > self.gate * scale[..., 0]
        restart = (seen & (~st["alive"] | jump))[..., None]
        use = seen[..., None] & ~restart
        st["x"] = np.where(restart, xy, np.where(use, new, st["x"]))
        st["dx"] = np.where(restart, 0.0, np.where(use, edx, st["dx"]))
        st["alive"] = st["alive"] | restart[..., 0]
        out = _gap_output(keypoints, seen, st["x"], st, self.max_missing, self.dims)
        self.bank.scatter(slots, st)
        return out


class _Engine(Protocol):
    bank: _Bank

    def update(self, slots: np.ndarray, keypoints: np.ndarray, scales: np.ndarray,
               dts: np.ndarray) -> np.ndarray: ...


@dataclass
class _TrackState:
    slot: int
    last_time: float
    last_frame: int


class SmoothingSettings(Params):
    """How :class:`PoseSmoother` filters: the one place its settings, defaults and docs live
    (the ``smooth`` node's params are these plus its own)."""

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


class PoseSmoother:
    """Smooths each tracked person's keypoints over time (one filter state per track id).

    Settings are a :class:`SmoothingSettings` or its fields as keywords. ``default_dt`` is the
    frame interval used without timestamps or when they don't advance (1/30 s); ``dims`` the
    coordinates per keypoint: 2 for image points, 3 for 3D skeletons (:meth:`smooth`).

    Poses without a track id (-1) pass through unchanged.
    """

    def __init__(self, settings: SmoothingSettings | None = None, *, default_dt: float = 1.0 / 30, dims: int = 2,
                 **fields: object) -> None:
        settings = settings or SmoothingSettings.model_validate(fields)
        self.method, self.model = settings.method, settings.model
        self.process_noise, self.measurement_noise = settings.process_noise, settings.measurement_noise
        self.min_score, self.max_missing, self.gate = settings.min_score, settings.max_missing, settings.gate
        self.forget_after = settings.forget_after
        self.min_cutoff, self.beta, self.d_cutoff = settings.min_cutoff, settings.beta, settings.d_cutoff
        self.default_dt = default_dt
        self.dims = dims
        self.frame = 0
        self._tracks: dict[int, _TrackState] = {}
        self._engine: _Engine | None = None
        self._num_keypoints = -1

    def _make_engine(self, num_keypoints: int) -> _Engine:
        if self.method == "one_euro":
            return KeypointOneEuro(num_keypoints, self.min_cutoff, self.beta, self.d_cutoff, self.min_score,
                                   self.max_missing, self.gate, dims=self.dims)
        return KeypointKalman(num_keypoints, self.model, self.process_noise, self.measurement_noise,
                              self.min_score, self.max_missing, self.gate, dims=self.dims)

    def reset(self) -> None:
        """Forget every track."""
        self._tracks, self._engine, self._num_keypoints = {}, None, -1

    def update(self, poses: Poses, timestamp: float | None = None) -> Poses:
        """Smooth one frame's poses; ``timestamp`` in seconds (None: ``default_dt`` after the last)."""
        scales = np.array([person_scale(box, kps) for box, kps in zip(poses.boxes, poses.keypoints)])
        out = self.smooth(poses.track_ids, poses.keypoints, scales, timestamp)
        return Poses(boxes=poses.boxes, scores=poses.scores, class_ids=poses.class_ids,
                     track_ids=poses.track_ids, keypoints=out, schema=poses.schema,
                     attributes=poses.attributes)

    def smooth(self, track_ids: np.ndarray, points: np.ndarray, scales: np.ndarray,
               timestamp: float | None = None) -> np.ndarray:
        """Smooth one frame's points (N, K, dims + 1: coordinates, score) of the people ``track_ids``
        (N,), whose sizes ``scales`` (N,) set the noise levels; untracked people (-1) pass as they are."""
        self.frame += 1
        if self._engine is None or points.shape[1] != self._num_keypoints:
            self.reset()
            self._engine, self._num_keypoints = self._make_engine(points.shape[1]), points.shape[1]
        rows = [i for i, tid in enumerate(np.asarray(track_ids).tolist()) if tid >= 0]
        out = np.array(points, np.float32)
        if rows:
            slots, dts = self._slots_and_dts(np.asarray(track_ids)[rows].tolist(), timestamp)
            out[rows] = self._engine.update(slots, out[rows], np.asarray(scales)[rows], dts)
        self._forget()
        return out

    def _slots_and_dts(self, track_ids: list[int], timestamp: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Each track's filter slot (new tracks get a fresh one) and its time since last seen."""
        assert self._engine is not None
        slots, dts = [], []
        for tid in track_ids:
            st = self._tracks.get(tid)
            if st is None:
                now = 0.0 if timestamp is None else timestamp
                st = self._tracks[tid] = _TrackState(self._engine.bank.allocate(), now - self.default_dt, self.frame - 1)
            now = st.last_time + self.default_dt * (self.frame - st.last_frame) if timestamp is None else timestamp
            dt = now - st.last_time
            if not 0 < dt <= 10 * self.default_dt * (self.frame - st.last_frame):  # clock jumps, duplicate frames
                dt = self.default_dt * (self.frame - st.last_frame)
            slots.append(st.slot)
            dts.append(dt)
            st.last_time, st.last_frame = now, self.frame
        return np.array(slots, np.int64), np.array(dts)

    def _forget(self) -> None:
        assert self._engine is not None
        for tid in [t for t, s in self._tracks.items() if self.frame - s.last_frame >= self.forget_after]:
            self._engine.bank.release(self._tracks.pop(tid).slot)

    @property
    def num_tracks(self) -> int:
        """Tracks currently remembered."""
        return len(self._tracks)


def person_scale(box: np.ndarray, keypoints: np.ndarray, min_score: float = 0.3) -> float:
    """A person's size in pixels (longer box side; keypoint extent if the box is empty)."""
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    size = max(w, h)
    if size < 4:
        pts = keypoints[keypoints[:, 2] >= min_score, :2]
        size = float(np.ptp(pts, axis=0).max()) if len(pts) >= 2 else 0.0
    return max(size, 16.0)

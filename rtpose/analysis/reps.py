"""Repetition counters for one person: hops (jump rope) from vertical motion, and reps of any
joint angle (squats, push-ups, curls, raises) with hysteresis thresholds.

Each counter is fed one frame at a time (``update``) and returns a :class:`RepEvent` on the
frame a repetition completes. They are pure Python state machines over numbers, so they are
tested on synthetic sequences and reused by plugins; the ``count_reps`` node keeps one per
tracked person.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from rtpose.schemas import KeypointSchema


@dataclass(frozen=True)
class RepEvent:
    """One completed repetition.

    ``rep``: the count including this one; ``frame`` / ``time``: when it was counted (the frame
    index and seconds); ``duration``: seconds from its start to its end (a hop: leaving the
    ground to landing; an angle rep: leaving the start position to returning to it);
    ``peak``: how far it went (a hop: its height in torso lengths; an angle rep: the angle at
    its turning point, in degrees, i.e. the depth of a squat).
    """

    rep: int
    frame: int
    time: float
    duration: float
    peak: float


def cadence(times: Sequence[float], now: float, recent: int = 5, idle_s: float = 3.0) -> float:
    """Reps per minute from the median interval of the last ``recent`` reps (robust to one rest
    among them); 0 with fewer than two reps, or when none came for ``idle_s`` seconds nor for
    three median intervals (the person stopped)."""
    if len(times) < 2:
        return 0.0
    intervals = np.diff(np.asarray(times[-(recent + 1):], np.float64))
    median = float(np.median(intervals))
    if median <= 0 or now - times[-1] > max(idle_s, 3 * median):
        return 0.0
    return 60.0 / median


class _Counter:
    """What every counter shares: the count, the events and the cadence."""

    def __init__(self) -> None:
        self.events: list[RepEvent] = []

    @property
    def count(self) -> int:
        return len(self.events)

    def cadence(self, now: float) -> float:
        """Reps per minute at time ``now`` (see :func:`cadence`)."""
        return cadence([e.time for e in self.events], now)

    def _complete(self, frame: int, time: float, start: float, peak: float) -> RepEvent:
        event = RepEvent(self.count + 1, frame, time, time - start, peak)
        self.events.append(event)
        return event


class JumpCounter(_Counter):
    """Counts one person's hops (rope skipping) from the vertical motion of their hips, checked
    against their ankles, in torso lengths.

    The *height* is the hips' height in the image divided by the torso length (shoulders to
    hips: a body size a hop does not change and that legs cut off by the frame do not hide).
    A hop is a rise of at least ``up`` above the last low point followed by a fall from the
    top of at least half the rise (and at least ``down``): hysteresis on the turning points,
    not on a fixed ground level, because between quick hops a smoothed pose does not come
    all the way down, and a person who steps closer or away moves their ground level. The hop
    is counted on that fall, i.e. at landing. It counts only if it took between ``min_air_s``
    and ``max_air_s`` from the low point (a glitch is too quick; a person climbing a step or
    drifting too slow), and, where the ankles are seen, only if they rose at least half as
    much as the hips (a hop lifts the feet; standing up from a squat or a bow does not).
    Walking and standing still move the hips by a few hundredths of a torso length and count
    nothing. After a gap of more than ``gap_s`` without the person (a lost track) the motion
    is learned anew; the count is kept.
    """

    def __init__(self, schema: KeypointSchema, up: float = 0.15, down: float = 0.08, min_air_s: float = 0.12,
                 max_air_s: float = 0.8, min_score: float = 0.3, gap_s: float = 0.5) -> None:
        super().__init__()
        if not 0 < down <= up:
            raise ValueError(f"jump thresholds need 0 < down <= up, got down={down}, up={up}")
        self.hips = [schema.index("left_hip"), schema.index("right_hip")]
        self.ankles = [schema.index("left_ankle"), schema.index("right_ankle")]
        self.shoulders = [schema.index("left_shoulder"), schema.index("right_shoulder")]
        self.up, self.down, self.min_air_s, self.max_air_s = up, down, min_air_s, max_air_s
        self.min_score, self.gap_s = min_score, gap_s
        self._forget_motion()

    def _forget_motion(self) -> None:
        self._torso: deque[float] = deque(maxlen=31)
        self._last_time: float | None = None
        self._rising = False
        self._low = math.inf  # the hips' lowest height since the last hop, and when
        self._low_time = 0.0
        self._top = -math.inf  # the hips' highest height while rising
        self._ankle_low: float | None = None  # the ankles' height at the hips' low point
        self._ankle_top: float | None = None

    def _height(self, keypoints: np.ndarray, idx: list[int]) -> float | None:
        seen = keypoints[idx][keypoints[idx, 2] >= self.min_score]
        return float(-seen[:, 1].mean()) if len(seen) else None  # image y points down

    def heights(self, keypoints: np.ndarray) -> tuple[float, float, float | None] | None:
        """This frame's torso length, and the heights of the hips and of the ankles (None: not
        seen), all in pixels; None when the hips or the torso were never seen."""
        kps = np.asarray(keypoints, np.float64)
        ok = kps[:, 2] >= self.min_score
        if ok[self.hips].any() and ok[self.shoulders].any():
            shoulders = kps[self.shoulders][ok[self.shoulders], :2].mean(axis=0)
            hips = kps[self.hips][ok[self.hips], :2].mean(axis=0)
            self._torso.append(float(np.linalg.norm(shoulders - hips)))
        torso = float(np.median(self._torso)) if self._torso else 0.0
        hip = self._height(kps, self.hips)
        return None if hip is None or torso <= 1e-6 else (torso, hip, self._height(kps, self.ankles))

    def update(self, keypoints: np.ndarray, time: float, frame: int) -> RepEvent | None:
        """Feed one frame's keypoints (K, 3) of this person at ``time`` seconds; the event when a hop landed."""
        if self._last_time is not None and time - self._last_time > self.gap_s:
            self._forget_motion()
        self._last_time = time
        heights = self.heights(keypoints)
        if heights is None:
            return None
        torso, hip, ankle = heights
        if not self._rising:
            if hip < self._low:
                self._low, self._low_time, self._ankle_low = hip, time, ankle
            elif hip - self._low >= self.up * torso:
                self._rising, self._top, self._ankle_top = True, hip, ankle
            return None
        if hip > self._top:
            self._top = hip
        if ankle is not None:
            self._ankle_top = ankle if self._ankle_top is None else max(self._ankle_top, ankle)
        rise = self._top - self._low
        if self._top - hip < max(self.down * torso, rise / 2):
            if time - self._low_time > self.max_air_s:  # too slow for a hop: start again from here
                self._rising, self._low, self._low_time, self._ankle_low = False, hip, time, ankle
            return None
        start = self._low_time
        feet_rose = (self._ankle_low is None or self._ankle_top is None
                     or self._ankle_top - self._ankle_low >= rise / 2)
        self._rising, self._low, self._low_time, self._ankle_low = False, hip, time, ankle
        if not (feet_rose and self.min_air_s <= time - start <= self.max_air_s):
            return None
        return self._complete(frame, time, start, rise / torso)


class AngleRepCounter(_Counter):
    """Counts reps of one angle between two thresholds, with hysteresis.

    ``phase="flex"`` (squats, push-ups, curls): a rep starts from the angle at or above
    ``high``, bends to at or below ``low`` and is counted when it is back at or above ``high``.
    ``phase="extend"`` (raises, kicks): the same from ``low`` up to ``high`` and back.
    The gap between the thresholds is the hysteresis: noise that crosses one of them counts
    nothing. Frames where the angle is not seen (NaN) are skipped.
    """

    def __init__(self, low: float, high: float, phase: Literal["flex", "extend"] = "flex") -> None:
        super().__init__()
        if not low < high:
            raise ValueError(f"angle thresholds need low < high, got low={low}, high={high}")
        if phase not in ("flex", "extend"):
            raise ValueError(f"phase must be 'flex' or 'extend', got {phase!r}")
        # "extend" is "flex" of the negated angle, so one state machine serves both
        self._sign = 1.0 if phase == "flex" else -1.0
        self._start_at = high if phase == "flex" else -low
        self._turn_at = low if phase == "flex" else -high
        self._at_start = False  # seen in the start position since the last rep
        self._turned = False  # reached the turning threshold since leaving the start position
        self._left_start = 0.0  # the last time in the start position
        self._peak = math.inf

    def update(self, angle: float, time: float, frame: int) -> RepEvent | None:
        """Feed one frame's angle (degrees, NaN when not seen); the event when a rep completed."""
        if not math.isfinite(angle):
            return None
        value = self._sign * angle
        if value >= self._start_at:
            event = self._complete(frame, time, self._left_start, self._sign * self._peak) if self._turned else None
            self._at_start, self._turned, self._left_start, self._peak = True, False, time, math.inf
            return event
        if self._at_start:
            self._peak = min(self._peak, value)
            self._turned = self._turned or value <= self._turn_at
        return None

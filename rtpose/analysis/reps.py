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
    A hop is a rise of at least ``up`` above the lowest point of the last ``max_air_s``
    seconds followed by a fall from the top of at least half the rise (and at least
    ``down``): hysteresis on the turning points, not on a fixed ground level, because between
    quick hops a smoothed pose does not come all the way down, and a person who steps closer
    or away moves their ground level. The hop is counted on that fall, i.e. at landing. It
    counts only if it took between ``min_air_s`` and ``max_air_s`` from take-off (a glitch is
    too quick; a person climbing a step or drifting too slow), if the hips moved sideways by
    at most ``max_drift`` times its rise (skipping is in place; walking bobs the hips while
    they travel), and, where the ankles are seen, only if they rose at least half as much as
    the hips (a hop lifts the feet; standing up from a squat or a bow does not). Standing
    still counts nothing. After a gap of more than ``gap_s`` without the person (a lost
    track) the motion is learned anew; the count is kept.
    """

    def __init__(self, schema: KeypointSchema, up: float = 0.15, down: float = 0.08, min_air_s: float = 0.12,
                 max_air_s: float = 0.8, max_drift: float = 1.0, min_score: float = 0.3, gap_s: float = 0.5) -> None:
        super().__init__()
        if not 0 < down <= up:
            raise ValueError(f"jump thresholds need 0 < down <= up, got down={down}, up={up}")
        self.hips = [schema.index("left_hip"), schema.index("right_hip")]
        self.ankles = [schema.index("left_ankle"), schema.index("right_ankle")]
        self.shoulders = [schema.index("left_shoulder"), schema.index("right_shoulder")]
        self.up, self.down, self.min_air_s, self.max_air_s = up, down, min_air_s, max_air_s
        self.max_drift, self.min_score, self.gap_s = max_drift, min_score, gap_s
        self._forget_motion()

    def _forget_motion(self) -> None:
        self._torso: deque[float] = deque(maxlen=31)
        self._last_time: float | None = None
        self._ground: deque[tuple[float, float, float, float | None]] = deque()  # (time, x, hip, ankle) not rising
        self._rising = False
        self._takeoff: tuple[float, float, float, float | None] = (0.0, 0.0, 0.0, None)  # as in _ground
        self._top = -math.inf  # the hips' highest height while rising
        self._ankle_top: float | None = None

    def _position(self, keypoints: np.ndarray, idx: list[int]) -> np.ndarray | None:
        """Score-weighted mean ``x, y`` of the named points, None when none is seen (the weights
        make it change smoothly as one point's score crosses ``min_score``)."""
        pts = keypoints[idx]
        if not (pts[:, 2] >= self.min_score).any():
            return None
        return (pts[:, :2] * pts[:, 2:3]).sum(axis=0) / pts[:, 2].sum()

    def _measure(self, keypoints: np.ndarray) -> tuple[float, float, float, float | None] | None:
        """Adds this frame's torso length to the recent ones; returns their median, the hips' x and
        height (-y: image y points down) and the ankles' height (None: not seen), in pixels; None
        when the hips or the torso are not known."""
        kps = np.asarray(keypoints, np.float64)
        hips, shoulders = self._position(kps, self.hips), self._position(kps, self.shoulders)
        if hips is not None and shoulders is not None:
            self._torso.append(float(np.linalg.norm(shoulders - hips)))
        torso = float(np.median(self._torso)) if self._torso else 0.0
        if hips is None or torso <= 1e-6:
            return None
        ankles = self._position(kps, self.ankles)
        return torso, float(hips[0]), float(-hips[1]), None if ankles is None else float(-ankles[1])

    def _restart(self, time: float, x: float, hip: float, ankle: float | None) -> None:
        """Look for the next hop from here."""
        self._rising = False
        self._ground = deque([(time, x, hip, ankle)])

    def update(self, keypoints: np.ndarray, time: float, frame: int) -> RepEvent | None:
        """Feed one frame's keypoints (K, 3) of this person at ``time`` seconds; the event when a hop landed."""
        if self._last_time is not None and time - self._last_time > self.gap_s:
            self._forget_motion()
        self._last_time = time
        heights = self._measure(keypoints)
        if heights is None:
            return None
        torso, x, hip, ankle = heights
        if not self._rising:
            self._ground.append((time, x, hip, ankle))
            while self._ground[0][0] < time - self.max_air_s:
                self._ground.popleft()
            low = min(h for _, _, h, _ in self._ground)
            if hip - low >= self.up * torso:
                # take-off: the last moment the hips were still at their low point
                self._takeoff = next(g for g in reversed(self._ground) if g[2] - low <= self.down * torso / 2)
                self._rising, self._top, self._ankle_top = True, hip, ankle
            return None
        self._top = max(self._top, hip)
        if ankle is not None:
            self._ankle_top = ankle if self._ankle_top is None else max(self._ankle_top, ankle)
        start, start_x, low, ankle_low = self._takeoff
        rise = self._top - low
        if self._top - hip < max(self.down * torso, rise / 2):  # not falling yet
            if time - start > self.max_air_s:  # too slow for a hop: start again from here
                self._restart(time, x, hip, ankle)
            return None
        self._restart(time, x, hip, ankle)
        feet_rose = ankle_low is None or self._ankle_top is None or self._ankle_top - ankle_low >= rise / 2
        in_place = abs(x - start_x) <= self.max_drift * rise
        if not (feet_rose and in_place and self.min_air_s <= time - start <= self.max_air_s):
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

"""``count_reps``: counts each tracked person's repetitions (jump rope, squats, push-ups, any angle).

One counter per track id (:mod:`rtpose.analysis.reps`): ``jump`` counts hops from the vertical
motion of the hips and ankles (:class:`~rtpose.analysis.JumpCounter`); ``squat``, ``pushup`` and
``custom`` count an angle going past two thresholds and back (:class:`~rtpose.analysis.AngleRepCounter`:
the knees, the elbows, or any angle of :data:`rtpose.analysis.ANGLES`). Counters are kept by track
id, so a person whose track is lost and found again under the same id keeps their count; a new
segment (a photo, a video that loops) starts every count again (``reset``).

Adds to every person, on every frame: ``attributes["reps"]`` (``{exercise: count}``, cumulative),
``attributes["cadence"]`` (reps per minute, 0 when they stopped), ``attributes["rep_event"]``
(on the frame a rep completes ``{"rep", "frame", "time", "duration", "peak"}``, else None: for
later nodes that react to a rep) and ``attributes["caption"]`` (``"12 jumps 96/min"``, which the
window and recordings draw beside the person's id). With ``events_csv``, every completed rep is
one row of that file.

Time comes from the ``image`` input's timestamps when it is wired (frames dropped by a live
source then count), else from the frame index at ``fps``.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, replace
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from rtpose.api import ANGLES, AngleRepCounter, Image, JumpCounter, Node, Params, Poses, RepEvent, joint_angles, \
    register_node

ANGLE_EXERCISES: dict[str, tuple[tuple[str, ...], float, float]] = {
    "squat": (("left_knee", "right_knee"), 100.0, 150.0),
    "pushup": (("left_elbow", "right_elbow"), 100.0, 145.0),
}
"""Angle exercises: the angles averaged (those seen), and the default low and high thresholds."""
NOUNS = {"jump": ("jump", "jumps"), "squat": ("squat", "squats"), "pushup": ("push-up", "push-ups"),
         "custom": ("rep", "reps")}
EVENT_COLUMNS = ["frame", "timestamp", "track_id", "exercise", "rep", "duration_s", "peak", "cadence_per_min"]


class CountRepsParams(Params):
    exercise: Literal["jump", "squat", "pushup", "custom"] = Field(description=(
        "jump: hops (rope skipping) from hips and ankles; squat: knee angle; pushup: elbow angle; "
        "custom: the angle named by `angle`, between `low` and `high`."))
    angle: str | None = Field(None, description="custom: the angle to count (a joint_angles name, e.g. left_elbow).")
    low: float | None = Field(None, ge=0, le=180, description=(
        "Angle exercises: a rep must bend to at most this many degrees (default: squat 100, pushup 100)."))
    high: float | None = Field(None, ge=0, le=180, description=(
        "Angle exercises: and come back to at least this (default: squat 150, pushup 145); the gap between low "
        "and high keeps noise from counting."))
    phase: Literal["flex", "extend"] = Field("flex", description=(
        "custom: flex counts high -> low -> high (curls, squats); extend counts low -> high -> low (raises)."))
    up: float = Field(0.15, gt=0, description="jump: a hop rises at least this many torso lengths.")
    down: float = Field(0.08, gt=0, description="jump: and falls back at least this much (and half its rise).")
    min_score: float = Field(0.3, ge=0, le=1, description="Keypoints scoring lower are not used.")
    fps: float = Field(30.0, gt=0, description="Frame rate for timing when `image` is not wired.")
    events_csv: Path | None = Field(None, description=(
        "Write every completed rep as a row of this CSV (frame, timestamp, track_id, exercise, rep, duration_s, "
        "peak: hop height in torso lengths or the angle reached, cadence_per_min); the folder is created."))

    @model_validator(mode="after")
    def _thresholds(self) -> "CountRepsParams":
        if self.exercise == "custom":
            names = [d.name for d in ANGLES]
            if self.angle is None or self.low is None or self.high is None:
                raise ValueError("exercise custom needs `angle`, `low` and `high`")
            if self.angle not in names:
                raise ValueError(f"unknown angle {self.angle!r}; known: {', '.join(names)}")
        elif self.angle is not None:
            raise ValueError(f"`angle` is for exercise custom; {self.exercise} uses its own")
        if self.exercise != "jump":
            low, high = self.thresholds
            if not low < high:
                raise ValueError(f"low ({low}) must be below high ({high})")
        if self.down > self.up:
            raise ValueError(f"down ({self.down}) must not exceed up ({self.up})")
        return self

    @property
    def angles(self) -> tuple[str, ...]:
        return (self.angle,) if self.exercise == "custom" and self.angle else ANGLE_EXERCISES[self.exercise][0]

    @property
    def thresholds(self) -> tuple[float, float]:
        default = ANGLE_EXERCISES.get(self.exercise, ((), 0.0, 0.0))
        return (default[1] if self.low is None else self.low, default[2] if self.high is None else self.high)


def caption(exercise: str, count: int, per_minute: float) -> str:
    """What the window shows beside a person: ``"12 jumps 96/min"`` (ASCII: OpenCV's fonts have no more)."""
    singular, plural = NOUNS[exercise]
    text = f"{count} {singular if count == 1 else plural}"
    return f"{text} {per_minute:.0f}/min" if per_minute > 0 else text


@register_node("count_reps")
class CountReps(Node):
    """Counts each tracked person's reps (jump, squat, pushup, custom angle); adds reps, cadence, caption."""

    inputs = {"poses": Poses, "image": Image}
    optional_inputs = frozenset({"image"})
    outputs = {"poses": Poses}
    Params = CountRepsParams
    params: CountRepsParams

    def open(self) -> None:
        self.counters: dict[int, JumpCounter | AngleRepCounter] = {}
        self._frames = 0
        self._file: IO[str] | None = None
        self._csv: Any = None
        if self.params.events_csv is not None:
            self.params.events_csv.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.params.events_csv.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._file)
            self._csv.writerow(EVENT_COLUMNS)

    def reset(self) -> None:
        self.counters = {}

    def _counter(self, track_id: int, poses: Poses) -> JumpCounter | AngleRepCounter:
        if track_id not in self.counters:
            p = self.params
            if p.exercise == "jump":
                try:
                    self.counters[track_id] = JumpCounter(poses.schema, up=p.up, down=p.down, min_score=p.min_score)
                except KeyError as exc:
                    raise ValueError(f"count_reps {self.name!r}: exercise jump needs shoulders, hips and ankles: "
                                     f"{exc.args[0]}") from None
            else:
                low, high = p.thresholds
                self.counters[track_id] = AngleRepCounter(low, high, p.phase if p.exercise == "custom" else "flex")
        return self.counters[track_id]

    def _angle_values(self, poses: Poses) -> np.ndarray:
        """Per person, the mean of the exercise's angles that are seen (NaN: none seen)."""
        names, degrees, _ = joint_angles(poses.keypoints, poses.schema, self.params.min_score)
        missing = [a for a in self.params.angles if a not in names]
        if missing:
            raise ValueError(f"count_reps {self.name!r}: schema {poses.schema.name!r} has no angle "
                             f"{', '.join(missing)} (it has: {', '.join(names)})")
        cols = degrees[:, [names.index(a) for a in self.params.angles]]
        seen = np.isfinite(cols).any(axis=1)
        return np.where(seen, np.nanmean(np.where(seen[:, None], cols, 0.0), axis=1), np.nan)

    def process(self, poses: Poses, image: Image | None = None, **_: Any) -> dict[str, Any]:
        frame = self.frame.index if self.frame is not None else self._frames
        time = image.timestamp if image is not None else frame / self.params.fps
        self._frames += 1
        angles = self._angle_values(poses) if self.params.exercise != "jump" else None
        exercise = self.params.exercise
        reps, rates, events, captions = [], [], [], []
        for i, track_id in enumerate(int(t) for t in poses.track_ids):
            if track_id < 0:  # untracked: nobody to count for
                reps.append({exercise: 0})
                rates.append(0.0)
                events.append(None)
                captions.append("")
                continue
            counter = self._counter(track_id, poses)
            if isinstance(counter, JumpCounter):
                event = counter.update(poses.keypoints[i], time, frame)
            else:
                assert angles is not None
                event = counter.update(float(angles[i]), time, frame)
            rate = counter.cadence(time)
            if event is not None:
                self._write(event, track_id, rate)
            reps.append({exercise: counter.count})
            rates.append(round(rate, 1))
            events.append(None if event is None else asdict(event))
            captions.append(caption(exercise, counter.count, rate))
        attributes = poses.attributes | {"reps": reps, "cadence": rates, "rep_event": events, "caption": captions}
        return {"poses": replace(poses, attributes=attributes)}

    def _write(self, event: RepEvent, track_id: int, rate: float) -> None:
        if self._csv is None or self._file is None:
            return
        self._csv.writerow([event.frame, round(event.time, 6), track_id, self.params.exercise, event.rep,
                            round(event.duration, 3), round(event.peak, 3), round(rate, 1)])
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._csv = None

"""An rtpose plugin written outside the package: biceps curls of each arm, for every tracked person.

Use it from a graph file by path::

    plugins: [examples/joint-angles-plugin/rtpose_curls.py]

or install this folder (``pip install examples/joint-angles-plugin``): its ``pyproject.toml``
declares the entry point ``rtpose.nodes``, so the node type ``count_curls`` is then available
to every graph without a ``plugins:`` line. README.md in this folder walks through it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import Field

from rtpose.api import AngleRepCounter, Node, Params, Poses, joint_angles, register_node

SIDES = ("left", "right")


@register_node("count_curls")
class CountCurls(Node):
    """Counts each arm's curls per tracked person; adds ``curls`` ({"left": n, "right": m}) and a caption."""

    inputs = {"poses": Poses}
    outputs = {"poses": Poses}

    class Params(Params):
        low: float = Field(60.0, ge=0, le=180, description="a curl bends the elbow to this angle or less")
        high: float = Field(150.0, ge=0, le=180, description="and straightens it to this or more")
        min_score: float = Field(0.3, ge=0, le=1, description="elbows whose keypoints score lower are not used")
        fps: float = Field(30.0, gt=0, description="frame rate, for the reps' durations")

    def open(self) -> None:
        self.counters: dict[tuple[int, str], AngleRepCounter] = {}

    def reset(self) -> None:
        self.counters = {}  # a new segment (a photo, a looped video): every count starts again

    def process(self, poses: Poses) -> dict[str, Any]:
        frame = self.frame.index if self.frame is not None else 0
        names, degrees, _ = joint_angles(poses.keypoints, poses.schema, self.params.min_score)
        curls, captions = [], []
        for i, track_id in enumerate(int(t) for t in poses.track_ids):
            counts = {}
            for side in SIDES:
                counter = self.counters.setdefault(
                    (track_id, side), AngleRepCounter(self.params.low, self.params.high))
                counter.update(float(degrees[i, names.index(f"{side}_elbow")]), frame / self.params.fps, frame)
                counts[side] = counter.count
            curls.append(counts)
            captions.append(f"curls L{counts['left']} R{counts['right']}")
        attributes = poses.attributes | {"curls": curls, "caption": captions}
        return {"poses": replace(poses, attributes=attributes)}

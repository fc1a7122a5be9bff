"""``joint_angles``: named joint angles of every person, in degrees, as a per-person attribute.

Adds ``poses.attributes["angles"]``: for each person a dict ``{name: degrees}`` of every angle
the poses' schema allows (:data:`rtpose.analysis.ANGLES`: elbows, shoulders, hips, knees,
ankles where the schema has toes, and ``trunk_lean``), with ``None`` where the angle is not
valid (one of its keypoints scores under ``min_score``). Export writes it as each person's
``angles`` field; any later node reads it. Wire it after ``smooth``: angles of raw keypoints
jitter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import Field

from rtpose.analysis import joint_angles
from rtpose.api import Node, Params, Poses, register_node


def angle_records(names: list[str], degrees: Any, valid: Any) -> list[dict[str, float | None]]:
    """One ``{name: degrees or None}`` per person (None: not valid), rounded to 0.1 degree."""
    return [{name: round(float(d), 1) if ok else None for name, d, ok in zip(names, row, oks)}
            for row, oks in zip(degrees, valid)]


@register_node("joint_angles")
class JointAngles(Node):
    """Per-person joint angles in degrees (elbows, shoulders, hips, knees, ankles, trunk lean)."""

    inputs = {"poses": Poses}
    outputs = {"poses": Poses}

    class Params(Params):
        min_score: float = Field(0.3, ge=0, le=1, description=(
            "An angle is valid only when all its keypoints score at least this; otherwise it is null."))

    def process(self, poses: Poses) -> dict[str, Any]:
        names, degrees, valid = joint_angles(poses.keypoints, poses.schema, self.params.min_score)
        attributes = poses.attributes | {"angles": angle_records(names, degrees, valid)}
        return {"poses": replace(poses, attributes=attributes)}

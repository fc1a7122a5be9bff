"""Named joint angles in degrees, computed from keypoints by name through the poses' schema.

An angle is defined by keypoint *names* (not indices), so it works with any schema that has
those points (COCO-17, whole-body, a plugin's own); an angle whose points a schema lacks is
left out (e.g. the ankles need a toe, which COCO-17 does not have).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtpose.schemas import KeypointSchema


@dataclass(frozen=True)
class AngleDef:
    """The angle at keypoint ``b`` between the limbs ``b -> a`` and ``b -> c`` (0..180 degrees).

    With ``c`` empty, the signed angle of the segment ``a -> b`` from the upward vertical
    (-180..180, positive when ``b`` lies right of ``a`` in the image): a lean.
    """

    name: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    c: tuple[str, ...] = ()


def _side(side: str, joint: str, a: str, c: str) -> AngleDef:
    return AngleDef(f"{side}_{joint}", (f"{side}_{a}",), (f"{side}_{joint}",), (f"{side}_{c}",))


ANGLES: tuple[AngleDef, ...] = tuple(
    _side(side, joint, a, c)
    for joint, a, c in (("elbow", "shoulder", "wrist"), ("shoulder", "elbow", "hip"), ("hip", "shoulder", "knee"),
                        ("knee", "hip", "ankle"), ("ankle", "knee", "big_toe"))
    for side in ("left", "right")
) + (
    # hips' midpoint -> shoulders' midpoint against the vertical: 0 upright, 90 lying sideways
    AngleDef("trunk_lean", ("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")),
)
"""Elbows, shoulders, hips, knees, ankles (where the schema has toes) and the trunk's lean."""


def angle_names(schema: KeypointSchema, definitions: tuple[AngleDef, ...] = ANGLES) -> list[str]:
    """The angles ``schema`` has every keypoint for, in ``definitions`` order."""
    have = set(schema.keypoints)
    return [d.name for d in definitions if set(d.a + d.b + d.c) <= have]


def _midpoint(keypoints: np.ndarray, schema: KeypointSchema, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean position (N, 2) of the named points, and the lowest of their scores (N,)."""
    idx = [schema.index(n) for n in names]
    pts = keypoints[:, idx]
    return pts[..., :2].mean(axis=1), pts[..., 2].min(axis=1)


def joint_angles(keypoints: np.ndarray, schema: KeypointSchema, min_score: float = 0.3,
                 definitions: tuple[AngleDef, ...] = ANGLES) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every angle ``schema`` allows, for every person.

    ``keypoints`` is (N, K, 3) ``x, y, score``. Returns ``(names, degrees (N, A), valid (N, A))``:
    an angle is valid when all its keypoints score at least ``min_score`` and its limbs have a
    length; invalid angles are NaN.
    """
    kps = np.asarray(keypoints, np.float64).reshape(-1, len(schema), 3)
    names = angle_names(schema, definitions)
    by_name = {d.name: d for d in definitions}
    degrees = np.full((len(kps), len(names)), np.nan)
    valid = np.zeros((len(kps), len(names)), bool)
    for j, name in enumerate(names):
        d = by_name[name]
        pa, sa = _midpoint(kps, schema, d.a)
        pb, sb = _midpoint(kps, schema, d.b)
        u = pb - pa if not d.c else pa - pb
        if d.c:
            pc, sc = _midpoint(kps, schema, d.c)
            v = pc - pb
            score = np.minimum(np.minimum(sa, sb), sc)
            lengths = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
            angle = np.degrees(np.arccos(np.clip((u * v).sum(1) / np.maximum(lengths, 1e-9), -1.0, 1.0)))
        else:
            score = np.minimum(sa, sb)
            lengths = np.linalg.norm(u, axis=1)
            angle = np.degrees(np.arctan2(u[:, 0], -u[:, 1]))  # image y points down: "up" is -y
        ok = (score >= min_score) & (lengths > 1e-6) & np.isfinite(angle)
        degrees[:, j] = np.where(ok, angle, np.nan)
        valid[:, j] = ok
    return names, degrees, valid

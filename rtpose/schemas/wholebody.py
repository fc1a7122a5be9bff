"""COCO-WholeBody: 133 points per person, the body, feet, face and both hands in one array.

Layout (Jin et al., ECCV 2020): body 0-16 (``coco17``), feet 17-22 (left big toe, small toe,
heel, then the right foot), face 23-90 (``face68``), left hand 91-111 and right hand 112-132
(``hand21`` each). The sigmas are COCO-WholeBody's evaluation constants, part by part.
"""

from __future__ import annotations

import numpy as np

from rtpose.schemas.base import KeypointSchema, register_schema
from rtpose.schemas.coco import COCO17
from rtpose.schemas.face import FACE68
from rtpose.schemas.hand import HAND21

FEET_KEYPOINTS = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
FEET_SIGMAS = np.array([0.068, 0.066, 0.066, 0.092, 0.094, 0.094], np.float32)

BODY = slice(0, 17)
FEET = slice(17, 23)
FACE = slice(23, 91)
LEFT_HAND = slice(91, 112)
RIGHT_HAND = slice(112, 133)
"""Where each part sits in the 133 points (slices of the keypoint axis)."""


def _shift(pairs: tuple[tuple[int, int], ...], offset: int) -> tuple[tuple[int, int], ...]:
    return tuple((a + offset, b + offset) for a, b in pairs)


def _groups(schema: KeypointSchema, offset: int, prefix: str = "") -> dict[str, tuple[int, ...]]:
    return {prefix + name: tuple(i + offset for i in idx) for name, idx in schema.groups.items()}


_LEFT_ANKLE, _RIGHT_ANKLE, _LEFT_WRIST, _RIGHT_WRIST = 15, 16, 9, 10

COCO_WHOLEBODY133 = KeypointSchema(
    name="coco_wholebody133",
    keypoints=(
        *COCO17.keypoints, *FEET_KEYPOINTS, *(f"face_{n}" for n in FACE68.keypoints),
        *(f"left_hand_{n}" for n in HAND21.keypoints), *(f"right_hand_{n}" for n in HAND21.keypoints),
    ),
    skeleton=(
        *COCO17.skeleton,
        (_LEFT_ANKLE, 17), (_LEFT_ANKLE, 18), (_LEFT_ANKLE, 19),
        (_RIGHT_ANKLE, 20), (_RIGHT_ANKLE, 21), (_RIGHT_ANKLE, 22),
        *_shift(FACE68.skeleton, FACE.start),
        (_LEFT_WRIST, LEFT_HAND.start), *_shift(HAND21.skeleton, LEFT_HAND.start),
        (_RIGHT_WRIST, RIGHT_HAND.start), *_shift(HAND21.skeleton, RIGHT_HAND.start),
    ),
    sigmas=np.concatenate([COCO17.oks_sigmas(), FEET_SIGMAS, FACE68.oks_sigmas(), HAND21.oks_sigmas(),
                           HAND21.oks_sigmas()]).astype(np.float32),
    flip_pairs=(
        *COCO17.flip_pairs, (17, 20), (18, 21), (19, 22), *_shift(FACE68.flip_pairs, FACE.start),
        *((LEFT_HAND.start + i, RIGHT_HAND.start + i) for i in range(len(HAND21))),
    ),
    groups={
        "left_foot": (17, 18, 19), "right_foot": (20, 21, 22),
        **_groups(FACE68, FACE.start, "face_"),
        **_groups(HAND21, LEFT_HAND.start, "left_"), **_groups(HAND21, RIGHT_HAND.start, "right_"),
    },
)
"""Groups: the feet, ``face_jaw`` .. ``face_lips`` and ``left_thumb`` .. ``right_palm``; the body
itself has none (it is coloured by side, as ``coco17``)."""

register_schema(COCO_WHOLEBODY133)

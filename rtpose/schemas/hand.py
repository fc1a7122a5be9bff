"""One hand's 21 keypoints, in MediaPipe Hands' order (also COCO-WholeBody's per-hand order).

The wrist, then four points per finger from the palm outwards: thumb, index, middle, ring,
pinky. The OKS sigmas are COCO-WholeBody's per-hand constants (the same for either hand).
"""

from __future__ import annotations

import numpy as np

from rtpose.schemas.base import KeypointSchema, register_schema

FINGERS = ("thumb", "index", "middle", "ring", "pinky")
"""Finger names in keypoint order; finger ``f`` holds keypoints ``1 + 4 f`` .. ``4 + 4 f``."""

HAND_KEYPOINTS: tuple[str, ...] = ("wrist", *(f"{finger}{joint}" for finger in FINGERS for joint in range(1, 5)))
"""``wrist``, ``thumb1`` .. ``thumb4``, ``index1`` .. ``pinky4`` (1 at the palm, 4 at the tip)."""


def _finger_chain(finger: int) -> tuple[tuple[int, int], ...]:
    """Wrist to fingertip for one finger, as consecutive keypoint pairs."""
    chain = (0, *range(1 + 4 * finger, 5 + 4 * finger))
    return tuple(zip(chain[:-1], chain[1:]))


HAND_SKELETON: tuple[tuple[int, int], ...] = (
    *(edge for finger in range(len(FINGERS)) for edge in _finger_chain(finger)),
    (5, 9), (9, 13), (13, 17),  # knuckle line across the palm
)

HAND_GROUPS: dict[str, tuple[int, ...]] = {
    **{name: tuple(range(1 + 4 * f, 5 + 4 * f)) for f, name in enumerate(FINGERS)},
    "palm": (0, 5, 9, 13, 17),
}
"""One drawing group per finger (coloured per finger) plus the palm (wrist and knuckles)."""

HAND_SIGMAS = np.array([0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024,
                        0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.020, 0.019, 0.022, 0.031], np.float32)

HAND21 = KeypointSchema(
    name="hand21",
    keypoints=HAND_KEYPOINTS,
    skeleton=HAND_SKELETON,
    sigmas=HAND_SIGMAS,
    groups=HAND_GROUPS,
)
"""A single hand: no left/right flip pairs (handedness is a per-person attribute)."""

register_schema(HAND21)

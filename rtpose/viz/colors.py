"""Colours of the overlay, all BGR (OpenCV's order) so they can be used on frames directly.

Limbs and joints follow mmpose's COCO scheme (left side green, right side orange,
centre blue) so the skeleton reads the same as in the tools people already know.
People get a colour of their own, derived from the track id alone, so a person keeps
the same colour across frames and across runs.
"""

from __future__ import annotations

import colorsys

from rtpose.types import COCO_KEYPOINTS, COCO_SKELETON

BGR = tuple[int, int, int]

LEFT: BGR = (0, 255, 0)
"""Left side of the body (green, mmpose's ``[0, 255, 0]``)."""
RIGHT: BGR = (0, 128, 255)
"""Right side of the body (orange, mmpose's RGB ``[255, 128, 0]``)."""
CENTRE: BGR = (255, 153, 51)
"""Face and torso (blue, mmpose's RGB ``[51, 153, 255]``)."""
UNTRACKED: BGR = (200, 200, 200)
"""People without a track id (id -1): neutral grey, so they never look like a tracked person."""

_GOLDEN = 0.618033988749895


def keypoint_color(name: str) -> BGR:
    """The colour of one joint, from its side of the body (face joints count as centre)."""
    if name.startswith("left_") and not name.endswith(("eye", "ear")):
        return LEFT
    if name.startswith("right_") and not name.endswith(("eye", "ear")):
        return RIGHT
    return CENTRE


def limb_color(a: int, b: int, names: tuple[str, ...] = COCO_KEYPOINTS) -> BGR:
    """The colour of the limb between joints ``a`` and ``b``: a side colour when both ends are
    on that side, else centre (so the torso and the face are blue, as in mmpose)."""
    if _is_torso(names[a]) and _is_torso(names[b]):
        return CENTRE
    ca, cb = keypoint_color(names[a]), keypoint_color(names[b])
    return ca if ca == cb else CENTRE


def _is_torso(name: str) -> bool:
    return name.endswith(("shoulder", "hip"))


LIMB_COLORS: tuple[BGR, ...] = tuple(limb_color(a, b) for a, b in COCO_SKELETON)
"""One colour per limb of :data:`rtpose.types.COCO_SKELETON`, in the same order."""

KEYPOINT_COLORS: tuple[BGR, ...] = tuple(keypoint_color(n) for n in COCO_KEYPOINTS)
"""One colour per COCO keypoint."""


def track_color(track_id: int) -> BGR:
    """A vivid colour for a track id, the same on every call and in every run.

    Hues step by the golden ratio, so consecutive ids (the common case: a tracker
    counts up) land far apart on the colour wheel and never repeat exactly.
    """
    if track_id < 0:
        return UNTRACKED
    hue = (int(track_id) * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.8, 1.0)
    return (round(b * 255), round(g * 255), round(r * 255))


def text_color_on(background: BGR) -> BGR:
    """Black or white, whichever reads better on ``background`` (by perceived luminance)."""
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)

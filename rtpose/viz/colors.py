"""Colours of the overlay, all BGR (OpenCV's order) so they can be used on frames directly.

Limbs and joints follow mmpose's COCO scheme (left side green, right side orange,
centre blue) so the skeleton reads the same as in the tools people already know.
People get a colour of their own (box and ``#id`` tag), derived from the track id alone,
so a person keeps the same colour across frames and across runs. Those colours come
from a fixed palette that stays clear of the limb colours: a green or orange box must
never read as a limb, nor a blue one as a torso.
"""

from __future__ import annotations

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


TRACK_PALETTE: tuple[BGR, ...] = (
    (255, 0, 255),    # magenta
    (0, 230, 255),    # yellow
    (255, 240, 0),    # cyan
    (60, 40, 255),    # red
    (200, 150, 255),  # rose
    (255, 80, 150),   # violet
    (170, 200, 0),    # teal
    (90, 30, 160),    # maroon
)
"""Person colours (BGR), picked to stay distinct from :data:`LEFT`, :data:`RIGHT`, :data:`CENTRE`
and :data:`UNTRACKED` (at least 45 CIELAB units from each), and ordered so that ids one or
two apart (a tracker counts up) differ clearly (at least 65 units). Ids cycle through it;
the ``#id`` tag tells two people of the same colour apart."""


def track_color(track_id: int) -> BGR:
    """The colour of a track id's box and tag: the same on every call and in every run.

    Negative ids (untracked people) are neutral grey.
    """
    if track_id < 0:
        return UNTRACKED
    return TRACK_PALETTE[int(track_id) % len(TRACK_PALETTE)]


def text_color_on(background: BGR) -> BGR:
    """Black or white, whichever reads better on ``background`` (by perceived luminance)."""
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)

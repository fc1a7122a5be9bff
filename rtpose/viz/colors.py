"""Colours of the overlay, all BGR (OpenCV's order) so they can be used on frames directly.

Limbs and joints follow mmpose's COCO scheme (left side green, right side orange,
centre blue) so the skeleton reads the same as in the tools people already know.
Schemas with drawing groups (hands, faces, whole-body) colour by group instead: each finger
its own colour, the palm and the face's contours in light neutral tones (:func:`schema_paint`).
People get a colour of their own (box and ``#id`` tag), derived from the track id alone,
so a person keeps the same colour across frames and across runs. Those colours come
from a fixed palette that stays clear of the limb colours: a green or orange box must
never read as a limb, nor a blue one as a torso.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rtpose.schemas import KeypointSchema
from rtpose.types import COCO_KEYPOINTS

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


FINGER_COLORS: dict[str, BGR] = {
    "thumb": (60, 60, 255),     # red
    "index": (0, 220, 255),     # yellow
    "middle": (120, 255, 60),   # light green
    "ring": (255, 200, 0),      # sky blue
    "pinky": (255, 80, 220),    # violet
}
"""One colour per finger, so crossed or curled fingers stay apart."""
PALM: BGR = (210, 210, 210)
"""The palm (wrist to knuckles): light grey, so the fingers' colours stand out."""
FACE: BGR = (245, 245, 245)
"""Face contours: near-white thin lines, as face meshes are usually drawn."""

Part = Literal["body", "hand", "face"]
"""What a keypoint belongs to, which sets how big it is drawn (hands and faces are small)."""

_FACE_GROUPS = ("jaw", "brows", "nose", "eyes", "lips", "face_oval")


@dataclass(frozen=True)
class SchemaPaint:
    """How one schema is drawn: per limb (skeleton order) and per keypoint, a colour and a part."""

    limb_colors: tuple[BGR, ...]
    limb_parts: tuple[Part, ...]
    keypoint_colors: tuple[BGR, ...]
    keypoint_parts: tuple[Part, ...]


def group_part(group: str) -> Part:
    """The part a drawing group belongs to, from its name (``left_thumb``, ``face_lips``, ``palm``...)."""
    if group == "palm" or group.endswith("_palm") or any(group.endswith(f) for f in FINGER_COLORS):
        return "hand"
    if group.startswith("face_") or group in _FACE_GROUPS:
        return "face"
    return "body"


def group_color(group: str) -> BGR | None:
    """A hand or face group's colour; None for body groups (coloured by side, as COCO-17)."""
    for finger, color in FINGER_COLORS.items():
        if group.endswith(finger):
            return color
    part = group_part(group)
    if part == "hand":
        return PALM
    if part == "face":
        return FACE
    return None


@lru_cache(maxsize=64)
def schema_paint(schema: KeypointSchema) -> SchemaPaint:
    """Colours and parts of every limb and keypoint of ``schema`` (cached: schemas are immutable).

    A keypoint takes the colour of the first hand or face group that holds it (fingers
    come before the palm, so knuckles are finger-coloured); a limb takes the colour of a
    group holding both its ends, else of the group of its outer end. Everything else is
    coloured by body side from the keypoint names, exactly as for COCO-17.
    """
    names = schema.keypoints
    group_of: dict[int, str] = {}
    for group, members in schema.groups.items():
        for k in members:
            group_of.setdefault(k, group)
    colors = {g: group_color(g) for g in schema.groups}

    def keypoint(k: int) -> tuple[BGR, Part]:
        group = group_of.get(k)
        if group is None or colors[group] is None:
            return keypoint_color(names[k]), "body"
        return colors[group], group_part(group)  # type: ignore[return-value]

    def limb(a: int, b: int) -> tuple[BGR, Part]:
        shared = [g for g, m in schema.groups.items() if a in m and b in m and colors[g] is not None]
        if shared:
            return colors[shared[0]], group_part(shared[0])  # type: ignore[return-value]
        for end in (b, a):
            color, part = keypoint(end)
            if part != "body":
                return color, part
        return limb_color(a, b, names), "body"

    limbs = [limb(a, b) for a, b in schema.skeleton]
    points = [keypoint(k) for k in range(len(schema))]
    return SchemaPaint(tuple(c for c, _ in limbs), tuple(p for _, p in limbs),
                       tuple(c for c, _ in points), tuple(p for _, p in points))


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

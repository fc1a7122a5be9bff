"""wholebody: one COCO-WholeBody person (133 points) from a body, its hands and its face.

Inputs are joined by frame: ``body`` (``coco17``, or ``coco_wholebody133`` from a whole-body
model), and optionally ``hands`` (``hand21``, e.g. from ``hand_landmarks``, with the per-hand
attributes ``handedness`` "left"/"right" and ``body_track_id``) and ``face`` (``face468`` from
``face_landmarks``, mapped to the 68 points by :data:`rtpose.schemas.FACE468_TO_FACE68`, or
``face68``). A hand or face goes to the body whose track id it carries (``body_index`` first,
where the face node gives it); one from an untracked body goes to the body whose wrist (for a
hand) or nose (for a face) is nearest, within the part's own size.

Feet: no model in these graphs gives them, so the 6 foot points have score 0 (and sit at the
ankles) unless ``body`` is a whole-body pose, whose feet are kept. Parts not found likewise
keep score 0 (or the whole-body body's own points). Output: the body's people, boxes, scores,
track ids and attributes, with 133 keypoints each.
"""

from __future__ import annotations

import numpy as np

from rtpose.api import Node, NoParams, Poses, register_node
from rtpose.schemas import COCO_WHOLEBODY133, FACE468_TO_FACE68
from rtpose.schemas.wholebody import FACE, FEET, LEFT_HAND, RIGHT_HAND

LEFT_WRIST, RIGHT_WRIST, LEFT_ANKLE, RIGHT_ANKLE, NOSE = 9, 10, 15, 16, 0


def empty_wholebody(body: Poses) -> np.ndarray:
    """(N, 133, 3): the body's points where it has them, feet at the ankles with score 0, the rest zero."""
    out = np.zeros((len(body), len(COCO_WHOLEBODY133), 3), np.float32)
    if body.schema == COCO_WHOLEBODY133:
        out[:] = body.keypoints
        return out
    out[:, :17] = body.keypoints[:, :17]
    out[:, FEET, :2] = body.keypoints[:, [LEFT_ANKLE] * 3 + [RIGHT_ANKLE] * 3, :2]
    return out


def face68_points(face: Poses) -> np.ndarray:
    """(M, 68, 3) 300W points of each face (picked from a mesh, or as they are)."""
    if face.schema.name == "face468":
        return face.keypoints[:, list(FACE468_TO_FACE68)]
    return face.keypoints


def assign(parts: Poses, body: Poses, anchor: np.ndarray, part_anchor: np.ndarray) -> list[int]:
    """The body index each part belongs to (-1: none).

    By ``body_index`` when the part gives it, else by ``body_track_id`` (tracked bodies), else to
    the body whose ``anchor`` point (N, 3) is nearest the part's ``part_anchor`` (M, 2), if within
    the part's box diagonal.
    """
    if "body_index" in parts.attributes:
        return [int(i) if 0 <= i < len(body) else -1 for i in parts.attributes["body_index"]]
    track_of = {int(t): i for i, t in enumerate(body.track_ids) if t >= 0}
    tracks = parts.attributes.get("body_track_id", [-1] * len(parts))
    owners = []
    for j in range(len(parts)):
        owner = track_of.get(int(tracks[j]), -1)
        if owner < 0 and len(body):
            dist = np.linalg.norm(anchor[:, :2] - part_anchor[j], axis=1)
            dist[anchor[:, 2] <= 0] = np.inf
            size = float(np.linalg.norm(parts.boxes[j, 2:] - parts.boxes[j, :2]))
            nearest = int(np.argmin(dist))
            owner = nearest if dist[nearest] <= size else -1
        owners.append(owner)
    return owners


def _place(out: np.ndarray, slot: slice, owners: list[int], points: np.ndarray, scores: np.ndarray,
           side_of: list[slice] | None = None) -> None:
    """Write each part's points into its owner's slot; where two parts claim one slot the higher score wins."""
    best: dict[tuple[int, int], float] = {}
    for j, owner in enumerate(owners):
        target = side_of[j] if side_of is not None else slot
        key = (owner, target.start)
        if owner < 0 or best.get(key, -1.0) >= scores[j]:
            continue
        best[key] = float(scores[j])
        out[owner, target] = points[j]


@register_node("wholebody")
class WholeBody(Node):
    """Merges each person's body, hands and face into the 133 COCO-WholeBody points."""

    inputs = {"body": Poses, "hands": Poses, "face": Poses}
    optional_inputs = frozenset({"hands", "face"})
    outputs = {"poses": Poses}
    input_schemas = {"body": ("coco17", "coco_wholebody133"), "hands": "hand21", "face": ("face468", "face68")}
    output_schemas = {"poses": "coco_wholebody133"}
    Params = NoParams

    def process(self, body: Poses, hands: Poses | None = None, face: Poses | None = None) -> dict:
        out = empty_wholebody(body)
        if face is not None and len(face):
            owners = assign(face, body, body.keypoints[:, NOSE], face.boxes.reshape(-1, 2, 2).mean(axis=1))
            _place(out, FACE, owners, face68_points(face), face.scores)
        if hands is not None and len(hands):
            sides = [LEFT_HAND if h == "left" else RIGHT_HAND for h in hands.attributes.get(
                "handedness", ["right"] * len(hands))]
            wrists = np.stack([body.keypoints[:, LEFT_WRIST], body.keypoints[:, RIGHT_WRIST]], axis=1)
            owners = []
            for j, side in enumerate(sides):  # a hand's anchor is its side's wrist
                anchor = wrists[:, 0 if side is LEFT_HAND else 1]
                owners += assign(hands.take([j]), body, anchor, hands.keypoints[j:j + 1, 0, :2])
            _place(out, LEFT_HAND, owners, hands.keypoints, hands.scores, side_of=sides)
        return {"poses": Poses(boxes=body.boxes, scores=body.scores, class_ids=body.class_ids,
                               track_ids=body.track_ids, keypoints=out, schema=COCO_WHOLEBODY133,
                               attributes=dict(body.attributes))}

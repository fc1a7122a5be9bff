"""The wholebody merge: parts go to the right person and slot, and the 133 points are accurate
on the COCO-WholeBody images of ../shared (body, feet, face; hands where the hands node exists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtpose.api import Poses
from rtpose.errors import PluginError
from rtpose.evaluation.wholebody import load_coco_wholebody, part_pck, wholebody_on_images
from rtpose.plugins import get_node_type
from rtpose.schemas import COCO17, COCO_WHOLEBODY133, FACE468, FACE468_TO_FACE68, HAND21
from rtpose.schemas.wholebody import FACE, FEET, LEFT_HAND, RIGHT_HAND
from helpers import body


def opened(type_name: str, **params):
    cls = get_node_type(type_name)
    node = cls(type_name, cls.Params(**params))
    node.open()
    return node


def bodies(track_ids: list[int]) -> Poses:
    kps = np.stack([body(100 + 200 * i, 200) for i in range(len(track_ids))])
    boxes = [[60 + 200 * i, 100, 140 + 200 * i, 300] for i in range(len(track_ids))]
    return Poses(boxes=boxes, scores=[0.9] * len(track_ids), class_ids=[0] * len(track_ids), track_ids=track_ids,
                 keypoints=kps, schema=COCO17)


def hands_at(wrists: list[np.ndarray], handedness: list[str], body_track_ids: list[int], scores: list[float]) -> Poses:
    kps = np.zeros((len(wrists), 21, 3), np.float32)
    for j, wrist in enumerate(wrists):
        kps[j, :, :2] = wrist[:2] + np.linspace(0, 20, 21)[:, None] * [0.0, -1.0]  # fingers up from the wrist
        kps[j, :, 2] = scores[j]
    boxes = [[*k[:, :2].min(0) - 5, *k[:, :2].max(0) + 5] for k in kps]
    return Poses(boxes=boxes, scores=scores, class_ids=[0] * len(wrists), track_ids=[-1] * len(wrists), keypoints=kps,
                 schema=HAND21, attributes={"handedness": handedness, "body_track_id": np.array(body_track_ids)})


def test_hands_go_to_their_body_and_side_by_track_id_or_nearest_wrist() -> None:
    people = bodies([4, -1])
    left_wrist_of_0, right_wrist_of_1 = people.keypoints[0, 9], people.keypoints[1, 10]
    hands = hands_at(
        [left_wrist_of_0 + 2, right_wrist_of_1 + 1, right_wrist_of_1 + 3],
        ["left", "right", "right"], [4, -1, -1], [0.9, 0.6, 0.8])
    out = opened("wholebody").process(people, hands, None)["poses"]
    assert out.schema == COCO_WHOLEBODY133 and out.keypoints.shape == (2, 133, 3)
    assert out.track_ids.tolist() == [4, -1]
    assert np.allclose(out.keypoints[0, LEFT_HAND], hands.keypoints[0])  # by track id, left slot
    assert (out.keypoints[0, RIGHT_HAND, 2] == 0).all()
    # untracked body: the nearest wrist; of two hands claiming one slot the higher score wins
    assert np.allclose(out.keypoints[1, RIGHT_HAND], hands.keypoints[2])
    assert (out.keypoints[1, LEFT_HAND, 2] == 0).all()
    assert np.array_equal(out.keypoints[:, :17], people.keypoints)
    # feet: no model gives them, so score 0 (placed at the ankles)
    assert (out.keypoints[:, FEET, 2] == 0).all()
    assert np.allclose(out.keypoints[0, FEET.start, :2], people.keypoints[0, 15, :2])


def test_a_hand_far_from_every_untracked_body_is_left_out() -> None:
    people = bodies([-1])
    hands = hands_at([np.array([900.0, 900.0])], ["left"], [-1], [0.9])
    out = opened("wholebody").process(people, hands, None)["poses"]
    assert (out.keypoints[0, 91:, 2] == 0).all()


def test_a_face_mesh_becomes_the_68_face_points_of_its_body() -> None:
    people = bodies([3, 5])
    mesh = np.zeros((1, 468, 3), np.float32)
    mesh[0, :, 0] = np.arange(468)  # each vertex's x is its index, so the map can be read back
    mesh[0, :, 1] = 50
    mesh[0, :, 2] = 0.97
    face = Poses(boxes=[[300, 40, 320, 60]], scores=[0.97], class_ids=[0], track_ids=[5], keypoints=mesh,
                 schema=FACE468, attributes={"body_track_id": np.array([5]), "body_index": np.array([1])})
    out = opened("wholebody").process(people, None, face)["poses"]
    assert out.keypoints[1, FACE, 0].tolist() == list(FACE468_TO_FACE68)
    assert (out.keypoints[0, FACE, 2] == 0).all()


def has_hands_node() -> bool:
    try:
        get_node_type("hand_landmarks")
    except PluginError:
        return False
    return True


def test_wholebody_accuracy_per_part_on_coco(shared: Path) -> None:
    """PCK@0.1 per part from the ground-truth person boxes (SimplePose-nano body, face mesh from
    its head points). Measured: body 164/181 = 0.906, face 207/272 = 0.761, feet 0/38 (no foot model)."""
    images = load_coco_wholebody(shared / "data/coco/test_coco_wholebody.json")
    hands = (opened("hand_landmarks", model=str(shared / "models/hand/hand_landmark_full.onnx"), threads=1)
             if has_hands_node() else None)
    predicted = wholebody_on_images(
        images, opened("pose", model=str(shared / "models/pose/simplepose_nano_256x192.onnx"), threads=1),
        opened("face_landmarks", model=str(shared / "models/face/face_landmark.onnx"), threads=1),
        opened("wholebody"), hands)
    result = {part: hit / total for part, (hit, total) in part_pck(predicted, images).items()}
    assert part_pck(predicted, images)["face"][1] == 4 * 68
    assert result["body"] > 0.85
    assert result["face"] > 0.6
    assert result["feet"] == 0.0 and all((p[:, FEET, 2] == 0).all() for p in predicted)
    # the face points are really the face's: shifted by a face width, they no longer match
    shifted = [p.copy() for p in predicted]
    for p in shifted:
        p[:, FACE, 0] += 25
    assert part_pck(shifted, images)["face"][0] < 0.3 * 4 * 68


@pytest.mark.parametrize("schema", [HAND21, COCO_WHOLEBODY133])
def test_smoother_takes_any_schema(schema) -> None:
    """A still pose with noise: the smooth node keeps the schema and steadies all K points."""
    cls = get_node_type("smooth")
    node = cls("smoother", cls.Params())
    node.open()
    rng = np.random.default_rng(0)
    k = len(schema)
    truth = np.stack([np.linspace(100, 300, k), np.linspace(150, 250, k)], axis=1)
    raw_err, smooth_err = [], []
    for _ in range(40):
        noisy = truth + rng.normal(0, 2.0, truth.shape)
        kps = np.concatenate([noisy, np.full((k, 1), 0.9)], axis=1)[None]
        out = node.process(Poses(boxes=[[100, 150, 300, 250]], scores=[0.9], class_ids=[0], track_ids=[1],
                                 keypoints=kps, schema=schema))["poses"]
        assert out.schema == schema and out.keypoints.shape == (1, k, 3)
        raw_err.append(np.abs(noisy - truth).mean())
        smooth_err.append(np.abs(out.keypoints[0, :, :2] - truth).mean())
    assert np.mean(smooth_err[10:]) < 0.8 * np.mean(raw_err[10:])


def test_a_wholebody_body_keeps_its_own_feet_and_parts_where_none_are_found() -> None:
    people = bodies([2])
    own = np.zeros((1, 133, 3), np.float32)
    own[0, :17] = people.keypoints[0]
    own[0, 17:, :2], own[0, 17:, 2] = 50.0, 0.7  # feet, face and hands from a whole-body model
    whole = Poses(boxes=people.boxes, scores=people.scores, class_ids=people.class_ids, track_ids=people.track_ids,
                  keypoints=own, schema=COCO_WHOLEBODY133)
    hands = hands_at([people.keypoints[0, 10]], ["right"], [2], [0.95])
    out = opened("wholebody").process(whole, hands, None)["poses"]
    assert np.allclose(out.keypoints[0, FEET], own[0, FEET]) and np.allclose(out.keypoints[0, FACE], own[0, FACE])
    assert np.allclose(out.keypoints[0, LEFT_HAND], own[0, LEFT_HAND])  # no left hand found: the model's
    assert np.allclose(out.keypoints[0, RIGHT_HAND], hands.keypoints[0])  # the hand model's right hand

"""The built-in keypoint schemas against the real data they describe (../shared annotations)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rtpose.schemas import (
    BLAZEPOSE33,
    COCO17,
    COCO_WHOLEBODY133,
    FACE68,
    FACE468,
    FACE468_TO_FACE68,
    H36M17,
    HAND21,
    get_schema,
    schema_names,
)
from rtpose.schemas.wholebody import FACE, FEET, LEFT_HAND, RIGHT_HAND


def test_every_built_in_schema_is_registered_with_its_size() -> None:
    sizes = {"coco17": 17, "hand21": 21, "face68": 68, "face468": 468, "coco_wholebody133": 133,
             "h36m17": 17, "blazepose33": 33}
    assert set(sizes) <= set(schema_names())
    assert {name: len(get_schema(name)) for name in sizes} == sizes


@pytest.mark.parametrize("schema", [COCO17, HAND21, FACE68, FACE468, COCO_WHOLEBODY133, H36M17, BLAZEPOSE33])
def test_groups_and_flip_pairs_are_consistent(schema) -> None:
    k = len(schema)
    assert all(0 <= i < k for members in schema.groups.values() for i in members)
    flipped = [i for pair in schema.flip_pairs for i in pair]
    assert len(flipped) == len(set(flipped)), "a keypoint in two flip pairs"
    names = schema.keypoints
    for a, b in schema.flip_pairs:  # a flip pair swaps sides: the names say so where they name a side
        if "left" in names[a] or "right" in names[a]:
            assert {"left" in names[a], "left" in names[b]} == {True, False}, (names[a], names[b])
    assert len(schema.oks_sigmas()) == k


def test_wholebody_parts_line_up_with_their_own_schemas() -> None:
    names = COCO_WHOLEBODY133.keypoints
    assert names[:17] == COCO17.keypoints
    assert names[FACE] == tuple(f"face_{n}" for n in FACE68.keypoints)
    assert names[LEFT_HAND] == tuple(f"left_hand_{n}" for n in HAND21.keypoints)
    assert names[RIGHT_HAND] == tuple(f"right_hand_{n}" for n in HAND21.keypoints)
    assert names[FEET] == ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
                           "right_heel")
    sig = COCO_WHOLEBODY133.oks_sigmas()
    assert np.allclose(sig[LEFT_HAND], HAND21.oks_sigmas()) and np.allclose(sig[FACE], FACE68.oks_sigmas())
    assert (9, LEFT_HAND.start) in COCO_WHOLEBODY133.skeleton and (10, RIGHT_HAND.start) in COCO_WHOLEBODY133.skeleton


def _wholebody_faces(shared: Path) -> list[np.ndarray]:
    data = json.loads((shared / "data/coco/test_coco_wholebody.json").read_text())
    return [np.reshape(a["face_kpts"], (68, 3)) for a in data["annotations"] if a["face_valid"]]


def test_face68_left_and_right_match_the_annotated_faces(shared: Path) -> None:
    """Seen from the front, each flip pair's "right" point (the subject's right) lies left in the image."""
    faces = _wholebody_faces(shared)
    assert len(faces) == 4
    eyes = [(36, 45), (39, 42)]  # right eye outer/inner corner vs left eye's
    for face in faces:
        for right, left in eyes:
            assert face[right, 0] < face[left, 0]
        jaw = face[FACE68.groups["jaw"], :2]
        assert np.argmax(jaw[:, 1]) in range(6, 11)  # the chin (jaw 8) is the lowest jaw point
        assert set(FACE68.groups) == {"jaw", "brows", "nose", "eyes", "lips"}


def test_hand21_order_matches_the_annotated_hands(shared: Path) -> None:
    data = json.loads((shared / "data/freihand/test_freihand.json").read_text())
    assert [n.replace("forefinger", "index").replace("_finger", "") for n in data["categories"][0]["keypoints"]] == \
        list(HAND21.keypoints)
    outward = []
    for ann in data["annotations"]:
        hand = np.reshape(ann["keypoints"], (21, 3))[:, :2]
        for finger, members in HAND21.groups.items():
            if finger != "palm":  # from the knuckle to the tip, a finger reaches away from the wrist
                reach = np.linalg.norm(hand[list(members)] - hand[0], axis=1)
                outward.append(reach[-1] > reach[0])
    assert np.mean(outward) >= 0.8  # all but the odd curled finger


def test_h36m17_follows_the_data_not_the_category_names(shared: Path) -> None:
    """The shared README's trap: hip 1 is the right hip, on the side opposite the left shoulder (11)."""
    data = json.loads((shared / "data/h36m/h36m_coco.json").read_text())
    assert H36M17.keypoints[1] == "right_hip" and H36M17.keypoints[11] == "left_shoulder"
    standing = [img["id"] for img in data["images"] if "Directions" in img["file_name"]]
    assert standing  # S1 stands facing the camera; the sitting frame is seen from the side
    for ann in (a for a in data["annotations"] if a["image_id"] in standing):
        kp = np.reshape(ann["keypoints"], (17, 3))[:, :2]
        up = kp[8] - kp[0]  # pelvis -> thorax

        def side(point: np.ndarray) -> float:
            return float(np.sign(up[0] * (point[1] - kp[0, 1]) - up[1] * (point[0] - kp[0, 0])))

        assert side(kp[1]) == -side(kp[11]) != 0


def test_face468_contours_and_the_68_point_map_use_real_mesh_vertices() -> None:
    assert len(FACE468_TO_FACE68) == 68 and len(set(FACE468_TO_FACE68)) == 68
    assert all(0 <= i < 468 for i in FACE468_TO_FACE68)
    assert set(FACE468.groups) == {"face_oval", "eyes", "brows", "nose", "lips"}
    oval = FACE468.groups["face_oval"]
    assert len(oval) == len(set(oval)) == 36
    # the jaw of the 68 points runs along the mesh's face oval
    assert set(FACE468_TO_FACE68[:17]) <= set(oval)

"""The pure stages of the bottom-up wrappers on hand-made inputs: OpenPose peak finding, the PAF
line integral, greedy limb matching, assembly (on a synthetic two-person map), CMU-18 -> COCO-17,
the map-to-image inverse and boxes; MoveNet MultiPose letterbox and decode; the tracked_poses join."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from rtpose.api import COCO_KEYPOINTS, Poses, Tracks
from rtpose.errors import ModelError
from rtpose.models import multipose, openpose
from rtpose.models.openpose import (
    CMU_LIMBS,
    CMU_PARTS,
    CMU_TO_COCO,
    PAF_CHANNELS,
    Peaks,
    assemble_people,
    boxes_from_keypoints,
    cmu_to_coco,
    find_peaks,
    group,
    limb_scores,
    map_to_image,
    match_limbs,
)
from rtpose.plugins import get_node_type

# a standing person ~90 px tall in CMU-18 order, relative to the nose's x and the top of the map
TEMPLATE = np.array([(0, 10), (0, 22), (-10, 22), (-14, 38), (-16, 52), (10, 22), (14, 38), (16, 52),
                     (-6, 55), (-7, 75), (-8, 95), (6, 55), (7, 75), (8, 95), (-3, 7), (3, 7), (-6, 9), (6, 9)],
                    np.float32)


def synthetic_maps(people: list[np.ndarray], height: int = 110, width: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (Gaussian, sigma 2, at each part) and part-affinity fields (unit vectors within 2 px of
    each limb, averaged where two people's limbs overlap), as a CMU network would draw them."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    heat = np.zeros((height, width, len(CMU_PARTS)), np.float32)
    fields = np.zeros((height, width, 2 * len(CMU_LIMBS)), np.float32)
    count = np.zeros((height, width, len(CMU_LIMBS)), np.float32)
    for parts in people:
        for p, (x, y) in enumerate(parts):
            heat[..., p] = np.maximum(heat[..., p], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0 ** 2)))
        for limb, ((a, b), (cx, cy)) in enumerate(zip(CMU_LIMBS, PAF_CHANNELS)):
            d = parts[b] - parts[a]
            length = float(np.linalg.norm(d))
            u = d / length
            along = (xs - parts[a][0]) * u[0] + (ys - parts[a][1]) * u[1]
            across = np.abs((xs - parts[a][0]) * u[1] - (ys - parts[a][1]) * u[0])
            on = (along >= 0) & (along <= length) & (across <= 2)
            fields[on, cx] += u[0]
            fields[on, cy] += u[1]
            count[on, limb] += 1
    for limb, (cx, cy) in enumerate(PAF_CHANNELS):
        n = np.maximum(count[..., limb], 1)
        fields[..., cx] /= n
        fields[..., cy] /= n
    return heat, fields


def test_find_peaks_keeps_local_maxima_above_the_threshold_per_part() -> None:
    heat = np.zeros((20, 30, 3), np.float32)
    heat[5, 7, 0], heat[4, 7, 0], heat[6, 7, 0] = 0.9, 0.5, 0.5  # one peak with shoulders
    heat[12, 20, 0] = 0.6
    heat[10, 10, 1] = 0.05  # below the threshold
    heat[3, 25, 2] = 0.7
    peaks = find_peaks(heat, threshold=0.1)
    assert peaks.part.tolist() == [0, 0, 2]
    assert peaks.xy.tolist() == [[7, 5], [20, 12], [25, 3]]
    assert np.allclose(peaks.score, [0.9, 0.6, 0.7])
    assert peaks.start.tolist() == [0, 2, 2, 3]
    assert peaks.of(0).tolist() == [0, 1] and peaks.of(1).tolist() == []


def test_limb_score_is_the_fields_projection_along_the_segment_with_the_length_penalty() -> None:
    field = np.zeros((40, 60, 2), np.float32)
    field[15:26, :, 0] = 1.0  # pointing +x along a horizontal band
    a = np.array([[10, 20]], np.float32)
    b = np.array([[25, 20], [40, 20], [10, 5]], np.float32)  # along, along but long, across the field
    score, valid = limb_scores(a, b, field)
    assert score[0, 0] == pytest.approx(1.0)
    assert score[0, 1] == pytest.approx(1.0 + 0.5 * 40 / 30 - 1.0)  # longer than half the map: penalised
    assert valid[0].tolist() == [True, True, False]
    back, back_valid = limb_scores(b[:1], a, field)  # b -> a runs against the field
    assert back[0, 0] == pytest.approx(-1.0) and not back_valid[0, 0]


def test_limb_score_samples_a_coarse_field_at_upsampled_points() -> None:
    field = np.zeros((10, 15, 2), np.float32)
    field[4:7, :, 1] = -1.0  # pointing up (-y) on coarse rows 4..6
    a = np.array([[22, 30]], np.float32)  # upsampled x4: coarse (5.0, 7.0) ... up to coarse y 5.0
    b = np.array([[22, 18]], np.float32)
    score, valid = limb_scores(a, b, field, factor=4, min_agree=0.5)
    assert score[0, 0] > 0.5 and valid[0, 0]


def test_match_limbs_is_greedy_one_to_one_best_first() -> None:
    score = np.array([[0.9, 0.8], [0.85, 0.1]], np.float32)
    matched = match_limbs(score, np.ones_like(score, bool))
    assert matched[:, :2].astype(int).tolist() == [[0, 0], [1, 1]]
    only = match_limbs(score, np.array([[False, True], [True, False]]))
    assert only[:, :2].astype(int).tolist() == [[1, 0], [0, 1]]


def test_two_people_are_assembled_from_a_synthetic_map() -> None:
    # the wrists of the two nearly touch (left wrist of the first at x 66, right wrist of the second at 74)
    people = [TEMPLATE + [50, 0], TEMPLATE + [90, 0]]
    heat, fields = synthetic_maps(people)
    keypoints, scores = group(heat, fields)
    assert len(keypoints) == 2 and (scores > 0.9).all()
    keypoints = keypoints[np.argsort(keypoints[:, 0, 0])]
    for found, truth in zip(keypoints, people):
        assert (found[:, 2] > 0.9).all()
        assert np.abs(found[:, :2] - truth).max() <= 0.5


def test_a_person_split_in_two_by_the_limb_order_is_merged() -> None:
    peaks = Peaks(np.array([[0, 0], [0, 10], [0, 20], [0, 30]], np.float32), np.full(4, 0.8, np.float32),
                  np.arange(4), np.arange(5))
    limbs = [(0, 1), (2, 3), (1, 2)]
    connections = [np.array([[0, 1, 0.9]], np.float32), np.array([[2, 3, 0.9]], np.float32),
                   np.array([[1, 2, 0.9]], np.float32)]
    members, scores = assemble_people(peaks, connections, limbs, confirm_only=0, min_parts=4)
    assert members.tolist() == [[0, 1, 2, 3]]
    assert scores[0] == pytest.approx((4 * 0.8 + 3 * 0.9) / 7)
    alone, _ = assemble_people(peaks, connections[:1], limbs[:1], confirm_only=0, min_parts=3)
    assert len(alone) == 0  # two parts are too few


def test_confirm_only_limbs_never_start_a_person() -> None:
    peaks = Peaks(np.array([[0, 0], [0, 10]], np.float32), np.ones(2, np.float32), np.arange(2), np.arange(3))
    members, _ = assemble_people(peaks, [np.array([[0, 1, 1.0]], np.float32)], [(0, 1)], confirm_only=1,
                                 min_parts=2)
    assert len(members) == 0


def test_cmu_to_coco_maps_each_coco_keypoint_to_the_cmu_part_of_that_name() -> None:
    assert [CMU_PARTS[i] for i in CMU_TO_COCO] == list(COCO_KEYPOINTS)
    cmu = np.arange(18 * 3, dtype=np.float32).reshape(1, 18, 3)
    coco = cmu_to_coco(cmu)
    assert coco.shape == (1, 17, 3) and (coco[0, 1] == cmu[0, 15]).all()  # left eye


def test_map_to_image_inverts_the_letterbox_and_the_stride() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    tensor, scale = openpose.preprocess(image, (432, 368))
    assert tensor.shape == (1, 368, 432, 3) and tensor.dtype == np.float32 and scale == pytest.approx(0.675)
    point = np.array([300.0, 200.0])
    cell = (point * scale + 0.5) / 8 - 0.5  # the network's map cell of that pixel
    upsampled = (cell + 0.5) * 4 - 0.5
    back = map_to_image(np.array([[[*upsampled, 0.7], [0, 0, 0]]], np.float32), factor=4, scale=scale)
    assert np.allclose(back[0, 0], [300, 200, 0.7], atol=1e-3)
    assert (back[0, 1] == 0).all()  # a missing part stays a zero


def test_boxes_hold_the_found_keypoints_and_ignore_missing_ones() -> None:
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, 5:] = [[100 + 3 * i, 50 + 10 * i, 0.8] for i in range(12)]
    box = boxes_from_keypoints(kps, margin=0.1, head=0.1)[0]
    side = 110.0
    assert np.allclose(box, [100 - 0.1 * side, 50 - 0.2 * side, 133 + 0.1 * side, 160 + 0.1 * side])
    assert boxes_from_keypoints(np.zeros((0, 17, 3))).shape == (0, 4)


def test_multipose_letterbox_is_int32_rgb_and_decode_inverts_it() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    image[..., 0] = 255  # blue in BGR
    tensor, scale = multipose.preprocess(image, (320, 256))
    assert tensor.shape == (1, 256, 320, 3) and tensor.dtype == np.int32 and scale == pytest.approx(0.5)
    assert (tensor[0, :240, :, 2] == 255).all() and (tensor[0, :240, :, 0] == 0).all()  # RGB
    assert (tensor[0, 240:] == 114).all()  # padding below the picture
    raw = np.zeros((1, 6, 56), np.float32)
    raw[0, 0, :51].reshape(17, 3)[:] = [0.5, 0.25, 0.8]  # y, x, score
    raw[0, 0, 51:] = [0.1, 0.2, 0.6, 0.5, 0.4]
    raw[0, 1, 51:] = [0, 0, 1, 1, 0.9]
    raw[0, 2, 51:] = [0, 0, 1, 1, 0.1]  # under the threshold
    poses = multipose.decode(raw, (320, 256), scale, score_threshold=0.2)
    assert len(poses) == 2 and poses.scores.tolist() == pytest.approx([0.9, 0.4])  # best first
    assert np.allclose(poses.keypoints[1, 0], [0.25 * 320 / 0.5, 0.5 * 256 / 0.5, 0.8])
    assert np.allclose(poses.boxes[1], [0.2 * 640, 0.1 * 512, 0.5 * 640, 0.6 * 512])
    assert (poses.track_ids == -1).all() and poses.schema.name == "coco17"


def test_multipose_input_size_must_be_multiples_of_32() -> None:
    with pytest.raises(ModelError, match="multiples of 32"):
        multipose.check_input_size((300, 256))


def test_tracked_poses_gives_each_pose_its_tracks_id_and_drops_the_untracked() -> None:
    cls = get_node_type("tracked_poses")
    node = cls("people", cls.Params())
    kps = np.random.default_rng(0).random((3, 17, 3)).astype(np.float32)
    poses = Poses(boxes=[[0, 0, 10, 20], [50, 0, 60, 20], [100, 0, 110, 20]], scores=[0.9, 0.8, 0.7],
                  class_ids=[0, 0, 0], keypoints=kps)
    tracks = Tracks(boxes=[[100, 0, 110, 20], [0, 0, 10, 20], [200, 0, 210, 20]], scores=[0.7, 0.9, 0.5],
                    class_ids=[0, 0, 0], track_ids=[4, 7, 9])  # the last one coasts: no pose
    out = node.process(poses, tracks)["poses"]
    assert out.track_ids.tolist() == [4, 7]
    assert np.array_equal(out.keypoints, kps[[2, 0]]) and out.scores.tolist() == pytest.approx([0.7, 0.9])


def test_multipose_node_params_refuse_a_size_that_is_not_a_multiple_of_32() -> None:
    params = get_node_type("multipose").Params
    with pytest.raises(ValidationError, match="multiples of 32"):
        params(model="multipose.onnx", input_size=[300, 256])
    assert params(model="multipose.onnx", input_size=[640, 384]).input_size == [640, 384]

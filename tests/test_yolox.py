"""YOLOX: each stage on hand-made arrays with known answers, then the real model on COCO."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.models.yolox import (
    PAD_VALUE, YoloxDetector, batched_nms, cxcywh_to_xyxy, decode_outputs, letterbox, make_grids, postprocess,
)
from rtpose.errors import ModelError
from rtpose.types import Detections


def test_letterbox_scales_to_fit_and_pads_bottom_right() -> None:
    image = np.full((200, 400, 3), 7, np.uint8)  # wide: width limits the scale
    tensor, scale = letterbox(image, 416)
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32
    assert scale == pytest.approx(416 / 400)
    rows = round(200 * scale)  # 208 image rows, then padding
    assert np.all(tensor[0, :, :rows, :] == 7)  # top-left aligned, values not normalised
    assert np.all(tensor[0, :, rows:, :] == PAD_VALUE)


def test_letterbox_keeps_bgr_order_and_handles_non_square_sizes() -> None:
    image = np.zeros((100, 50, 3), np.uint8)
    image[..., 0], image[..., 2] = 10, 200  # blue 10, red 200
    tensor, scale = letterbox(image, (320, 160))  # (width, height)
    assert tensor.shape == (1, 3, 160, 320)
    assert scale == pytest.approx(1.6)
    assert tensor[0, 0, 0, 0] == 10 and tensor[0, 2, 0, 0] == 200
    assert np.all(tensor[0, :, :, 80:] == PAD_VALUE)


def test_grids_follow_yolox_anchor_order() -> None:
    grids, strides = make_grids((64, 32), strides=(8, 16))
    # stride 8: 8 wide x 4 high = 32 cells, stride 16: 4 x 2 = 8 cells
    assert len(grids) == 40
    assert grids[:3].tolist() == [[0, 0], [1, 0], [2, 0]]  # x varies fastest
    assert grids[8].tolist() == [0, 1]
    assert grids[32].tolist() == [0, 0] and strides[32, 0] == 16
    assert grids[-1].tolist() == [3, 1]


def test_decode_applies_grid_offset_stride_and_exp() -> None:
    raw = np.zeros((1, 40, 6), np.float32)
    raw[0, 9] = [0.5, 0.25, 0.0, np.log(2.0), 0.9, 0.8]  # stride-8 cell (1, 1)
    raw[0, 39] = [0.0, 0.0, np.log(3.0), 0.0, 0.7, 0.6]  # stride-16 cell (3, 1)
    out = decode_outputs(raw, (64, 32), strides=(8, 16))
    np.testing.assert_allclose(out[9], [12.0, 10.0, 8.0, 16.0, 0.9, 0.8], rtol=1e-6)
    np.testing.assert_allclose(out[39], [48.0, 16.0, 48.0, 16.0, 0.7, 0.6], rtol=1e-6)


def test_decode_rejects_a_mismatched_input_size() -> None:
    from rtpose.errors import ModelError

    with pytest.raises(ModelError, match="anchors"):
        decode_outputs(np.zeros((1, 3549, 85)), 320)


def test_nms_keeps_best_of_overlapping_and_all_of_disjoint() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.8, 0.9, 0.5, 0.3])
    # 0 and 1 overlap with IoU 81/119 = 0.68; 3 lies inside 0 (IoU 0.9) and inside 1 (IoU 72/118 = 0.61)
    one_class = np.zeros(4, np.int64)
    assert batched_nms(boxes, scores, one_class, 0.5).tolist() == [1, 2]
    assert batched_nms(boxes, scores, one_class, 0.7).tolist() == [1, 0, 2]
    assert batched_nms(boxes[:0], scores[:0], one_class[:0], 0.5).tolist() == []


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float) -> list[int]:
    """The textbook definition, as a reference: best box first, drop same-class boxes with IoU > threshold."""
    order, keep = list(np.argsort(-scores, kind="stable")), []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        x1, y1 = np.maximum(boxes[i, :2], boxes[order, :2]).T
        x2, y2 = np.minimum(boxes[i, 2:], boxes[order, 2:]).T
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        iou = inter / (area(boxes[i]) + area(boxes[order]) - inter)
        order = [j for j, o in zip(order, iou) if o <= iou_threshold or class_ids[j] != class_ids[i]]
    return keep


def test_batched_nms_equals_greedy_nms_on_real_detections(shared: Path) -> None:
    """OpenCV's NMS keeps exactly what the greedy definition keeps, on YOLOX's raw candidates
    (every class, score > 0.05: about a hundred overlapping boxes per photo)."""
    detector = YoloxDetector(shared / "models/det/yolox_nano_416x416.onnx")
    photos = sorted((shared / "data/coco").glob("*.jpg")) + sorted((shared / "data/posetrack18").rglob("*.jpg"))
    assert photos
    candidates = 0
    for photo in photos:
        tensor, scale = letterbox(cv2.imread(str(photo)), detector.input_size)
        decoded = decode_outputs(detector.backend.run(tensor)[0], detector.input_size, detector.strides)
        cls_scores = decoded[:, 5:] * decoded[:, 4:5]
        class_ids = cls_scores.argmax(1)
        scores = cls_scores[np.arange(len(class_ids)), class_ids]
        keep = scores > 0.05
        boxes, scores, class_ids = cxcywh_to_xyxy(decoded[keep, :4]) / scale, scores[keep], class_ids[keep]
        candidates += len(boxes)
        for threshold in (0.45, 0.65):
            assert batched_nms(boxes, scores, class_ids, threshold).tolist() == \
                greedy_nms(boxes, scores, class_ids, threshold), (photo.name, threshold)
    assert candidates > 1000


def test_batched_nms_does_not_suppress_across_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8])
    assert batched_nms(boxes, scores, np.array([0, 0]), 0.5).tolist() == [0]
    assert sorted(batched_nms(boxes, scores, np.array([0, 1]), 0.5).tolist()) == [0, 1]


def _anchor(cx: float, cy: float, w: float, h: float, obj: float, cls: list[float]) -> list[float]:
    return [cx, cy, w, h, obj, *cls]


def test_postprocess_scores_filters_scales_and_clips() -> None:
    decoded = np.array([
        _anchor(50, 50, 40, 80, 0.9, [0.8, 0.1]),   # person 0.72
        _anchor(52, 50, 40, 80, 0.9, [0.7, 0.1]),   # duplicate person 0.63 -> NMS
        _anchor(150, 50, 40, 40, 0.9, [0.1, 0.95]),  # class 1 only
        _anchor(10, 100, 40, 40, 0.5, [0.5, 0.0]),  # person 0.25 -> below threshold
        _anchor(195, 20, 20, 20, 0.8, [0.9, 0.0]),  # person 0.72, sticks out of the image
    ], np.float32)
    dets = postprocess(decoded, scale=2.0, image_size=(100, 60), score_threshold=0.3)
    assert isinstance(dets, Detections) and len(dets) == 2
    assert dets.class_ids.tolist() == [0, 0]
    np.testing.assert_allclose(sorted(dets.scores), [0.72, 0.72], rtol=1e-5)
    by_x = dets.boxes[np.argsort(dets.boxes[:, 0])]
    np.testing.assert_allclose(by_x[0], [15, 5, 35, 45], atol=1e-5)  # / scale
    np.testing.assert_allclose(by_x[1], [92.5, 5, 100, 15], atol=1e-5)  # clipped at width 100
    both = postprocess(decoded, 2.0, (100, 60), classes=None)
    assert sorted(both.class_ids.tolist()) == [0, 0, 1]
    assert len(postprocess(decoded, 2.0, (100, 60), max_detections=1)) == 1
    assert len(postprocess(decoded, 2.0, (100, 60), score_threshold=0.99)) == 0


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    xy1 = np.maximum(boxes[:, :2], box[:2])
    xy2 = np.minimum(boxes[:, 2:], box[2:])
    inter = np.prod(np.clip(xy2 - xy1, 0, None), axis=1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


def test_yolox_nano_finds_the_coco_people(shared: Path) -> None:
    """README: YOLOX-Nano finds 11 of the 12 people with keypoints (IoU > 0.5, score > 0.3)."""
    coco = shared / "data" / "coco"
    gt = json.loads((coco / "test_coco.json").read_text())
    detector = YoloxDetector(shared / "models/det/yolox_nano_416x416.onnx", score_threshold=0.3)
    assert detector.input_size == (416, 416)
    people = found = 0
    for info in gt["images"]:
        image = cv2.imread(str(coco / info["file_name"]))
        dets = detector(image)
        assert np.all(dets.scores > 0.3) and np.all(dets.class_ids == 0)
        assert np.all(dets.boxes[:, 2] <= info["width"]) and np.all(dets.boxes[:, 3] <= info["height"])
        unused = np.ones(len(dets), bool)  # one detection may explain one person only
        for ann in gt["annotations"]:
            if ann["image_id"] != info["id"] or ann["num_keypoints"] == 0 or ann["iscrowd"]:
                continue
            people += 1
            x, y, w, h = ann["bbox"]
            ious = np.where(unused, _iou(np.array([x, y, x + w, y + h]), dets.boxes), 0.0)
            if len(ious) and ious.max() >= 0.5:
                found += 1
                unused[np.argmax(ious)] = False
    assert people == 12
    assert found >= 11


def test_a_model_that_is_not_yolox_is_named_in_the_error(shared: Path) -> None:
    hand = shared / "models/hand/hand_landmark_full.onnx"  # NHWC (1, 224, 224, 3)
    with pytest.raises(ModelError, match=r"hand_landmark_full.onnx: not a YOLOX detector.*\(1, 224, 224, 3\)"):
        YoloxDetector(hand)


def test_a_detector_without_a_fixed_size_says_so_without_advising_a_missing_param(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "height", "width"])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, "height", "width"])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["images"], ["out"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "dynamic.onnx")
    with pytest.raises(ModelError) as info:
        YoloxDetector(tmp_path / "dynamic.onnx")
    text = str(info.value)
    assert str(tmp_path / "dynamic.onnx") in text and "export the model with a fixed input size" in text
    assert "pass input_size" not in text  # the detect node has no such param
    assert YoloxDetector(tmp_path / "dynamic.onnx", input_size=(320, 256)).input_size == (320, 256)

"""Top-down heatmap pose: geometry round trips, DARK on synthetic peaks, PCK on real COCO people."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.backends.base import Backend, open_backend
from rtpose.models.heatmap import (
    TopDownPoseEstimator, box_to_center_scale, crop_affine, decode_heatmaps, get_affine_transform,
    heatmap_to_image, normalize,
)

SIMPLEPOSE = "models/pose/simplepose_nano_256x192.onnx"


def test_box_to_center_scale_fixes_aspect_then_pads() -> None:
    boxes = np.array([[10, 20, 110, 420],   # tall 100x400: widen to 300x400
                      [0, 0, 300, 100]])     # wide 300x100: heighten to 300x400
    centers, scales = box_to_center_scale(boxes, aspect=0.75, padding=1.25)
    np.testing.assert_allclose(centers, [[60, 220], [150, 50]])
    np.testing.assert_allclose(scales, [[375, 500], [375, 500]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize("rotation", [0.0, 30.0])
def test_affine_round_trip_returns_the_point(rotation: float) -> None:
    center, scale, size = np.array([321.7, 145.2]), np.array([180.0, 240.0]), (192, 256)
    forward = get_affine_transform(center, scale, rotation, size)
    back = get_affine_transform(center, scale, rotation, size, inverse=True)
    points = np.array([[300.3, 100.9], [321.7, 145.2], [250.0, 260.5]])
    in_crop = _apply(forward, points)
    np.testing.assert_allclose(in_crop[1], [96, 128], atol=1e-3)  # centre -> crop centre
    assert np.abs(_apply(back, in_crop) - points).max() < 0.01


def test_heatmap_to_image_inverts_the_crop_warp() -> None:
    """A point warped into the crop, then /4 onto the heatmap, maps back to where it was."""
    centers, scales = box_to_center_scale(np.array([[100, 50, 220, 330]]))
    forward = get_affine_transform(centers[0], scales[0], 0.0, (192, 256))
    points = np.array([[130.25, 70.5], [200.0, 300.75]])
    heat = _apply(forward, points) / 4.0
    back = heatmap_to_image(heat[None], centers, scales, (48, 64))[0]
    assert np.abs(back - points).max() < 0.01


def test_crop_affine_puts_the_box_where_the_model_expects_it() -> None:
    image = np.zeros((400, 400, 3), np.uint8)
    cv2.circle(image, (200, 100), 6, (255, 255, 255), -1)  # a bright dot at a known place
    centers, scales = box_to_center_scale(np.array([[140, 40, 260, 360], [0, 0, 50, 50]]))
    crops = crop_affine(image, centers, scales, (192, 256))
    assert crops.shape == (2, 256, 192, 3) and crops.dtype == np.uint8
    forward = get_affine_transform(centers[0], scales[0], 0.0, (192, 256))
    expected = _apply(forward, np.array([[200.0, 100.0]]))[0]
    ys, xs = np.nonzero(crops[0, ..., 0] > 127)
    np.testing.assert_allclose([xs.mean(), ys.mean()], expected, atol=0.5)
    assert crops[1].max() == 0  # the second crop has no dot


def test_normalize_makes_rgb_nchw_standardised() -> None:
    crops = np.zeros((2, 4, 3, 3), np.uint8)
    crops[..., 2] = 255  # red in BGR
    out = normalize(crops, mean=(0, 0, 0), std=(255, 1, 1), rgb=True)
    assert out.shape == (2, 3, 4, 3) and out.dtype == np.float32 and out.flags.c_contiguous
    assert np.all(out[:, 0] == 1.0) and np.all(out[:, 1:] == 0.0)
    assert np.all(normalize(crops, (0, 0, 0), (1, 1, 1), rgb=False)[:, 2] == 255)


def _gaussian(width: int, height: int, x: float, y: float, sigma: float = 2.0) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def test_dark_recovers_a_subpixel_peak_better_than_argmax() -> None:
    truth = np.array([[20.3, 30.7], [10.45, 12.4], [33.6, 50.15]])
    heatmaps = np.stack([_gaussian(48, 64, x, y) * 0.8 for x, y in truth])[None]
    dark, maxvals = decode_heatmaps(heatmaps, dark=True)
    plain, _ = decode_heatmaps(heatmaps, dark=False)
    dark_err = np.linalg.norm(dark[0] - truth, axis=1)
    plain_err = np.linalg.norm(plain[0] - truth, axis=1)
    assert dark_err.max() < 0.1
    assert np.all(dark_err < plain_err)
    np.testing.assert_allclose(maxvals[0], 0.8, atol=0.05)


def test_dark_leaves_border_peaks_at_their_argmax() -> None:
    heatmaps = _gaussian(48, 64, 0.3, 40.0)[None, None]
    coords, _ = decode_heatmaps(heatmaps)
    assert coords[0, 0].tolist() == [0.0, 40.0]


def _coco_people(shared: Path):
    coco = shared / "data" / "coco"
    gt = json.loads((coco / "test_coco.json").read_text())
    for info in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == info["id"] and a["num_keypoints"] > 0]
        yield cv2.imread(str(coco / info["file_name"])), anns


def test_simplepose_pck_with_ground_truth_boxes(shared: Path) -> None:
    """README: SimplePose-nano reaches PCK@0.1 0.895 on the 12 labelled COCO people."""
    estimator = TopDownPoseEstimator(shared / SIMPLEPOSE)
    assert estimator.input_size == (192, 256) and estimator.batch_size is None  # freed (see below)
    hits = labelled = people = 0
    for image, anns in _coco_people(shared):
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
        keypoints = estimator(image, boxes)
        assert keypoints.shape == (len(anns), 17, 3) and keypoints.dtype == np.float32
        for ann, pred in zip(anns, keypoints):
            truth = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
            seen = truth[:, 2] > 0
            dist = np.linalg.norm(pred[seen, :2] - truth[seen, :2], axis=1)
            hits += int(np.sum(dist < 0.1 * max(ann["bbox"][2:])))
            labelled += int(seen.sum())
            people += 1
    assert people == 12
    assert hits / labelled >= 0.88


def test_batched_and_one_by_one_inference_agree(shared: Path) -> None:
    """The model file says batch 1; its axis is freed, so all people go in one run, with the
    same keypoints as one run each."""
    image, anns = next(p for p in _coco_people(shared) if len(p[1]) >= 3)
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
    estimator = TopDownPoseEstimator(shared / SIMPLEPOSE)
    assert estimator.batch_size is None
    together = estimator(image, boxes)
    alone = np.concatenate([estimator(image, box[None]) for box in boxes])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    empty = estimator(image, np.zeros((0, 4)))
    assert empty.shape == (0, 17, 3)


def test_estimator_accepts_an_open_backend(shared: Path) -> None:
    backend = open_backend(shared / SIMPLEPOSE, threads=1)
    estimator = TopDownPoseEstimator(backend)
    assert estimator.backend is backend
    image = np.zeros((100, 100, 3), np.uint8)
    keypoints = estimator(image, np.array([[10, 10, 60, 90]]))
    assert keypoints.shape == (1, 17, 3)
    assert np.all(np.isfinite(keypoints))


class _CountingBackend(Backend):
    """A real backend wrapped to record the batch size of every call."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.batches = inner, []
        self.name, self.device = inner.name, inner.device
        self.input_names, self.output_names = inner.input_names, inner.output_names
        self.input_shapes = inner.input_shapes

    def run(self, inputs):
        self.batches.append(len(inputs))
        return self.inner.run(inputs)


def test_dynamic_batch_model_gets_all_crops_in_one_call() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 17, 3, padding=1), torch.nn.AvgPool2d(4))
    inner = open_backend(net, device="cpu", input_shapes=[("batch", 3, 256, 192)])
    counting = _CountingBackend(inner)
    image = np.random.default_rng(0).integers(0, 255, (300, 400, 3), np.uint8)
    boxes = np.array([[10, 10, 100, 200], [150, 20, 260, 280], [200, 50, 390, 290],
                      [0, 0, 40, 40], [30, 100, 330, 299]], np.float32)
    estimator = TopDownPoseEstimator(counting)
    assert estimator.batch_size is None
    together = estimator(image, boxes)
    assert counting.batches == [5]
    chunked = TopDownPoseEstimator(counting, max_batch=2)
    np.testing.assert_allclose(chunked(image, boxes), together, atol=1e-4)
    assert counting.batches[1:] == [2, 2, 1]

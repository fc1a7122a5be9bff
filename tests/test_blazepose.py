"""BlazePose GHUM world landmarks on a region aligned from the 2D pose, on real Human3.6M frames.

PA-MPJPE (Procrustes-aligned mean joint error) against the frames' 3D ground truth, with the
region from rtpose's own 2D pose (SimplePose-nano on the ground-truth box): measured 78.5 mm on S1
and 95.7 mm on S5 (sitting); the shared README's quick script without alignment gave 80 and 204.
Mind the shared README's trap: the data is in mmpose's Human3.6M order (right leg first)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.models.blazepose import BlazePoseLandmarks, blazepose33_to_h36m17, body_region
from rtpose.models.heatmap import TopDownPoseEstimator
from rtpose.evaluation.pose3d import pa_mpjpe


@pytest.fixture(scope="module")
def h36m_results(shared: Path) -> dict[str, float]:
    data = json.loads((shared / "data/h36m/h36m_coco.json").read_text())
    landmarks = BlazePoseLandmarks(shared / "models/pose3d/pose_landmark_full.onnx")
    pose2d = TopDownPoseEstimator(shared / "models/pose/simplepose_nano_256x192.onnx")
    images = {im["id"]: im["file_name"] for im in data["images"]}
    errors = {}
    for ann in data["annotations"]:
        image = cv2.imread(str(shared / "data/h36m" / images[ann["image_id"]]))
        x, y, w, h = ann["bbox"]
        box = np.array([[x, y, x + w, y + h]], np.float32)
        out = landmarks(image, pose2d(image, box), box)
        assert out.world.shape == (1, 33, 3) and out.image.shape == (1, 33, 3)
        gt = np.array(ann["keypoints_3d"], np.float32).reshape(17, 4)[:, :3]
        errors[images[ann["image_id"]][:2]] = pa_mpjpe(blazepose33_to_h36m17(out.world[0]), gt) * 1000
        gt2d = np.array(ann["keypoints"], np.float32).reshape(17, 3)[:, :2]
        errors[images[ann["image_id"]][:2] + "_2d"] = float(
            np.linalg.norm(blazepose33_to_h36m17(out.image[0])[:, :2] - gt2d, axis=1).mean() / max(w, h))
    return errors


def test_metric_3d_on_human36m_frames(h36m_results: dict[str, float]) -> None:
    assert h36m_results["S1"] < 95, h36m_results  # measured 78.5 mm
    assert h36m_results["S5"] < 120, h36m_results  # measured 95.7 mm (sitting)
    assert (h36m_results["S1"] + h36m_results["S5"]) / 2 < 100, h36m_results


def test_image_landmarks_map_back_through_the_region(h36m_results: dict[str, float]) -> None:
    # measured 0.029 and 0.090 of the box (derived joints such as neck and head differ by definition)
    assert h36m_results["S1_2d"] < 0.06 and h36m_results["S5_2d"] < 0.12, h36m_results


def test_region_is_centred_on_the_hips_and_turned_upright() -> None:
    kp = np.zeros((17, 3), np.float32)
    kp[:, 2] = 0.9
    kp[:, :2] = (100, 100)
    kp[[11, 12], :2] = [[90, 100], [110, 100]]
    kp[[5, 6], :2] = [[90 + 60, 100], [110 + 60, 100]]  # a person lying down, shoulders to the right
    region = body_region(kp, np.array([80, 80, 200, 120], np.float32))
    assert (region.cx, region.cy) == (100, 100)
    assert region.rotation == pytest.approx(math.pi / 2)
    assert region.width == region.height >= 2 * 70 * 1.25 - 1e-3  # holds the farthest keypoint with margin

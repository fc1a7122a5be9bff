"""graphs/webcam_3d.yaml end to end with real models: metric 3D on the Human3.6M frames through an
image folder (PA-MPJPE against their 3D ground truth), and steady bone lengths on a walking clip."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtpose.schemas import H36M17
from rtpose.evaluation.pose3d import bone_cv, median_step, pa_mpjpe, tracked_sequences
from helpers import make_clip

REPO = Path(__file__).resolve().parents[1]


def run_3d(shared: Path, source: Path, out: Path, *extra: str) -> list[dict]:
    cmd = [sys.executable, "-m", "rtpose.cli", "run", str(REPO / "graphs/webcam_3d.yaml"), "--source", str(source),
           "--headless", "--export", str(out),
           "--set", f"detector.model={shared / 'models/det/yolox_nano_416x416.onnx'}",
           "--set", f"pose.model={shared / 'models/pose/simplepose_nano_256x192.onnx'}",
           "--set", f"pose3d.model={shared / 'models/pose3d/pose_landmark_full.onnx'}", *extra]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def inside(a: list[float], b: list[float]) -> float:
    """How much of box ``a`` (x, y, w, h) lies in box ``b`` (the dataset's boxes are padded squares)."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3])


def test_metric_3d_on_human36m_through_an_image_folder(shared: Path, tmp_path: Path) -> None:
    data = json.loads((shared / "data/h36m/h36m_coco.json").read_text())
    folder = tmp_path / "h36m"
    shutil.copytree(shared / "data/h36m", folder, ignore=shutil.ignore_patterns("*.json"))
    records = run_3d(shared, folder, tmp_path / "out.jsonl")
    assert len(records) == 2
    errors = []
    for record, image in zip(records, sorted(data["images"], key=lambda im: im["file_name"])):
        ann = next(a for a in data["annotations"] if a["image_id"] == image["id"])
        person = max(record["people"], key=lambda p: inside(p["bbox"], ann["bbox"]) * p["bbox"][2] * p["bbox"][3])
        assert inside(person["bbox"], ann["bbox"]) > 0.8 and person["schema_3d"] == "h36m17"
        pred = np.array(person["keypoints_3d"], np.float64)
        assert pred.shape == (17, 3) and np.allclose(pred[0], 0)  # root-relative
        gt = np.array(ann["keypoints_3d"]).reshape(17, 4)[:, :3]
        errors.append(pa_mpjpe(pred, gt) * 1000)
    # measured through the graph: S1 71.7 mm, S5 (sitting) 102.7 mm
    assert errors[0] < 95 and errors[1] < 125 and np.mean(errors) < 100, errors


@pytest.mark.slow
def test_bone_lengths_hold_steady_on_a_walking_clip(shared: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip"
    make_clip(clip, frames=60, people=2, seed=1)
    cvs = {}
    for steady in (False, True):
        records = run_3d(shared, clip / "clip.mp4", tmp_path / f"steady_{steady}.jsonl",
                         "--set", f"pose3d.steady_bones={str(steady).lower()}")
        limbs = [H36M17.skeleton.index(edge) for edge in ((1, 2), (4, 5), (11, 12), (14, 15))]  # thighs, upper arms
        cvs[steady] = np.mean([bone_cv(seq, H36M17.skeleton)[limbs] for seq in tracked_sequences(records)], axis=0)
    # measured (seed 1, 60 frames): thighs 0.028 / 0.014 -> 0.009 / 0.007, upper arms 0.113 / 0.043 -> 0.025 / 0.011
    assert (cvs[True] < 0.7 * cvs[False]).all() and (cvs[True] / cvs[False]).mean() < 0.5, cvs


@pytest.mark.slow
def test_3d_smoothing_removes_jitter_on_a_still_clip(shared: Path, tmp_path: Path) -> None:
    clip = tmp_path / "still"
    make_clip(clip, frames=40, people=2, mode="still", seed=1)
    jitter = {}
    for smooth in (False, True):
        records = run_3d(shared, clip / "clip.mp4", tmp_path / f"smooth_{smooth}.jsonl",
                         "--set", f"smoother.smooth_3d={str(smooth).lower()}")
        jitter[smooth] = median_step(tracked_sequences(records))
    # measured (benchmarks/pose3d.py, 100 frames): 18.8 -> 3.4 mm per frame
    assert jitter[True] < 0.4 * jitter[False], jitter

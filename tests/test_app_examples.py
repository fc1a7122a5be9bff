"""The examples in examples/ run as a user runs them, on a make_clip clip with the shared models."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import make_clip

REPO = Path(__file__).resolve().parents[1]
FRAMES = 20
PEOPLE = 3


@pytest.fixture(scope="module")
def clip(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("examples")
    return make_clip(out, frames=FRAMES, people=PEOPLE, width=640, height=360)


@pytest.fixture(scope="module")
def models(shared: Path) -> dict[str, str]:
    return {"detector.model": str(shared / "models/det/yolox_nano_416x416.onnx"),
            "pose.model": str(shared / "models/pose/simplepose_nano_256x192.onnx")}


def run_example(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, str(REPO / "examples" / name), *args], capture_output=True, text=True,
                          timeout=300, env=os.environ | (env or {}))
    assert done.returncode == 0, done.stderr
    return done.stdout


def sets(models: dict[str, str]) -> list[str]:
    return [arg for key, value in models.items() for arg in ("--set", f"{key}={value}")]


def test_count_people(clip: Path, models: dict[str, str]) -> None:
    out = run_example("count_people.py", str(clip / "clip.mp4"), *sets(models))
    counts = [int(n) for n in re.findall(r"^frame \d+: (\d+) people", out, re.M)]
    truth = [len(f["people"]) for f in json.loads((clip / "gt.json").read_text())["frames"]]
    assert len(counts) == FRAMES
    assert np.mean(np.abs(np.array(counts) - truth)) <= 1.0, (counts, truth)
    assert f"at most {max(counts)} people at once" in out


def test_own_capture_loop_draws_every_frame(clip: Path, models: dict[str, str], tmp_path: Path) -> None:
    out_video = tmp_path / "annotated.mp4"
    out = run_example("own_capture_loop.py", str(clip / "clip.mp4"), "--out", str(out_video), *sets(models))
    assert f"{FRAMES} frames drawn" in out
    drawn, original = cv2.VideoCapture(str(out_video)), cv2.VideoCapture(str(clip / "clip.mp4"))
    differences = []
    while True:
        ok_a, a = drawn.read()
        ok_b, b = original.read()
        if not (ok_a and ok_b):
            assert ok_a == ok_b, "as many frames drawn as read"
            break
        differences.append(float(np.mean(cv2.absdiff(a, b) > 60)))
    assert len(differences) == FRAMES and min(differences) > 0.001, "skeletons drawn on every frame"


def test_poses_table_notebook(clip: Path, models: dict[str, str]) -> None:
    out = run_example("poses_table.py", env={"VIDEO": str(clip / "clip.mp4"), "DETECTOR": models["detector.model"],
                                             "POSE": models["pose.model"]})
    assert f"{FRAMES} frames" in out
    rows = int(re.search(r"^\((\d+), 59\)", out, re.M).group(1))
    assert PEOPLE * FRAMES * 0.6 <= rows <= PEOPLE * FRAMES
    assert re.search(r"^track \d+: \d+ frames, nose travelled \d+ px", out, re.M)

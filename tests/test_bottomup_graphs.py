"""graphs/webcam_bottomup.yaml (OpenPose) and graphs/webcam_multipose.yaml (MoveNet MultiPose) with
the real shared models: they validate, run headless through the CLI on an image folder and on a
short clip, and keep their measured accuracy (PCK@0.1, recall at IoU 0.5) with margin on the shared
COCO and PoseTrack18 photos, each photo through an image folder (benchmarks/bottomup_accuracy.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtpose.evaluation.tracking import pck, summary
from helpers import make_clip

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bottomup_accuracy import accuracy, datasets, graph_models  # noqa: E402

GRAPHS = ("webcam_bottomup", "webcam_multipose")


def rtpose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "rtpose.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def run_graph(graph: str, shared: Path, source: Path, out: Path, *extra: str) -> list[dict]:
    sets = [arg for o in graph_models(shared)[graph] for arg in ("--set", o)]
    rtpose("run", str(REPO / "graphs" / f"{graph}.yaml"), "--source", str(source), "--headless",
           "--export", str(out), *sets, *extra)
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("graph", GRAPHS)
def test_graph_validates_with_the_node_names_of_the_docs(graph: str) -> None:
    done = rtpose("validate", str(REPO / "graphs" / f"{graph}.yaml"))
    for name in ("camera", "pose", "tracker", "smoother", "display"):
        assert name in done.stdout


@pytest.mark.parametrize("graph", GRAPHS)
def test_graph_runs_headless_on_an_image_folder(graph: str, shared: Path, tmp_path: Path) -> None:
    records = run_graph(graph, shared, shared / "data" / "coco", tmp_path / "out.jsonl")
    assert len(records) == 4
    people = [p for r in records for p in r["people"]]
    assert people and all(p["track_id"] >= 0 and len(p["keypoints"]) == 17 for p in people)


@pytest.mark.parametrize("photos, graph, min_pck, min_recall", [
    # measured: OpenPose PCK@0.1 0.830, recall 0.917 (11 of 12); MultiPose 448x256 0.939, 0.917
    ("COCO", "webcam_bottomup", 0.75, 0.8),
    ("COCO", "webcam_multipose", 0.85, 0.8),
    # measured (crowded 1920x1080 frames, 14 people): OpenPose 0.560, 0.286; MultiPose at 640x384
    # 0.789, 0.429 (at the graph's 448x256 people are too small: 0.143)
    ("PoseTrack18", "webcam_bottomup", 0.45, 0.2),
    ("PoseTrack18", "webcam_multipose 640x384", 0.68, 0.3)])
def test_graph_accuracy_on_photos(photos: str, graph: str, min_pck: float, min_recall: float, shared: Path) -> None:
    images, frames = datasets(shared)[photos]
    result = accuracy(graph, images, frames, graph_models(shared)[graph])
    assert result["pck"] >= min_pck and result["recall"] >= min_recall, result


@pytest.mark.parametrize("graph, min_pck", [("webcam_bottomup", 0.75), ("webcam_multipose", 0.85)])
def test_graph_tracks_people_on_a_short_clip(graph: str, min_pck: float, shared: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip"
    make_clip(clip, frames=30, people=3)
    records = run_graph(graph, shared, clip / "clip.mp4", tmp_path / "out.jsonl", "--max-frames", "20")
    assert len(records) == 20
    frames = json.loads((clip / "gt.json").read_text())["frames"]
    result = summary(frames, records)
    # measured on a 40-frame 3-person walk: OpenPose PCK@0.1 0.878, recall 0.967, no id switch;
    # MultiPose 0.940, 1.0, no id switch
    assert result["pck"] >= min_pck and result["recall"] >= 0.8 and result["id_switches"] <= 1, result
    assert pck(frames, records)["keypoints"] > 0


@pytest.mark.parametrize("graph", GRAPHS)
def test_graph_runs_in_the_window(graph: str, shared: Path, tmp_path: Path) -> None:
    pytest.importorskip("PyQt5")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"  # Qt's screenless platform: the real window, no screen needed
    sets = [arg for o in graph_models(shared)[graph] for arg in ("--set", o)]
    metrics = tmp_path / "metrics.json"
    rtpose("run", str(REPO / "graphs" / f"{graph}.yaml"), "--source", str(shared / "data/video/street_5frames.mp4"),
           "--max-frames", "5", "--metrics", str(metrics), "--set", "display.exit_at_end=true", *sets, env=env)
    display = json.loads(metrics.read_text())["nodes"]["display"]
    assert display["type"] == "display" and display["frames_in"] == 5  # the window took every frame

"""Several streams in one graph (graphs/multicam_body.yaml): per-stream chains, models batched
across streams, lossless files, every export line naming its stream, N streams from the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rtpose.graph.build import build_graph
from rtpose.multicam import add_stream_exports, with_streams
from rtpose.runtime.scheduler import GraphRunner
from rtpose.evaluation.tracking import pck

REPO = Path(__file__).resolve().parents[1]
GRAPH = REPO / "graphs" / "multicam_body.yaml"
FRAMES = 24


@pytest.fixture(scope="module")
def clips(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two make_clip walk clips of real people (different seeds), 640x360."""
    folders = []
    for seed in (0, 1):
        out = tmp_path_factory.mktemp(f"clip{seed}")
        subprocess.run([sys.executable, str(shared / "tools" / "make_clip.py"), "--out", str(out), "--frames",
                        str(FRAMES), "--people", "2", "--mode", "walk", "--width", "640", "--height", "360",
                        "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
        folders.append(out)
    return folders


def headless_graph(shared: Path, sources: list, folder: Path) -> dict:
    """multicam_body with one stream per source, the shared models, no window, an export per stream."""
    raw = with_streams(yaml.safe_load(GRAPH.read_text()), [str(s) for s in sources])
    raw["nodes"] = [n for n in raw["nodes"] if n["type"] not in ("display_grid", "grid_tile")]
    for node in raw["nodes"]:
        if node["type"] == "detect":
            node["params"].update(model=str(shared / "models/det/yolox_nano_416x416.onnx"), threads=1)
        if node["type"] == "pose":
            node["params"].update(model=str(shared / "models/pose/simplepose_nano_256x192.onnx"), threads=1)
    return add_stream_exports(raw, str(folder))


def test_the_graph_file_describes_two_streams_sharing_their_models() -> None:
    graph = build_graph(yaml.safe_load(GRAPH.read_text()), GRAPH)
    assert graph.sources() == ["cam0", "cam1"]
    for k in (0, 1):  # each stream's chain stays within its own source
        chain = ("detector", "tracker", "pose", "smoother", "display")
        assert {graph.source_of(f"{n}{k}") for n in chain} == {f"cam{k}"}
    groups = {name: e.params.batch_group for name, e in graph.nodes.items() if e.cls.type_name in ("detect", "pose")}
    assert groups == {"detector0": "detector", "detector1": "detector", "pose0": "pose", "pose1": "pose"}


def test_more_streams_are_stream_zero_copied() -> None:
    raw = with_streams(yaml.safe_load(GRAPH.read_text()), [0, 1, "rtsp://cam/2", "clip.mp4"])
    graph = build_graph(raw, GRAPH)
    assert graph.sources() == ["cam0", "cam1", "cam2", "cam3"]
    assert graph.nodes["cam2"].params.source == "rtsp://cam/2"
    assert graph.source_of("smoother3") == "cam3" and graph.nodes["tracker3"].inputs["previous"].producer == "pose3"
    types = sorted(e.cls.type_name for n, e in graph.nodes.items() if n.startswith("display"))
    assert types == ["display_grid", "grid_tile", "grid_tile", "grid_tile"]  # one window


def test_every_frame_of_every_stream_is_exported_once_with_its_stream(shared: Path, clips: list[Path],
                                                                       tmp_path: Path) -> None:
    raw = headless_graph(shared, [c / "clip.mp4" for c in clips], tmp_path)
    runner = GraphRunner(build_graph(raw, GRAPH))
    result = runner.run()
    assert result.exit_code == 0 and result.error is None, result.error
    for k, clip in enumerate(clips):
        records = [json.loads(line) for line in (tmp_path / f"cam{k}.jsonl").read_text().splitlines()]
        assert [r["frame"] for r in records] == list(range(FRAMES))  # lossless, in order, once each
        assert {r["source"] for r in records} == {f"cam{k}"}
        gt = json.loads((clip / "gt.json").read_text())["frames"]
        assert pck(gt, records)["pck"] > 0.6  # each stream's own people, not the other stream's
    # the two streams' pose crops went through one shared model, merged into fewer inferences
    pose_group = runner.nodes["pose0"].estimator.backend.group
    assert runner.nodes["pose1"].estimator.backend.group is pose_group
    assert pose_group.stats.requests >= 2 * FRAMES and pose_group.stats.inferences < pose_group.stats.requests
    # YOLOX-Nano's file cannot take a batch: each stream's detector has its own, running in parallel
    assert runner.nodes["detector0"].detector.backend is not runner.nodes["detector1"].detector.backend


def test_export_on_a_multicam_graph_writes_one_file_per_camera(shared: Path, tmp_path: Path) -> None:
    from rtpose.cli import prepare_graph

    graph = prepare_graph(Path(__file__).resolve().parents[1] / "graphs/multicam_body.yaml", headless=True,
                          export=tmp_path / "out.jsonl",
                          overrides=[f"cam0.source={shared / 'data/video/street_5frames.mp4'}",
                                     f"cam1.source={shared / 'data/video/street_5frames.mp4'}"])
    writers = {name: entry for name, entry in graph.nodes.items() if entry.cls.type_name == "export_keypoints"}
    paths = sorted(str(entry.params.path) for entry in writers.values())
    assert paths == [str(tmp_path / "out.cam0.jsonl"), str(tmp_path / "out.cam1.jsonl")]
    assert {graph.source_of(name) for name in writers} == {"cam0", "cam1"}

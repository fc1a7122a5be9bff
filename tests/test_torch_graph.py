"""The whole body graph with ``backend: torch`` (device cpu: the ONNX models converted by onnx2torch)
gives the keypoints ONNX Runtime gives: the torch CUDA path's numerics, checked on a CPU in CI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from rtpose.cli import prepare_graph
from rtpose.runtime.scheduler import GraphRunner
from helpers import make_clip

REPO = Path(__file__).resolve().parents[1]
FRAMES = 40
# Tolerance, per person (largest difference over the 17 keypoints), on 640x360 frames. The graph runs
# without its back edges (the detector on every frame, tracks from detections alone): with them each
# frame's poses steer the next frame's boxes and a rounding difference compounds over the clip, which
# says nothing about the backends; likewise the smoother takes every keypoint (min_score 0), where a
# score a hair either side of its threshold would switch a keypoint between measured and predicted.
# The typical person differs by float32 rounding only; a flat heatmap's peak can still move by a pixel.
MEDIAN_PX, P99_PX, MAX_PX = 0.1, 1.0, 3.0
MEDIAN_SCORE, MAX_SCORE = 1e-3, 0.1  # heatmap peak values (exported to 4 decimals)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None,
                                reason="onnx2torch not installed: pip install 'rtpose[torch]'")


@pytest.fixture(scope="module")
def clip(shared: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("torch_graph_clip")
    return make_clip(out, frames=FRAMES, people=3, width=640, height=360) / "clip.mp4"


def _run(shared: Path, clip: Path, out: Path, backend: str) -> list[dict]:
    overrides = [f"detector.model={shared / 'models/det/yolox_nano_416x416.onnx'}",
                 f"pose.model={shared / 'models/pose/simplepose_nano_256x192.onnx'}",
                 f"detector.backend={backend}", "detector.device=cpu",
                 f"pose.backend={backend}", "pose.device=cpu", "smoother.min_score=0"]
    graph = prepare_graph(REPO / "graphs" / "webcam_body.yaml", source=str(clip), overrides=overrides,
                          headless=True, export=out)
    for entry in graph.nodes.values():
        entry.inputs = {port: edge for port, edge in entry.inputs.items() if not edge.back_edge}
    result = GraphRunner(graph).run()
    assert result.error is None, result.error
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_body_graph_on_torch_gives_the_keypoints_of_onnxruntime(shared: Path, clip: Path, tmp_path: Path) -> None:
    reference = _run(shared, clip, tmp_path / "ort.jsonl", "onnxruntime")
    on_torch = _run(shared, clip, tmp_path / "torch.jsonl", "torch")
    assert len(reference) == len(on_torch) == FRAMES
    px, scores = [], []
    for ref, got in zip(reference, on_torch):
        assert [p["track_id"] for p in got["people"]] == [p["track_id"] for p in ref["people"]]
        for a, b in zip(ref["people"], got["people"]):
            ka, kb = np.array(a["keypoints"]), np.array(b["keypoints"])
            px.append(np.abs(ka[:, :2] - kb[:, :2]).max())
            scores.append(np.abs(ka[:, 2] - kb[:, 2]).max())
    assert len(px) >= 2 * FRAMES  # the clip's people were found and compared, not empty frames
    assert np.median(px) <= MEDIAN_PX and np.percentile(px, 99) <= P99_PX and max(px) <= MAX_PX
    assert np.median(scores) <= MEDIAN_SCORE and max(scores) <= MAX_SCORE

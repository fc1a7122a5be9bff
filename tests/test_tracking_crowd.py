"""Crowds and occlusion: webcam_body.yaml on make_clip's 300-frame, 5-person walk clips, seeds 0-3.

The issue's goal is at most 2 id switches per clip and every person covered in at least 80 % of the
frames where they are more than half visible, PCK@0.1 no lower than before. Measured (YOLOX-Nano,
SimplePose-nano, the graph's defaults), per seed 0/1/2/3:

- id switches 2/7/3/1 (main before this branch: 2/6/2/1);
- lowest coverage 0.50/0.42/0.41/0.43 (before: 0.50/0.44/0.35/0.43); 11 of the 20 people >= 0.8;
- PCK@0.1 0.851/0.899/0.927/0.951 (before: 0.851/0.896/0.929/0.951).

The goal is not met, and the detector is why: benchmarks/tracking_ceiling.py shows each poorly covered
person's frames are mostly ones where YOLOX-Nano has no box on them at all (score under 0.1, or one
box over two people), while the pose model on their true box is right in 85-100 % of them; once a
detection starts their track, the pose-guided stage keeps it. Pose NMS (``tracker.pose_nms_oks``),
rewinding hidden tracks (``tracker.rewind_hidden``), looser box NMS, a lower detector threshold,
easier track starts and looser re-identification were each measured on the same clips and none
lowered the switches or raised the coverage (figures in the tracking section of ARCHITECTURE.md).
These tests guard the measured levels with a margin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtpose.cli import prepare_graph
from rtpose.runtime.scheduler import GraphRunner
from rtpose.evaluation import tracking as evaluate
from helpers import make_clip

REPO = Path(__file__).resolve().parents[1]
DET_MODEL = Path("models/det/yolox_nano_416x416.onnx")
POSE_MODEL = Path("models/pose/simplepose_nano_256x192.onnx")
MEASURED = {  # seed: (id switches, lowest coverage of >1/2-visible frames, PCK@0.1)
    0: (2, 0.50, 0.851), 1: (7, 0.42, 0.899), 2: (3, 0.41, 0.927), 3: (1, 0.43, 0.951)}


def walk_clip_figures(shared: Path, tmp: Path, seed: int) -> dict[str, Any]:
    make_clip(tmp, frames=300, people=5, seed=seed)
    export = tmp / "out.jsonl"
    graph = prepare_graph(REPO / "graphs" / "webcam_body.yaml", source=str(tmp / "clip.mp4"), headless=True,
                          export=export, overrides=[f"detector.model={shared / DET_MODEL}",
                                                    f"pose.model={shared / POSE_MODEL}"])
    result = GraphRunner(graph).run()
    assert result.exit_code == 0, result.error and result.error.traceback_text
    records = [json.loads(line) for line in export.read_text().splitlines()]
    truth = json.loads((tmp / "gt.json").read_text())["frames"]
    switches, coverage = evaluate.id_metrics(truth, records, min_visible=evaluate.HALF_VISIBLE)
    return {"switches": switches, "coverage": coverage, "pck": evaluate.pck(truth, records)["pck"]}


@pytest.fixture(scope="module")
def clips(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    return {seed: walk_clip_figures(shared, tmp_path_factory.mktemp(f"walk_s{seed}"), seed) for seed in MEASURED}


@pytest.mark.slow
@pytest.mark.parametrize("seed", sorted(MEASURED))
def test_walk_clip_ids_coverage_and_pck(clips: dict[int, dict[str, Any]], seed: int) -> None:
    got = clips[seed]
    switches, lowest, pck = MEASURED[seed]
    print(f"\nseed {seed}: {got['switches']} id switches, coverage "
          f"{ {k: round(v, 2) for k, v in sorted(got['coverage'].items())} }, PCK@0.1 {got['pck']:.3f}")
    assert got["switches"] <= switches + 2
    assert min(got["coverage"].values()) >= lowest - 0.1
    assert got["pck"] >= pck - 0.02


@pytest.mark.slow
def test_walk_clips_most_people_well_covered(clips: dict[int, dict[str, Any]]) -> None:
    every = [c for figures in clips.values() for c in figures["coverage"].values()]
    assert len(every) == 20
    assert sum(c >= 0.8 for c in every) >= 10  # measured 11 of 20
    assert sum(figures["switches"] for figures in clips.values()) <= 16  # measured 13

"""How well each person is tracked, against what the detector and the pose model allow, over several clips.

    python benchmarks/tracking_ceiling.py                   # seeds 0-3 of the 300-frame, 5-person walk clip
    python benchmarks/tracking_ceiling.py --seeds 0 1 --json out.json
    python benchmarks/tracking_ceiling.py --baseline tracker.pose_nms_oks=1 --baseline tracker.rewind_hidden=false
    python benchmarks/tracking_ceiling.py --graph-only     # skip the two ceilings (about 3x faster)

For each make_clip seed (a different mix of COCO people and paths), per person, over the frames
where they are more than half visible:

- **graph**: the share in which ``graphs/webcam_body.yaml`` (defaults, run headless as in
  benchmarks/detect_every.py) reports a track whose pose matches them (OKS >= 0.5, the issue's
  coverage), and the clip's id switches;
- **detector**: the share in which YOLOX-Nano alone (every frame, score >= 0.3) has a box on
  them (IoU >= 0.5, one box per person): the graph cannot keep a person the detector never
  separates from the one in front for long;
- **pose on true boxes**: the share in which the pose model, given their exact ground-truth box,
  gets them right (OKS >= 0.5): no tracker can do better than that.

A person whose graph coverage sits near one of the two ceilings is limited by that model, not
by the tracker. With ``--baseline NODE.PARAM=VALUE`` (repeatable) the graph also runs with those
overrides (e.g. a feature switched off), in the same process, and its id switches, coverage and
PCK@0.1 are printed beside the defaults'. Prints a table per seed and a summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import cached_clip, clip_frames, shared_dir  # noqa: E402
from detect_every import run_graph_every  # noqa: E402
from pipeline_cpu import DET_MODEL, POSE_MODEL  # noqa: E402

from rtpose.models.heatmap import TopDownPoseEstimator  # noqa: E402
from rtpose.models.yolox import YoloxDetector  # noqa: E402
from rtpose.evaluation import tracking as evaluate  # noqa: E402
from rtpose.types import Poses, Tracks  # noqa: E402

console = Console(width=None if Console().is_terminal else 140)


def detector_outputs(clip: Path, frames: int, det: Path) -> list[Tracks]:
    """Every frame's detections, as untracked boxes (numbered per frame) for box matching."""
    detector = YoloxDetector(det, score_threshold=0.3, max_detections=20)
    out = []
    for image in clip_frames(clip, frames):
        d = detector(image)
        out.append(Tracks(boxes=d.boxes, scores=d.scores, class_ids=d.class_ids,
                          track_ids=np.arange(len(d), dtype=np.int64)))
    return out


def true_box_poses(clip: Path, truth: list[dict], pose: Path) -> list[Poses]:
    """The pose model's keypoints for every person's ground-truth box, under their true id."""
    estimator = TopDownPoseEstimator(pose)
    out = []
    for image, frame in zip(clip_frames(clip, len(truth)), truth):
        boxes, ids, _ = evaluate.people_arrays(frame)
        out.append(Poses(boxes=boxes, scores=np.ones(len(boxes), np.float32),
                         class_ids=np.zeros(len(boxes), np.int64), track_ids=ids,
                         keypoints=estimator(image, boxes)))
    return out


def graph_figures(clip: Path, truth: list[dict], frames: int, det: Path, pose: Path,
                  overrides: list[str]) -> dict[str, Any]:
    """webcam_body.yaml (with ``overrides``) on the clip: id switches, coverage per person, PCK@0.1."""
    graph = run_graph_every(clip, frames, 5, det, pose, overrides)
    switches, coverage = evaluate.id_metrics(truth, graph["records"], min_visible=evaluate.HALF_VISIBLE)
    return {"id_switches": switches, "coverage": coverage, "pck": evaluate.pck(truth, graph["records"])["pck"],
            "fps": graph["fps"]}


def measure_seed(seed: int, frames: int, det: Path, pose: Path, baseline: list[str] | None = None,
                 ceilings: bool = True) -> dict[str, Any]:
    folder = cached_clip(frames=frames, people=5, mode="walk", seed=seed)
    truth = json.loads((folder / "gt.json").read_text())["frames"][:frames]
    clip = folder / "clip.mp4"
    graph = graph_figures(clip, truth, frames, det, pose, [])
    before = graph_figures(clip, truth, frames, det, pose, baseline) if baseline else None
    detected = posed = {}
    if ceilings:
        _, detected = evaluate.id_metrics(truth, detector_outputs(clip, frames, det),
                                          min_visible=evaluate.HALF_VISIBLE, match="box")
        _, posed = evaluate.id_metrics(truth, true_box_poses(clip, truth, pose), min_visible=evaluate.HALF_VISIBLE)
    people = {int(p): {"graph": c, "detector": detected.get(p, float("nan")),
                       "pose_true_box": posed.get(p, float("nan")),
                       "baseline": before["coverage"].get(p, 0.0) if before else float("nan")}
              for p, c in graph["coverage"].items()}
    return {"seed": seed, "id_switches": graph["id_switches"], "pck": graph["pck"], "fps": graph["fps"],
            "people": people, "baseline": None if before is None else
            {"id_switches": before["id_switches"], "pck": before["pck"], "overrides": baseline}}


def limited_by(coverage: dict[str, float], target: float = 0.9, margin: float = 0.1) -> str:
    """Which model keeps a person under ``target``: the lower ceiling if the graph comes within
    ``margin`` of it, else the tracking ("-" when the target is met)."""
    if coverage["graph"] >= target:
        return "-"
    if np.isnan(coverage["detector"]):
        return "?"
    name, ceiling = min((("detector", coverage["detector"]), ("pose model", coverage["pose_true_box"])),
                        key=lambda kv: kv[1])
    return name if ceiling < target and coverage["graph"] >= ceiling - margin else "tracking"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="make_clip seeds")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--baseline", action="append", default=[], metavar="NODE.PARAM=VALUE",
                    help="also run the graph with these overrides and show its figures beside (repeatable)")
    ap.add_argument("--graph-only", action="store_true", help="skip the detector and pose ceilings")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args(argv)
    shared = shared_dir()
    det, pose = shared / DET_MODEL, shared / POSE_MODEL
    results = []
    for seed in args.seeds:
        runs = ["graph"] + (["baseline graph"] if args.baseline else []) + \
            ([] if args.graph_only else ["detector", "pose on true boxes"])
        console.print(f"seed {seed}: {', '.join(runs)} ...")
        results.append(measure_seed(seed, args.frames, det, pose, args.baseline, not args.graph_only))

    table = Table(title="coverage of each person's more-than-half-visible frames (walk clip, 5 people)",
                  title_justify="left")
    columns = ["seed", "id switches", "PCK@0.1", "person", "graph", "detector", "pose on true box", "limited by"]
    if args.baseline:
        columns[2:2] = ["id switches baseline", "PCK@0.1 baseline"]
        columns.insert(-3, "graph baseline")
    for column in columns:
        table.add_column(column, justify="right")
    for r in results:
        for i, (person, c) in enumerate(sorted(r["people"].items())):
            first = i == 0
            row = [str(r["seed"]) if first else "", str(r["id_switches"]) if first else "",
                   f"{r['pck']:.3f}" if first else "", str(person), f"{c['graph']:.2f}", f"{c['detector']:.2f}",
                   f"{c['pose_true_box']:.2f}", limited_by(c)]
            if args.baseline:
                b = r["baseline"]
                row[2:2] = [str(b["id_switches"]) if first else "", f"{b['pck']:.3f}" if first else ""]
                row.insert(-3, f"{c['baseline']:.2f}")
            table.add_row(*row)
    console.print(table)
    if args.baseline:
        every = [c for r in results for c in r["people"].values()]
        console.print(f"baseline {args.baseline}: id switches per clip {[r['baseline']['id_switches'] for r in results]}, "
                      f"PCK@0.1 {[round(r['baseline']['pck'], 3) for r in results]}, people >= 0.8 covered "
                      f"{sum(c['baseline'] >= 0.8 for c in every)}/{len(every)}")
        console.print(f"defaults: id switches per clip {[r['id_switches'] for r in results]}, "
                      f"PCK@0.1 {[round(r['pck'], 3) for r in results]}, people >= 0.8 covered "
                      f"{sum(c['graph'] >= 0.8 for c in every)}/{len(every)}")
    every = [c for r in results for c in r["people"].values()]
    ceilings = "" if args.graph_only else (
        f"detector >= 0.9 for {sum(c['detector'] >= 0.9 for c in every)}, "
        f"pose on true boxes >= 0.9 for {sum(c['pose_true_box'] >= 0.9 for c in every)}; ")
    console.print(f"{len(every)} people: graph >= 0.9 for {sum(c['graph'] >= 0.9 for c in every)}, {ceilings}"
                  f"id switches per clip {[r['id_switches'] for r in results]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

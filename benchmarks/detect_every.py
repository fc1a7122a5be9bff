"""Pose-guided detection: the body graph with the detector run every N frames, against the plain loop.

    python benchmarks/detect_every.py                       # N = 1, 3, 5 on the 300-frame walk clip
    python benchmarks/detect_every.py --every 1 2 3 5 8 --repeat 2 --json out.json
    python benchmarks/detect_every.py --set detector.skip_max_overlap=0.3 --set detector.skip_border=4

For each N, ``graphs/webcam_body.yaml`` (detector -> tracker -> pose -> smoother; the tracker
fed the previous frame's poses and the detector the previous frame's tracks through back
edges) runs headless through :class:`GraphRunner` with ``detector.every=N`` on make_clip's
walk clip (5 people crossing, cached by benchmarks/_clip.py) and exports its keypoints.
N = 1 runs the graph without its back edges (detector on every frame, tracker on detections
only). Reported: end-to-end FPS, process CPU seconds per frame, the share of frames the
detector really ran (and why), PCK@0.1 and recall against gt.json, id switches and coverage
(rtpose.evaluation.tracking). The baseline is the sequential loop
of benchmarks/pipeline_cpu.py (read -> detect -> one pose call per box, one thread), timed
as there; its accuracy comes from an untimed second pass of the same models.
Graph and loop alternate ``--repeat`` times; the best FPS of each counts, and since a shared
machine's speed drifts between rounds, the median over rounds of the ratio within a round is
printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import cached_clip, clip_frames, shared_dir  # noqa: E402
from _run import run_timed, unwire_back_edges  # noqa: E402
from pipeline_cpu import DET_MODEL, GRAPH, POSE_MODEL, run_sequential  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.models.heatmap import TopDownPoseEstimator  # noqa: E402
from rtpose.models.yolox import YoloxDetector  # noqa: E402
from rtpose.evaluation import tracking as evaluate  # noqa: E402
from rtpose.types import Poses  # noqa: E402

console = Console(width=None if Console().is_terminal else 140)


def run_graph_every(clip: Path, frames: int, every: int, det: Path, pose: Path,
                    extra: list[str] | None = None) -> dict[str, Any]:
    """The graph with ``detector.every=every`` (1: without back edges): FPS, CPU, detector schedule,
    exported records."""
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "out.jsonl"
        overrides = [f"detector.model={det}", f"pose.model={pose}", f"detector.every={every}", *(extra or [])]
        graph = prepare_graph(GRAPH, source=str(clip), overrides=overrides, headless=True, export=export)
        run = run_timed(unwire_back_edges(graph) if every == 1 else graph, frames)
        records = [json.loads(line) for line in export.read_text().splitlines()]
    schedule = run.runner.nodes["detector"].schedule
    stats = run.runner.metrics.snapshot()
    return {"every": every, "frames": len(records), "fps": len(records) / run.wall_s, "wall_s": run.wall_s,
            "cpu_s_per_frame": run.cpu_s / max(len(records), 1),
            "detector_runs": schedule.runs / max(schedule.frames, 1), "reasons": dict(schedule.reasons),
            "node_ms": {n: s["p50_ms"] for n, s in stats.items()},
            "node_mean_ms": {n: s["mean_ms"] for n, s in stats.items()}, "records": records}


def sequential_outputs(clip: Path, frames: int, det: Path, pose: Path) -> list[Poses]:
    """The loop's results (untimed): detector then pose on every box, no tracking."""
    detector = YoloxDetector(det, score_threshold=0.3, max_detections=20)
    estimator = TopDownPoseEstimator(pose)
    out = []
    for frame in clip_frames(clip, frames):
        d = detector(frame)
        out.append(Poses(boxes=d.boxes, scores=d.scores, class_ids=d.class_ids,
                         keypoints=estimator(frame, d.boxes)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300, help="frames of the walk clip (made and cached once)")
    ap.add_argument("--every", type=int, nargs="+", default=[1, 3, 5], help="values of detector.every to run")
    ap.add_argument("--repeat", type=int, default=1, help="alternate graph and loop runs this many times")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra NODE.PARAM=VALUE for the graph")
    ap.add_argument("--skip-sequential", action="store_true", help="no sequential baseline")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args(argv)

    shared = shared_dir()
    det, pose = shared / DET_MODEL, shared / POSE_MODEL
    folder = cached_clip(frames=args.frames, people=5, mode="walk")
    clip, truth = folder / "clip.mp4", json.loads((folder / "gt.json").read_text())["frames"]
    console.print(f"clip {clip}, {args.frames} frames, {os.cpu_count()} cores, overrides {args.overrides or '-'}")

    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in args.every}
    loops: list[dict[str, Any]] = []
    for _ in range(max(1, args.repeat)):
        for n in args.every:
            runs[n].append(run_graph_every(clip, args.frames, n, det, pose, args.overrides))
        if not args.skip_sequential:
            loops.append(run_sequential(clip, args.frames, det, pose))
    report: dict[str, Any] = {"clip": str(clip), "cores": os.cpu_count(), "overrides": args.overrides, "graph": []}
    seq = None
    if loops:
        seq = max(loops, key=lambda s: s["fps"])
        seq["fps_runs"] = [s["fps"] for s in loops]
        seq.update(evaluate.summary(truth, sequential_outputs(clip, args.frames, det, pose)))
        seq.pop("coverage_half_visible", None)
        report["sequential"] = seq

    table = Table(title="webcam_body.yaml, detector every N frames (tracks continued from poses between)",
                  title_justify="left")
    for column in ("run", "FPS", "x seq", "x seq rounds", "CPU s/frame", "det runs", "det p50 ms", "pose p50 ms",
                   "PCK@0.1", "PCK all", "recall", "id sw", "cov >1/2 vis min", "err px", "top reasons to detect"):
        table.add_column(column, justify="left" if column in ("run", "why the detector ran") else "right")
    for n in args.every:
        best = max(runs[n], key=lambda r: r["fps"])
        records = best.pop("records")
        for r in runs[n]:
            r.pop("records", None)
        best.update(evaluate.summary(truth, records))
        best["fps_runs"] = [r["fps"] for r in runs[n]]
        best["ratio"] = best["fps"] / seq["fps"] if seq else None
        best["ratio_rounds"] = [r["fps"] / s["fps"] for r, s in zip(runs[n], loops)]
        report["graph"].append(best)
        top = [f"{k} {v}" for k, v in sorted(best["reasons"].items(), key=lambda kv: -kv[1]) if k != "skipped"]
        reasons = ", ".join(top[:3])
        table.add_row(f"graph every={n}" + (" (unwired)" if n == 1 else ""), f"{best['fps']:.1f}",
                      f"{best['ratio']:.2f}" if seq else "-",
                      f"{np.median(best['ratio_rounds']):.2f}" if seq else "-", f"{best['cpu_s_per_frame']:.3f}",
                      f"{100 * best['detector_runs']:.0f}%", f"{best['node_ms'].get('detector', 0):.1f}",
                      f"{best['node_ms'].get('pose', 0):.1f}", f"{best['pck']:.3f}", f"{best['pck_all']:.3f}",
                      f"{best['recall']:.3f}", str(best["id_switches"]), f"{best['coverage_half_visible_min']:.3f}",
                      f"{best['error_px']:.1f}", reasons)
    if seq:
        table.add_row("sequential loop", f"{seq['fps']:.1f}", "1.00", "1.00", f"{seq['cpu_s_per_frame']:.3f}", "100%",
                      f"{seq['detect_ms']:.1f}",
                      f"{seq['pose_ms']:.1f}", f"{seq['pck']:.3f}", f"{seq['pck_all']:.3f}", f"{seq['recall']:.3f}",
                      "-", "-",
                      f"{seq['error_px']:.1f}", "(no tracking)")
    console.print(table)
    console.print("runs (FPS): " + "; ".join(f"every={g['every']}: " + ", ".join(f"{f:.1f}" for f in g["fps_runs"])
                                             for g in report["graph"])
                  + (f"; sequential: {', '.join(f'{f:.1f}' for f in seq['fps_runs'])}" if seq else "")
                  + f"; 1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

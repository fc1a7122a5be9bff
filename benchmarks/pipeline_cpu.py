"""The body pipeline on CPU: the graph against a plain sequential loop over the same models.

    python benchmarks/pipeline_cpu.py                      # 300-frame 1280x720 clip, 5 people walking
    python benchmarks/pipeline_cpu.py --frames 100 --json out.json --plot nodes.png
    python benchmarks/pipeline_cpu.py --det-threads 1 --pose-threads 1 --seq-threads 2

In one process, on the same clip (made once by ../shared/tools/make_clip.py and cached,
see benchmarks/_clip.py; ``--clip`` passes another):

(a) the graph ``graphs/webcam_body.yaml`` run headless in lossless file mode through
    :class:`GraphRunner`, with the shared YOLOX-Nano and SimplePose-nano models;
(b) the loop a user would write in one thread: ``cv2.VideoCapture.read`` ->
    ``YoloxDetector`` -> one ``TopDownPoseEstimator`` call per box;
(c) the ratio graph / sequential;
(d) the graph's per-node figures (FPS, p50/p99 ms, since capture, queues, drops) and
    the sequential loop's split (read / detect / pose per frame and per crop).

With ``--repeat N`` the graph and the loop alternate N times and the best run of each
counts (all runs are printed). FPS of both runs is frames / wall time from the first frame to the last result, models
already loaded (the graph's time starts when every node is open). Thread counts: ``None``
means the library default (``$RTPOSE_ORT_THREADS``, else half the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, cached_clip, shared_dir  # noqa: E402
from _run import run_timed  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.models.heatmap import TopDownPoseEstimator  # noqa: E402
from rtpose.models.yolox import YoloxDetector  # noqa: E402

GRAPH = REPO / "graphs" / "webcam_body.yaml"
DET_MODEL = Path("models/det/yolox_nano_416x416.onnx")
POSE_MODEL = Path("models/pose/simplepose_nano_256x192.onnx")

console = Console(width=None if Console().is_terminal else 120)


def _opts(threads: int | None) -> dict[str, Any]:
    return {"threads": threads} if threads else {}


def run_graph(clip: Path, frames: int, det: Path, pose: Path, det_threads: int | None = None,
              pose_threads: int | None = None, queue: int | None = None,
              pose_batch: int | None = None) -> dict[str, Any]:
    """The graph on the clip; end-to-end FPS and the per-node snapshot."""
    overrides = [f"detector.model={det}", f"pose.model={pose}"]
    if det_threads:
        overrides.append(f"detector.threads={det_threads}")
    if pose_threads:
        overrides.append(f"pose.threads={pose_threads}")
    if pose_batch:
        overrides.append(f"pose.max_batch={pose_batch}")
    graph = prepare_graph(GRAPH, source=str(clip), overrides=overrides, headless=True)
    if queue:
        for entry in graph.nodes.values():
            entry.inputs = {port: replace(edge, queue=queue) for port, edge in entry.inputs.items()}
    run = run_timed(graph, frames)
    stats = run.runner.metrics.snapshot()
    out = min(stats[s]["frames_out"] for s in graph.sinks())
    return {"frames": out, "wall_s": run.wall_s, "fps": out / run.wall_s, "cpu_s_per_frame": run.cpu_s / max(out, 1),
            "total_s": run.result.elapsed, "nodes": stats,
            "settings": {"det_threads": det_threads, "pose_threads": pose_threads, "queue": queue,
                         "pose_max_batch": pose_batch}}


def run_sequential(clip: Path, frames: int, det: Path, pose: Path, threads: int | None = None) -> dict[str, Any]:
    """One thread: read -> detect -> one pose call per box, timing each stage."""
    detector = YoloxDetector(det, score_threshold=0.3, max_detections=20, **_opts(threads))
    estimator = TopDownPoseEstimator(pose, **_opts(threads))
    cap = cv2.VideoCapture(str(clip))
    if not cap.isOpened():
        raise RuntimeError(f"cannot open {clip}")
    read_s, det_s, pose_s, crops = [], [], [], 0
    n = 0
    start, cpu_start = time.monotonic(), time.process_time()
    try:
        while n < frames:
            t0 = time.monotonic()
            ok, frame = cap.read()
            if not ok:
                break
            t1 = time.monotonic()
            detections = detector(frame)
            t2 = time.monotonic()
            for box in detections.boxes:
                estimator(frame, box[None])
            t3 = time.monotonic()
            crops += len(detections)
            read_s.append(t1 - t0)
            det_s.append(t2 - t1)
            pose_s.append(t3 - t2)
            n += 1
    finally:
        cap.release()
    wall, cpu = time.monotonic() - start, time.process_time() - cpu_start
    ms = lambda xs: float(np.mean(xs) * 1000) if xs else 0.0  # noqa: E731
    return {"frames": n, "wall_s": wall, "fps": n / wall if wall else 0.0, "cpu_s_per_frame": cpu / max(n, 1),
            "threads": threads,
            "read_ms": ms(read_s), "detect_ms": ms(det_s), "pose_ms": ms(pose_s),
            "crops_per_frame": crops / max(n, 1), "pose_ms_per_crop": float(np.sum(pose_s)) * 1000 / max(crops, 1)}


def pose_crop_cost(clip: Path, pose: Path, threads: int | None, people: int = 5, repeats: int = 20) -> dict[str, float]:
    """Pose time of one frame: N boxes in one estimator call vs N calls of one box (ms)."""
    cap = cv2.VideoCapture(str(clip))
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError(f"cannot read {clip}")
    estimator = TopDownPoseEstimator(pose, **_opts(threads))
    h, w = frame.shape[:2]
    boxes = np.array([[x, h * 0.3, x + 150, h * 0.3 + 380] for x in np.linspace(50, w - 200, people)], np.float32)
    estimator(frame, boxes)  # warm up

    def best(fn: Any) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return float(np.median(times) * 1000)

    batch = np.zeros((1, 3) + tuple(reversed(estimator.input_size)), np.float32)
    return {"people": people,
            "one_call_ms": best(lambda: estimator(frame, boxes)),
            "per_box_calls_ms": best(lambda: [estimator(frame, b[None]) for b in boxes]),
            "infer_one_crop_ms": best(lambda: estimator.infer(batch))}


def sweep(clip: Path, frames: int, det: Path, pose: Path, queue: int | None) -> list[dict[str, Any]]:
    """The graph and the loop over a few thread counts (each run loads its own sessions)."""
    rows = []
    for seq_threads in (1, 2):
        seq = run_sequential(clip, frames, det, pose, seq_threads)
        rows.append({"run": "sequential", "threads": str(seq_threads), "fps": seq["fps"],
                     "detect_ms": seq["detect_ms"], "pose_ms": seq["pose_ms"]})
    for det_threads, pose_threads in ((1, 1), (1, 2), (2, 1), (2, 2)):
        g = run_graph(clip, frames, det, pose, det_threads, pose_threads, queue)
        rows.append({"run": "graph", "threads": f"det {det_threads} / pose {pose_threads}", "fps": g["fps"],
                     "detect_ms": g["nodes"]["detector"]["p50_ms"], "pose_ms": g["nodes"]["pose"]["p50_ms"]})
    return rows


def node_table(stats: dict[str, dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("node", "type", "out", "FPS", "p50 ms", "p99 ms", "mean ms", "since capture p50 ms",
                   "queue mean/max", "drops"):
        table.add_column(column, justify="left" if column in ("node", "type") else "right")
    for name, s in stats.items():
        table.add_row(name, s["type"], str(s["frames_out"]), f"{s['fps']:.1f}", f"{s['p50_ms']:.1f}",
                      f"{s['p99_ms']:.1f}", f"{s['mean_ms']:.1f}", f"{s['latency_p50_ms']:.1f}",
                      f"{s['queue_mean']:.1f}/{s['queue_max']}", str(s["dropped"]))
    return table


def plot(stats: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stats)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(x - 0.2, [stats[n]["p50_ms"] for n in names], 0.4, label="p50 ms")
    ax.bar(x + 0.2, [stats[n]["p99_ms"] for n in names], 0.4, label="p99 ms")
    ax.set_xticks(x, names)
    ax.set_ylabel("ms per frame")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, help="a video to use instead of the cached make_clip.py clip")
    ap.add_argument("--frames", type=int, default=300, help="frames to run (and to make, for the cached clip)")
    ap.add_argument("--det-threads", type=int, default=None, help="ORT threads of the graph's detector")
    ap.add_argument("--pose-threads", type=int, default=None, help="ORT threads of the graph's pose node")
    ap.add_argument("--seq-threads", type=int, default=None, help="ORT threads of the sequential loop's models")
    ap.add_argument("--queue", type=int, default=None, help="capacity of every graph edge (default: runtime's)")
    ap.add_argument("--repeat", type=int, default=1, help="alternate graph and loop this many times, keep the best")
    ap.add_argument("--skip-sequential", action="store_true", help="only run the graph")
    ap.add_argument("--crop-cost", action="store_true", help="also time one pose call per box vs all boxes at once")
    ap.add_argument("--sweep", action="store_true",
                    help="also run the graph with detector/pose threads 1/1, 1/2, 2/1, 2/2 and the loop with 1 and 2")
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--plot", type=Path, help="bar chart (png) of per-node p50/p99 ms")
    args = ap.parse_args(argv)

    shared = shared_dir()
    det, pose = shared / DET_MODEL, shared / POSE_MODEL
    for path in (det, pose):
        if not path.is_file():
            console.print(f"[red]missing model {path}[/]: set RTPOSE_SHARED")
            return 2
    clip = args.clip or cached_clip(frames=max(args.frames, 1)) / "clip.mp4"
    console.print(f"clip {clip}, {args.frames} frames, {os.cpu_count()} cores, "
                  f"RTPOSE_ORT_THREADS={os.environ.get('RTPOSE_ORT_THREADS', '-')}")

    # Graph and loop alternate, best of --repeat each: other load on a small machine slows
    # whichever run it lands on, and alternating keeps that from favouring one side.
    graphs, loops = [], []
    for _ in range(max(1, args.repeat)):
        graphs.append(run_graph(clip, args.frames, det, pose, args.det_threads, args.pose_threads, args.queue))
        if not args.skip_sequential:
            loops.append(run_sequential(clip, args.frames, det, pose, args.seq_threads))
    graph = max(graphs, key=lambda g: g["fps"])
    graph["fps_runs"] = [g["fps"] for g in graphs]
    report: dict[str, Any] = {"clip": str(clip), "cores": os.cpu_count(), "loadavg_1m": os.getloadavg()[0],
                              "graph": graph}
    if loops:
        report["sequential"] = max(loops, key=lambda s: s["fps"])
        report["sequential"]["fps_runs"] = [s["fps"] for s in loops]
    if args.sweep:
        report["sweep"] = sweep(clip, args.frames, det, pose, args.queue)
    if args.crop_cost:
        report["pose_crop_cost"] = pose_crop_cost(clip, pose, args.pose_threads)

    settings = ", ".join(f"{k}={v if v is not None else 'default'}" for k, v in graph["settings"].items())
    console.print(node_table(graph["nodes"], f"graph webcam_body.yaml ({settings})"))
    summary = Table(title="end to end", title_justify="left")
    for column in ("run", "frames", "wall s", "FPS", "CPU s/frame"):
        summary.add_column(column, justify="left" if column == "run" else "right")
    summary.add_row("graph", str(graph["frames"]), f"{graph['wall_s']:.2f}", f"{graph['fps']:.2f}",
                    f"{graph['cpu_s_per_frame']:.4f}")
    seq = report.get("sequential")
    if seq:
        summary.add_row(f"sequential (threads={seq['threads'] or 'default'})", str(seq["frames"]),
                        f"{seq['wall_s']:.2f}", f"{seq['fps']:.2f}", f"{seq['cpu_s_per_frame']:.4f}")
        report["ratio"] = graph["fps"] / seq["fps"] if seq["fps"] else None
    console.print(summary)
    console.print(f"runs: graph {', '.join(f'{f:.2f}' for f in graph['fps_runs'])} FPS"
                  + (f"; sequential {', '.join(f'{f:.2f}' for f in seq['fps_runs'])} FPS" if seq else "")
                  + f"; 1-min load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if seq:
        console.print(f"ratio graph/sequential: [bold]{report['ratio']:.2f}x[/]")
        console.print(f"sequential per frame: read {seq['read_ms']:.1f} ms, detect {seq['detect_ms']:.1f} ms, "
                      f"pose {seq['pose_ms']:.1f} ms ({seq['crops_per_frame']:.1f} crops, "
                      f"{seq['pose_ms_per_crop']:.1f} ms each)")
    if "pose_crop_cost" in report:
        c = report["pose_crop_cost"]
        console.print(f"pose, {c['people']} boxes: one call {c['one_call_ms']:.1f} ms, one call per box "
                      f"{c['per_box_calls_ms']:.1f} ms; inference of one crop {c['infer_one_crop_ms']:.1f} ms")
    if "sweep" in report:
        table = Table(title="thread sweep (ORT intra-op threads per session)", title_justify="left")
        for column in ("run", "threads", "FPS", "detect p50 ms", "pose p50 ms"):
            table.add_column(column, justify="left" if column == "run" else "right")
        for row in report["sweep"]:
            table.add_row(row["run"], row["threads"], f"{row['fps']:.2f}", f"{row.get('detect_ms', 0):.1f}",
                          f"{row.get('pose_ms', 0):.1f}")
        console.print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if args.plot:
        plot(graph["nodes"], args.plot, f"webcam_body.yaml on CPU: {graph['fps']:.1f} FPS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Several camera streams on one machine: one graph with batched models against separate processes.

    python benchmarks/multicam.py                       # 2 and 4 streams, 100 frames of 1280x720 each
    python benchmarks/multicam.py --streams 2 --frames 60 --json out.json

Every stream is a make_clip walk clip of its own (seed = stream number; made once by
../shared/tools/make_clip.py and cached, see benchmarks/_clip.py), read losslessly (every frame
processed and exported once), with the shared YOLOX-Nano and SimplePose-nano models and the
library's default thread counts. For N streams, on the same clips:

- ``single``: each stream alone, ``graphs/webcam_body.yaml`` as ``rtpose run --headless --export``
  builds it (the CLI's ``prepare_graph``), one after another; the baseline is the **sum** of their
  FPS: what N cameras would get with a machine each;
- ``processes``: N such runs at once, one process each (spawn), as N ``rtpose run`` commands would;
- ``graph``: ``graphs/multicam_body.yaml`` with N streams (:func:`rtpose.multicam.with_streams`),
  detectors and pose models shared per ``batch_group`` (frames of ready streams merged into one
  inference, ``--max-wait-ms``);
- ``graph, no batching``: the same graph with ``batch_group`` removed (a model per node).

Each configuration runs ``--repeat`` times (taking turns) and its fastest run counts: the CPU is
shared. Aggregate FPS = all streams' frames / (last frame done - first node ready), models loaded;
cores used = the processes' CPU seconds (all threads) between their ready and done / that span; per
stream: its export node's FPS and time since capture p50/p99 (lossless files queue frames, so this
includes waiting behind the stream's own earlier frames), and PCK@0.1 against the clip's ground truth.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, cached_clip, shared_dir  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.graph.build import Graph, build_graph  # noqa: E402
from rtpose.multicam import add_stream_exports, with_streams  # noqa: E402
from rtpose.runtime.scheduler import GraphRunner  # noqa: E402
from rtpose.evaluation.tracking import pck  # noqa: E402

SINGLE = REPO / "graphs" / "webcam_body.yaml"
MULTI = REPO / "graphs" / "multicam_body.yaml"
DET_MODEL = "models/det/yolox_nano_416x416.onnx"
POSE_MODEL = "models/pose/simplepose_nano_256x192.onnx"

console = Console(width=None if Console().is_terminal else 160)


def run(graph: Graph, exports: dict[str, Path]) -> dict[str, Any]:
    """Run to the end; (ready, done) on the shared monotonic clock, the process's CPU seconds
    between them (all its threads) and per-stream export figures."""
    runner = GraphRunner(graph)
    ready: list[tuple[float, float]] = []
    result = runner.run(on_tick=lambda: ready or ready.append((time.monotonic(), time.process_time())))
    done, cpu_done = time.monotonic(), time.process_time()
    if result.error is not None:
        raise RuntimeError(f"graph failed: {result.error}\n{result.error.traceback_text}")
    stats = runner.metrics.snapshot()
    streams = {stream: {"frames": stats[node]["frames_out"], "fps": stats[node]["fps"],
                        "p50_ms": stats[node]["latency_p50_ms"], "p99_ms": stats[node]["latency_p99_ms"],
                        "path": str(path)} for stream, (node, path) in exports.items()}
    start, cpu_start = ready[0] if ready else (done - result.elapsed, cpu_done)
    return {"ready": start, "done": done, "cpu_s": cpu_done - cpu_start, "streams": streams}


def run_single(clip: Path, out: Path, stream: str) -> dict[str, Any]:
    """One stream as ``rtpose run graphs/webcam_body.yaml --source CLIP --headless --export OUT`` runs it."""
    shared = shared_dir()
    graph = prepare_graph(SINGLE, source=str(clip), headless=True, export=out,
                          overrides=[f"detector.model={shared / DET_MODEL}", f"pose.model={shared / POSE_MODEL}"])
    return run(graph, {stream: ("export", out)})


def run_multi(clips: list[Path], folder: Path, batched: bool, max_wait_ms: float) -> dict[str, Any]:
    """All streams in graphs/multicam_body.yaml, headless, an export per stream."""
    shared = shared_dir()
    raw = with_streams(yaml.safe_load(MULTI.read_text()), [str(c) for c in clips])
    raw["nodes"] = [n for n in raw["nodes"] if n["type"] not in ("display_grid", "grid_tile")]
    for node in raw["nodes"]:
        params = node.get("params") or {}
        if node["type"] in ("detect", "pose"):
            params["model"] = str(shared / (DET_MODEL if node["type"] == "detect" else POSE_MODEL))
            params["batch_wait_ms"] = max_wait_ms
            if not batched:
                params.pop("batch_group", None)
    raw = add_stream_exports(raw, str(folder))
    exports = {f"cam{k}": (f"export{k}", folder / f"cam{k}.jsonl") for k in range(len(clips))}
    return run(build_graph(raw, MULTI), exports)


def accuracy(clip: Path, path: Path, frames: int) -> float:
    gt = json.loads((clip / "gt.json").read_text())["frames"][:frames]
    records = [json.loads(line) for line in Path(path).read_text().splitlines()]
    if [r["frame"] for r in records] != list(range(len(gt))):
        raise RuntimeError(f"{path}: not every frame exported once, in order")
    return pck(gt, records)["pck"]


def summarise(name: str, runs: list[dict[str, Any]], clips: list[Path], frames: int,
              baseline: float | None) -> dict[str, Any]:
    streams = {s: v for r in runs for s, v in r["streams"].items()}
    total = sum(v["frames"] for v in streams.values())
    span = max(r["done"] for r in runs) - min(r["ready"] for r in runs)
    row = {"config": name, "streams": len(streams), "aggregate_fps": total / span,
           "cores": sum(r["cpu_s"] for r in runs) / span,
           "per_stream": {s: {k: v[k] for k in ("fps", "p50_ms", "p99_ms")} | {
               "pck": accuracy(clips[int(s[3:])], Path(v["path"]), frames)} for s, v in sorted(streams.items())}}
    if baseline is not None:
        row["vs_sum_of_singles"] = row["aggregate_fps"] / baseline
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration; the fastest counts")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    most = max(args.streams)
    clips = [cached_clip(args.frames, args.people, "walk", 1280, 720, seed=k) for k in range(most)]
    clip_files = [c / "clip.mp4" for c in clips]
    work = Path(tempfile.mkdtemp(prefix="rtpose-multicam-"))
    console.print(f"{most} clips of {args.frames} frames, 1280x720, {args.people} people walking; output in {work}")

    def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return min(runs, key=lambda r: r["done"] - r["ready"])

    singles = [best([run_single(clip_files[k], work / f"single{k}_{r}.jsonl", f"cam{k}") for r in range(args.repeat)])
               for k in range(most)]
    rows = [summarise(f"single cam{k}", [s], clips, args.frames, None) for k, s in enumerate(singles)]
    for n in args.streams:
        baseline = sum(s["streams"][f"cam{k}"]["frames"] / (s["done"] - s["ready"]) for k, s in enumerate(singles[:n]))
        rows.append({"config": "sum of singles", "streams": n, "aggregate_fps": baseline, "per_stream": {},
                     "cores": None, "vs_sum_of_singles": 1.0})
        tried: dict[str, list[list[dict[str, Any]]]] = {"processes": [], "plain": [], "batched": []}
        for r in range(args.repeat):  # the configurations take turns, so a busy moment hits them alike
            with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(run_single, clip_files[k], work / f"proc{n}_{k}_{r}.jsonl", f"cam{k}")
                           for k in range(n)]
                tried["processes"].append([f.result() for f in futures])
            for batched in (False, True):
                kind = "batched" if batched else "plain"
                folder = work / f"graph{n}_{kind}_{r}"
                tried[kind].append([run_multi(clip_files[:n], folder, batched, args.max_wait_ms)])
        names = {"processes": f"{n} processes", "plain": "one graph, no batching", "batched": "one graph, batched"}
        for kind, runs in tried.items():
            fastest = max(runs, key=lambda rs: sum(v["frames"] for x in rs for v in x["streams"].values())
                          / (max(x["done"] for x in rs) - min(x["ready"] for x in rs)))
            rows.append(summarise(names[kind], fastest, clips, args.frames, baseline))

    table = Table(title=f"{args.frames} frames per stream, 1280x720, {args.people} people, "
                        f"max wait {args.max_wait_ms} ms, best of {args.repeat}")
    for column in ("config", "streams", "aggregate FPS", "vs sum of singles", "cores used", "FPS per stream",
                   "since capture p50/p99 ms per stream", "PCK@0.1 per stream"):
        table.add_column(column)
    for row in rows:
        per = row["per_stream"].values()
        table.add_row(row["config"], str(row["streams"]), f"{row['aggregate_fps']:.1f}",
                      f"{row['vs_sum_of_singles']:.2f}x" if "vs_sum_of_singles" in row else "",
                      f"{row['cores']:.2f}" if row["cores"] is not None else "",
                      " ".join(f"{v['fps']:.1f}" for v in per),
                      " ".join(f"{v['p50_ms']:.0f}/{v['p99_ms']:.0f}" for v in per),
                      " ".join(f"{v['pck']:.3f}" for v in per))
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

"""FPS against the number of people: top-down against bottom-up, on make_clip clips.

Runs ``webcam_body`` (YOLOX-Nano + SimplePose-nano: one pose crop per person), ``webcam_bottomup``
(OpenPose MobileNet-thin: one network run per frame, then grouping) and ``webcam_multipose``
(MoveNet MultiPose, 448x256) headless on 1280x720 walk clips with 1, 3, 5 and 10 people, and
prints the graphs' FPS (frames done / wall time once every node is open), where the top-down
line crosses each bottom-up one, and the OpenPose frame cost split into network and grouping.
Writes the plot to ``--plot`` (matplotlib: the ``plot`` extra).

    python benchmarks/people_scaling.py --frames 80 --plot docs/people_scaling.png
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, cached_clip, clip_frames, shared_dir  # noqa: E402
from _run import run_timed  # noqa: E402
from bottomup_accuracy import graph_models  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.models.openpose import OpenPoseEstimator, preprocess  # noqa: E402

GRAPHS = ("webcam_body", "webcam_bottomup", "webcam_multipose")
PEOPLE = (1, 3, 5, 10)


def graph_fps(graph: str, clip: Path, frames: int, overrides: list[str]) -> tuple[float, float]:
    """Frames per second of ``graph`` on the first ``frames`` frames of ``clip``, and the people it
    outputs per frame (from its keypoint export)."""
    with tempfile.TemporaryDirectory(prefix="rtpose-scaling-") as tmp:
        export = Path(tmp) / "out.jsonl"
        built = prepare_graph(REPO / "graphs" / f"{graph}.yaml", source=str(clip), overrides=overrides,
                              headless=True, export=export)
        run = run_timed(built, frames)
        records = [json.loads(line) for line in export.read_text().splitlines()]
    done = min(run.runner.metrics.snapshot()[s]["frames_out"] for s in built.sinks())
    return done / run.wall_s, sum(len(r["people"]) for r in records) / max(len(records), 1)


def crossing(people: np.ndarray, top_down: np.ndarray, bottom_up: np.ndarray) -> float | None:
    """The number of people where the top-down FPS line falls to the bottom-up one (linear between
    measured points), or None if it does not within the range."""
    gap = top_down - bottom_up
    for i in range(len(gap) - 1):
        if gap[i] >= 0 > gap[i + 1]:
            return float(people[i] + (people[i + 1] - people[i]) * gap[i] / (gap[i] - gap[i + 1]))
    return float(people[0]) if gap[0] < 0 else None


def extrapolated_crossing(people: np.ndarray, top_down: np.ndarray, bottom_up: np.ndarray) -> float | None:
    """Where the top-down frame time, fitted as a line in the number of people, reaches the bottom-up
    graph's mean frame time; None if the fit does not grow."""
    slope, intercept = np.polyfit(people, 1000 / top_down, 1)
    return float((np.mean(1000 / bottom_up) - intercept) / slope) if slope > 0 else None


def openpose_split(clip: Path, frames: int, model: str) -> tuple[float, float, float]:
    """Mean milliseconds per frame of the OpenPose network and of the grouping, and people per frame."""
    estimator = OpenPoseEstimator(model)
    net = grouping = found = 0.0
    count = 0
    for frame in clip_frames(clip, frames):
        t0 = time.perf_counter()
        tensor, scale = preprocess(frame, estimator.input_size)
        heatmaps, fields = estimator.infer(tensor)
        t1 = time.perf_counter()
        found += len(estimator.postprocess(heatmaps, fields, scale))
        grouping += time.perf_counter() - t1
        net += t1 - t0
        count += 1
    return 1000 * net / count, 1000 * grouping / count, found / count


def plot(people: np.ndarray, fps: dict[str, np.ndarray], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for graph, values in fps.items():
        ax.plot(people, values, marker="o", label=graph)
    ax.set_xlabel("people in the clip")
    ax.set_ylabel("graph FPS (CPU, ONNX Runtime)")
    ax.set_xticks(people)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("top-down vs bottom-up: FPS against people")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--plot", type=Path, default=None, help="write the PNG plot here")
    args = parser.parse_args()
    console = Console(width=120)
    shared = shared_dir()
    models = graph_models(shared)
    people = np.array(PEOPLE)
    clips = {n: cached_clip(frames=args.frames, people=n) / "clip.mp4" for n in PEOPLE}
    runs = {g: [graph_fps(g, clips[n], args.frames, models[g]) for n in PEOPLE] for g in GRAPHS}
    fps = {g: np.array([r[0] for r in values]) for g, values in runs.items()}
    table = Table(title=f"graph FPS (people output per frame), 1280x720 walk clips, {args.frames} frames each")
    table.add_column("graph")
    for n in PEOPLE:
        table.add_column(f"{n} people")
    table.add_column(f"FPS {PEOPLE[-1]} vs {PEOPLE[0]}")
    for g, values in runs.items():
        table.add_row(g, *(f"{v:.1f} ({found:.1f})" for v, found in values), f"{fps[g][-1] / fps[g][0]:.2f}")
    console.print(table)
    for g in GRAPHS[1:]:
        at = crossing(people, fps[GRAPHS[0]], fps[g])
        where = f"at {at:.1f} people" if at is not None else f"not between {PEOPLE[0]} and {PEOPLE[-1]} people"
        beyond = extrapolated_crossing(people, fps[GRAPHS[0]], fps[g])
        fit = f"; a line through its frame times reaches {g}'s at {beyond:.0f} people" if beyond else ""
        console.print(f"{GRAPHS[0]} falls to {g}'s FPS {where}{fit}")
    split = Table(title="OpenPose per frame: network vs grouping (ms, same process)")
    for col in ("people", "network", "grouping", "grouping / network", "people found"):
        split.add_column(col)
    model = models["webcam_bottomup"][0].split("=", 1)[1]
    for n in PEOPLE:
        net, grouping, found = openpose_split(clips[n], min(args.frames, 20), model)
        split.add_row(str(n), f"{net:.1f}", f"{grouping:.1f}", f"{grouping / net:.3f}", f"{found:.1f}")
    console.print(split)
    if args.plot:
        plot(people, fps, args.plot)
        console.print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()

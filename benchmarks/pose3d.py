#!/usr/bin/env python3
"""3D pose per person: what it costs and how steady it is (graphs/webcam_3d.yaml on make_clip clips).

Prints, with the shared YOLOX-Nano, SimplePose-nano and BlazePose GHUM (pose_landmark_full):

- cost per person of the 3D model (BlazePose GHUM on aligned crops) against the 2D pose model
  on the same people, in the same process;
- end-to-end FPS of webcam_3d.yaml against webcam_body.yaml on the same 5-person clip;
- 3D stability on a walking and a still clip: the coefficient of variation of each person's thigh
  and upper-arm lengths, and the median frame-to-frame joint movement (jitter), raw against
  steadied bones (``pose3d.steady_bones``), 3D smoothing (``smoother.smooth_3d``) and both.

    python benchmarks/pose3d.py --frames 150
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, cached_clip, clip_frames, shared_dir  # noqa: E402
from _run import ratio_table, run_timed  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.models.blazepose import BlazePoseLandmarks  # noqa: E402
from rtpose.models.heatmap import TopDownPoseEstimator  # noqa: E402
from rtpose.models.yolox import YoloxDetector  # noqa: E402
from rtpose.schemas import H36M17  # noqa: E402
from rtpose.evaluation.pose3d import bone_cv, median_step, tracked_sequences  # noqa: E402

LIMBS = {"left thigh": (4, 5), "right thigh": (1, 2), "left upper arm": (11, 12), "right upper arm": (14, 15)}


def models(shared: Path) -> dict[str, str]:
    return {"detector": str(shared / "models/det/yolox_nano_416x416.onnx"),
            "pose": str(shared / "models/pose/simplepose_nano_256x192.onnx"),
            "pose3d": str(shared / "models/pose3d/pose_landmark_full.onnx")}


def cost_per_person(clip: Path, frames: int, paths: dict[str, str]) -> tuple[float, float, int]:
    """Milliseconds per person of the 2D pose model and of the 3D model, on the detector's people."""
    detector = YoloxDetector(paths["detector"], score_threshold=0.3)
    pose2d = TopDownPoseEstimator(paths["pose"])
    pose3d = BlazePoseLandmarks(paths["pose3d"])
    t2d = t3d = 0.0
    people = 0
    for frame in clip_frames(clip, frames):
        boxes = detector(frame).boxes
        t0 = time.perf_counter()
        keypoints = pose2d(frame, boxes)
        t1 = time.perf_counter()
        pose3d(frame, keypoints, boxes)
        t3d += time.perf_counter() - t1
        t2d += t1 - t0
        people += len(boxes)
    return 1000 * t2d / max(people, 1), 1000 * t3d / max(people, 1), people


def graph_fps(graph: str, clip: Path, frames: int, paths: dict[str, str], extra: list[str] | None = None,
              export: Path | None = None) -> float:
    overrides = [f"{node}.model={path}" for node, path in paths.items() if graph == "webcam_3d" or node != "pose3d"]
    built = prepare_graph(REPO / "graphs" / f"{graph}.yaml", source=str(clip), overrides=overrides + (extra or []),
                          headless=True, export=export)
    run = run_timed(built, frames)
    done = min(run.runner.metrics.snapshot()[s]["frames_out"] for s in built.sinks())
    return done / run.wall_s


VARIANTS = {"raw": ("false", "false"), "steady bones": ("true", "false"), "smoothed": ("false", "true"),
            "steady + smoothed (default)": ("true", "true")}


def stability(clip: Path, frames: int, paths: dict[str, str], out: Path) -> dict[str, tuple[np.ndarray, float]]:
    """Per variant: bone-length CV of the LIMBS (mean over tracks) and 3D jitter (mm per frame, median
    frame-to-frame joint movement), from the graph's own export."""
    import json

    result = {}
    for name, (steady, smooth) in VARIANTS.items():
        export = out / f"3d_{steady}_{smooth}.jsonl"
        graph_fps("webcam_3d", clip, frames, paths,
                  [f"pose3d.steady_bones={steady}", f"smoother.smooth_3d={smooth}"], export)
        long = tracked_sequences(json.loads(line) for line in export.read_text().splitlines())
        index = [H36M17.skeleton.index(edge) for edge in LIMBS.values()]
        cv = np.mean([bone_cv(seq, H36M17.skeleton)[index] for seq in long], axis=0)
        jitter = median_step(long)
        result[name] = (cv, jitter * 1000)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    console = Console()
    paths = models(shared_dir())
    crowd = cached_clip(frames=args.frames, people=5) / "clip.mp4"
    ms2d, ms3d, people = cost_per_person(crowd, min(args.frames, 60), paths)
    console.print(ratio_table(f"cost per person ({people} people, 2 cores)", ("model", "ms per person", "x 2D pose"),
                              [("2D pose (SimplePose-nano, batched)", ms2d),
                               ("3D (BlazePose GHUM full, aligned crop)", ms3d)]))
    body, three_d = graph_fps("webcam_body", crowd, args.frames, paths), graph_fps("webcam_3d", crowd, args.frames, paths)
    console.print(ratio_table(f"graph FPS, 5-person 1280x720 clip, {args.frames} frames", ("graph", "FPS", "x body graph"),
                              [("webcam_body", body), ("webcam_3d", three_d)]))
    for mode in ("walk", "still"):
        clip = cached_clip(frames=args.frames, people=2, mode=mode, seed=1)
        results = stability(clip / "clip.mp4", args.frames, paths, clip)
        table = Table(title=f"3D over each track, 2-person {mode} clip: bone-length CV and jitter")
        for col in ("variant", *LIMBS, "joint jitter mm/frame (median)"):
            table.add_column(col)
        for name, (cv, jitter) in results.items():
            table.add_row(name, *(f"{v:.4f}" for v in cv), f"{jitter:.1f}")
        console.print(table)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Whole-body pose: accuracy per part, cost per face, and the whole-body graph's frame rate.

Prints, with the shared YOLOX-Nano, SimplePose-nano, MediaPipe face mesh (and hand landmarks
where the ``hand_landmarks`` node is installed):

- PCK@0.1 per part (body, feet, face, hands) on the 4 COCO images against
  ``data/coco/test_coco_wholebody.json``, from the ground-truth person boxes (each part against
  its own box: see :mod:`rtpose.evaluation.wholebody`);
- cost per face of the face mesh (region from the head points, crop, model, map back) against
  the 2D pose model's cost per person, on the same people of a 2-person clip, in the same process;
- FPS of graphs/webcam_wholebody.yaml against graphs/webcam_body.yaml on that clip.

    python benchmarks/wholebody.py --frames 150
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, cached_clip, clip_frames, shared_dir  # noqa: E402
from _run import ratio_table, run_timed  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.errors import PluginError  # noqa: E402
from rtpose.evaluation.wholebody import load_coco_wholebody, part_pck, wholebody_on_images  # noqa: E402
from rtpose.models.face import FaceLandmarks, face_region  # noqa: E402
from rtpose.models.heatmap import TopDownPoseEstimator  # noqa: E402
from rtpose.models.yolox import YoloxDetector  # noqa: E402
from rtpose.plugins import get_node_type  # noqa: E402


def models(shared: Path) -> dict[str, str]:
    return {"detector": str(shared / "models/det/yolox_nano_416x416.onnx"),
            "pose": str(shared / "models/pose/simplepose_nano_256x192.onnx"),
            "face": str(shared / "models/face/face_landmark.onnx"),
            "hands": str(shared / "models/hand/hand_landmark_full.onnx")}


def opened(type_name: str, **params):
    cls = get_node_type(type_name)
    node = cls(type_name, cls.Params(**params))
    node.open()
    return node


def has_hands() -> bool:
    try:
        get_node_type("hand_landmarks")
    except PluginError:
        return False
    return True


def accuracy(shared: Path, paths: dict[str, str]) -> dict[str, tuple[int, int]]:
    images = load_coco_wholebody(shared / "data/coco/test_coco_wholebody.json")
    hands = opened("hand_landmarks", model=paths["hands"]) if has_hands() else None
    predicted = wholebody_on_images(images, opened("pose", model=paths["pose"]),
                                    opened("face_landmarks", model=paths["face"]), opened("wholebody"), hands)
    return part_pck(predicted, images)


def cost_per_face(clip: Path, frames: int, paths: dict[str, str]) -> tuple[float, float, int, int]:
    """Milliseconds per person of the 2D pose model and per face of the face mesh, on the detector's people."""
    detector = YoloxDetector(paths["detector"], score_threshold=0.3)
    pose2d = TopDownPoseEstimator(paths["pose"])
    face = FaceLandmarks(paths["face"])
    t2d = tface = 0.0
    people = faces = 0
    for frame in clip_frames(clip, frames):
        boxes = detector(frame).boxes
        t0 = time.perf_counter()
        keypoints = pose2d(frame, boxes)
        t1 = time.perf_counter()
        regions = [r for r in (face_region(kp) for kp in keypoints) if r is not None]
        face(frame, regions)
        tface += time.perf_counter() - t1
        t2d += t1 - t0
        people += len(boxes)
        faces += len(regions)
    return 1000 * t2d / max(people, 1), 1000 * tface / max(faces, 1), people, faces


def graph_fps(graph: str, clip: Path, frames: int, paths: dict[str, str]) -> float:
    overrides = [f"{node}.model={path}" for node, path in paths.items()
                 if graph == "webcam_wholebody" or node in ("detector", "pose")]
    built = prepare_graph(REPO / "graphs" / f"{graph}.yaml", source=str(clip), overrides=overrides, headless=True)
    run = run_timed(built, frames)
    done = min(run.runner.metrics.snapshot()[s]["frames_out"] for s in built.sinks())
    return done / run.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    console = Console()
    shared = shared_dir()
    paths = models(shared)
    table = Table(title="PCK@0.1 per part, 4 COCO images, ground-truth person boxes" +
                  ("" if has_hands() else " (no hand_landmarks node installed: hands not run)"))
    for col in ("part", "correct / annotated", "PCK@0.1"):
        table.add_column(col)
    for part, (hit, total) in accuracy(shared, paths).items():
        table.add_row(part, f"{hit} / {total}", f"{hit / max(total, 1):.3f}")
    console.print(table)
    clip = cached_clip(frames=args.frames, people=2, seed=1) / "clip.mp4"
    ms2d, msface, people, faces = cost_per_face(clip, min(args.frames, 60), paths)
    console.print(ratio_table(f"cost per person / face ({people} people, {faces} face regions, this CPU)",
                              ("model", "ms each", "x 2D pose"),
                              [("2D pose per person (SimplePose-nano, batched)", ms2d),
                               ("face mesh per face (region, crop, model, map back)", msface)]))
    if has_hands():
        body, whole = graph_fps("webcam_body", clip, args.frames, paths), graph_fps("webcam_wholebody", clip, args.frames, paths)
        console.print(ratio_table(f"graph FPS, 2-person 1280x720 clip, {args.frames} frames",
                                  ("graph", "FPS", "x body graph"), [("webcam_body", body), ("webcam_wholebody", whole)]))
    else:
        console.print("webcam_wholebody.yaml needs the hand_landmarks node (branch hands): graph FPS not measured")


if __name__ == "__main__":
    main()

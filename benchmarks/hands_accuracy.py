"""Hands: accuracy on the shared hand images and cost per hand on this CPU.

    python benchmarks/hands_accuracy.py                 # both landmark models, both datasets
    python benchmarks/hands_accuracy.py --json out.json --repeats 30
    python benchmarks/hands_accuracy.py --tflite DIR    # also time MediaPipe's .tflite files (LiteRT)

Rows, each against the images' ground truth (rtpose.evaluation.hands: PCK@0.2 of the hand
box, hands found; for the ground-truth boxes every crop is scored, and ``present`` counts the hands
the model itself says are there, presence >= 0.5):

- ``gt box, one crop``: the ground-truth box as an upright square crop (1.6x its longer side),
  one landmark run: the baseline of ../shared/README.md (0.63 on FreiHAND with the full model);
- ``gt box + re-crop``: then MediaPipe's landmark-to-ROI step (rotated upright) and a second run;
- ``gt box, 4 turns + re-crop``: the crop turned by 0/90/180/270 degrees, the most present kept, then
  re-cropped: what an upright crop is worth when nothing says which way the hand points;
- ``webcam_hands.yaml``: the graph itself (palm detector -> hand landmarks), headless on the image
  folder, through its JSONL export.

Clip: the graph on a clip of a real hand turning and moving (rtpose.evaluation.hands.moving_hand_clip),
with the palm detector on every frame and skipped while the hand is followed: FPS, CPU per frame, PCK.

Cost: the landmark model per hand crop (pre + inference + post, median of ``--repeats``), the palm
detector per frame, with one inference thread and with the default threads; the graph's per-node
p50 comes from its own metrics.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, shared_dir  # noqa: E402
from _run import run_timed  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.models.hand import HandLandmarker, box_region, landmarks_region  # noqa: E402
from rtpose.evaluation.hands import HandScore, load_coco_hands, moving_hand_clip  # noqa: E402
from rtpose.models.palm import PalmDetector  # noqa: E402

GRAPH = REPO / "graphs/webcam_hands.yaml"
DATASETS = {"freihand": "freihand/test_freihand.json", "onehand10k": "onehand10k/test_onehand10k.json"}
TURNS = (0.0, np.pi / 2, np.pi, -np.pi / 2)


def gt_box_rows(landmarker: HandLandmarker, folder: Path, annotations: Path) -> dict[str, dict[str, Any]]:
    """The three ground-truth-box rows on one dataset: every crop scored (as ../shared/README.md does),
    and ``present``: the hands the model itself says are there (presence >= 0.5)."""
    names = ("gt box, one crop", "gt box + re-crop", "gt box, 4 turns + re-crop")
    scores = {name: HandScore() for name in names}
    present = dict.fromkeys(names, 0)
    for truth in load_coco_hands(annotations):
        image = cv2.imread(str(folder / truth.file_name))
        regions = [box_region(box) for box in truth.boxes]
        first = landmarker(image, regions)
        again = landmarker(image, [landmarks_region(p) for p in first.image])
        turned = [max((landmarker(image, [replace(r, rotation=t)]) for t in TURNS), key=lambda f: f.presence[0])
                  for r in regions]
        turned_again = landmarker(image, [landmarks_region(t.image[0]) for t in turned])
        for name, found in zip(names, (first, again, turned_again)):
            scores[name].add(truth, found.image)
            present[name] += int((found.presence >= 0.5).sum())
    return {name: scores[name].summary() | {"present": present[name]} for name in names}


def graph_row(shared: Path, folder: Path, annotations: Path, landmark_model: Path) -> dict[str, Any]:
    """webcam_hands.yaml headless on the image folder (copied without its json), scored from its export."""
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        shutil.copytree(folder, images, ignore=shutil.ignore_patterns("*.json"))
        out = Path(tmp) / "hands.jsonl"
        graph = prepare_graph(GRAPH, source=str(images), headless=True, export=out, overrides=[
            f"palm.model={shared / 'models/hand/palm_detection_full.onnx'}", f"hands.model={landmark_model}"])
        run = run_timed(graph)
        records = [json.loads(line) for line in out.read_text().splitlines()]
    score = HandScore()
    for record, truth in zip(records, load_coco_hands(annotations)):
        score.add(truth, [p["keypoints"] for p in record["people"]])
    nodes = run.runner.metrics.snapshot()
    return score.summary() | {"palm_p50_ms": round(nodes["palm"]["p50_ms"], 1),
                              "hands_p50_ms": round(nodes["hands"]["p50_ms"], 1)}


def clip_rows(shared: Path, frames: int) -> dict[str, dict[str, Any]]:
    """webcam_hands.yaml on a clip of one moving hand: the palm detector on every frame (``max_hands: 2``,
    as MediaPipe Hands with one hand in view) against skipped while the hand is followed
    (``max_hands: 1``); both in this process, back to back."""
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "hand.mp4"
        truths = moving_hand_clip(shared / "data/onehand10k", clip, frames)
        for max_hands in (2, 1):
            out = Path(tmp) / f"hands{max_hands}.jsonl"
            graph = prepare_graph(GRAPH, source=str(clip), headless=True, export=out, overrides=[
                f"palm.model={shared / 'models/hand/palm_detection_full.onnx'}",
                f"hands.model={shared / 'models/hand/hand_landmark_full.onnx'}", f"palm.max_hands={max_hands}"])
            run = run_timed(graph)
            score = HandScore()
            for line, truth in zip(out.read_text().splitlines(), truths):
                score.add(truth, [p["keypoints"] for p in json.loads(line)["people"]])
            nodes = run.runner.metrics.snapshot()
            rows[f"palm max_hands {max_hands}"] = score.summary() | {
                "fps": round(frames / run.wall_s, 1), "cpu_ms_per_frame": round(1000 * run.cpu_s / frames, 1),
                "palm_p50_ms": round(nodes["palm"]["p50_ms"], 1), "hands_p50_ms": round(nodes["hands"]["p50_ms"], 1)}
    return rows


def median_ms(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def costs(shared: Path, repeats: int, tflite: Path | None = None) -> dict[str, float]:
    """Milliseconds per hand crop and per palm frame; ``tflite``: a folder with MediaPipe's own
    ``hand_landmark_*.tflite`` / ``palm_detection_*.tflite`` to time on LiteRT too."""
    image = cv2.imread(str(shared / "data/onehand10k/784.jpg"))  # 960x540
    region = box_region(np.array([51, 312, 427, 684]))
    files = {"onnx": shared / "models/hand"} | ({"tflite": tflite} if tflite else {})
    out: dict[str, float] = {}
    for fmt, folder in files.items():
        for threads in (1, None):
            opts = {"threads": threads} if threads else {}
            label = f"{fmt}, {'1 thread' if threads else 'default threads'}"
            for model in ("full", "lite"):
                hand = HandLandmarker(folder / f"hand_landmark_{model}.{fmt}", **opts)
                out[f"hand_landmark_{model} per hand, {label} (ms)"] = median_ms(lambda: hand(image, [region]), repeats)
                palm = PalmDetector(folder / f"palm_detection_{model}.{fmt}", **opts)
                out[f"palm_detection_{model} per frame, {label} (ms)"] = median_ms(lambda: palm(image), repeats)
    return {k: round(v, 2) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per cost figure")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--frames", type=int, default=90, help="frames of the moving-hand clip")
    parser.add_argument("--tflite", type=Path, help="folder with MediaPipe's .tflite hand models: time them too")
    args = parser.parse_args(argv)
    shared = shared_dir()
    console = Console()
    table = Table(title="hands: PCK@0.2 of the hand box, hands found")
    for column in ("model", "dataset", "path", "found", "present", "PCK@0.2 (found)", "PCK@0.2 (all)"):
        table.add_column(column)
    figures: dict[str, Any] = {"accuracy": {}, "cost": {}}
    for model in ("full", "lite"):
        path = shared / f"models/hand/hand_landmark_{model}.onnx"
        landmarker = HandLandmarker(path)
        for name, rel in DATASETS.items():
            annotations = shared / "data" / rel
            rows = gt_box_rows(landmarker, annotations.parent, annotations)
            rows["webcam_hands.yaml"] = graph_row(shared, annotations.parent, annotations, path)
            figures["accuracy"][f"{model}/{name}"] = rows
            for row, s in rows.items():
                table.add_row(model, name, row, f"{s['found']}/{s['hands']}", str(s.get("present", "")),
                              f"{s['pck']:.3f}", f"{s['pck_all']:.3f}")
    console.print(table)
    figures["clip"] = clip_rows(shared, args.frames)
    base, skipped = figures["clip"]["palm max_hands 2"], figures["clip"]["palm max_hands 1"]
    console.print(f"moving-hand clip, {args.frames} frames: palm detector every frame {base}")
    console.print(f"  skipped while the hand is followed {skipped}")
    console.print(f"  FPS x{skipped['fps'] / base['fps']:.2f}, CPU per frame x{skipped['cpu_ms_per_frame'] / base['cpu_ms_per_frame']:.2f}")
    figures["cost"] = costs(shared, args.repeats, args.tflite)
    for key, value in figures["cost"].items():
        console.print(f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

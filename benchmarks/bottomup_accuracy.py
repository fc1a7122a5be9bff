"""Top-down against bottom-up on annotated photos: PCK@0.1 and recall, graph by graph.

Runs, through an image folder (``--source FOLDER --headless --export``), the three graphs:
``webcam_body`` (YOLOX-Nano + SimplePose-nano, top-down), ``webcam_bottomup`` (OpenPose
MobileNet-thin) and ``webcam_multipose`` (MoveNet MultiPose), on the shared COCO and PoseTrack18
photos, and prints PCK@0.1 (of the gt box's longer side, over matched people) and recall
(people found at box IoU 0.5), both from :func:`rtpose.evaluation.tracking.pck`.

Each photo goes through a folder of its own, so no tracker state crosses photos whether or not
the tracker restarts at every photo (a segment) in this checkout.

    python benchmarks/bottomup_accuracy.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, shared_dir  # noqa: E402
from _run import run_timed  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.evaluation.tracking import pck  # noqa: E402

POSETRACK_HEAD = (1, 2)
"""PoseTrack's keypoints 1 and 2 are head_bottom and head_top, not COCO's eyes: not scored."""


def graph_models(shared: Path) -> dict[str, list[str]]:
    """``--set`` overrides giving each graph the shared models (a label's first word is the graph;
    MultiPose also at a larger input, which finds smaller people)."""
    return {"webcam_body": [f"detector.model={shared / 'models/det/yolox_nano_416x416.onnx'}",
                            f"pose.model={shared / 'models/pose/simplepose_nano_256x192.onnx'}"],
            "webcam_bottomup": [f"pose.model={shared / 'models/bottomup/openpose_mobilenet_thin_368x432.onnx'}"],
            "webcam_multipose": [f"pose.model={shared / 'models/bottomup/movenet_multipose.onnx'}"],
            "webcam_multipose 640x384": [f"pose.model={shared / 'models/bottomup/movenet_multipose.onnx'}",
                                         "pose.input_size=[640, 384]"]}


def photo_frames(annotation_file: Path, file_names: Sequence[str], unlabel: Sequence[int] = ()) -> list[dict]:
    """Ground truth in make_clip's ``gt.json`` frame shape (what rtpose.evaluation.tracking takes), one
    frame per photo of ``file_names`` (the COCO-format file's ``file_name``s), people with labelled
    keypoints only, keypoints at ``unlabel`` set to v = 0, the annotation id as the track id."""
    data = json.loads(annotation_file.read_text())
    ids = {image["file_name"]: image["id"] for image in data["images"]}
    frames = []
    for i, name in enumerate(file_names):
        people = []
        for a in data["annotations"]:
            if a["image_id"] != ids[name] or a.get("iscrowd") or not a.get("num_keypoints"):
                continue
            kps = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
            kps[list(unlabel), 2] = 0
            people.append({"track_id": int(a["id"]), "bbox": [float(v) for v in a["bbox"]], "keypoints": kps.tolist()})
        frames.append({"frame": i, "people": people})
    return frames


def datasets(shared: Path) -> dict[str, tuple[list[Path], list[dict]]]:
    """Photos and their ground truth: the shared COCO and PoseTrack18 images."""
    coco = shared / "data" / "coco"
    coco_names = sorted(p.name for p in coco.glob("*.jpg"))
    track = shared / "data" / "posetrack18"
    track_names = sorted(str(p.relative_to(track)) for p in (track / "images" / "val").glob("*/000000.jpg"))
    return {"COCO": ([coco / n for n in coco_names], photo_frames(coco / "test_coco.json", coco_names)),
            "PoseTrack18": ([track / n for n in track_names],
                            photo_frames(track / "annotations" / "test_posetrack18_val.json", track_names,
                                         POSETRACK_HEAD))}


def run_on_photo(graph: str, photo: Path, overrides: list[str]) -> dict[str, Any]:
    """The exported record of ``graph`` run on a folder holding just ``photo``."""
    with tempfile.TemporaryDirectory(prefix="rtpose-photo-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        (folder / photo.name).symlink_to(photo.resolve())
        export = Path(tmp) / "out.jsonl"
        built = prepare_graph(REPO / "graphs" / f"{graph.split()[0]}.yaml", source=str(folder), overrides=overrides,
                              headless=True, export=export)
        run_timed(built)
        lines = export.read_text().splitlines()
        return json.loads(lines[0]) if lines else {"people": []}


def accuracy(graph: str, photos: list[Path], frames: list[dict], overrides: list[str]) -> dict[str, float]:
    """PCK@0.1, recall and people found of ``graph`` over ``photos``."""
    outputs = [run_on_photo(graph, photo, overrides) for photo in photos]
    result = pck(frames, outputs)
    result["found"] = sum(len(o["people"]) for o in outputs)
    result["people"] = sum(len(f["people"]) for f in frames)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    shared = shared_dir()
    data = datasets(shared)
    table = Table(title="PCK@0.1 and recall (IoU 0.5) through an image folder, shared models")
    for col in ("photos", "graph", "PCK@0.1", "recall", "people output / in gt"):
        table.add_column(col)
    for name, (photos, frames) in data.items():
        for graph, overrides in graph_models(shared).items():
            r = accuracy(graph, photos, frames, overrides)
            table.add_row(name, graph, f"{r['pck']:.3f}", f"{r['recall']:.3f}", f"{r['found']} / {r['people']}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()

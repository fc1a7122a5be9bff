"""PCK@0.1 on photos through an image folder: images_body.yaml, webcam_body.yaml and a plain loop.

    python benchmarks/photos_pck.py

The shared COCO photos (4 images) and PoseTrack18 frames (3 images from 3 videos, unrelated to each
other) are copied into a temporary folder each and run through ``graphs/images_body.yaml`` (detector
and pose only) and ``graphs/webcam_body.yaml`` (pose-guided detection, tracker, smoother: every node
with memory resets at each photo), both headless with YOLOX-Nano and SimplePose-nano, and through a
loop that detects and poses one image at a time with the same models. PCK@0.1 of the gt box's longer
side over matched people (box IoU >= 0.5), recall, and pck_all (every labelled keypoint of every gt
person, a missed person's counting as wrong), from rtpose.evaluation.tracking. PoseTrack's head_bottom
and head_top (keypoints 1 and 2, where COCO has the eyes) are left out, and as PoseTrack labels every
keypoint v = 1, labelled keypoints count as visible.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, shared_dir  # noqa: E402
from pipeline_cpu import DET_MODEL, POSE_MODEL  # noqa: E402

from rtpose.capture import folder_images  # noqa: E402
from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.models.heatmap import TopDownPoseEstimator  # noqa: E402
from rtpose.models.yolox import YoloxDetector  # noqa: E402
from rtpose.runtime.scheduler import GraphRunner  # noqa: E402
from rtpose.evaluation import tracking as evaluate  # noqa: E402

console = Console(width=None if Console().is_terminal else 140)
POSETRACK_HEAD = (1, 2)


def photo_sets(shared: Path, tmp: Path) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    """Each data set as (a folder holding only its images, ground-truth frames in the folder's order)."""
    coco = tmp / "coco"
    shutil.copytree(shared / "data" / "coco", coco, ignore=shutil.ignore_patterns("*.json"))
    coco_truth = evaluate.coco_frames(json.loads((shared / "data/coco/test_coco.json").read_text()),
                                      [p.name for p in folder_images(coco)])
    annotations = json.loads((shared / "data/posetrack18/annotations/test_posetrack18_val.json").read_text())
    posetrack = tmp / "posetrack18"
    posetrack.mkdir()
    names = {}
    for image in annotations["images"]:
        flat = image["file_name"].replace("/", "_")  # images/val/<video>/000000.jpg: one name per video
        shutil.copy(shared / "data/posetrack18" / image["file_name"], posetrack / flat)
        names[flat] = image["file_name"]
    posetrack_truth = evaluate.coco_frames(annotations, [names[p.name] for p in folder_images(posetrack)],
                                           unlabel=POSETRACK_HEAD, labelled_visible=True)
    return {"COCO": (coco, coco_truth), "PoseTrack18": (posetrack, posetrack_truth)}


def run_graph(name: str, folder: Path, det: Path, pose: Path, tmp: Path) -> list[dict[str, Any]]:
    export = tmp / f"{folder.name}_{name}.jsonl"
    overrides = [f"detector.model={det}", f"pose.model={pose}"]
    if name == "images_body.yaml":
        overrides += [f"keypoints.path={tmp / 'k.jsonl'}", f"annotated.folder={tmp / 'annotated'}"]
    graph = prepare_graph(REPO / "graphs" / name, source=str(folder), headless=True, export=export,
                          overrides=overrides)
    result = GraphRunner(graph).run()
    if result.error is not None:
        raise RuntimeError(f"{name} failed: {result.error}")
    return [json.loads(line) for line in export.read_text().splitlines()]


def run_loop(folder: Path, det: Path, pose: Path) -> list[dict[str, Any]]:
    detector = YoloxDetector(det, score_threshold=0.3, max_detections=20)
    estimator = TopDownPoseEstimator(pose)
    out = []
    for path in folder_images(folder):
        pixels = cv2.imread(str(path))
        found = detector(pixels)
        out.append({"people": [{"bbox": [x1, y1, x2 - x1, y2 - y1], "keypoints": k.tolist()}
                               for (x1, y1, x2, y2), k in zip(found.boxes.tolist(), estimator(pixels, found.boxes))]})
    return out


def main() -> int:
    shared = shared_dir()
    det, pose = shared / DET_MODEL, shared / POSE_MODEL
    table = Table(title="PCK@0.1 on photos through an image folder (YOLOX-Nano + SimplePose-nano)",
                  title_justify="left")
    for column in ("photos", "people", "run", "PCK@0.1", "recall", "PCK all"):
        table.add_column(column, justify="left" if column in ("photos", "run") else "right")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for data, (folder, truth) in photo_sets(shared, tmp).items():
            runs = {"one image at a time (loop)": run_loop(folder, det, pose),
                    "images_body.yaml": run_graph("images_body.yaml", folder, det, pose, tmp),
                    "webcam_body.yaml": run_graph("webcam_body.yaml", folder, det, pose, tmp)}
            people = sum(len(f["people"]) for f in truth)
            for i, (name, records) in enumerate(runs.items()):
                f = evaluate.pck(truth, records)
                table.add_row(data if i == 0 else "", str(people) if i == 0 else "", name, f"{f['pck']:.3f}",
                              f"{f['recall']:.3f}", f"{f['pck_all']:.3f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

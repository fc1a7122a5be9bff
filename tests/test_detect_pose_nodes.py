"""The real ``detect`` and ``pose`` nodes with the shared YOLOX-Nano and SimplePose-nano
models on the COCO images of ../shared/data/coco: created as the runtime creates them
(type from the plugin registry, validated params), then open / process / close."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.api import Detections, Image, Poses, Tracks
from rtpose.errors import ModelError
from rtpose.plugins import get_node_type
from rtpose.tracking.oks import iou_matrix

DET_MODEL = "models/det/yolox_nano_416x416.onnx"
POSE_MODEL = "models/pose/simplepose_nano_256x192.onnx"


def make_node(type_name: str, **params):
    cls = get_node_type(type_name)
    return cls(type_name, cls.Params(**params))


@pytest.fixture(scope="module")
def coco(shared: Path) -> list[dict]:
    """Per image: pixels and the annotated people (num_keypoints > 0) as xyxy boxes and (17, 3) keypoints."""
    folder = shared / "data" / "coco"
    data = json.loads((folder / "test_coco.json").read_text())
    images = []
    for info in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == info["id"] and a["num_keypoints"] > 0]
        pixels = cv2.imread(str(folder / Path(info["file_name"]).name))
        assert pixels is not None, info["file_name"]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float32)
        keypoints = np.array([a["keypoints"] for a in anns], np.float32).reshape(-1, 17, 3)
        images.append({"image": Image(pixels, 0.0, info["file_name"]), "boxes": boxes.reshape(-1, 4),
                       "keypoints": keypoints})
    assert sum(len(i["boxes"]) for i in images) == 12
    return images


@pytest.fixture(scope="module")
def detect_node(shared: Path):
    node = make_node("detect", model=str(shared / DET_MODEL), score_threshold=0.3, threads=1)
    node.open()
    yield node
    node.close()


@pytest.fixture(scope="module")
def pose_node(shared: Path):
    node = make_node("pose", model=str(shared / POSE_MODEL), threads=1)
    node.open()
    yield node
    node.close()


def pck(pred: np.ndarray, truth: np.ndarray, boxes: np.ndarray, alpha: float = 0.1) -> tuple[int, int]:
    """Correct and labelled keypoints: within alpha x the box's longer side, over truth with v > 0."""
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    labelled = truth[..., 2] > 0
    dist = np.linalg.norm(pred[..., :2] - truth[..., :2], axis=-1)
    correct = (dist <= alpha * size[:, None]) & labelled
    return int(correct.sum()), int(labelled.sum())


def test_detect_finds_the_annotated_people(coco, detect_node):
    found = 0
    for item in coco:
        out = detect_node.process(image=item["image"])
        assert set(out) == {"detections"}
        dets = out["detections"]
        assert isinstance(dets, Detections)
        assert np.all(dets.class_ids == 0) and np.all(dets.scores > 0.3)
        h, w = item["image"].pixels.shape[:2]
        assert np.all(dets.boxes >= 0) and np.all(dets.boxes[:, 0::2] <= w) and np.all(dets.boxes[:, 1::2] <= h)
        if len(dets) and len(item["boxes"]):
            # greedy one-to-one matching, best IoU first
            overlap = iou_matrix(item["boxes"], dets.boxes)
            while overlap.size and overlap.max() >= 0.5:
                i, j = np.unravel_index(np.argmax(overlap), overlap.shape)
                found += 1
                overlap[i, :] = 0
                overlap[:, j] = 0
    assert found >= 11, f"detector found {found} of 12 annotated people"


def test_pose_with_ground_truth_boxes_is_accurate(coco, pose_node):
    correct = labelled = 0
    for item in coco:
        people = Detections(boxes=item["boxes"], scores=np.ones(len(item["boxes"])),
                            class_ids=np.zeros(len(item["boxes"])))
        poses = pose_node.process(image=item["image"], people=people)["poses"]
        assert isinstance(poses, Poses)
        assert poses.keypoints.shape == (len(item["boxes"]), 17, 3)
        np.testing.assert_array_equal(poses.boxes, item["boxes"])
        c, n = pck(poses.keypoints, item["keypoints"], item["boxes"])
        correct, labelled = correct + c, labelled + n
    assert labelled > 100
    assert correct / labelled >= 0.88, f"PCK@0.1 {correct / labelled:.3f} ({correct}/{labelled})"


def test_pose_keeps_track_ids_and_sets_minus_one_without_tracks(coco, pose_node):
    item = max(coco, key=lambda i: len(i["boxes"]))
    n = len(item["boxes"])
    assert n >= 2
    ids = np.arange(7, 7 + n, dtype=np.int64)[::-1].copy()
    tracks = Tracks(boxes=item["boxes"], scores=np.full(n, 0.9), class_ids=np.zeros(n), track_ids=ids)
    poses = pose_node.process(image=item["image"], people=tracks)["poses"]
    np.testing.assert_array_equal(poses.track_ids, ids)
    np.testing.assert_allclose(poses.scores, 0.9)

    plain = Detections(boxes=item["boxes"], scores=np.full(n, 0.9), class_ids=np.zeros(n))
    untracked = pose_node.process(image=item["image"], people=plain)["poses"]
    np.testing.assert_array_equal(untracked.track_ids, np.full(n, -1))
    # the same boxes give the same keypoints whether they come tracked or not
    np.testing.assert_allclose(untracked.keypoints, poses.keypoints, atol=1e-4)


def test_empty_frame_gives_empty_poses(detect_node, pose_node):
    blank = Image(np.full((480, 640, 3), 127, np.uint8), 1.5)
    dets = detect_node.process(image=blank)["detections"]
    assert len(dets) == 0
    for people in (dets, Tracks()):
        poses = pose_node.process(image=blank, people=people)["poses"]
        assert isinstance(poses, Poses)
        assert len(poses) == 0
        assert poses.keypoints.shape == (0, 17, 3)
        assert poses.track_ids.shape == (0,)


@pytest.mark.parametrize("type_name", ["detect", "pose"])
def test_missing_model_path_is_a_clear_error(tmp_path, type_name):
    missing = tmp_path / "nowhere" / f"{type_name}_model.onnx"
    node = make_node(type_name, model=str(missing))
    with pytest.raises(ModelError, match=re.escape(str(missing))):
        node.open()


def test_pose_gives_coco17_poses_with_k_from_the_model(coco, pose_node):
    assert pose_node.estimator.probe_keypoints() == 17
    item = coco[0]
    people = Detections(boxes=item["boxes"], scores=np.ones(len(item["boxes"])), class_ids=np.zeros(len(item["boxes"])))
    assert pose_node.process(image=item["image"], people=people)["poses"].schema.name == "coco17"


def test_pose_model_and_schema_of_different_sizes_is_a_clear_error(shared):
    node = make_node("pose", model=str(shared / POSE_MODEL), schema="hand21", threads=1)
    with pytest.raises(ModelError) as caught:
        node.open()
    message = str(caught.value)
    assert str(shared / POSE_MODEL) in message
    assert "gives 17 heatmaps, but schema 'hand21' has 21 keypoints" in message and "coco17" in message
    node = make_node("pose", model=str(shared / POSE_MODEL), schema="no_such_schema", threads=1)
    with pytest.raises(ModelError, match="unknown keypoint schema 'no_such_schema'"):
        node.open()


@pytest.fixture(scope="module")
def two_stage_model(tmp_path_factory) -> Path:
    """A CPM-style two-stage heatmap model (random weights): stage 1 gives 5 maps, stage 2 the 21 of a hand."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")

    class TwoStage(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
            self.stage1 = torch.nn.Conv2d(8, 5, 1)
            self.stage2 = torch.nn.Conv2d(13, 21, 1)

        def forward(self, x):
            features = torch.relu(self.stem(x))
            first = self.stage1(features)
            return first, self.stage2(torch.cat([features, first], dim=1))

    path = tmp_path_factory.mktemp("cpm") / "two_stage.onnx"
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter: fast, and enough here
        torch.onnx.export(TwoStage().eval(), (torch.zeros(1, 3, 256, 192),), str(path), input_names=["input"],
                          output_names=["stage1", "stage2"], dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    return path


def test_pose_reads_the_chosen_heatmap_output_of_a_multi_stage_model(coco, two_stage_model):
    item = coco[0]
    people = Detections(boxes=item["boxes"], scores=np.ones(len(item["boxes"])), class_ids=np.zeros(len(item["boxes"])))
    for output in ("stage2", 1, -1):
        node = make_node("pose", model=str(two_stage_model), schema="hand21", heatmap_output=output, threads=1)
        node.open()
        poses = node.process(image=item["image"], people=people)["poses"]
        assert poses.schema.name == "hand21" and poses.keypoints.shape == (len(item["boxes"]), 21, 3)
    first = make_node("pose", model=str(two_stage_model), schema="hand21", threads=1)  # output 0: stage 1
    with pytest.raises(ModelError, match=r"two_stage.onnx gives 5 heatmaps.*'heatmap_output'"):
        first.open()
    for wrong, fragment in (("stage3", "no output 'stage3'; its outputs: stage1, stage2"), (2, "out of range")):
        node = make_node("pose", model=str(two_stage_model), schema="hand21", heatmap_output=wrong, threads=1)
        with pytest.raises(ModelError, match=fragment) as caught:
            node.open()
        assert str(two_stage_model) in str(caught.value)


def test_the_detector_reports_how_often_it_ran_and_its_cost_per_run(shared: Path) -> None:
    from rtpose.api import Image, Tracks
    from rtpose_nodes.detect import Detect

    node = Detect("detector", Detect.Params(model=str(shared / "models/det/yolox_nano_416x416.onnx"), every=3))
    node.open()
    frame = Image(cv2.imread(str(shared / "data/coco/000000196141.jpg")), 0.0)
    previous = None
    for _ in range(6):
        found = node.process(image=frame, previous=previous)["detections"]
        if len(found):
            previous = Tracks(boxes=found.boxes, scores=found.scores, class_ids=found.class_ids,
                              track_ids=list(range(len(found))))
    own = node.stats()
    assert 0 < own["ran"] < 1, own  # skipped some frames: the schedule ran it every 3 at most
    assert own["ms_per_run"] > 0.5, own  # a real model's cost, not the skipped frames' near zero
    node.close()

"""rtpose from Python (rtpose.app): graphs loaded and composed in code, frames pushed, results out,
node failures in the caller's thread, the single-image estimator and the pose table."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import rtpose
from rtpose.api import Image, Node, Params, register_node
from rtpose.app.pipeline import as_bgr
from rtpose.cli import prepare_graph
from rtpose.errors import GraphError, NodeFailed
from rtpose.graph.build import Graph, load_graph
from rtpose.runtime.scheduler import GraphRunner
from rtpose.evaluation.tracking import pck
from helpers import make_clip

REPO = Path(__file__).resolve().parents[1]
BODY = REPO / "graphs" / "webcam_body.yaml"
SYNTHETIC = (Path(__file__).parent / "plugins" / "synthetic.py").as_posix()
FRAMES = 24


@register_node("test_fail_at")
class FailAt(Node):
    """Passes frames on and raises on frame ``at``, noting when (to time how fast the caller hears)."""

    inputs = {"image": Image}
    outputs = {"image": Image}
    raised_at: float = 0.0

    class Params(Params):
        at: int = 3

    def process(self, image: Image) -> dict:
        assert self.frame is not None
        if self.frame.index >= self.params.at:
            FailAt.raised_at = time.monotonic()
            raise ValueError(f"bad frame {self.frame.index}")
        return {"image": image}


@pytest.fixture(scope="module")
def models(shared: Path) -> dict[str, str]:
    return {"detector.model": str(shared / "models/det/yolox_nano_416x416.onnx"),
            "pose.model": str(shared / "models/pose/simplepose_nano_256x192.onnx")}


@pytest.fixture(scope="module")
def clip(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("walk")
    return make_clip(out, frames=FRAMES, people=3, width=640, height=360)


def read_frames(video: Path) -> list[tuple[np.ndarray, float]]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append((frame, capture.get(cv2.CAP_PROP_POS_MSEC) / 1000))
    capture.release()
    return frames


@pytest.fixture(scope="module")
def file_results(clip: Path, models: dict[str, str]) -> list[rtpose.Result]:
    return list(rtpose.run(BODY, source=clip / "clip.mp4", **models))


def test_pushed_frames_give_one_result_each_in_order_equal_to_reading_the_file(
        clip: Path, models: dict[str, str], file_results: list[rtpose.Result]) -> None:
    frames = read_frames(clip / "clip.mp4")
    called: list[int] = []
    graph = rtpose.load(BODY, source=rtpose.APP, **models)
    assert graph.nodes["camera"].cls.type_name == "app_source" and "display" not in graph.nodes
    with rtpose.start(graph, keep_image=True, on_result=lambda r: called.append(r.index)) as pipeline:
        indices = [pipeline.push(frame, ts) for frame, ts in frames]
    assert indices == list(range(FRAMES))
    assert called == list(range(FRAMES)), "lossless: every pushed frame gives one result, in order"
    assert [r.index for r in file_results] == list(range(FRAMES))
    assert sum(len(r.poses) for r in file_results) >= 2 * FRAMES, "the people of the clip are found"

    again: list[rtpose.Result] = []
    with rtpose.start(graph, keep_image=True) as pipeline:
        for frame, ts in frames:
            pipeline.push(frame, ts)
        pipeline.end()
        again = list(pipeline)
    for pushed, (frame, ts), read in zip(again, frames, file_results):
        assert pushed.timestamp == pytest.approx(ts) and np.array_equal(pushed.image, frame)
        assert np.array_equal(pushed.poses.track_ids, read.poses.track_ids)
        np.testing.assert_allclose(pushed.poses.keypoints, read.poses.keypoints, atol=1e-2)


def test_rgb_grey_and_bad_frames() -> None:
    bgr = np.random.default_rng(0).integers(0, 255, (6, 8, 3), np.uint8)
    assert np.array_equal(as_bgr(bgr[..., ::-1], rgb=True), bgr)
    assert as_bgr(bgr) is not bgr and np.array_equal(as_bgr(bgr), bgr)
    assert as_bgr(bgr[..., 0]).shape == (6, 8, 3)
    with pytest.raises(ValueError, match="uint8"):
        as_bgr(bgr.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(6, 8, 2\)"):
        as_bgr(bgr[..., :2])
    with pytest.raises(TypeError, match="numpy array"):
        as_bgr([[0]])


def synthetic_graph(work: dict | None = None, middle: str | None = None) -> Graph:
    g = rtpose.GraphBuilder("synthetic", plugins=[SYNTHETIC])
    g.add("frames", "app_source")
    feed = "frames.image"
    if middle:
        g.add("check", middle, inputs={"image": feed}, params={"at": 3})
        feed = "check.image"
    g.add("work", "synthetic_work", inputs={"image": feed}, params=work or {})
    return g.build()


def test_live_pushes_are_flow_limited_like_a_camera() -> None:
    graph = synthetic_graph({"work_s": 0.03})
    with rtpose.start(graph, live=True, outputs={"detections": "work.detections"}) as pipeline:
        for i in range(100):
            pipeline.push(np.zeros((8, 8, 3), np.uint8), float(i))
            time.sleep(0.003)
        pipeline.end()
        results = list(pipeline)
    stats = pipeline.metrics
    assert 1 <= len(results) < 100 and stats["frames"]["dropped"] > 0, "frames dropped at the source while busy"
    indices = [r.index for r in results]
    assert indices == sorted(set(indices))
    assert all(int(r.outputs["detections"].scores[0]) == r.index for r in results), "each result is its frame's"


def test_a_failing_node_raises_in_the_callers_thread_with_its_name() -> None:
    graph = synthetic_graph(middle="test_fail_at")
    delays = []
    for blocked_in in ("get", "push"):
        caller = threading.current_thread()
        with pytest.raises(NodeFailed) as failure:
            with rtpose.start(graph, outputs={"detections": "work.detections"}) as pipeline:
                if blocked_in == "get":
                    for i in range(5):
                        pipeline.push(np.zeros((8, 8, 3), np.uint8), float(i))
                    pipeline.end()
                    list(pipeline)
                else:
                    for i in range(10_000):
                        pipeline.push(np.zeros((8, 8, 3), np.uint8), float(i))
        delays.append(time.monotonic() - FailAt.raised_at)
        assert threading.current_thread() is caller
        assert failure.value.node == "check" and "bad frame 3" in str(failure.value)
        assert isinstance(failure.value.__cause__, ValueError)
    print(f"failure reached the caller after {delays[0] * 1000:.0f} ms (blocked in get), "
          f"{delays[1] * 1000:.0f} ms (pushing)")
    assert max(delays) < 10.0  # the design target is 2 s (50 ms waits); generous for a loaded CI machine
    assert [t.name for t in threading.enumerate() if t.name.startswith("rtpose:")] == []


def test_composed_graph_errors_name_the_add_call(tmp_path: Path) -> None:
    g = rtpose.GraphBuilder()
    g.add("camera", "app_source")
    line = sys._getframe().f_lineno + 1
    g.add("detector", "detcet", inputs={"image": "camera.image"})
    g.add("pose", "pose", inputs={"image": "camera.imag", "people": "detector.detections"}, params={"dark": "x"})
    with pytest.raises(GraphError) as composed:
        g.build()
    assert composed.value.problems[0] == (f"{__file__}:{line}: node 'detector': unknown node type 'detcet' "
                                          f"(did you mean 'detect'?)")
    assert f"{__file__}:{line + 1}: node 'pose': parameter 'dark'" in str(composed.value)

    yaml_file = tmp_path / "same.yaml"
    yaml_file.write_text("nodes:\n  - {name: camera, type: app_source}\n"
                         "  - {name: detector, type: detcet, inputs: {image: camera.image}}\n"
                         "  - {name: pose, type: pose, inputs: {image: camera.imag, people: detector.detections},"
                         " params: {dark: x}}\n")
    with pytest.raises(GraphError) as from_file:
        load_graph(yaml_file)
    assert [p.split(": ", 1)[1] for p in composed.value.problems] == \
        [p.split(": ", 1)[1] for p in from_file.value.problems], "the same checks and messages as a graph file"


def test_load_changes_params_with_the_command_lines_errors(clip: Path) -> None:
    graph = rtpose.load(BODY, source=clip / "clip.mp4", **{"detector.every": 3, "smoother.process_noise": 0.25})
    assert graph.nodes["detector"].params.every == 3 and graph.nodes["smoother"].params.process_noise == 0.25
    assert graph.nodes["camera"].params.source == str(clip / "clip.mp4") and "display" not in graph.nodes
    for params, override in (({"detecter.every": 3}, "detecter.every=3"), ({"detector.evry": 3}, "detector.evry=3"),
                             ({"detector.every": 0}, "detector.every=0")):
        with pytest.raises(GraphError) as ours:
            rtpose.load(BODY, **params)
        with pytest.raises(GraphError) as cli:
            prepare_graph(BODY, overrides=[override])
        assert ours.value.problems == cli.value.problems
        if override.startswith("detector.evry"):
            line = next(i for i, text in enumerate(BODY.read_text().splitlines(), 1)
                        if text.strip().startswith("params: {model: yolox_nano"))
            assert f"{BODY}:{line}: node 'detector': unknown parameter 'evry'" in str(ours.value)
    with pytest.raises(GraphError, match="needs exactly one 'capture' node"):
        rtpose.load(_no_capture_graph(clip), source=rtpose.APP)


def _no_capture_graph(folder: Path) -> Path:
    path = folder / "no_capture.yaml"
    path.write_text(f"plugins: [{SYNTHETIC}]\nnodes:\n  - {{name: source, type: synthetic_source}}\n")
    return path


def test_app_source_outside_python_says_how_to_feed_it(tmp_path: Path) -> None:
    path = tmp_path / "pushed.yaml"
    path.write_text("nodes:\n  - {name: frames, type: app_source}\n  - {name: detector, type: detect, "
                    "inputs: {image: frames.image}}\n")
    result = GraphRunner(load_graph(path)).run()
    assert result.error is not None and result.error.node == "frames"
    assert "rtpose.start()" in str(result.error)


def coco_frames(shared: Path) -> tuple[list[np.ndarray], list[dict]]:
    data = json.loads((shared / "data/coco/test_coco.json").read_text())
    images, frames = [], []
    for info in data["images"]:
        images.append(cv2.imread(str(shared / "data/coco" / info["file_name"])))
        people = [{"track_id": a["id"], "bbox": a["bbox"], "keypoints": np.reshape(a["keypoints"], (17, 3)).tolist()}
                  for a in data["annotations"] if a["image_id"] == info["id"]]
        frames.append({"frame": len(frames), "people": people})
    return images, frames


def test_estimator_keeps_its_models_and_treats_photos_independently(shared: Path, models: dict[str, str]) -> None:
    images, truth = coco_frames(shared)
    with rtpose.Estimator(detector=models["detector.model"], pose=models["pose.model"]) as est:
        alone = [est(image) for image in images]
        first_again = est(images[0])
        mapped = list(est.map(images))
        rgb = est(images[1][..., ::-1].copy(), rgb=True)
    np.testing.assert_allclose(first_again.keypoints, alone[0].keypoints, atol=1e-3)
    for a, b in zip(alone, mapped):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
    np.testing.assert_allclose(rgb.keypoints, alone[1].keypoints, atol=1e-3)
    accuracy = pck(truth, alone)
    print(f"Estimator on data/coco: PCK@0.1 {accuracy['pck']:.3f}, recall {accuracy['recall']:.3f}")
    assert accuracy["recall"] >= 0.6 and accuracy["pck"] >= 0.7


def test_pose_table_layout(file_results: list[rtpose.Result]) -> None:
    table, columns = rtpose.pose_table(file_results)
    assert columns[:8] == ["frame", "timestamp", "track_id", "x1", "y1", "x2", "y2", "score"]
    assert columns[8:11] == ["nose_x", "nose_y", "nose_score"] and len(columns) == 8 + 17 * 3
    assert table.shape == (sum(len(r.poses) for r in file_results), len(columns))
    last = file_results[-1]
    rows = table[table[:, 0] == last.index]
    np.testing.assert_allclose(rows[:, 2], last.poses.track_ids)
    np.testing.assert_allclose(rows[:, 3:7], last.poses.boxes, rtol=1e-6)
    np.testing.assert_allclose(rows[:, 8:].reshape(-1, 17, 3), last.poses.keypoints, rtol=1e-6)


def test_estimator_names_the_node_whose_model_is_missing(shared: Path, models: dict[str, str],
                                                          tmp_path: Path) -> None:
    missing = tmp_path / "no_such_detector.onnx"
    with pytest.raises(NodeFailed) as failure:
        with rtpose.Estimator(detector=str(missing), pose=models["pose.model"]) as est:
            est(np.zeros((64, 64, 3), np.uint8))
    assert failure.value.node == "detector" and "no_such_detector" in str(failure.value)


def test_estimator_map_left_early_leaves_no_result_behind(shared: Path, models: dict[str, str]) -> None:
    images, _ = coco_frames(shared)
    with rtpose.Estimator(detector=models["detector.model"], pose=models["pose.model"]) as est:
        expected = est(images[2])
        for _ in est.map(images):
            break
        np.testing.assert_allclose(est(images[2]).keypoints, expected.keypoints, atol=1e-3)


def test_several_named_outputs_and_their_errors() -> None:
    graph = synthetic_graph()
    outputs = {"detections": "work.detections", "frames": "frames.image"}
    with rtpose.start(graph, outputs=outputs) as pipeline:
        for i in range(6):
            pipeline.push(np.full((8, 8, 3), i, np.uint8), float(i))
        pipeline.end()
        results = list(pipeline)
    assert [sorted(r.outputs) for r in results] == [["detections", "frames"]] * 6
    assert [int(r.outputs["frames"].pixels[0, 0, 0]) for r in results] == list(range(6))
    assert results[0].image is None, "pixels come back only with keep_image"
    with pytest.raises(KeyError, match="its outputs: detections, frames"):
        results[0].poses
    with pytest.raises(GraphError, match="output name 'image'"):
        rtpose.start(graph, outputs={"image": "frames.image"})
    with pytest.raises(GraphError, match=r"node 'app_results': input 'found': node 'work' has no output 'detection' \(did you mean 'detections'\?\)"):
        rtpose.start(graph, outputs={"found": "work.detection"})
    with pytest.raises(GraphError, match="has no Poses output"):
        rtpose.start(graph)
    with pytest.raises(ValueError, match="rtpose.start"):
        next(rtpose.run(BODY, source=rtpose.APP))


def test_other_payloads_come_as_poses_with_their_schema_and_attributes(shared: Path) -> None:
    """Hands (graphs/webcam_hands.yaml) reach the application like bodies: Poses of the hand21 schema,
    with their per-hand attributes; each photo of the folder is a segment of its own."""
    models = {"palm.model": str(shared / "models/hand/palm_detection_full.onnx"),
              "hands.model": str(shared / "models/hand/hand_landmark_full.onnx")}
    results = list(rtpose.run(REPO / "graphs/webcam_hands.yaml", source=shared / "data/freihand", **models))
    assert [r.segment for r in results] == sorted({r.segment for r in results}) and len(results) == 5
    hands = [r.poses for r in results if len(r.poses)]
    assert len(hands) >= 3, "hands found in most of the 5 FreiHAND photos"
    assert all(p.schema.name == "hand21" and p.keypoints.shape[1:] == (21, 3) for p in hands)
    assert all(len(values) == len(p) for p in hands for values in p.attributes.values())
    assert "handedness" in hands[0].attributes


def test_close_stops_a_live_source_that_never_ends(clip: Path) -> None:
    g = rtpose.GraphBuilder("endless", plugins=[SYNTHETIC])
    g.add("camera", "capture", params={"source": clip / "clip.mp4", "loop": True, "live": True})
    g.add("work", "synthetic_work", inputs={"image": "camera.image"})
    started = time.monotonic()
    with rtpose.start(g.build(), outputs={"detections": "work.detections"}) as pipeline:
        assert pipeline.get(timeout=30) is not None
    assert time.monotonic() - started < 30 and pipeline.run_result is not None
    assert pipeline.run_result.error is None and not pipeline.run_result.stuck_threads

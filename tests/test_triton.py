"""The Triton backend against a real Triton server started by ``rtpose serve`` (PyTriton) on 127.0.0.1.

PyTriton pins numpy < 2, so the server runs in its own environment: the interpreter named by
``$RTPOSE_SERVE_PYTHON``, else ``.venv-serve`` in the checkout, made on first use if missing
(``python3 -m venv .venv-serve && .venv-serve/bin/pip install -e ".[serve]"``, about a minute;
``.ci/run`` makes it before the tests). The client side (tritonclient) runs here, with numpy 2.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.backends.base import open_backend
from rtpose.errors import ModelError
from rtpose.models.heatmap import TopDownPoseEstimator
from rtpose.models.yolox import YoloxDetector

REPO = Path(__file__).resolve().parents[1]


def serve_python() -> Path:
    env = os.environ.get("RTPOSE_SERVE_PYTHON")
    if env:
        return Path(env)
    venv = REPO / ".venv-serve"
    python = venv / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{REPO}[serve]"], check=True, timeout=900)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(shared: Path, grpc: int | None = None, http: int | None = None) -> tuple[subprocess.Popen, int, str]:
    grpc, http = grpc or free_port(), http or free_port()
    cmd = [str(serve_python()), "-m", "rtpose.cli", "serve", str(REPO / "graphs/webcam_body.yaml"),
           "--set", f"detector.model={shared / 'models/det/yolox_nano_416x416.onnx'}",
           "--set", f"pose.model={shared / 'models/pose/simplepose_nano_256x192.onnx'}",
           "--grpc-port", str(grpc), "--http-port", str(http)]
    # a session of its own: killing its group takes the Triton server process down with it
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if line.startswith("ready"):
            return proc, grpc, "".join(lines)
    proc.kill()
    pytest.fail("rtpose serve did not become ready:\n" + "".join(lines))


def kill(proc: subprocess.Popen) -> None:
    """The server dies as in a crash: the CLI and the Triton server process under it, at once."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


@pytest.fixture(scope="module")
def server(shared: Path):
    proc, port, banner = start_server(shared)
    yield port, banner
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_serve_names_its_models_and_how_to_use_them(server) -> None:
    port, banner = server
    assert f"grpc://127.0.0.1:{port}" in banner
    assert f"--set detector.backend=triton --set detector.url=127.0.0.1:{port}" in banner
    assert "simplepose_nano_256x192 (simplepose_nano_256x192.onnx on onnxruntime" in banner


def test_models_served_by_triton_give_what_they_give_locally(server, shared: Path) -> None:
    port, _ = server
    image = cv2.imread(str(shared / "data/coco/000000196141.jpg"))
    det_local = YoloxDetector(shared / "models/det/yolox_nano_416x416.onnx", score_threshold=0.3)
    det_remote = YoloxDetector(open_backend(f"triton://127.0.0.1:{port}/yolox_nano_416x416"), score_threshold=0.3)
    boxes = det_local(image).boxes
    np.testing.assert_allclose(det_remote(image).boxes, boxes, atol=1e-2)
    pose_local = TopDownPoseEstimator(shared / "models/pose/simplepose_nano_256x192.onnx")
    pose_remote = TopDownPoseEstimator(open_backend(f"triton://127.0.0.1:{port}/simplepose_nano_256x192"))
    assert len(boxes) >= 2  # a batch of several people in one request
    np.testing.assert_allclose(pose_remote(image, boxes), pose_local(image, boxes), atol=1e-3)


def test_the_body_graph_through_triton_gives_the_local_keypoints(server, shared: Path, tmp_path: Path) -> None:
    port, _ = server
    models = ["--set", f"detector.model={shared / 'models/det/yolox_nano_416x416.onnx'}",
              "--set", f"pose.model={shared / 'models/pose/simplepose_nano_256x192.onnx'}"]
    remote = ["--set", "detector.backend=triton", "--set", f"detector.url=127.0.0.1:{port}",
              "--set", "pose.backend=triton", "--set", f"pose.url=127.0.0.1:{port}"]
    runs = {}
    for name, extra in (("local", []), ("triton", remote)):
        out = tmp_path / f"{name}.jsonl"
        done = subprocess.run([sys.executable, "-m", "rtpose.cli", "run", str(REPO / "graphs/webcam_body.yaml"),
                               "--source", str(shared / "data/video/street_5frames.mp4"), "--headless", "-q",
                               "--export", str(out), *models, *extra], cwd=REPO, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        runs[name] = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(runs["local"]) == len(runs["triton"]) == 5
    people = 0
    for local, served in zip(runs["local"], runs["triton"]):
        assert [p["track_id"] for p in served["people"]] == [p["track_id"] for p in local["people"]]
        for a, b in zip(local["people"], served["people"]):
            np.testing.assert_allclose(np.array(b["keypoints"])[:, :2], np.array(a["keypoints"])[:, :2], atol=0.5)
            people += 1
    assert people >= 5


def test_a_node_on_triton_without_url_says_what_to_set(shared: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "rtpose.cli", "run", str(REPO / "graphs/webcam_body.yaml"),
                           "--source", str(shared / "data/video/street_5frames.mp4"), "--headless",
                           "--set", "pose.backend=triton"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "node 'pose': backend triton needs url" in done.stderr, done.stderr


def test_a_dead_server_is_a_clear_error_and_reconnect_waits_for_it(shared: Path) -> None:
    proc, port, _ = start_server(shared)
    backend = open_backend(f"triton://127.0.0.1:{port}/simplepose_nano_256x192")
    crops = np.zeros((2, 3, 256, 192), np.float32)
    assert backend.run(crops)[0].shape == (2, 17, 64, 48)
    kill(proc)
    served = "simplepose_nano_256x192"
    with pytest.raises(ModelError, match=rf"Triton server at 127.0.0.1:{port} \(model '{served}'\) stopped answering"):
        backend.run(crops)
    with pytest.raises(ModelError, match="is not reachable"):
        open_backend(f"triton://127.0.0.1:{port}/simplepose_nano_256x192")


def test_reconnect_waits_for_a_restarted_server(shared: Path) -> None:
    grpc, http = free_port(), free_port()
    proc, port, _ = start_server(shared, grpc, http)
    backend = open_backend(f"triton://127.0.0.1:{port}/simplepose_nano_256x192", reconnect_attempts=10,
                           reconnect_backoff=0.5)
    crops = np.ones((1, 3, 256, 192), np.float32)
    before = backend.run(crops)[0]
    kill(proc)
    restarted, _, _ = start_server(shared, grpc, http)
    try:
        np.testing.assert_allclose(backend.run(crops)[0], before, atol=1e-5)
    finally:
        restarted.send_signal(signal.SIGINT)
        restarted.wait(30)

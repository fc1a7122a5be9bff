"""The rtpose command, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import rtpose

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "tests" / "graphs" / "pipeline.yaml"
RTPOSE = [sys.executable, "-m", "rtpose.cli"]


WIDE = {**os.environ, "COLUMNS": "200"}  # tables unwrapped, whatever terminal width the test run inherits


def rtpose_cmd(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(RTPOSE + list(args), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=WIDE)


def test_version() -> None:
    result = rtpose_cmd("--version")
    assert result.returncode == 0 and rtpose.__version__ in result.stdout


def test_run_synthetic_graph_to_the_end(tmp_path: Path) -> None:
    metrics, trace = tmp_path / "m.json", tmp_path / "t.json"
    result = rtpose_cmd("run", str(PIPELINE), "--metrics", str(metrics), "--trace", str(trace))
    assert result.returncode == 0, result.stderr
    assert "rtpose run" in result.stderr and "synthetic_work" in result.stderr  # the summary table
    nodes = json.loads(metrics.read_text())["nodes"]
    assert nodes["sink"]["frames_out"] == 50 and nodes["pair"]["frames_out"] == 50
    assert len([e for e in json.loads(trace.read_text())["traceEvents"] if e["ph"] == "X"]) == 4 * 50


def test_set_and_max_frames(tmp_path: Path) -> None:
    metrics = tmp_path / "m.json"
    result = rtpose_cmd("run", str(PIPELINE), "--set", "source.frames=0", "--max-frames", "7",
                        "--metrics", str(metrics), "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads(metrics.read_text())["nodes"]["sink"]["frames_out"] == 7


def test_failing_node_exits_non_zero_with_traceback() -> None:
    started = time.monotonic()
    result = rtpose_cmd("run", str(PIPELINE), "--set", "source.frames=0", "--set", "work.fail_at=3", "--quiet")
    assert result.returncode == 1
    assert "node 'work' failed: ValueError: cannot process frame 3" in result.stderr
    assert "Traceback" in result.stderr and "synthetic.py" in result.stderr
    assert time.monotonic() - started < 30


def test_ctrl_c_stops_cleanly() -> None:
    proc = subprocess.Popen(RTPOSE + ["-v", "run", str(PIPELINE), "--set", "source.frames=0", "--set",
                                      "source.live=true", "--set", "source.interval_s=0.01", "--quiet"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the graph runs (imports take seconds on a loaded machine)
        if "running:" in line:
            break
    time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10.0  # generous for a loaded CI; before deadlines a hung node made it forever
    assert proc.returncode == 130 and "stopped by Ctrl-C" in stderr
    assert "did not stop" not in stderr


def test_validate_good_and_bad(tmp_path: Path) -> None:
    good = rtpose_cmd("validate", str(REPO / "graphs" / "webcam_body.yaml"))
    assert good.returncode == 0 and "6 nodes" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - name: camera\n    type: captur\n")
    result = rtpose_cmd("validate", str(bad))
    assert result.returncode == 2  # a bad graph, as the README says
    assert f"{bad}:3: node 'camera': unknown node type 'captur' (did you mean 'capture'?)" in result.stderr


def test_run_reports_bad_graph_without_traceback(tmp_path: Path) -> None:
    result = rtpose_cmd("run", str(PIPELINE), "--set", "work.wrok_s=1")
    assert result.returncode == 2 and "unknown parameter 'wrok_s'" in result.stderr
    assert "Traceback" not in result.stderr


def test_source_replaces_the_capture_source(tmp_path: Path, shared: Path) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - {name: cam, type: capture, params: {source: 0}}\n")
    missing = rtpose_cmd("run", str(graph), "--source", str(tmp_path / "nope.mp4"), "--quiet")
    assert missing.returncode == 1 and "nope.mp4" in missing.stderr and "node 'cam' failed" in missing.stderr
    assert "Traceback" not in missing.stderr  # an expected error: one line
    video = shared / "data" / "video" / "street_5frames.mp4"
    metrics = tmp_path / "m.json"
    ok = rtpose_cmd("run", str(graph), "--source", str(video), "--metrics", str(metrics), "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(metrics.read_text())["nodes"]["cam"]["frames_out"] == 5


def test_graph_dot_and_text() -> None:
    dot = rtpose_cmd("graph", str(REPO / "graphs" / "webcam_body.yaml"), "--dot")
    assert dot.returncode == 0 and dot.stdout.startswith('digraph "webcam_body"')
    assert '"camera" -> "detector"' in dot.stdout and '"smoother" -> "display"' in dot.stdout
    text = rtpose_cmd("graph", str(REPO / "graphs" / "webcam_body.yaml"))
    assert "pose (pose): image <- camera.image, people <- tracker.tracks" in text.stdout


def test_nodes_list_and_show() -> None:
    listed = rtpose_cmd("nodes", "list")
    assert listed.returncode == 0
    for node_type in ("capture", "detect", "track", "pose", "smooth", "display", "record", "export_keypoints"):
        assert node_type in listed.stdout
    shown = rtpose_cmd("nodes", "show", "detect")
    assert shown.returncode == 0
    assert "score_threshold" in shown.stdout and "0.3" in shown.stdout and "image: Image" in shown.stdout
    unknown = rtpose_cmd("nodes", "show", "detcet")
    assert unknown.returncode == 2 and "did you mean 'detect'" in unknown.stderr
    plugin = str(Path(__file__).parent / "plugins" / "synthetic.py")
    from_plugin = rtpose_cmd("nodes", "show", "synthetic_work", "--plugin", plugin)
    assert from_plugin.returncode == 0 and "work_s" in from_plugin.stdout
    assert "synthetic_work" in rtpose_cmd("nodes", "list", "--graph", str(REPO / "tests/graphs/pipeline.yaml")).stdout


def test_headless_needs_no_screen(tmp_path: Path, shared: Path) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text(f"""\
plugins: [{(REPO / 'tests' / 'plugins' / 'synthetic.py').as_posix()}]
nodes:
  - {{name: camera, type: capture, params: {{source: {shared / 'data' / 'video' / 'street_5frames.mp4'}}}}}
  - {{name: people, type: synthetic_poses, inputs: {{image: camera.image}}}}
  - {{name: display, type: display, inputs: {{image: camera.image, poses: people.poses}}}}
""")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    no_screen = subprocess.run(RTPOSE + ["run", str(graph), "--quiet"], capture_output=True, text=True,
                               timeout=60, cwd=REPO, env=env)
    assert no_screen.returncode == 1 and "--headless" in no_screen.stderr
    headless = subprocess.run(RTPOSE + ["run", str(graph), "--headless", "--quiet", "--export", str(tmp_path / "k.jsonl")],
                              capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    assert headless.returncode == 0, headless.stderr
    assert len((tmp_path / "k.jsonl").read_text().splitlines()) == 5

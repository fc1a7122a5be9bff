"""The display node inside a real running graph: the real runtime, capture node and window.

The window runs on Qt's offscreen platform (set before Qt is imported). The poses come
from the shared test plugin (a fixed person per frame), so the
tests need no models and the subprocess test can load it from its graph file too.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import yaml

pytest.importorskip("PyQt5")

from PyQt5.QtCore import QTimer  # noqa: E402

from rtpose.graph.build import load_graph  # noqa: E402
from rtpose.runtime.scheduler import GraphRunner, RunResult  # noqa: E402
from rtpose.viz import colors, window as win  # noqa: E402
from rtpose_nodes.capture import Capture  # noqa: E402

CLIP = "data/video/street_5frames.mp4"  # 5 frames, 960x540, 5 fps
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def plugin() -> Path:
    """The shared test plugin: ``synthetic_poses`` gives a fixed person (track id 1) per frame."""
    return REPO / "tests" / "plugins" / "synthetic.py"


def write_graph(tmp_path: Path, shared: Path, plugin: Path, *, live: bool = True, export: bool = False,
                display: bool = True) -> Path:
    """capture (looping and real-time, like a camera, when ``live``) -> fixed pose -> display [+ export]."""
    camera: dict[str, Any] = {"source": str(shared / CLIP)}
    if live:
        camera.update(loop=True, realtime=True)
    nodes: list[dict[str, Any]] = [
        {"name": "camera", "type": "capture", "params": camera},
        {"name": "poser", "type": "synthetic_poses", "inputs": {"image": "camera.image"}},
    ]
    if display:
        nodes.append({"name": "display", "type": "display",
                      "inputs": {"image": "camera.image", "poses": "poser.poses"},
                      "params": {"width": 480, "height": 270, "snapshot_dir": str(tmp_path / "snaps"),
                                 "record_dir": str(tmp_path / "rec")}})
    if export:
        nodes.append({"name": "export", "type": "export_keypoints",
                      "inputs": {"image": "camera.image", "poses": "poser.poses"},
                      "params": {"path": str(tmp_path / "keypoints.jsonl")}})
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump({"name": "display_test", "plugins": [str(plugin)], "nodes": nodes},
                                   sort_keys=False))
    return path


def rtpose_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtpose:") and t.is_alive()]


def run_with_ticks(runner: GraphRunner, tick: Callable[[], None], guard_s: float = 30.0) -> RunResult:
    """``runner.run()`` on this (the main) thread, calling ``tick`` from Qt's event loop every 20 ms.

    A watchdog stops the graph after ``guard_s`` so a broken window cannot hang the suite.
    """
    win.ensure_app()
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    timer.start()
    watchdog = threading.Timer(guard_s, runner.stop)
    watchdog.start()
    try:
        return runner.run()
    finally:
        watchdog.cancel()
        timer.stop()


def displayed(runner: GraphRunner) -> win.PoseWindow | None:
    return getattr(runner.nodes.get("display"), "window", None)


# ----------------------------------------------------------------------------- (a) frames on screen


def test_the_window_opens_and_shows_the_running_graphs_frames(qapp, tmp_path: Path, shared: Path,
                                                              plugin: Path) -> None:
    runner = GraphRunner(load_graph(write_graph(tmp_path, shared, plugin)))
    shown: list[int] = []
    shots: list[np.ndarray] = []

    def tick() -> None:
        window = displayed(runner)
        if window is None or window.shown_index is None:
            return
        if not shown or shown[-1] != window.shown_index:
            shown.append(window.shown_index)
        if len(shown) >= 4 and not shots:
            window.toggle_panel()  # the panel must not be what is found
            window.view.repaint()
            shots.append(win.qimage_to_bgr(window.view.grab().toImage()))
            runner.stop()

    result = run_with_ticks(runner, tick)
    assert result.exit_code == 0 and result.error is None, result.error
    assert len(shown) >= 4 and shown == sorted(shown), shown  # new frames kept arriving, in order
    shot = shots[0]
    assert shot.shape[0] > 100 and shot.shape[1] > 100
    assert shot.std() > 20, "the view shows no picture"  # the street, not a flat background
    person = np.array(colors.track_color(1))
    assert (np.abs(shot.astype(int) - person).max(axis=2) <= 25).sum() > 50, "no overlay on screen"
    assert not rtpose_threads()


# ----------------------------------------------------------------------------- (b) closing stops the graph


def test_closing_the_window_stops_the_whole_graph(qapp, tmp_path: Path, shared: Path, plugin: Path) -> None:
    runner = GraphRunner(load_graph(write_graph(tmp_path, shared, plugin)))
    closed_at: list[float] = []

    def tick() -> None:
        window = displayed(runner)
        if window is not None and window.shown_index is not None and not closed_at:
            closed_at.append(time.monotonic())
            window.close()  # what the close button, q and Esc do

    result = run_with_ticks(runner, tick)
    returned = time.monotonic()
    assert closed_at, "the window never showed a frame"
    assert result.exit_code == 0 and result.error is None, result  # the camera loops: only the close ended it
    assert returned - closed_at[0] < 2.0, f"run() took {returned - closed_at[0]:.2f} s to return after the close"
    assert not result.stuck_threads and not rtpose_threads()
    assert runner.nodes["display"].window is None


# ----------------------------------------------------------------------------- (c) a slow window


def test_a_slow_window_does_not_slow_the_pipeline(qapp, tmp_path: Path, shared: Path, plugin: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fps, frames = 30.0, 120
    original_open = Capture.open

    def open_like_a_30fps_camera(self: Capture) -> None:
        original_open(self)
        self.pace_fps = fps  # the clip is 5 fps; a camera's 30 fps makes a slow window matter

    monkeypatch.setattr(Capture, "open", open_like_a_30fps_camera)
    original_paint = win.VideoView.paintEvent
    painted: list[float] = []

    def slow_paint(self: win.VideoView, event: Any) -> None:
        painted.append(time.monotonic())
        time.sleep(0.2)
        original_paint(self, event)

    monkeypatch.setattr(win.VideoView, "paintEvent", slow_paint)
    original_set_frame = win.VideoView.set_frame
    shown: list[int] = []

    def counting_set_frame(self: win.VideoView, pixels: np.ndarray) -> None:
        shown.append(1)
        original_set_frame(self, pixels)

    monkeypatch.setattr(win.VideoView, "set_frame", counting_set_frame)
    real_draw = win.draw_poses
    drawn_on: list[str] = []

    def counting_draw(*args: Any, **kwargs: Any) -> np.ndarray:
        drawn_on.append(threading.current_thread().name)
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(win, "draw_poses", counting_draw)

    # The source ends its stream after `frames` (max_frames), which then drains through every
    # node: the counts below are exact, not cut off by a stop in the middle of the pipeline.
    runner = GraphRunner(load_graph(write_graph(tmp_path, shared, plugin, export=True)), max_frames=frames)
    result = run_with_ticks(runner, lambda: None)
    assert result.exit_code == 0 and result.error is None, result.error
    stats = runner.metrics.snapshot()
    camera, export = stats["camera"], stats["export"]
    written = len((tmp_path / "keypoints.jsonl").read_text().splitlines())
    assert camera["frames_out"] == frames and camera["dropped"] <= 2, "the busy graph made the source drop frames"
    assert camera["fps"] >= 0.85 * fps, f"the source slowed down to {camera['fps']:.1f} fps"
    # A couple of frames of slack: the writer's edge keeps the newest frame ("latest") on a
    # live source, so a moment of CPU contention on a busy machine can cost it one or two.
    assert written >= frames - 3, f"the writer got {written} of {frames} frames: {export['inputs']}"
    assert export["fps"] >= 0.85 * fps, f"the writer ran at {export['fps']:.1f} fps"
    # The node handles nearly every frame (its "latest" edge may skip one under CPU contention),
    # while the window, painting 5 times a second, showed, and drew the skeletons of, only a
    # few of them, on the Qt thread: a skipped frame costs no drawing.
    assert stats["display"]["frames_out"] >= 0.8 * frames, stats["display"]["frames_out"]
    assert len(painted) >= 2 and len(shown) < frames / 3, (len(shown), frames)
    assert drawn_on and set(drawn_on) == {threading.main_thread().name} and len(drawn_on) < frames / 3, drawn_on


# ----------------------------------------------------------------------------- (d) no screen


def cli(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["COLUMNS"] = "200"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "rtpose.cli", "run", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - start


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a missing screen is only detectable on Linux")
def test_no_screen_is_a_clear_error_and_headless_runs(tmp_path: Path, shared: Path, plugin: Path) -> None:
    (tmp_path / "endless").mkdir()
    endless = write_graph(tmp_path / "endless", shared, plugin)  # loops in real time: never ends by itself
    done, elapsed = cli(str(endless), "-q")
    assert done.returncode != 0, done.stderr
    assert "--headless" in done.stderr and "DISPLAY" in done.stderr, done.stderr
    assert elapsed < 15, f"the error took {elapsed:.1f} s"

    (tmp_path / "finite").mkdir()
    finite = write_graph(tmp_path / "finite", shared, plugin, live=False)
    out = tmp_path / "finite" / "out.jsonl"
    done, _ = cli(str(finite), "--headless", "--export", str(out), "-q")
    assert done.returncode == 0, done.stderr
    frames = [json.loads(line) for line in out.read_text().splitlines()]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3, 4] and all(len(f["people"]) == 1 for f in frames)


# ----------------------------------------------------------------------------- (c) pause and the end of a file


def test_pause_holds_a_file_and_the_window_keeps_its_last_frame_at_the_end(qapp, tmp_path: Path, shared: Path,
                                                                           plugin: Path) -> None:
    runner = GraphRunner(load_graph(write_graph(tmp_path, shared, plugin, live=False)))
    seen: dict[str, float] = {}

    def frames_out() -> int:
        return int(runner.metrics.snapshot().get("camera", {}).get("frames_out", 0))

    def tick() -> None:
        window = displayed(runner)
        if window is None or window.shown_index is None:
            return
        now = time.monotonic()
        if "paused" not in seen:
            window.toggle_pause()  # space: the file waits, not only the picture
            seen["paused"], seen["frames"] = now, frames_out()
        elif "resumed" not in seen and now - seen["paused"] > 1.0:
            seen["held"] = frames_out() - seen["frames"]
            window.toggle_pause()
            seen["resumed"] = now
        elif "resumed" in seen and "ended" not in seen and frames_out() == 5 and window.shown_index == 4:
            seen["ended"] = now
        elif "ended" in seen and now - seen["ended"] > 1.0 and "closed" not in seen:
            seen["closed"] = now
            window.close()

    result = run_with_ticks(runner, tick)
    assert result.exit_code == 0 and result.error is None, result
    assert seen.get("held", 99) <= 1, f"the file went on while paused: {seen}"  # at most the frame in hand
    assert "closed" in seen, f"the window closed by itself at the end of the file: {seen}"

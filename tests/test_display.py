"""The display node and its Qt window, on Qt's offscreen platform (no screen needed)."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt

import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PyQt5")

from PyQt5.QtCore import Qt  # noqa: E402
from PyQt5.QtTest import QTest  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from rtpose.api import Image, Poses, RtposeError  # noqa: E402
from rtpose.viz import colors, window as win  # noqa: E402
from rtpose.viz.overlay import draw_poses  # noqa: E402
from rtpose_nodes.display import Display, DisplayParams, RecordSwitch, screen_problem  # noqa: E402

H, W = 480, 640
FIGURE = np.array([
    (320, 80), (330, 70), (310, 70), (345, 75), (295, 75),
    (370, 140), (270, 140), (420, 200), (220, 200), (460, 260), (180, 260),
    (350, 280), (290, 280), (360, 360), (280, 360), (360, 440), (280, 440),
], np.float32)


def poses(track_id: int = 1) -> Poses:
    kpts = np.concatenate([FIGURE, np.full((17, 1), 0.9, np.float32)], axis=1)[None]
    return Poses(boxes=[[160, 50, 480, 460]], scores=[0.9], class_ids=[0], track_ids=[track_id], keypoints=kpts)


def image(ts: float | None = None, shape: tuple[int, int] = (H, W)) -> Image:
    return Image(np.full((*shape, 3), 40, np.uint8), time.monotonic() if ts is None else ts, "test")


def frame(index: int) -> win.DisplayFrame:
    pixels = draw_poses(np.full((H, W, 3), 40, np.uint8), poses())
    return win.DisplayFrame(pixels=pixels, index=index, timestamp=time.monotonic(), received=time.monotonic(),
                            people=1, pipeline_fps=30.0, camera_fps=30.0, latency_ms=12.0, live_clock=True)


def count_colour(bgr: np.ndarray, colour: tuple[int, int, int], tol: int = 25) -> int:
    return int((np.abs(bgr.astype(int) - np.array(colour)).max(axis=2) <= tol).sum())


def grab(widget) -> np.ndarray:
    return win.qimage_to_bgr(widget.grab().toImage())


@pytest.fixture
def window(qtbot, tmp_path: Path):
    slot: win.LatestSlot[win.DisplayFrame] = win.LatestSlot()
    options = win.WindowOptions(width=900, height=700, snapshot_dir=tmp_path / "snaps")
    w = win.PoseWindow(slot, options)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.slot = slot  # type: ignore[attr-defined]
    return w


def show(qtbot, w, index: int) -> None:
    w.slot.put(frame(index))
    qtbot.waitUntil(lambda: w.shown_index == index, timeout=3000)


# ----------------------------------------------------------------------------- window


def test_window_shows_the_frame_with_its_skeleton(qtbot, window) -> None:
    show(qtbot, window, 0)
    window.toggle_panel()  # the panel must not be what we find
    qtbot.wait(50)
    shot = grab(window.view)
    for colour in (colors.LEFT, colors.RIGHT, colors.CENTRE, colors.track_color(1)):
        assert count_colour(shot, colour) > 30, colour
    assert "frame 0" in window._frame_label.text()


def test_resizing_keeps_the_aspect_ratio_letterboxed(qtbot, window) -> None:
    show(qtbot, window, 0)
    window.toggle_panel()  # the panel sits over the letterbox bar
    for size in ((1200, 500), (500, 900)):
        window.resize(*size)
        qtbot.waitUntil(lambda: window.view.width() < 1300 and abs(window.width() - size[0]) < 2)
        rect, view = window.view.target_rect(), window.view
        assert abs(rect.width() / rect.height() - W / H) < 0.01
        assert rect.width() == view.width() or rect.height() == view.height()  # fills one dimension
        assert abs(rect.center().x() - view.width() / 2) <= 1 and abs(rect.center().y() - view.height() / 2) <= 1
    shot = grab(window.view)
    bar = shot[2:rect.top() - 2, :] if rect.top() > 4 else shot[:, 2:rect.left() - 2]
    bg = win._BACKGROUND
    assert bar.size and count_colour(bar, (bg.blue(), bg.green(), bg.red()), tol=3) > 0.9 * bar.shape[0] * bar.shape[1]


def test_fit_rect() -> None:
    assert win.fit_rect(640, 480, 1280, 480) == (320, 0, 640, 480)
    assert win.fit_rect(640, 480, 640, 960) == (0, 240, 640, 480)
    assert win.fit_rect(0, 0, 100, 50) == (0, 0, 100, 50)


def test_space_pauses_the_shown_frame(qtbot, window) -> None:
    show(qtbot, window, 0)
    QTest.keyClick(window, Qt.Key_Space)
    assert window.view.paused and window.pause_action.isChecked()
    for i in range(1, 5):
        window.slot.put(frame(i))
        qtbot.wait(40)
    assert window.shown_index == 0
    QTest.keyClick(window, Qt.Key_Space)
    qtbot.waitUntil(lambda: window.shown_index == 4, timeout=2000)


def test_s_saves_a_png_with_the_overlay(qtbot, window, tmp_path: Path) -> None:
    QTest.keyClick(window, Qt.Key_S)
    assert "No frame" in window.statusBar().currentMessage()
    show(qtbot, window, 3)
    QTest.keyClick(window, Qt.Key_S)
    path = window.last_snapshot
    assert path is not None and path.parent == tmp_path / "snaps" and path.suffix == ".png"
    saved = cv2.imread(str(path))
    assert saved.shape == (H, W, 3)
    assert count_colour(saved, colors.LEFT, tol=5) > 30 and count_colour(saved, colors.RIGHT, tol=5) > 30
    assert str(path.name) in window.statusBar().currentMessage()


def test_h_toggles_the_panel(qtbot, window) -> None:
    show(qtbot, window, 0)
    window._refresh_hud()
    assert window.view.panel_visible and any(label == "Pipeline" for label, _ in window.view.rows)
    with_panel = grab(window.view)
    QTest.keyClick(window, Qt.Key_H)
    assert not window.view.panel_visible and not window.panel_action.isChecked()
    qtbot.wait(50)
    without = grab(window.view)
    assert not np.array_equal(with_panel[12:60, 12:120], without[12:60, 12:120])
    QTest.keyClick(window, Qt.Key_H)
    assert window.view.panel_visible


def test_f_toggles_fullscreen(qtbot, window) -> None:
    QTest.keyClick(window, Qt.Key_F)
    assert window.fullscreen_action.isChecked() and window.menuBar().isHidden()
    QTest.keyClick(window, Qt.Key_F)
    assert not window.fullscreen_action.isChecked() and not window.menuBar().isHidden()


def test_r_starts_and_stops_the_recorder(qtbot, tmp_path: Path) -> None:
    recorder = RecordSwitch(tmp_path / "rec", fps=10.0)
    slot: win.LatestSlot[win.DisplayFrame] = win.LatestSlot()
    w = win.PoseWindow(slot, win.WindowOptions(), recorder=recorder)
    qtbot.addWidget(w)
    w.show()
    QTest.keyClick(w, Qt.Key_R)
    assert recorder.recording and w.record_action.isChecked() and w.view.recording
    for i in range(5):
        recorder.write(frame(i).pixels, i / 10)
    QTest.keyClick(w, Qt.Key_R)
    assert not recorder.recording and "Recording saved" in w.statusBar().currentMessage()
    files = list((tmp_path / "rec").glob("*.mp4"))
    assert len(files) == 1
    cap = cv2.VideoCapture(str(files[0]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5


def test_menus_hold_the_commands(window) -> None:
    menus = {a.text().replace("&", ""): [x.text().replace("&", "") for x in a.menu().actions() if x.text()]
             for a in window.menuBar().actions()}
    assert menus["File"] == ["Snapshot", "Record", "Quit"]
    assert menus["View"] == ["Pause", "Stats panel", "Fullscreen"]
    assert not window.record_action.isEnabled()  # no recorder given


def test_hud_rows_and_a_broken_stats_provider(qtbot, tmp_path: Path) -> None:
    stats = {"camera": {"fps": 29.9, "p50_ms": 1.0}, "pose": {"fps": 29.0, "p50_ms": 12.5}}
    rows = dict(win.hud_rows(frame(0), stats, time.monotonic()))
    assert rows["Camera"] == "29.9 fps" and rows["Pipeline"] == "30.0 fps" and rows["Latency"] == "12 ms"
    assert rows["People"] == "1" and rows["pose"] == "12.5 ms · 29.0"

    def broken() -> dict:
        raise RuntimeError("metrics gone")

    w = win.PoseWindow(win.LatestSlot(), win.WindowOptions(), stats_provider=broken)
    qtbot.addWidget(w)
    w.slot = w._slot  # type: ignore[attr-defined]
    w.show()
    show(qtbot, w, 0)
    w._refresh_hud()
    assert "metrics gone" in w.statusBar().currentMessage()
    assert dict(w.view.rows)["People"] == "1"


# ----------------------------------------------------------------------------- the node


def open_display(tmp_path: Path, **params) -> Display:
    node = Display("display", DisplayParams(width=800, height=600, snapshot_dir=str(tmp_path / "snaps"),
                                            record_dir=str(tmp_path / "rec"), **params))
    node.open()
    return node


def test_node_q_closes_the_window_and_ui_loop_returns(qtbot, tmp_path: Path) -> None:
    node = open_display(tmp_path)
    assert node.type_name == "display" and node.interactive
    stop = threading.Event()

    def produce() -> None:
        while not stop.is_set():
            node.process(image=image(), poses=poses())
            time.sleep(0.005)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    seen: list[int] = []
    deadline = time.monotonic() + 10

    def should_stop() -> bool:  # called on the main thread by the window's timer: drive the test from here
        w = node.window
        if w is not None and w.shown_index is not None and not seen:
            seen.append(w.shown_index)
            QTest.keyClick(w, Qt.Key_Q)
        return time.monotonic() > deadline

    t0 = time.monotonic()
    node.ui_loop(should_stop)
    stop.set()
    producer.join(2)
    node.close()
    assert seen and time.monotonic() - t0 < 5 and node.window is None


def test_node_ui_loop_returns_soon_after_should_stop(qtbot, tmp_path: Path) -> None:
    node = open_display(tmp_path)
    node.process(image=image(), poses=poses())
    t_stop = time.monotonic() + 0.5
    node.ui_loop(lambda: time.monotonic() > t_stop)
    assert time.monotonic() - t_stop < 0.5
    node.close()


def test_a_slow_window_never_slows_the_producer(qtbot, tmp_path: Path, monkeypatch) -> None:
    painted: list[float] = []
    original = win.VideoView.paintEvent

    def slow_paint(self, event) -> None:
        painted.append(time.monotonic())
        time.sleep(0.2)
        original(self, event)

    monkeypatch.setattr(win.VideoView, "paintEvent", slow_paint)
    node = open_display(tmp_path)
    durations: list[float] = []
    done = threading.Event()

    def produce() -> None:
        for _ in range(300):
            t = time.perf_counter()
            node.process(image=image(shape=(120, 160)), poses=poses())
            durations.append(time.perf_counter() - t)
        done.set()

    started = threading.Event()

    def should_stop() -> bool:
        if not started.is_set():
            started.set()
            threading.Thread(target=produce, daemon=True).start()
        return done.is_set() and len(painted) >= 2

    deadline = time.monotonic() + 20
    node.ui_loop(lambda: should_stop() or time.monotonic() > deadline)
    node.close()
    assert done.is_set() and len(durations) == 300
    assert max(durations) < 0.15, f"process() waited for the window: {max(durations):.3f} s"
    assert len(painted) < 100  # the window skipped frames instead of holding the producer


def test_no_screen_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(RtposeError, match="--headless"):
        open_display(tmp_path)
    assert screen_problem({"DISPLAY": ":0"}, "linux") is None
    assert screen_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert screen_problem({}, "darwin") is None and screen_problem({}, "win32") is None


def test_missing_pyqt5_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "rtpose.viz.window", None)
    with pytest.raises(RtposeError, match=r'rtpose\[gui\].*--headless'):
        open_display(tmp_path)


def test_importing_the_nodes_does_not_need_pyqt5() -> None:
    code = ("import sys; sys.modules['PyQt5'] = None\n"
            "import rtpose_nodes.display, rtpose_nodes.record, rtpose.viz.overlay\n"
            "assert 'rtpose.viz.window' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_app_is_reused(qtbot) -> None:
    assert win.ensure_app() is QApplication.instance()


def test_node_records_every_processed_frame(tmp_path: Path) -> None:
    node = open_display(tmp_path, record_fps=10.0)
    path = node._recorder.start()
    for i in range(10):
        node.process(image=image(ts=i / 10), poses=poses())
    assert node._recorder.stop() == path
    node.close()
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == W


def test_a_failing_recording_stops_without_failing_the_node(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    node = open_display(tmp_path, record_fps=10.0)
    node._recorder.folder = blocker / "rec"
    node._recorder.start()
    node.process(image=image(), poses=poses())  # must not raise
    assert not node._recorder.recording
    assert "Error" in (node._recorder.take_error() or "") and node._recorder.take_error() is None
    node.close()

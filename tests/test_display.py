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
    """A frame as the node hands it over: the raw pixels and their poses (the window draws them)."""
    return win.DisplayFrame(pixels=np.full((H, W, 3), 40, np.uint8), poses=poses(), index=index,
                            timestamp=time.monotonic(), received=time.monotonic(), people=1, pipeline_fps=30.0,
                            camera_fps=30.0, latency_ms=12.0, captured=time.monotonic())


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


def test_window_draws_on_a_copy_never_on_the_shared_frame(qtbot, window) -> None:
    shared = frame(0)
    before = shared.pixels.copy()
    window.slot.put(shared)
    qtbot.waitUntil(lambda: window.shown_index == 0, timeout=3000)
    assert np.array_equal(shared.pixels, before), "the window drew on pixels other nodes read"
    assert window.shown_pixels is not shared.pixels
    assert count_colour(window.shown_pixels, colors.LEFT) > 30


def tag_pixels(bgr: np.ndarray, track_id: int) -> np.ndarray:
    """(y, x) of the filled ``#id`` tag of ``track_id`` (its 1-pixel box lines, same colour, eroded away)."""
    mask = (bgr == np.array(colors.track_color(track_id), np.uint8)).all(axis=2).astype(np.uint8)
    return np.argwhere(cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0)


def test_id_tag_is_never_hidden_by_the_panel(qtbot, window) -> None:
    corner = win.DisplayFrame(pixels=np.full((H, W, 3), 40, np.uint8), index=0, timestamp=0.0, received=0.0,
                              poses=Poses(boxes=[[20, 60, 330, 460]], scores=[0.9], class_ids=[0], track_ids=[3],
                                          keypoints=poses().keypoints - [300, -10, 0]))
    window.slot.put(corner)
    qtbot.waitUntil(lambda: window.shown_index == 0, timeout=3000)
    window._refresh_hud()  # the panel gets its rows: the tag moves out from under it
    qtbot.wait(20)
    (x1, y1, x2, y2), = window.view.panel_keep_out(W, H)
    tag = tag_pixels(window.shown_pixels, 3)
    assert len(tag) > 50, "no tag drawn"
    under = (tag[:, 1] >= x1) & (tag[:, 1] < x2) & (tag[:, 0] >= y1) & (tag[:, 0] < y2)
    assert not under.any(), "the #id tag is under the stats panel"
    window.toggle_panel()  # without the panel the tag goes back to its usual place, above the box
    tag = tag_pixels(window.shown_pixels, 3)
    assert tag[:, 0].max() <= 60 and tag[:, 1].min() >= 20 and tag[:, 1].max() < 80


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
    live = {"camera": {"fps": 15.0, "p50_ms": 1.0, "frames_in": 0, "frames_out": 150, "dropped": 150},
            "detector": {"fps": 15.0, "p50_ms": 0.2, "frames_in": 150, "frames_out": 150,
                         "node": {"ran": 0.25, "ms_per_run": 35.0}}}
    rows = dict(win.hud_rows(frame(0), live, time.monotonic()))
    assert rows["Camera"] == "30.0 fps" and rows["camera"] == "1.0 ms"  # one camera rate, not two
    assert rows["detector"] == "35.0 ms × 25% · 15.0"  # its cost when it runs, and how often

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


def test_the_worker_does_not_draw_unless_recording(qtbot, tmp_path: Path, monkeypatch) -> None:
    """The overlay is drawn on the Qt (main) thread, only for shown frames; the worker only hands over."""
    import rtpose_nodes.display as display_mod

    calls: list[tuple[str, int]] = []

    def spy(real):
        def draw(pixels, p, *args, **kwargs):
            calls.append((threading.current_thread().name, int(pixels[0, 0, 0])))
            return real(pixels, p, *args, **kwargs)
        return draw

    monkeypatch.setattr(display_mod, "draw_poses", spy(display_mod.draw_poses))
    monkeypatch.setattr(win, "draw_poses", spy(win.draw_poses))
    node = open_display(tmp_path, record_fps=10.0)
    produced = threading.Event()
    worker: list[str] = []

    def produce() -> None:
        worker.append(threading.current_thread().name)
        for i in range(60):
            node.process(image=image(ts=i / 10, shape=(120, 160)), poses=poses())
            time.sleep(0.002)
        produced.set()

    started = threading.Event()

    def should_stop() -> bool:
        if not started.is_set():
            started.set()
            threading.Thread(target=produce, name="worker", daemon=True).start()
        return produced.is_set() and node.window is not None and node.window.shown_index == 59

    deadline = time.monotonic() + 20
    node.ui_loop(lambda: should_stop() or time.monotonic() > deadline)
    assert produced.is_set()
    main = threading.main_thread().name
    assert calls and all(thread == main for thread, _ in calls), {t for t, _ in calls}
    assert len(calls) < 60  # skipped frames cost no drawing

    calls.clear()  # while recording, the worker draws too: for the recorder, every frame
    path = node._recorder.start()
    for i in range(5):
        node.process(image=image(ts=i / 10), poses=poses())
    assert node._recorder.stop() == path
    node.close()
    assert [thread for thread, _ in calls] == [threading.current_thread().name] * 5


def test_skeletons_are_drawn_on_their_own_frame(qtbot, tmp_path: Path) -> None:
    """Frame i is grey level 10 + i with its person shifted by 4 i pixels: what the window shows must match."""
    node = open_display(tmp_path, draw_ids=False)
    n = 40
    checked: list[int] = []
    wrong: list[str] = []
    produced = threading.Event()

    def produce() -> None:
        for i in range(n):
            shifted = poses()
            shifted.boxes[:, [0, 2]] += 4 * i
            shifted.keypoints[..., 0] += 4 * i
            pixels = np.full((H, W, 3), 10 + i, np.uint8)
            node.process(image=Image(pixels, time.monotonic(), "test"), poses=shifted)
            time.sleep(0.003)
        produced.set()

    started = threading.Event()

    def should_stop() -> bool:
        if not started.is_set():
            started.set()
            threading.Thread(target=produce, daemon=True).start()
        w = node.window
        if w is not None and w.shown_index is not None and (not checked or checked[-1] != w.shown_index):
            i, shown = w.shown_index, w.shown_pixels
            box_x = 160 + 4 * i  # the frame's own pixels, with the box of the poses computed from it
            if (int(shown[5, 5, 0]) != 10 + i or tuple(shown[300, box_x]) != colors.track_color(1)
                    or tuple(shown[300, box_x - 4]) == colors.track_color(1)):
                wrong.append(f"frame {i}: grey {shown[5, 5, 0]}, box column {shown[300, box_x]}")
            checked.append(i)
        return produced.is_set() and bool(checked) and checked[-1] == n - 1

    deadline = time.monotonic() + 20
    node.ui_loop(lambda: should_stop() or time.monotonic() > deadline)
    node.close()
    assert checked and checked[-1] == n - 1, checked
    assert not wrong, wrong


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


def test_snapshots_and_recordings_go_to_the_users_media_folders(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    from rtpose_nodes.display import DisplayParams

    monkeypatch.delenv("XDG_PICTURES_DIR", raising=False)
    monkeypatch.setenv("XDG_VIDEOS_DIR", str(tmp_path / "vids"))
    params = DisplayParams()
    assert Path(params.snapshot_dir) == Path.home() / "Pictures" / "rtpose"
    assert Path(params.record_dir) == tmp_path / "vids" / "rtpose"

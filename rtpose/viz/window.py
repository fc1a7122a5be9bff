"""The live pose window (PyQt5): letterboxed video, a heads-up stats panel, snapshots and recording.

Threading model: the display node's ``process()`` (a worker thread) drops each frame's
pixels, poses and timing into a :class:`LatestSlot`, nothing more (no drawing, no copy);
the window, on the Qt main thread, polls that slot at ~60 Hz, takes whatever is newest,
draws its skeletons with :func:`rtpose.viz.overlay.draw_poses` (the renderer recordings
use too) onto a copy of that very frame, and shows it. The slot holds one frame, so a
slow window skips frames, a skipped frame costs no drawing, and the pipeline never
waits for painting.

This module imports PyQt5 at import time; the display node imports it lazily, so
nothing else in rtpose needs PyQt5 installed.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Generic, Mapping, Protocol, TypeVar

import cv2
import numpy as np
from PyQt5.QtCore import QEventLoop, QRect, QRectF, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import (QCloseEvent, QColor, QFontDatabase, QFontMetrics, QImage, QKeyEvent,
                         QKeySequence, QMouseEvent, QPainter, QPaintEvent, QPen)
from PyQt5.QtWidgets import QAction, QApplication, QLabel, QMainWindow, QWidget

from rtpose.schemas import get_schema
from rtpose.types import Poses
from rtpose.viz.colors import track_color
from rtpose.viz.overlay import Rect, draw_poses
from rtpose.viz.view3d import place_people, project, view_extent

T = TypeVar("T")

StatsProvider = Callable[[], Mapping[str, Mapping[str, Any]]]
"""Returns per-node stats, ``{node_name: {"fps": ..., "p50_ms": ...}}`` (the runtime's metrics snapshot)."""

POLL_MS = 16
"""Frame poll period of the window (~60 Hz): at most one repaint per display refresh."""
STOP_POLL_MS = 50
"""How often the window asks the runtime whether to close."""
HUD_REFRESH_MS = 250
"""The panel's numbers change 4x a second: readable, and stats are not queried per frame."""
PANEL_MARGIN = 12
"""Distance of the stats panel from the view's top-left corner (widget pixels)."""
PANEL_PAD = 10
PANEL_CLEARANCE = 4
"""Gap kept between the panel and a person's ``#id`` tag (widget pixels)."""
VIEW3D_SIZE = 240
"""Side of the 3D panel (bottom-right), shown when the poses carry ``keypoints_3d``."""
VIEW3D_DRAG = 0.01
"""Radians the 3D view turns per pixel dragged."""

_BACKGROUND = QColor(17, 19, 23)
_STYLE = """
QMainWindow { background: #111317; }
QMenuBar { background: #1a1d23; color: #d4d8e0; }
QMenuBar::item:selected { background: #2b3038; }
QMenu { background: #1f2329; color: #d4d8e0; border: 1px solid #2f343c; }
QMenu::item:selected { background: #2f6feb; color: white; }
QMenu::separator { height: 1px; background: #2f343c; margin: 4px 8px; }
QStatusBar { background: #1a1d23; color: #c8ccd4; }
QStatusBar QLabel { color: #9aa1ad; padding: 0 8px; }
"""
_HAS_BGR888 = hasattr(QImage, "Format_BGR888")  # Qt >= 5.14


Skeletons3d = tuple[np.ndarray, tuple[tuple[int, int], ...], list[tuple[int, int, int]]]
"""People's placed 3D points (N, K, 3), the schema's edges, and a BGR colour per person."""


def skeletons_3d(poses: Poses | None, image_width: int) -> Skeletons3d | None:
    """What the 3D panel draws for a frame's poses, or None when they carry no ``keypoints_3d``."""
    if poses is None or not len(poses) or "keypoints_3d" not in poses.attributes:
        return None
    schema = get_schema(poses.attributes.get("schema_3d", ["h36m17"])[0])
    points = place_people(np.asarray(poses.attributes["keypoints_3d"], np.float32), poses.boxes, image_width)
    return points, schema.skeleton, [track_color(int(t)) for t in poses.track_ids]


@dataclass(frozen=True)
class DisplayFrame:
    """One frame, the poses computed from it, and the numbers the panel shows about it.

    ``pixels`` is the frame as the pipeline passed it on: the same array other nodes
    (writers, the recorder) read, so nobody may draw on it. The window draws ``poses``
    (joined to this frame by frame index in the node) onto a copy of it, and only for
    frames it shows. ``poses=None`` means ``pixels`` is shown as it is (already annotated,
    or nothing to draw).
    """

    pixels: np.ndarray
    index: int
    timestamp: float
    received: float
    poses: Poses | None = None
    people: int = 0
    pipeline_fps: float | None = None
    camera_fps: float | None = None
    latency_ms: float | None = None
    captured: float | None = None
    """When the frame left its source, on ``time.monotonic()`` (the runtime's capture clock; ``timestamp``
    is the media time: the position in a file), so the frame's age needs no guess about the clock."""


class LatestSlot(Generic[T]):
    """A lock-protected single slot: writers replace, readers take the newest.

    ``put`` never blocks on a reader for longer than a pointer swap, which is what keeps a
    slow window from slowing the pipeline; unread items are simply overwritten.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None
        self._seq = 0

    def put(self, item: T) -> None:
        with self._lock:
            self._item = item
            self._seq += 1

    def take_newer(self, seen: int) -> tuple[T, int] | None:
        """The newest item and its sequence number if it is newer than ``seen``, else None."""
        with self._lock:
            if self._seq == seen or self._item is None:
                return None
            return self._item, self._seq

    @property
    def seq(self) -> int:
        with self._lock:
            return self._seq


class RecordControl(Protocol):
    """What the window needs to start and stop a recording (the display node provides it)."""

    @property
    def recording(self) -> bool: ...

    def start(self) -> Path: ...

    def stop(self) -> Path | None: ...

    # Optional: ``take_error() -> str | None``, a failure since the last call, shown in the status bar.


@dataclass
class WindowOptions:
    title: str = "rtpose"
    width: int = 1280
    """Initial width of the video area."""
    height: int = 720
    """Initial height of the video area (the window adds its menu and status bars)."""
    show_panel: bool = True
    fullscreen: bool = False
    snapshot_dir: Path = Path("snapshots")
    kpt_threshold: float = 0.3
    """Overlay: hide joints scoring below this."""
    draw_boxes: bool = True
    draw_ids: bool = True


def fit_rect(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """The largest rectangle of the source's aspect ratio centred in the destination (letterbox)."""
    if src_w <= 0 or src_h <= 0 or dst_w <= 0 or dst_h <= 0:
        return 0, 0, max(dst_w, 0), max(dst_h, 0)
    scale = min(dst_w / src_w, dst_h / src_h)
    w, h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    return (dst_w - w) // 2, (dst_h - h) // 2, w, h


def bgr_to_qimage(pixels: np.ndarray) -> tuple[QImage, np.ndarray]:
    """Wrap a BGR frame as a QImage without copying (Qt >= 5.14), else via one RGB copy.

    Returns the image and the array that owns its memory: keep both alive together.
    """
    arr = pixels if pixels.flags.c_contiguous else np.ascontiguousarray(pixels)
    if not _HAS_BGR888:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    h, w = arr.shape[:2]
    fmt = QImage.Format_BGR888 if _HAS_BGR888 else QImage.Format_RGB888
    return QImage(arr.data, w, h, int(arr.strides[0]), fmt), arr


def qimage_to_bgr(image: QImage) -> np.ndarray:
    """A copy of a QImage as an HxWx3 BGR array (for tests and grabs)."""
    img = image.convertToFormat(QImage.Format_RGB888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    ptr = img.constBits()
    ptr.setsize(h * stride)
    rgb = np.frombuffer(ptr, np.uint8).reshape(h, stride)[:, : w * 3].reshape(h, w, 3)
    return rgb[:, :, ::-1].copy()


# ----------------------------------------------------------------------------- heads-up panel rows

Row = tuple[str, str]
"""A panel row: label and value; a label starting with ``#`` is a section header."""


def _fmt(value: float | None, unit: str, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f} {unit}".rstrip()


def _number(stats: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = stats.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _pipeline_number(stats: Mapping[str, Mapping[str, Any]], *keys: str) -> float | None:
    """A pipeline-wide number from whichever entry carries it (e.g. ``latency_ms``)."""
    for entry in stats.values():
        if isinstance(entry, Mapping):
            value = _number(entry, *keys)
            if value is not None:
                return value
    return None


def camera_fps(frame: DisplayFrame, stats: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The source's rate: an explicit ``camera_fps`` in the stats, else the first node's
    ``fps`` (snapshots list nodes in graph order, the source first) counting the frames it
    dropped, else the rate the display node measured from capture timestamps."""
    explicit = _pipeline_number(stats, "camera_fps", "source_fps")
    if explicit is not None:
        return explicit
    for entry in stats.values():
        if isinstance(entry, Mapping):
            first = _number(entry, "fps")
            if first is not None:
                # A live source's fps counts the frames it let into the graph; the frames it
                # dropped because the graph was busy were captured too (a 30 fps camera feeding
                # a 7 fps pipeline is still a 30 fps camera).
                out, dropped = _number(entry, "frames_out"), _number(entry, "dropped")
                if out and dropped:
                    return first * (out + dropped) / out
                return first
            break
    return frame.camera_fps


def hud_rows(frame: DisplayFrame | None, stats: Mapping[str, Mapping[str, Any]], now: float) -> list[Row]:
    """The panel's content: rates, latency, frame age, people, then per-node times."""
    if frame is None:
        return [("Waiting", "for frames…")]
    latency = _pipeline_number(stats, "latency_ms", "e2e_ms", "e2e_p50_ms")
    if latency is None:
        latency = frame.latency_ms
    origin = frame.captured if frame.captured is not None else frame.received
    rows: list[Row] = [
        ("Camera", _fmt(camera_fps(frame, stats), "fps")),
        ("Pipeline", _fmt(frame.pipeline_fps, "fps")),
        ("Latency", _fmt(latency, "ms", 0)),
        ("Frame age", _fmt((now - origin) * 1000.0, "ms", 0)),
        ("People", str(frame.people)),
    ]
    node_rows = [(name, _node_summary(entry)) for name, entry in stats.items() if isinstance(entry, Mapping)]
    node_rows = [(name, text) for name, text in node_rows if text]
    if node_rows:
        rows.append(("#Nodes", "p50 · fps"))
        rows.extend(node_rows)
    return rows


def _node_summary(entry: Mapping[str, Any]) -> str:
    own = entry.get("node") or {}
    if "ran" in own and "ms_per_run" in own:  # a node that skips frames: its cost when it runs, and how often
        parts = [f"{_fmt(own['ms_per_run'], 'ms')} × {100 * own['ran']:.0f}%"]
    else:
        ms = _number(entry, "p50_ms")
        parts = [_fmt(ms, "ms")] if ms is not None else []
    fps = _number(entry, "fps_recent", "fps")  # the last seconds: a live panel shows now, not the run
    if entry.get("frames_in") == 0 and entry.get("frames_out"):
        fps = None  # a source: its rate is the Camera row (a second, different "camera fps" would confuse)
    if fps is not None:
        parts.append(_fmt(fps, ""))
    return " · ".join(parts)


# ----------------------------------------------------------------------------- widgets


class VideoView(QWidget):
    """Paints the current frame letterboxed on a dark background, plus the panel and badges."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WA_OpaquePaintEvent)  # we paint every pixel: skip Qt's background fill
        self.setMinimumSize(160, 90)
        self.setFocusPolicy(Qt.StrongFocus)
        self._image: QImage | None = None
        self._owner: np.ndarray | None = None
        self.rows: list[Row] = []
        self.panel_visible = True
        self.paused = False
        self.recording = False
        self._font = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        self._font.setPointSizeF(max(9.0, self._font.pointSizeF()))
        self._panel_widths = (0, 0)
        self.skeletons3d: Skeletons3d | None = None
        self.yaw, self.pitch = 0.6, 0.25
        self._drag_from: tuple[int, int] | None = None

    def set_frame(self, pixels: np.ndarray) -> None:
        """Show ``pixels`` (BGR); keeps the array alive as long as the QImage that wraps it."""
        self._image, self._owner = bgr_to_qimage(pixels)
        self.update()

    def target_rect(self) -> QRect:
        """Where the frame is drawn: the widget area fitted to the frame's aspect ratio."""
        if self._image is None:
            return QRect(0, 0, 0, 0)
        return QRect(*fit_rect(self._image.width(), self._image.height(), self.width(), self.height()))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), _BACKGROUND)
            if self._image is not None:
                painter.setRenderHint(QPainter.SmoothPixmapTransform)
                painter.drawImage(self.target_rect(), self._image)
            else:
                painter.setPen(QColor(150, 155, 165))
                painter.drawText(self.rect(), Qt.AlignCenter, "Waiting for frames…")
            if self.panel_visible and self.rows:
                self._paint_panel(painter)
            if self.skeletons3d is not None:
                self._paint_view3d(painter)
            self._paint_badges(painter)
        finally:
            painter.end()

    def _panel_layout(self) -> tuple[QRectF, int, int, int]:
        """The panel's card (widget coordinates), label width, value width and line height."""
        fm = QFontMetrics(self._font)
        pad, gap, line_h = PANEL_PAD, 18, fm.height() + 2
        label_w = max(fm.horizontalAdvance(label.lstrip("#")) for label, _ in self.rows)
        value_w = max(fm.horizontalAdvance(value) for _, value in self.rows)
        # Widths only grow: a card that breathed with every digit would jitter, and so would
        # the #id tags placed beside it.
        self._panel_widths = label_w, value_w = (max(label_w, self._panel_widths[0]),
                                                  max(value_w, self._panel_widths[1]))
        card = QRectF(PANEL_MARGIN, PANEL_MARGIN, label_w + gap + value_w + 2 * pad, line_h * len(self.rows) + 2 * pad)
        return card, label_w, value_w, line_h

    def panel_rect(self) -> QRectF | None:
        """Where the stats panel covers the widget, or None when it is hidden."""
        if not (self.panel_visible and self.rows):
            return None
        return self._panel_layout()[0]

    def panel_keep_out(self, frame_w: int, frame_h: int) -> list[Rect]:
        """The panel's area (with a small margin) in the pixels of a ``frame_w`` x ``frame_h``
        frame shown in this widget: where the overlay must not put ``#id`` tags."""
        card = self.panel_rect()
        x, y, w, h = fit_rect(frame_w, frame_h, self.width(), self.height())
        if card is None or w <= 0 or h <= 0 or frame_w <= 0 or frame_h <= 0:
            return []
        sx, sy, m = frame_w / w, frame_h / h, PANEL_CLEARANCE
        return [(math.floor((card.left() - m - x) * sx), math.floor((card.top() - m - y) * sy),
                 math.ceil((card.right() + m - x) * sx), math.ceil((card.bottom() + m - y) * sy))]

    def _paint_panel(self, painter: QPainter) -> None:
        """A translucent rounded card, top-left: labels grey, values white and right-aligned."""
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setFont(self._font)
        card, label_w, value_w, line_h = self._panel_layout()
        pad, gap = PANEL_PAD, 18
        painter.setPen(QColor(255, 255, 255, 36))
        painter.setBrush(QColor(10, 12, 16, 185))
        painter.drawRoundedRect(card, 8, 8)
        x, y = int(card.x()) + pad, int(card.y()) + pad
        for i, (label, value) in enumerate(self.rows):
            top = y + i * line_h
            header = label.startswith("#")
            painter.setPen(QColor(120, 180, 255) if header else QColor(165, 170, 180))
            painter.drawText(QRect(x, top, label_w, line_h), Qt.AlignLeft | Qt.AlignVCenter, label.lstrip("#"))
            painter.setPen(QColor(120, 180, 255) if header else QColor(245, 246, 248))
            painter.drawText(QRect(x + label_w + gap, top, value_w, line_h), Qt.AlignRight | Qt.AlignVCenter, value)

    def view3d_rect(self) -> QRect:
        """Where the 3D panel lies (bottom-right)."""
        return QRect(self.width() - VIEW3D_SIZE - PANEL_MARGIN, self.height() - VIEW3D_SIZE - PANEL_MARGIN,
                     VIEW3D_SIZE, VIEW3D_SIZE)

    def _paint_view3d(self, painter: QPainter) -> None:
        """Every person's 3D skeleton, orthographic, turned by the mouse; a floor line under the feet."""
        assert self.skeletons3d is not None
        rect = self.view3d_rect()
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(QColor(255, 255, 255, 36))
        painter.setBrush(QColor(10, 12, 16, 185))
        painter.drawRoundedRect(QRectF(rect), 8, 8)
        points, edges, colors = self.skeletons3d
        pixels = project(points, self.yaw, self.pitch, VIEW3D_SIZE, view_extent(points))
        for person, color in zip(pixels, colors):
            painter.setPen(QPen(QColor(color[2], color[1], color[0]), 2))
            for a, b in edges:
                painter.drawLine(int(rect.x() + person[a, 0]), int(rect.y() + person[a, 1]),
                                 int(rect.x() + person[b, 0]), int(rect.y() + person[b, 1]))
        painter.setPen(QColor(150, 155, 165))
        painter.setFont(self._font)
        painter.drawText(rect.adjusted(8, 4, -8, -4), Qt.AlignLeft | Qt.AlignTop, "3D · drag to turn")

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if self.skeletons3d is not None and self.view3d_rect().contains(event.pos()):
            self._drag_from = (event.x(), event.y())
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if self._drag_from is not None:
            dx, dy = event.x() - self._drag_from[0], event.y() - self._drag_from[1]
            self.turn_view3d(dx, dy)
            self._drag_from = (event.x(), event.y())
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        self._drag_from = None
        super().mouseReleaseEvent(event)

    def turn_view3d(self, dx: float, dy: float) -> None:
        """Turn the 3D view by a mouse drag of (dx, dy) pixels; the tilt stops short of straight up or down."""
        self.yaw += dx * VIEW3D_DRAG
        self.pitch = min(max(self.pitch + dy * VIEW3D_DRAG, -1.5), 1.5)
        self.update()

    def _paint_badges(self, painter: QPainter) -> None:
        """REC and PAUSED badges, top-right, so the state is visible even with the panel hidden."""
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setFont(self._font)
        fm = QFontMetrics(self._font)
        right = self.width() - 12
        for text, color, on in (("● REC", QColor(230, 57, 70), self.recording),
                                ("❚❚ PAUSED", QColor(240, 180, 40), self.paused)):
            if not on:
                continue
            w, h = fm.horizontalAdvance(text) + 16, fm.height() + 8
            box = QRectF(right - w, 12, w, h)
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor(10, 12, 16, 185))
            painter.drawRoundedRect(box, 6, 6)
            painter.setPen(color)
            painter.drawText(box, Qt.AlignCenter, text)
            right -= w + 8


class PoseWindow(QMainWindow):
    """The main window: video, panel, menus, keys, status bar. Emits ``closed`` once when it closes."""

    closed = pyqtSignal()

    def __init__(self, slot: LatestSlot[DisplayFrame], options: WindowOptions | None = None,
                 stats_provider: StatsProvider | None = None, recorder: RecordControl | None = None,
                 should_stop: Callable[[], bool] | None = None, on_pause: Callable[[bool], None] | None = None) -> None:
        super().__init__()
        self._on_pause = on_pause
        self.options = options or WindowOptions()
        self._slot = slot
        self._stats_provider = stats_provider
        self._recorder = recorder
        self._should_stop = should_stop
        self._seen = 0
        self._stats: Mapping[str, Mapping[str, Any]] = {}
        self._stats_error_shown = False
        self._closed_emitted = False
        self.frame: DisplayFrame | None = None
        """The frame on screen, as the node handed it over (its pixels are not annotated)."""
        self.shown_pixels: np.ndarray | None = None
        """The pixels on screen: ``frame`` with its overlay (what a snapshot saves)."""
        self._drawn_keep_out: list[Rect] = []
        self.last_snapshot: Path | None = None

        self.setWindowTitle(self.options.title)
        self.resize(self.options.width, self.options.height)
        self.view = VideoView(self)
        self.view.panel_visible = self.options.show_panel
        self.setCentralWidget(self.view)
        self.setStyleSheet(_STYLE)
        self._frame_label = QLabel("no frame yet")
        self.statusBar().addPermanentWidget(self._frame_label)
        self._build_actions()
        self._start_timers()
        # width x height is the video's area: a 1280x720 option shows a 1280x720 frame
        # without letterbox bars, the menu and status bars come on top.
        bars = self.menuBar().sizeHint().height() + self.statusBar().sizeHint().height()
        self.resize(self.options.width, self.options.height + bars)
        if self.options.fullscreen:
            self.set_fullscreen(True)

    # -- setup

    def _action(self, text: str, keys: list[str], slot: Callable[[], Any], checkable: bool = False,
                checked: bool = False) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        action.setChecked(checked)
        action.triggered.connect(lambda _=False: slot())
        self.addAction(action)  # shortcuts keep working while the menu bar is hidden (fullscreen)
        return action

    def _build_actions(self) -> None:
        self.snapshot_action = self._action("&Snapshot", ["S"], self.snapshot)
        self.record_action = self._action("&Record", ["R"], self.toggle_record, checkable=True)
        self.record_action.setEnabled(self._recorder is not None)
        self.quit_action = self._action("&Quit", ["Q", "Esc"], self.close)
        self.pause_action = self._action("&Pause", ["Space"], self.toggle_pause, checkable=True)
        self.panel_action = self._action("Stats &panel", ["H"], self.toggle_panel, checkable=True,
                                         checked=self.options.show_panel)
        self.fullscreen_action = self._action("&Fullscreen", ["F"], self.toggle_fullscreen, checkable=True)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.snapshot_action, self.record_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions([self.pause_action, self.panel_action, self.fullscreen_action])
        self._keys = {Qt.Key_S: self.snapshot_action, Qt.Key_R: self.record_action, Qt.Key_Q: self.quit_action,
                      Qt.Key_Escape: self.quit_action, Qt.Key_Space: self.pause_action,
                      Qt.Key_H: self.panel_action, Qt.Key_F: self.fullscreen_action}

    def _start_timers(self) -> None:
        self._poll_timer = self._timer(POLL_MS, self._poll_frame)
        self._hud_timer = self._timer(HUD_REFRESH_MS, self._refresh_hud)
        self._stop_timer = self._timer(STOP_POLL_MS, self._check_stop)

    def _timer(self, ms: int, callback: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setInterval(ms)
        timer.timeout.connect(callback)
        timer.start()
        return timer

    # -- frame flow

    def _poll_frame(self) -> None:
        """Show the newest frame, if any arrived; frames that came and went meanwhile are skipped."""
        if self.view.paused:
            return
        newest = self._slot.take_newer(self._seen)
        if newest is None:
            return
        self.frame, self._seen = newest
        self._show(self.frame)
        if self.view.rows == [] or self.view.rows[0][0] == "Waiting":
            self._refresh_hud()

    def _show(self, frame: DisplayFrame) -> None:
        """Draw the frame's skeletons onto a copy of it (never onto the shared pixels) and show that.

        Runs on the Qt thread for the frames that get shown only. The ``#id`` tags keep
        clear of the stats panel, which lies over the frame.
        """
        h, w = frame.pixels.shape[:2]
        keep_out = self.view.panel_keep_out(w, h)
        pixels = frame.pixels
        if frame.poses is not None and len(frame.poses):
            o = self.options
            pixels = draw_poses(frame.pixels, frame.poses, o.kpt_threshold, o.draw_boxes, o.draw_ids,
                                copy=True, keep_out=keep_out)
        self.shown_pixels, self._drawn_keep_out = pixels, keep_out
        self.view.skeletons3d = skeletons_3d(frame.poses, w)
        self.view.set_frame(pixels)

    def _relayout(self) -> None:
        """Redraw the frame on screen when the panel moved over it (toggled, resized, rows
        changed), so a paused or stalled picture does not keep a tag under the panel."""
        frame = self.frame
        if frame is None or frame.poses is None or not len(frame.poses):
            return
        h, w = frame.pixels.shape[:2]
        if self.view.panel_keep_out(w, h) != self._drawn_keep_out:
            self._show(frame)

    def _refresh_hud(self) -> None:
        self._stats = self._query_stats()
        self.view.rows = hud_rows(self.frame, self._stats, time.monotonic())
        self._relayout()
        self.view.recording = bool(self._recorder is not None and self._recorder.recording)
        take_error = getattr(self._recorder, "take_error", None)
        error = take_error() if callable(take_error) else None
        if error:
            self.statusBar().showMessage(f"Recording stopped: {error}", 8000)
        self.record_action.setChecked(self.view.recording)
        if self.frame is not None:
            h, w = self.frame.pixels.shape[:2]
            self._frame_label.setText(f"frame {self.frame.index}  ·  {w}×{h}  ·  {self.frame.people} people")
        self.view.update()

    def _query_stats(self) -> Mapping[str, Mapping[str, Any]]:
        """The runtime's stats; a failing provider costs the per-node rows, never the window."""
        if self._stats_provider is None:
            return {}
        try:
            stats = self._stats_provider()
            return stats if isinstance(stats, Mapping) else {}
        except Exception as exc:  # noqa: BLE001 - the window must survive a broken provider
            if not self._stats_error_shown:
                self._stats_error_shown = True
                self.statusBar().showMessage(f"stats unavailable: {type(exc).__name__}: {exc}", 5000)
            return {}

    def _check_stop(self) -> None:
        if self._should_stop is not None and self._should_stop():
            self.close()

    @property
    def is_closed(self) -> bool:
        return self._closed_emitted

    @property
    def shown_index(self) -> int | None:
        """Frame index of the frame on screen (None before the first)."""
        return None if self.frame is None else self.frame.index

    # -- commands

    def snapshot(self) -> Path | None:
        """Save the frame on screen, overlay included, as a PNG in the snapshot folder."""
        if self.frame is None or self.shown_pixels is None:
            self.statusBar().showMessage("No frame to save yet", 3000)
            return None
        folder = Path(self.options.snapshot_dir)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
        path = folder / f"rtpose-{stamp}-f{self.frame.index}.png"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), self.shown_pixels):
                raise OSError("OpenCV could not write the file")
        except OSError as exc:
            self.statusBar().showMessage(f"Snapshot failed: {path}: {exc}", 6000)
            return None
        self.last_snapshot = path
        self.statusBar().showMessage(f"Snapshot saved: {path.resolve()}", 6000)
        return path

    def toggle_record(self) -> None:
        """Start or stop recording the annotated frames (the recorder writes every frame, not just shown ones)."""
        if self._recorder is None:
            self.statusBar().showMessage("Recording is not available here", 3000)
            return
        try:
            if self._recorder.recording:
                path = self._recorder.stop()
                self.statusBar().showMessage(f"Recording saved: {path}" if path else "Recording stopped", 6000)
            else:
                path = self._recorder.start()
                self.statusBar().showMessage(f"Recording to {path}", 6000)
        except Exception as exc:  # noqa: BLE001 - a failed writer must not take the window down
            self.statusBar().showMessage(f"Recording failed: {exc}", 6000)
        self._refresh_hud()

    def toggle_pause(self) -> None:
        """Freeze the view; a file or folder source is held too (a camera keeps running)."""
        self.view.paused = not self.view.paused
        if self._on_pause is not None:
            self._on_pause(self.view.paused)
        self.pause_action.setChecked(self.view.paused)
        self.statusBar().showMessage("Paused (space to resume)" if self.view.paused else "Resumed", 2000)
        self.view.update()

    def toggle_panel(self) -> None:
        self.view.panel_visible = not self.view.panel_visible
        self.panel_action.setChecked(self.view.panel_visible)
        self._relayout()
        self.view.update()

    def toggle_fullscreen(self) -> None:
        self.set_fullscreen(not self.isFullScreen())

    def set_fullscreen(self, on: bool) -> None:
        """Fullscreen shows only the video: menu and status bars hide (their shortcuts still work)."""
        self.menuBar().setVisible(not on)
        self.statusBar().setVisible(not on)
        self.fullscreen_action.setChecked(on)
        self.showFullScreen() if on else self.showNormal()

    # -- Qt events

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        """Fallback for the shortcuts, for when the window is not the active one (offscreen, tests)."""
        action = self._keys.get(event.key())
        if action is not None and action.isEnabled() and event.modifiers() in (Qt.NoModifier, Qt.KeypadModifier):
            action.trigger()
            event.accept()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        """Stop the timers and finish a running recording, so the file is playable."""
        for timer in (self._poll_timer, self._hud_timer, self._stop_timer):
            timer.stop()
        if self._recorder is not None and self._recorder.recording:
            try:
                self._recorder.stop()
            except Exception:  # noqa: BLE001, S110 - closing must not fail
                pass
        super().closeEvent(event)
        if not self._closed_emitted:
            self._closed_emitted = True
            self.closed.emit()


_APP: QApplication | None = None


def ensure_app(title: str = "rtpose") -> QApplication:
    """The process's QApplication, created if there is none (must run on the main thread).

    Kept in a module global: PyQt destroys an application object nobody references.
    """
    global _APP
    app = QApplication.instance()
    if app is None:
        app = _APP = QApplication([title])
        app.setApplicationName(title)
    return app  # type: ignore[return-value]


def run_window(slot: LatestSlot[DisplayFrame], should_stop: Callable[[], bool], options: WindowOptions | None = None,
               stats_provider: StatsProvider | None = None, recorder: RecordControl | None = None,
               on_created: Callable[[PoseWindow], None] | None = None,
               on_pause: Callable[[bool], None] | None = None) -> None:
    """Show a :class:`PoseWindow` and run a Qt event loop until it closes or ``should_stop()``.

    A local ``QEventLoop`` (not ``app.exec_()``) so it also works where an application
    loop is already running or the app must not quit on the last window.
    """
    ensure_app(options.title if options else "rtpose")
    window = PoseWindow(slot, options, stats_provider, recorder, should_stop, on_pause)
    loop = QEventLoop()
    window.closed.connect(loop.quit)
    if not window.isFullScreen():
        window.show()
    if on_created is not None:
        on_created(window)
    if not window.is_closed and not should_stop():
        loop.exec_()
    window.close()
    window.deleteLater()

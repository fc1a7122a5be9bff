"""``display``: the live window with the pose overlay, stats panel, snapshots and recording.

Where the drawing happens: in the Qt thread, for the frames the window shows. The
image and poses arrive joined by frame index; ``process()`` (the worker thread) hands
both, untouched and uncopied, with the frame's timing through a latest-frame slot, so
each skeleton is drawn onto the very frame it was computed from, a frame the window
skips costs no drawing at all, and the node's own time stays a slot swap. The window
draws with the same :func:`rtpose.viz.overlay.draw_poses` as recordings, onto a copy:
the frame's pixels are shared with the other nodes that read the image.

While recording (``r``) the worker also draws, for the recorder only, so the file gets
every frame and not only those the window happened to show.

PyQt5 is imported lazily (in ``ui_loop()`` on the main thread, or in ``open()`` when that
runs on the main thread), so importing this module never needs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
from pydantic import Field

from rtpose.api import Image, Node, Poses, RtposeError, register_node
from rtpose.viz.overlay import DrawingSettings, draw_poses
from rtpose.viz.qt_libs import xcb_problem
from rtpose_nodes.record import VideoSink

if TYPE_CHECKING:
    from rtpose.viz.window import PoseWindow



class DisplayParams(DrawingSettings):
    title: str = Field("rtpose", description="window title")
    show_panel: bool = Field(True, description="show the stats panel at start (h toggles it)")
    fullscreen: bool = Field(False, description="start fullscreen (f toggles it)")
    snapshot_dir: str = Field(default_factory=lambda: str(user_media_dir("PICTURES")),
                              description="folder for s snapshots (PNG); default: ~/Pictures/rtpose "
                                          "($XDG_PICTURES_DIR/rtpose where set)")
    record_dir: str = Field(default_factory=lambda: str(user_media_dir("VIDEOS")),
                            description="folder for r recordings (MP4); default: ~/Videos/rtpose "
                                        "($XDG_VIDEOS_DIR/rtpose where set)")
    record_fps: float | None = Field(None, gt=0, le=1000, description="recording frame rate; default: from timestamps")
    width: int = Field(1280, ge=160, le=16384, description="initial width of the video area")
    height: int = Field(720, ge=90, le=16384, description="initial height of the video area "
                        "(menu and status bars come on top)")
    exit_at_end: bool = Field(False, description="close the window when the stream ends (default: it keeps the "
                                                 "last frame until closed)")


def user_media_dir(kind: str) -> Path:
    """Where a user's pictures or videos go (``kind`` PICTURES or VIDEOS): ``$XDG_<kind>_DIR/rtpose``,
    else ``~/Pictures/rtpose`` / ``~/Videos/rtpose``; not the folder the command happened to run in."""
    xdg = os.environ.get(f"XDG_{kind}_DIR")
    base = Path(xdg).expanduser() if xdg else Path.home() / kind.capitalize()
    return base / "rtpose"


def _pyqt5_available() -> bool:
    """Whether PyQt5 can be found, without importing Qt itself (see ``Display.open``)."""
    try:
        return importlib.util.find_spec("PyQt5.QtWidgets") is not None
    except (ImportError, ValueError):
        return False


def _no_pyqt5(node: str, why: object) -> str:
    return (f"node {node!r} needs PyQt5 for its window ({why}): install it with "
            f"pip install \"rtpose[gui]\", or run with --headless to drop the display")


def screen_problem(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why no window can open here, or None. Only Linux/BSD without X11/Wayland is detectable cheaply."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if not plat.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("QT_QPA_PLATFORM"):
        return None
    return ("no screen available (neither DISPLAY nor WAYLAND_DISPLAY is set): run with --headless to drop "
            "the display node, or set QT_QPA_PLATFORM=offscreen")


class RateMeter:
    """Events per second, smoothed (EMA of intervals) so the panel does not flicker."""

    def __init__(self, smoothing: float = 0.1) -> None:
        self._alpha = smoothing
        self._last: float | None = None
        self._interval: float | None = None

    def tick(self, t: float) -> None:
        if self._last is not None and t > self._last:
            dt = t - self._last
            self._interval = dt if self._interval is None else self._interval + self._alpha * (dt - self._interval)
        self._last = t

    @property
    def rate(self) -> float | None:
        return None if not self._interval else 1.0 / self._interval


class RecordSwitch:
    """The window's ``r`` key: starts and stops a :class:`VideoSink` that ``process()`` feeds.

    Drawing and writing happen on the worker thread (only while recording), so every
    annotated frame is recorded even when the window skips some; the switch is
    lock-protected because the window flips it from the main thread.
    """

    def __init__(self, folder: Path, fps: float | None) -> None:
        self.folder = folder
        self.fps = fps
        self._sink: VideoSink | None = None
        self._lock = threading.Lock()
        self.error: str | None = None

    @property
    def recording(self) -> bool:
        return self._sink is not None

    def start(self) -> Path:
        with self._lock:
            if self._sink is None:
                stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
                self._sink = VideoSink(self.folder / f"rtpose-{stamp}.mp4", self.fps)
            return self._sink.path

    def stop(self) -> Path | None:
        with self._lock:
            sink, self._sink = self._sink, None
        return None if sink is None else sink.close()

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        """Record one frame if recording; a failing writer stops the recording, not the pipeline."""
        sink = self._sink
        if sink is None:
            return
        try:
            sink.write(frame, timestamp)  # a sink closed meanwhile ignores the frame
        except Exception as exc:  # noqa: BLE001 - reported in the window's status bar instead
            self.error = f"{type(exc).__name__}: {exc}"
            self.stop()

    def take_error(self) -> str | None:
        """The last recording failure, once (the window shows it)."""
        error, self.error = self.error, None
        return error


@register_node("display")
class Display(Node):
    """Shows every person's skeleton, box and id live in a window, with a stats panel.

    Keys: q/Esc quit, space pause, s snapshot, r record, f fullscreen, h panel.
    The panel's per-node times and end-to-end latency come from the runtime's metrics.
    """

    interactive = True
    inputs = {"image": Image, "poses": Poses}
    outputs: dict[str, type] = {}
    Params = DisplayParams

    window: PoseWindow | None = None

    def open(self) -> None:
        problem = screen_problem() or xcb_problem()
        if problem is not None:
            raise RtposeError(f"node {self.name!r}: {problem}")
        p: DisplayParams = self.params  # type: ignore[assignment]
        self.stays_open = not p.exit_at_end
        self._window_mod: Any = None
        self._slot: Any = None
        self._handoff = threading.Lock()
        self._early: dict[str, Any] | None = None
        self._recorder = RecordSwitch(Path(p.record_dir).expanduser(), p.record_fps)
        self._pipeline_rate = RateMeter()
        self._camera_rate = RateMeter()
        self._index = 0
        # Qt takes the first thread that touches it (even by importing PyQt5.QtCore) as its
        # main thread for good, and the runtime opens nodes on worker threads: importing the
        # window here would put the QApplication on the "wrong" thread ("QApplication was
        # not created in the main() thread"). So a worker thread only checks that PyQt5 is
        # there, and ui_loop(), on the main thread, imports it.
        if threading.current_thread() is threading.main_thread():
            self._load_window()
        elif not _pyqt5_available():
            raise RtposeError(_no_pyqt5(self.name, "PyQt5 is not installed"))

    def _load_window(self) -> None:
        """Import the Qt window module (on the main thread) and make the frame slot it polls."""
        try:
            window = importlib.import_module("rtpose.viz.window")
        except ImportError as exc:
            raise RtposeError(_no_pyqt5(self.name, exc)) from exc
        with self._handoff:
            self._window_mod = window
            self._slot = window.LatestSlot()
            if self._early is not None:  # the newest frame that came before the window existed
                self._slot.put(window.DisplayFrame(**self._early))
                self._early = None

    def process(self, image: Image, poses: Poses) -> dict:
        """Hand this frame and its poses to the window (which draws them); never waits for the window.

        No drawing and no copy here: the window draws the frames it shows, in its own
        thread. Only while recording is the overlay drawn here, for the recorder.
        """
        p: DisplayParams = self.params  # type: ignore[assignment]
        now = time.monotonic()
        self._pipeline_rate.tick(now)
        self._camera_rate.tick(image.timestamp)  # media time: the source's own rate, for files too
        captured = self.frame.captured if self.frame is not None else None  # the capture clock (monotonic)
        frame = dict(pixels=image.pixels, poses=poses, index=self._index, timestamp=image.timestamp, received=now,
                     people=len(poses), pipeline_fps=self._pipeline_rate.rate, camera_fps=self._camera_rate.rate,
                     latency_ms=(now - captured) * 1000.0 if captured is not None else None, captured=captured)
        with self._handoff:  # uncontended but for the one moment ui_loop() creates the slot
            if self._slot is None:
                self._early = frame
            else:
                self._slot.put(self._window_mod.DisplayFrame(**frame))
        if self._recorder.recording:
            annotated = draw_poses(image.pixels, poses, p.kpt_threshold, p.draw_boxes, p.draw_ids)
            self._recorder.write(annotated, image.timestamp)
        self._index += 1
        return {}

    def ui_loop(self, should_stop: Callable[[], bool]) -> None:
        """Run the window on the main thread until it is closed (q, Esc, the close button) or ``should_stop()``."""
        p: DisplayParams = self.params  # type: ignore[assignment]
        if self._window_mod is None:
            self._load_window()
        w = self._window_mod
        options = w.WindowOptions(title=p.title, width=p.width, height=p.height, show_panel=p.show_panel,
                                  fullscreen=p.fullscreen, snapshot_dir=Path(p.snapshot_dir).expanduser(),
                                  kpt_threshold=p.kpt_threshold, draw_boxes=p.draw_boxes, draw_ids=p.draw_ids)

        def created(window: PoseWindow) -> None:
            self.window = window

        try:
            w.run_window(self._slot, should_stop, options, self._stats, self._recorder, on_created=created,
                         on_pause=self.pause_sources)
        finally:
            self.window = None

    def _stats(self) -> Mapping[str, Mapping[str, Any]]:
        """The runtime's per-node figures; the panel's latency is capture-to-window at the median."""
        stats = self.graph_stats()
        mine = stats.get(self.name)
        if mine and mine.get("frames_out"):
            mine["latency_ms"] = mine["latency_p50_ms"]
        return stats

    def close(self) -> None:
        recorder = getattr(self, "_recorder", None)
        if recorder is not None:
            recorder.stop()

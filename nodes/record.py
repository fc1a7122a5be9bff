"""``record``: write the annotated video (skeletons, boxes, ids) to a file.

Uses the same :func:`rtpose.viz.overlay.draw_poses` as the window, so the file shows
exactly what the live view shows. :class:`VideoSink` is also what the display
node's ``r`` key records with.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field

from rtpose.api import Image, Node, OutputError, Poses, check_output, register_node
from rtpose.viz.overlay import DrawingSettings, draw_hud, draw_poses

DEFAULT_FPS = 30.0
"""Frame rate used when it is neither given nor measurable (fewer than two distinct timestamps)."""


class VideoSink:
    """A thread-safe video file writer that needs no size and no frame rate up front.

    The writer opens at the first frame's size. Without an explicit ``fps`` the first
    ``probe_frames`` frames are held back and the rate is taken from their timestamps
    (median interval), so a 25 fps file records at 25 fps and a camera at its real rate.
    Frames of another size are resized: VideoWriter would silently drop them.

    Frames go to a hidden file beside ``path`` (same extension, so the same container),
    renamed over ``path`` by ``close()`` once the container is finalised: an existing file
    is replaced only by a playable one, and a killed process leaves the old file intact.
    """

    def __init__(self, path: str | Path, fps: float | None = None, fourcc: str = "mp4v",
                 probe_frames: int = 10) -> None:
        self.path = Path(path)
        self.partial_path = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")
        self.fps = fps
        self.fourcc = fourcc
        self.probe_frames = max(2, probe_frames)
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._pending: list[tuple[np.ndarray, float]] = []
        self._lock = threading.Lock()
        self._closed = False

    def write(self, frame: np.ndarray, timestamp: float) -> None:
        """Append one BGR frame (it is not modified, and may be reused by the caller afterwards)."""
        with self._lock:
            if self._closed:
                return
            if self._writer is None and self.fps is None:
                self._pending.append((frame.copy(), float(timestamp)))
                if len(self._pending) >= self.probe_frames:
                    self._flush_pending()
                return
            self._write(frame)

    def close(self) -> Path | None:
        """Finish the file (also when fewer than ``probe_frames`` frames came); the path, or None if empty."""
        with self._lock:
            if self._closed:
                return self.path if self.frames_written else None
            self._closed = True
            if self._pending:
                self._flush_pending()
            if self._writer is not None:
                self._writer.release()
                self._writer = None
                try:
                    os.replace(self.partial_path, self.path)
                except OSError as exc:
                    raise OutputError(f"cannot write video {self.path}: {exc.strerror or exc}") from exc
            return self.path if self.frames_written else None

    def _flush_pending(self) -> None:
        self.fps = estimate_fps([ts for _, ts in self._pending])
        pending, self._pending = self._pending, []
        for frame, _ in pending:
            self._write(frame)

    def _write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self._open(frame.shape[1], frame.shape[0])
        assert self._writer is not None and self._size is not None
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames_written += 1

    def _open(self, width: int, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fps = float(self.fps or DEFAULT_FPS)
        writer = cv2.VideoWriter(str(self.partial_path), cv2.VideoWriter_fourcc(*self.fourcc), fps, (width, height))
        if not writer.isOpened():
            raise OutputError(f"cannot write video {self.path} with codec {self.fourcc!r} at {width}x{height}: "
                              f"check the folder is writable and the extension fits the codec (mp4v -> .mp4)")
        self._writer, self._size, self.fps = writer, (width, height), fps


def estimate_fps(timestamps: list[float]) -> float:
    """Frame rate from capture timestamps (median interval, robust to one hiccup), clamped to 1..240."""
    diffs = np.diff(np.asarray(timestamps, np.float64))
    diffs = diffs[np.isfinite(diffs) & (diffs > 0)]
    if len(diffs) == 0:
        return DEFAULT_FPS
    return float(np.clip(1.0 / np.median(diffs), 1.0, 240.0))


class RecordParams(DrawingSettings):
    path: str = Field("rtpose.mp4", description="output video file (.mp4 for the mp4v codec)")
    fps: float | None = Field(None, gt=0, le=1000, description="frame rate of the file; default: from the timestamps")
    fourcc: str = Field("mp4v", min_length=4, max_length=4, description="OpenCV FourCC codec code")
    hud: bool = Field(False, description="burn frame number, time and people count into the top-left corner")


@register_node("record")
class Record(Node):
    """Writes every frame with its poses drawn on it to a video file."""

    inputs = {"image": Image, "poses": Poses}
    outputs: dict[str, type] = {}
    live_input_queue = ("drop_oldest", 64)  # a slow disk drops (and counts) writes, never stalls the graph
    Params = RecordParams

    def open(self) -> None:
        p: RecordParams = self.params  # type: ignore[assignment]
        path = check_output(p.path, "video")
        self._sink = VideoSink(path, p.fps, p.fourcc)
        self._count = 0

    def process(self, image: Image, poses: Poses) -> dict:
        p: RecordParams = self.params  # type: ignore[assignment]
        frame = draw_poses(image.pixels, poses, p.kpt_threshold, p.draw_boxes, p.draw_ids)
        if p.hud:
            draw_hud(frame, [f"frame {self._count}", f"t {image.timestamp:.3f} s", f"people {len(poses)}"])
        self._sink.write(frame, image.timestamp)
        self._count += 1
        return {}

    def close(self) -> None:
        sink = getattr(self, "_sink", None)
        if sink is not None:
            sink.close()

"""The ``capture`` source node: frames from a webcam, file, folder, URL or GStreamer pipeline.

A thin node over :mod:`rtpose.capture`, which parses, opens and reads sources. What the
node adds is policy: which sources count as live, real-time pacing of files, looping,
and reconnecting dropped streams.

Decisions (also in the params' descriptions):

- **live** (``self.live``, read by the runtime after ``open()``): cameras, URLs and
  GStreamer pipelines are live; files and folders are not, except with
  ``realtime: true``, which makes them live-like (flow-limited, latency-first edges),
  since the point of playing a file in real time is to behave like a camera. The
  ``live`` param overrides all of this.
- **realtime** sets ``self.pace_fps`` to the file's own frame rate (a folder's: the
  ``fps`` param); the runtime does the pacing, the node never sleeps for it. It has no
  meaning for cameras and streams (they pace themselves) and is ignored there, with a
  warning.
- **timestamps**: files and folders give their position in the file (seconds, still
  increasing across ``loop`` restarts); live sources give ``time.monotonic()`` taken just
  after the grab.
- **segments** (``self.segment``, and ``Image.segment``): every photo of a folder is a
  segment of its own (photos do not continue each other); a video or stream is one
  segment until it breaks: a ``loop`` restart or a reconnect starts the next one, so
  trackers, smoothers and counters downstream start afresh there.
- **reconnect**: when a camera, URL or pipeline stops delivering, ``process()`` reopens
  it, waiting ``reconnect_backoff`` seconds, doubling each attempt (at most 30 s), and
  logs a warning per attempt on the ``rtpose.capture`` logger. After
  ``reconnect_attempts`` failures it raises SourceError. ``reconnect_attempts: 0`` makes
  a drop the end of the stream (use it for an HTTP URL that serves a finite file). A
  source's ``process()`` may block, like a camera read does; the back-off wait ends at once
  when the runtime stops the graph (``interrupt()``) or ``close()`` is called from another thread.
- **on_error**: an image of a folder that cannot be read (corrupt, truncated, too large)
  or a frame a video file states but cannot give (damaged, truncated) is skipped, logged
  and counted by default (``skip``); ``stop`` makes it an error that ends the stream after
  the frames read before it (which still reach every sink).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Literal

from pydantic import Field, field_validator

from rtpose.api import Image, Node, Params, SourceError, register_node
from rtpose.capture import (
    CaptureSettings,
    Frame,
    FrameReader,
    SourceKind,
    SourceSpec,
    VideoReader,
    open_reader,
    parse_source,
    reconnect,
    redact_url_in,
)

log = logging.getLogger("rtpose.capture")

CLOSE_WAIT_S = 2.0
"""How long close() waits for a read in progress on another thread before leaving it to finish."""
SKIPS_LOGGED = 5
"""Skipped items logged one by one; later ones are only counted (a truncated video skips hundreds)."""


class CaptureParams(Params):
    source: int | str = Field(
        0, description="Webcam index (0) or device (/dev/video2), video file, folder of images, "
                       "stream URL (rtsp://, http://...) or GStreamer pipeline (any string with '!').")
    width: int | None = Field(None, ge=1, description="Frame width to request from a camera (ignored for files).")
    height: int | None = Field(None, ge=1, description="Frame height to request from a camera (ignored for files).")
    fps: float | None = Field(
        None, gt=0, description="Frame rate to request from a camera; for a folder of images, the rate its "
                                "timestamps assume (default 30); for a file without a usable rate, the fallback.")
    fourcc: str | None = Field(
        None, description="Pixel format to request from a webcam, e.g. 'MJPG' (more fps at large sizes on USB) "
                          "or 'YUYV'. Default: the driver's.")
    buffer_size: int | None = Field(
        1, ge=1, description="Driver buffer in frames (CAP_PROP_BUFFERSIZE). 1 keeps only the newest frame, "
                             "for the lowest latency; None leaves the driver default.")
    realtime: bool = Field(
        False, description="Files and folders only: emit at the file's own frame rate, to imitate a camera "
                           "(sets pace_fps; the file also counts as live unless `live` says otherwise).")
    loop: bool = Field(False, description="Files and folders: start again at the end instead of ending the stream.")
    live: bool | None = Field(
        None, description="Override whether the source is live (flow-limited, frames dropped while the graph "
                          "is busy). Default: cameras, URLs and pipelines are live, files and folders are not, "
                          "files with realtime are.")
    reconnect_attempts: int = Field(
        5, ge=0, description="Cameras, URLs, pipelines: reopen attempts after the stream drops, before failing. "
                             "0: a drop ends the stream.")
    reconnect_backoff: float = Field(
        0.5, gt=0, description="Seconds before the first reconnect attempt, doubling with each (at most 30 s).")
    on_error: Literal["stop", "skip"] = Field(
        "skip", description="Folders and files: an unreadable image or video frame is skipped, logged and counted "
                            "(skip), or ends the stream with an error after the frames before it (stop).")

    @field_validator("fourcc")
    @classmethod
    def _four_chars(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 4:
            raise ValueError(f"fourcc must be 4 characters like 'MJPG' or 'YUYV', got {value!r}")
        return value


@register_node("capture")
class Capture(Node):
    """Frames from a webcam, video file, folder of images, stream URL or GStreamer pipeline."""

    outputs = {"image": Image}
    Params = CaptureParams
    params: CaptureParams

    def __init__(self, name: str, params: CaptureParams) -> None:
        super().__init__(name, params)
        self.spec: SourceSpec | None = None
        self._reader: FrameReader | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._offset = 0.0  # added to file timestamps so they keep increasing across loops
        self._last_ts = -math.inf
        self._source_name = redact_url_in(str(params.source))
        self.skipped = 0

    # ------------------------------------------------------------------ node calls

    def open(self) -> None:
        p = self.params
        self.spec = parse_source(p.source)
        self._stop.clear()
        self._offset, self._last_ts = 0.0, -math.inf
        self.segment = self.skipped = 0
        self._reader = open_reader(self.spec, self._settings())
        stream = self.spec.kind.is_stream
        if p.realtime and stream:
            log.warning("%s: realtime applies to files and folders only; ignored (a %s paces itself)",
                        self.spec.label, self.spec.kind.value)
        self.live = p.live if p.live is not None else (stream or p.realtime)
        self.pace_fps = self._file_fps() if p.realtime and not stream else None
        self.frame_count = None if p.loop or stream else self._stated_frames()

    def process(self) -> dict[str, Image] | None:
        with self._lock:
            if self._stop.is_set() or self._reader is None:
                return None
            frame = self._read() or self._after_end()
            if self._stop.is_set():  # stopped during the read: release here
                self._release()
                return None
            if frame is None:
                self._report_skips()
                return None
            if self.spec.kind is SourceKind.FOLDER:
                self.segment += 1
            return {"image": Image(frame.pixels, self._timestamp(frame), self._source_name, self.segment)}

    def interrupt(self) -> None:
        """The graph stops: end a reconnect back-off now (a read in progress returns by itself)."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._lock.acquire(timeout=CLOSE_WAIT_S):
            try:
                self._release()
            finally:
                self._lock.release()
        else:
            log.warning("%s: a read is still blocked; the source is released when it returns",
                        self.spec.label if self.spec else self._source_name)

    # ------------------------------------------------------------------ helpers

    def _settings(self) -> CaptureSettings:
        p = self.params
        return CaptureSettings(width=p.width, height=p.height, fps=p.fps, fourcc=p.fourcc,
                               buffer_size=p.buffer_size)

    def _stated_frames(self) -> int | None:
        """How many frames a file or folder holds, when it says (for progress bars)."""
        files = getattr(self._reader, "files", None)
        return len(files) if files is not None else getattr(self._reader, "expected_frames", None)

    def _file_fps(self) -> float:
        """The rate of a file (or folder), falling back to the fps param, then 30."""
        assert self._reader is not None
        return self._reader.fps or self.params.fps or 30.0

    def _read(self) -> Frame | None:
        """The reader's next frame, skipping (and counting) unreadable ones unless on_error is stop."""
        assert self._reader is not None
        while True:
            try:
                return self._reader.read()
            except SourceError as exc:
                if self.params.on_error == "stop" or self.spec is None or self.spec.kind.is_stream:
                    raise
                self.skipped += 1
                if self.skipped <= SKIPS_LOGGED:
                    log.warning("%s: skipped: %s%s", self.name, exc,
                                "" if self.skipped < SKIPS_LOGGED else " (further skips are only counted)")

    def _report_skips(self) -> None:
        """At the end of a folder or file: one warning that says how much of it was lost."""
        reader = self._reader
        if isinstance(reader, VideoReader) and reader.expected_frames and self.spec is not None:
            missing = reader.expected_frames - reader.frames_read
            if missing > 1:  # some containers state one frame more than they hold
                log.warning("%s: %s gave %d of the %d frames it states: %d frames were missing or unreadable "
                            "(a truncated or damaged file; on_error: stop makes this an error)", self.name,
                            self.spec.label, reader.frames_read, reader.expected_frames, missing)
        elif self.skipped:
            log.warning("%s: %d images were missing or unreadable and skipped (on_error: stop makes this an error)",
                        self.name, self.skipped)

    def _after_end(self) -> Frame | None:
        """The reader gave no frame: reconnect a stream, restart a looping file, or end."""
        assert self.spec is not None and self._reader is not None
        if self.spec.kind.is_stream:
            return self._reconnect()
        if not self.params.loop or self._last_ts == -math.inf:
            return None
        self._offset = self._last_ts + 1.0 / self._file_fps()
        self.segment += 1
        self._reader.restart()
        return self._read()

    def _reconnect(self) -> Frame | None:
        """Reopen a dropped stream until it delivers a frame again, or raise after the attempts."""
        assert self.spec is not None
        p = self.params
        if p.reconnect_attempts == 0:
            log.warning("%s stopped delivering frames; ending the stream (reconnect_attempts is 0)", self.spec.label)
            return None
        self._release()
        reopened = reconnect(self.spec, self._settings(), p.reconnect_attempts, p.reconnect_backoff, self._stop)
        if reopened is None:
            return None
        self._reader, frame = reopened
        self.segment += 1
        return frame

    def _timestamp(self, frame: Frame) -> float:
        """File position (plus the loop offset) for files; the grab's monotonic time for streams."""
        assert self.spec is not None
        ts = frame.timestamp if self.spec.kind.is_stream else frame.timestamp + self._offset
        self._last_ts = ts
        return ts

    def _release(self) -> None:
        if self._reader is not None:
            try:
                self._reader.close()
            finally:
                self._reader = None

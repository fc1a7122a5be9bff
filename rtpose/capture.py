"""Where frames come from: parsing a ``source``, opening it, reading it, and listing cameras.

The ``capture`` node (``nodes/capture.py``) is a thin layer over this module. A source
is one of five kinds, told apart by :func:`parse_source`:

- a webcam, given as an index (``0``, ``"1"``) or a device path (``/dev/video2``);
- a GStreamer pipeline, any string containing ``!``;
- a stream URL (``rtsp://``, ``http://`` ...);
- a folder of images (``.jpg .jpeg .png .bmp``, natural order);
- a video file.

Every failure to open or read raises :class:`~rtpose.errors.SourceError` with a message
that names the camera, file, folder, URL or pipeline. Nothing here keeps module-level
state: each reader is an independent object, so several cameras can run at once.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from rtpose.errors import SourceError

log = logging.getLogger("rtpose.capture")

IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
URL_SCHEMES: frozenset[str] = frozenset({"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt"})
STREAM_OPEN_TIMEOUT_MS = 5000
"""How long opening a URL may take before it counts as failed (FFmpeg's own default is 30 s)."""
STREAM_READ_TIMEOUT_MS = 5000
"""How long a URL read may stall before it counts as a dropped stream (and triggers a reconnect)."""
MAX_BACKOFF_S = 30.0
"""The longest single wait between reconnect attempts, however many attempts have failed."""
OPENCV_MAX_PIXELS = 1 << 30
"""OpenCV refuses to decode larger images unless OPENCV_IO_MAX_IMAGE_PIXELS raises its limit."""


class SourceKind(str, enum.Enum):
    """What a ``source`` param names; decides how it is opened and whether it is live."""

    CAMERA = "camera"
    GSTREAMER = "gstreamer"
    URL = "url"
    FOLDER = "folder"
    FILE = "file"

    @property
    def is_stream(self) -> bool:
        """Cameras, URLs and pipelines run by themselves (live) and can drop and reconnect."""
        return self in (SourceKind.CAMERA, SourceKind.GSTREAMER, SourceKind.URL)


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``source``: its kind, the value OpenCV is given, and a label safe to print."""

    kind: SourceKind
    value: int | str
    label: str


@dataclass(frozen=True)
class CaptureSettings:
    """What is requested from a device; ``None`` leaves the driver's default."""

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    fourcc: str | None = None
    buffer_size: int | None = 1


# --------------------------------------------------------------------------- parsing


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, so logs and errors never leak it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def parse_source(source: int | str) -> SourceSpec:
    """Tell which kind of source ``source`` names (without opening it).

    A string of digits is a camera index unless a file of that name exists; a string
    with ``!`` is a GStreamer pipeline (checked before URLs: pipelines contain ``://``
    in ``uri=`` properties).
    """
    if isinstance(source, bool):
        raise SourceError(f"source must be a camera index, path, URL or pipeline, got {source!r}")
    if isinstance(source, int):
        if source < 0:
            raise SourceError(f"camera index must be 0 or more, got {source}")
        return SourceSpec(SourceKind.CAMERA, source, f"camera {source}")
    text = source.strip()
    if not text:
        raise SourceError("source is empty: give a camera index, a video file, a folder of images, a URL "
                          "or a GStreamer pipeline")
    if "!" in text:
        return SourceSpec(SourceKind.GSTREAMER, text, f"GStreamer pipeline {redact_url_in(text)!r}")
    if text.isdigit() and not Path(text).exists():
        return SourceSpec(SourceKind.CAMERA, int(text), f"camera {int(text)}")
    if re.fullmatch(r"/dev/video\d+", text):
        return SourceSpec(SourceKind.CAMERA, text, f"camera {text}")
    scheme = urlsplit(text).scheme.lower()
    if "://" in text and scheme in URL_SCHEMES:
        return SourceSpec(SourceKind.URL, text, f"stream {redact_url(text)}")
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceSpec(SourceKind.FOLDER, str(path), f"image folder {path}")
    return SourceSpec(SourceKind.FILE, str(path), f"video file {path}")


def redact_url_in(text: str) -> str:
    """Redact passwords of every URL inside a longer string (a pipeline's ``location=``)."""
    return re.sub(r"[a-z][a-z0-9+.-]*://\S+", lambda m: redact_url(m.group(0)), text, flags=re.IGNORECASE)


def natural_key(name: str) -> list[int | str]:
    """Sort key putting ``img2`` before ``img10`` (numbers compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def folder_images(folder: str | Path) -> list[Path]:
    """The images of a folder in natural order; a clear error if there are none."""
    path = Path(folder)
    if not path.is_dir():
        raise SourceError(f"image folder {path} does not exist")
    files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise SourceError(f"image folder {path} has no images (looked for "
                          f"{', '.join(sorted(IMAGE_SUFFIXES))})")
    return sorted(files, key=lambda p: natural_key(p.name))


# --------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class Frame:
    """One read frame: BGR pixels and the reader's timestamp (file position or monotonic time)."""

    pixels: np.ndarray
    timestamp: float


class FrameReader(Protocol):
    """What the capture node needs from any source."""

    spec: SourceSpec
    fps: float | None

    def read(self) -> Frame | None:
        """The next frame, or ``None`` at the end of a file (or when a stream fails)."""

    def restart(self) -> None:
        """Go back to the first frame (files and folders)."""

    def close(self) -> None:
        """Release the device or file; safe to call twice."""


def to_bgr(pixels: np.ndarray) -> np.ndarray:
    """Make any OpenCV frame HxWx3 uint8 BGR, the one layout every node expects."""
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    return pixels


class VideoReader:
    """A cv2.VideoCapture over a camera, file, URL or pipeline.

    Files are timestamped by their position (``CAP_PROP_POS_MSEC``, or frame index /
    fps where the container gives no usable time); streams by ``time.monotonic()``
    taken right after the frame was grabbed, so latency is measured from the grab.

    A file that stops giving frames before the count its container states (less one,
    which some containers overstate) has a damaged or missing frame: ``read()`` raises a
    SourceError naming it and moves past it, so a caller may skip it and read on.
    """

    def __init__(self, spec: SourceSpec, settings: CaptureSettings | None = None) -> None:
        self.spec = spec
        self.settings = settings or CaptureSettings()
        self._cap = open_video(spec, self.settings)
        self.fps = positive_or_none(self._cap.get(cv2.CAP_PROP_FPS))
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) if spec.kind is SourceKind.FILE else 0
        self.expected_frames: int | None = count if count > 0 else None
        self.frames_read = 0  # since the start (or the last restart)
        self._index = 0
        self._last_ts = -1.0

    def read(self) -> Frame | None:
        if self.spec.kind.is_stream:
            return self._read_live()
        ok, pixels = self._cap.read()
        if not ok or pixels is None:
            if self.expected_frames is None or self._index >= self.expected_frames - 1:
                return None
            self._index += 1
            raise SourceError(f"{self.spec.label}: frame {self._index - 1} of the {self.expected_frames} it "
                              f"states cannot be read (the file is truncated or damaged)")
        ts = self._file_timestamp()
        self._index += 1
        self.frames_read += 1
        return Frame(to_bgr(pixels), ts)

    def _read_live(self) -> Frame | None:
        if not self._cap.grab():
            return None
        ts = time.monotonic()
        ok, pixels = self._cap.retrieve()
        if not ok or pixels is None:
            return None
        return Frame(to_bgr(pixels), ts)

    def _file_timestamp(self) -> float:
        """Position of the frame just read; falls back to index / fps when POS_MSEC is unusable."""
        pos = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if not (pos > self._last_ts or (self._index == 0 and pos >= 0)):
            pos = self._index / (self.fps or 30.0)
            pos = max(pos, self._last_ts + 1e-6)
        self._last_ts = pos
        return pos

    def restart(self) -> None:
        if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):  # some containers cannot seek: reopen
            self._cap.release()
            self._cap = open_video(self.spec, self.settings)
        self._index = self.frames_read = 0
        self._last_ts = -1.0

    def close(self) -> None:
        self._cap.release()


class FolderReader:
    """Images of a folder as a video: natural order, timestamps ``index / fps``."""

    def __init__(self, spec: SourceSpec, fps: float | None = None) -> None:
        self.spec = spec
        self.files = folder_images(spec.value)
        self.fps = fps or 30.0
        self._index = 0

    def read(self) -> Frame | None:
        """The next image; a SourceError naming an unreadable one (the next read moves past it)."""
        if self._index >= len(self.files):
            return None
        index, self._index = self._index, self._index + 1
        return Frame(read_image(self.files[index]), index / self.fps)

    def restart(self) -> None:
        self._index = 0

    def close(self) -> None:
        self._index = len(self.files)


def read_image(path: Path) -> np.ndarray:
    """Decode one image file as BGR, or raise a SourceError naming it and saying why.

    A JPEG whose last end-of-image marker comes before its last start-of-scan, or a PNG
    without its IEND chunk, was cut short (a copy still in progress, a full disk): OpenCV
    would decode it anyway, with the missing part grey.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"image {path} cannot be read: {exc.strerror or exc}") from exc
    if data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise SourceError(f"image {path} is a truncated JPEG (it ends before its end-of-image marker)")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-16:]:
        raise SourceError(f"image {path} is a truncated PNG (no IEND chunk at its end)")
    try:
        with quiet_opencv():
            pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error as exc:
        if "MAX_IMAGE_PIXELS" not in str(exc):
            raise SourceError(f"image {path} cannot be decoded: {exc}") from exc
        raise SourceError(f"image {path} has more than OpenCV's limit of {OPENCV_MAX_PIXELS} pixels: scale it "
                          f"down, or raise the limit with the environment variable OPENCV_IO_MAX_IMAGE_PIXELS") from exc
    if pixels is None:
        raise SourceError(f"image {path} cannot be decoded (corrupt or not an image)")
    return to_bgr(pixels)


def open_reader(spec: SourceSpec, settings: CaptureSettings | None = None) -> FrameReader:
    """Open any kind of source; folders take their timestamps' rate from ``settings.fps``."""
    if spec.kind is SourceKind.FOLDER:
        return FolderReader(spec, settings.fps if settings else None)
    return VideoReader(spec, settings)


# --------------------------------------------------------------------------- opening


def open_video(spec: SourceSpec, settings: CaptureSettings) -> cv2.VideoCapture:
    """Open a cv2.VideoCapture for a non-folder source, or raise a SourceError that names it."""
    return VIDEO_OPENERS[spec.kind](spec, settings)


def _open_url(spec: SourceSpec, settings: CaptureSettings) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(spec.value), cv2.CAP_FFMPEG, [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_OPEN_TIMEOUT_MS,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_READ_TIMEOUT_MS])
    if not cap.isOpened():
        raise SourceError(f"{spec.label} could not be opened (unreachable, wrong path or credentials, "
                          f"or no answer within {STREAM_OPEN_TIMEOUT_MS / 1000:g} s)")
    return cap


def _open_file(spec: SourceSpec, settings: CaptureSettings | None = None) -> cv2.VideoCapture:
    path = Path(str(spec.value))
    if not path.exists():
        raise SourceError(f"video file {path} does not exist")
    if not os.access(path, os.R_OK):
        raise SourceError(f"video file {path} is not readable (permission denied)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"video file {path} cannot be opened: not a video, corrupt, or a codec this "
                          f"OpenCV build lacks")
    return cap


def gstreamer_available() -> bool:
    """Whether this OpenCV build can run GStreamer pipelines (pip wheels usually cannot)."""
    match = re.search(r"GStreamer:\s*(\w+)", cv2.getBuildInformation())
    return bool(match and match.group(1).upper() == "YES")


def _open_gstreamer(spec: SourceSpec, settings: CaptureSettings) -> cv2.VideoCapture:
    if not gstreamer_available():
        raise SourceError(f"{spec.label} cannot be opened: this OpenCV build has no GStreamer support "
                          f"(cv2.getBuildInformation() says 'GStreamer: NO'); install an OpenCV built "
                          f"with GStreamer, or pass the camera index, file or URL instead")
    cap = cv2.VideoCapture(str(spec.value), cv2.CAP_GSTREAMER)
    if not cap.isOpened():
        raise SourceError(f"{spec.label} could not be started: check it with "
                          f"`gst-launch-1.0 {redact_url_in(str(spec.value))}`; it must end in an appsink")
    return cap


def _open_camera(spec: SourceSpec, settings: CaptureSettings) -> cv2.VideoCapture:
    with quiet_opencv():
        cap = cv2.VideoCapture(spec.value)
    if not cap.isOpened():
        raise SourceError(f"{spec.label} could not be opened (missing, unplugged or in use by another "
                          f"program): `rtpose cameras` lists the cameras there are; without one, run the graph on a "
                          f"video with --source clip.mp4 (or a folder of images)")
    _apply_settings(cap, settings, spec)
    return cap


VIDEO_OPENERS: dict[SourceKind, Callable[[SourceSpec, CaptureSettings], cv2.VideoCapture]] = {
    SourceKind.FILE: _open_file,
    SourceKind.URL: _open_url,
    SourceKind.GSTREAMER: _open_gstreamer,
    SourceKind.CAMERA: _open_camera,
}
"""How each kind of source that OpenCV reads is opened: a new kind is one entry (and one in parse_source)."""


def _apply_settings(cap: cv2.VideoCapture, settings: CaptureSettings, spec: SourceSpec) -> None:
    """Request format, size, rate and buffer from the driver; warn where it gives something else.

    FOURCC is set first: on V4L2 the format decides which sizes and rates exist.
    """
    if settings.fourcc:
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*settings.fourcc))
    if settings.width:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.width)
    if settings.height:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.height)
    if settings.fps:
        cap.set(cv2.CAP_PROP_FPS, settings.fps)
    if settings.buffer_size:
        cap.set(cv2.CAP_PROP_BUFFERSIZE, settings.buffer_size)
    got_w, got_h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if (settings.width and got_w and got_w != settings.width) or (settings.height and got_h and got_h != settings.height):
        log.warning("%s: asked for %sx%s, the device gives %dx%d",
                    spec.label, settings.width or "*", settings.height or "*", got_w, got_h)


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own stderr warnings while probing (our errors say it better)."""
    try:
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # very old builds
        yield
        return
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(old)


def positive_or_none(value: float) -> float | None:
    return float(value) if value and value > 0 and value < 1000 else None


# --------------------------------------------------------------------------- reconnecting


def backoff_delays(attempts: int, backoff: float) -> Iterator[float]:
    """The waits before each reconnect attempt: ``backoff``, doubling, capped at MAX_BACKOFF_S."""
    delay = backoff
    for _ in range(attempts):
        yield min(delay, MAX_BACKOFF_S)
        delay *= 2


def reconnect(spec: SourceSpec, settings: CaptureSettings, attempts: int, backoff: float,
              stop: threading.Event) -> tuple[FrameReader, Frame] | None:
    """Reopen a dropped stream with exponential back-off, logging every attempt.

    An attempt succeeds only when the reopened stream delivers a frame, which is
    returned with the new reader. Waits on ``stop``, so a close() from another thread
    ends the wait at once (then returns ``None``). Raises SourceError after
    ``attempts`` failures.
    """
    last_error = "no attempt made"
    for attempt, delay in enumerate(backoff_delays(attempts, backoff), start=1):
        log.warning("%s dropped; reconnect attempt %d/%d in %.1f s", spec.label, attempt, attempts, delay)
        if stop.wait(delay):
            return None
        try:
            reader = open_reader(spec, settings)
        except SourceError as exc:
            last_error = str(exc)
            continue
        frame = reader.read()
        if frame is None:
            reader.close()
            last_error = "it opened but delivered no frame"
            continue
        log.warning("%s reconnected on attempt %d/%d", spec.label, attempt, attempts)
        return reader, frame
    raise SourceError(f"{spec.label} dropped and did not come back after {attempts} reconnect attempts "
                      f"(last: {last_error})")

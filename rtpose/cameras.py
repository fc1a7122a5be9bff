"""Which cameras are there: /dev/video* with their pixel formats (v4l2-ctl), or probed indices."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from rtpose.capture import natural_key, positive_or_none, quiet_opencv

CAMERA_PROBE_INDICES = 10


@dataclass
class PixelFormat:
    """One pixel format of a camera with the sizes it offers and the best rate at each."""

    fourcc: str
    description: str = ""
    sizes: dict[tuple[int, int], float] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.sizes:
            return self.fourcc
        (w, h), fps = max(self.sizes.items(), key=lambda item: (item[0][0] * item[0][1], item[1]))
        rate = f"@{fps:g}" if fps else ""
        return f"{self.fourcc} up to {w}x{h}{rate} ({len(self.sizes)} sizes)"


@dataclass
class CameraInfo:
    """What `rtpose cameras` shows about one camera."""

    index: int
    device: str
    name: str = ""
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    formats: list[PixelFormat] = field(default_factory=list)
    note: str = ""


def parse_v4l2_formats(text: str) -> list[PixelFormat]:
    """Parse ``v4l2-ctl --list-formats-ext`` output into formats with sizes and max fps."""
    formats: list[PixelFormat] = []
    size: tuple[int, int] | None = None
    for line in text.splitlines():
        fmt = re.match(r"\s*\[\d+\]:\s*'(\S+)'\s*\(([^)]*)", line)
        if fmt:
            formats.append(PixelFormat(fmt.group(1), fmt.group(2)))
            size = None
            continue
        sz = re.match(r"\s*Size:\s*\w+\s+(\d+)x(\d+)", line)
        if sz and formats:
            size = (int(sz.group(1)), int(sz.group(2)))
            formats[-1].sizes.setdefault(size, 0.0)
            continue
        rate = re.search(r"Interval:.*\(([\d.]+) fps\)", line)
        if rate and formats and size is not None:
            formats[-1].sizes[size] = max(formats[-1].sizes[size], float(rate.group(1)))
    return formats


def _v4l2_formats(device: str) -> list[PixelFormat] | None:
    """Formats from v4l2-ctl, or None when the tool is not installed or fails."""
    tool = shutil.which("v4l2-ctl")
    if tool is None:
        return None
    try:
        out = subprocess.run([tool, "--device", device, "--list-formats-ext"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_v4l2_formats(out.stdout) if out.returncode == 0 else None


def _probe_index(index: int | str) -> tuple[int, int, float | None] | None:
    """Open a camera just long enough to read its default size and rate; None if it won't open."""
    with quiet_opencv():
        cap = cv2.VideoCapture(index)
    try:
        if not cap.isOpened():
            return None
        return (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                positive_or_none(cap.get(cv2.CAP_PROP_FPS)))
    finally:
        cap.release()


def _linux_camera(device: Path) -> CameraInfo | None:
    """Describe /dev/videoN; None for V4L2 nodes with no capture format (metadata nodes)."""
    index = int(re.sub(r"\D", "", device.name) or -1)
    name_file = Path("/sys/class/video4linux") / device.name / "name"
    name = name_file.read_text().strip() if name_file.is_file() else ""
    info = CameraInfo(index=index, device=str(device), name=name)
    formats = _v4l2_formats(str(device))
    if formats is not None:
        if not formats:
            return None
        info.formats = formats
    probed = _probe_index(index)
    if probed is None:
        info.note = "could not be opened (in use by another program, or not a capture device)"
    else:
        info.width, info.height, info.fps = probed
    return info


def list_cameras(max_index: int = CAMERA_PROBE_INDICES) -> list[CameraInfo]:
    """The cameras of this machine: /dev/video* on Linux, else indices 0..max_index-1 probed."""
    if sys.platform.startswith("linux"):
        devices = sorted(Path("/dev").glob("video*"), key=lambda p: natural_key(p.name))
        found = [_linux_camera(d) for d in devices if re.fullmatch(r"video\d+", d.name)]
        return [c for c in found if c is not None]
    cameras = []
    for index in range(max_index):
        probed = _probe_index(index)
        if probed is not None:
            w, h, fps = probed
            cameras.append(CameraInfo(index=index, device=f"index {index}", width=w, height=h, fps=fps))
    return cameras

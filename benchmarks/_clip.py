"""Make (once) and find the synthetic test clip of ../shared/tools/make_clip.py.

Benchmarks share one cached clip per (frames, people, mode, size, seed) in
``$RTPOSE_BENCH_CACHE`` (default: ``<tmp>/rtpose-bench``), so a second run does not
spend a minute compositing 300 frames again. Nothing from ../shared is copied: the
clip is generated from its tool and data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """$RTPOSE_SHARED, else ../shared beside the checkout (tests/conftest.py's ``shared`` fixture too)."""
    env = os.environ.get("RTPOSE_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def cache_dir() -> Path:
    env = os.environ.get("RTPOSE_BENCH_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "rtpose-bench"


def make_clip(out: Path, frames: int = 300, people: int = 5, mode: str = "walk",
              width: int = 1280, height: int = 720, seed: int = 0, timeout: float = 600) -> Path:
    """Run make_clip.py into ``out``; returns the folder holding clip.mp4 and gt.json.

    The one wrapper of the tool (benchmarks and tests/helpers.py use it); defaults are the tool's."""
    tool = shared_dir() / "tools" / "make_clip.py"
    if not tool.is_file():
        raise FileNotFoundError(f"{tool} not found: set RTPOSE_SHARED to the shared folder")
    cmd = [sys.executable, str(tool), "--out", str(out), "--frames", str(frames), "--people", str(people),
           "--mode", mode, "--width", str(width), "--height", str(height), "--seed", str(seed)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=timeout)
    return out


def cached_clip(frames: int = 300, people: int = 5, mode: str = "walk",
                width: int = 1280, height: int = 720, seed: int = 0) -> Path:
    """The clip's folder in the cache, made on first use (written to a temp name, then renamed)."""
    folder = cache_dir() / f"clip_{mode}_{people}p_{frames}f_{width}x{height}_s{seed}"
    if (folder / "clip.mp4").is_file() and (folder / "gt.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    make_clip(partial, frames, people, mode, width, height, seed)
    try:
        partial.rename(folder)
    except OSError:  # another process made it meanwhile
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def clip_frames(clip: Path, frames: int) -> Iterator[np.ndarray]:
    """The first ``frames`` frames of ``clip`` (BGR), decoded one at a time."""
    cap = cv2.VideoCapture(str(clip))
    try:
        for _ in range(frames):
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()

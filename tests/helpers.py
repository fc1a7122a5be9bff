"""Small builders shared by several test modules; the clip tool's wrapper is benchmarks/_clip.py's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))  # for _clip and _models only
from _clip import make_clip, shared_dir  # noqa: E402
from _models import TORCH_FAMILIES  # noqa: E402

__all__ = ["TORCH_FAMILIES", "body", "make_clip", "shared_dir"]


def body(cx: float, cy: float, score: float = 0.9, height: float = 160.0, width: float = 40.0) -> np.ndarray:
    """17 keypoints spread over a ``width`` x ``height`` body centred at (cx, cy)."""
    kps = np.zeros((17, 3), np.float32)
    kps[:, 0] = cx + np.linspace(-width / 2, width / 2, 17) * np.tile([1, -1], 9)[:17]
    kps[:, 1] = np.linspace(cy - height / 2, cy + height / 2, 17)
    kps[:, 2] = score
    return kps

"""Small builders shared by several test modules."""

from __future__ import annotations

import numpy as np


def body(cx: float, cy: float, score: float = 0.9, height: float = 160.0, width: float = 40.0) -> np.ndarray:
    """17 keypoints spread over a ``width`` x ``height`` body centred at (cx, cy)."""
    kps = np.zeros((17, 3), np.float32)
    kps[:, 0] = cx + np.linspace(-width / 2, width / 2, 17) * np.tile([1, -1], 9)[:17]
    kps[:, 1] = np.linspace(cy - height / 2, cy + height / 2, 17)
    kps[:, 2] = score
    return kps

"""The motion model of one tracked box: a filterpy Kalman filter as in ByteTrack/SORT.

State is ``cx, cy, a, h`` (centre, aspect ratio w/h, height) and their
velocities; the measurement is ``cx, cy, a, h``. As in ByteTrack, the process
and measurement noise are proportional to the box height, so one set of weights
works for people near and far from the camera.
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import KalmanFilter

STD_WEIGHT_POSITION = 1.0 / 20
"""Position noise per unit of box height (ByteTrack's value)."""
STD_WEIGHT_VELOCITY = 1.0 / 160
"""Velocity noise per unit of box height (ByteTrack's value)."""

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


def xyxy_to_xyah(box: np.ndarray) -> np.ndarray:
    """``x1, y1, x2, y2`` -> ``cx, cy, w/h, h`` (the filter's measurement)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
    return np.array([x1 + w / 2, y1 + h / 2, w / h, h])


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """``cx, cy, w/h, h`` -> ``x1, y1, x2, y2`` (float32)."""
    cx, cy, a, h = (float(v) for v in xyah[:4])
    h = max(h, 1e-3)
    w = max(a, 1e-3) * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


class KalmanBoxFilter:
    """Constant-velocity Kalman filter of one box (filterpy), with height-relative noise."""

    def __init__(self, box_xyxy: np.ndarray) -> None:
        z = xyxy_to_xyah(box_xyxy)
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F = _F.copy()
        kf.H = _H.copy()
        kf.x = np.concatenate([z, np.zeros(4)]).reshape(8, 1)
        h = z[3]
        std = [2 * STD_WEIGHT_POSITION * h, 2 * STD_WEIGHT_POSITION * h, 1e-2, 2 * STD_WEIGHT_POSITION * h,
               10 * STD_WEIGHT_VELOCITY * h, 10 * STD_WEIGHT_VELOCITY * h, 1e-5, 10 * STD_WEIGHT_VELOCITY * h]
        kf.P = np.diag(np.square(std))
        self.kf = kf

    @property
    def height(self) -> float:
        return max(float(self.kf.x[3, 0]), 1.0)

    def _process_noise(self) -> np.ndarray:
        h = self.height
        std = [STD_WEIGHT_POSITION * h, STD_WEIGHT_POSITION * h, 1e-2, STD_WEIGHT_POSITION * h,
               STD_WEIGHT_VELOCITY * h, STD_WEIGHT_VELOCITY * h, 1e-5, STD_WEIGHT_VELOCITY * h]
        return np.diag(np.square(std))

    def predict(self, freeze_height: bool = False) -> None:
        """Advance one frame. ``freeze_height`` stops the size drifting while the box is unobserved."""
        if freeze_height:
            self.kf.x[7, 0] = 0.0
        self.kf.predict(Q=self._process_noise())

    def update(self, box_xyxy: np.ndarray) -> None:
        """Correct with a measured box."""
        h = self.height
        std = [STD_WEIGHT_POSITION * h, STD_WEIGHT_POSITION * h, 1e-1, STD_WEIGHT_POSITION * h]
        self.kf.update(xyxy_to_xyah(box_xyxy), R=np.diag(np.square(std)))

    @property
    def box(self) -> np.ndarray:
        """The current estimate as ``x1, y1, x2, y2``."""
        return xyah_to_xyxy(self.kf.x[:4, 0])

    def peek(self) -> np.ndarray:
        """Where the box will be after one more ``predict()``, without changing the state."""
        return xyah_to_xyxy((self.kf.F @ self.kf.x)[:4, 0])

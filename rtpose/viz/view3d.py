"""Looking at 3D skeletons: people placed side by side, turned and projected orthographically.

Each person's ``keypoints_3d`` are root-relative (metres; x right, y down, z away from the
camera), so people are placed across the view by where they stand in the image: a box's centre
from the left to the right edge of the frame spans ``FLOOR_WIDTH_M`` metres. The view turns
about the vertical axis (yaw) and tilts (pitch), the way one drags a 3D viewer with the mouse.
The window's 3D panel and ``rtpose plot3d`` both use this module; it needs no GUI toolkit.
"""

from __future__ import annotations

import math

import numpy as np

FLOOR_WIDTH_M = 4.0
"""How many metres the frame's width stands for when people are placed side by side."""


def place_people(keypoints_3d: np.ndarray, boxes: np.ndarray, image_width: float) -> np.ndarray:
    """Root-relative skeletons (N, K, 3) moved sideways to where each person stands in the frame."""
    out = np.asarray(keypoints_3d, np.float32).copy()
    if len(out) and image_width > 0:
        centres = (np.asarray(boxes, np.float32)[:, 0] + np.asarray(boxes, np.float32)[:, 2]) / 2
        out[..., 0] += ((centres / image_width - 0.5) * FLOOR_WIDTH_M)[:, None]
    return out


def turn(points: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """Points (..., 3) seen from a camera turned by ``yaw`` about the vertical (y) axis, then tilted
    by ``pitch`` about the horizontal one (radians; positive pitch looks down from above)."""
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    yaw_m = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]], np.float32)
    pitch_m = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]], np.float32)
    return np.asarray(points, np.float32) @ (pitch_m @ yaw_m).T


def project(points: np.ndarray, yaw: float, pitch: float, size: int, extent_m: float) -> np.ndarray:
    """Points (..., 3) to pixels (..., 2) of a ``size`` x ``size`` view, orthographic, ``extent_m``
    metres across, the origin at the centre (screen y down, like the data's y)."""
    seen = turn(points, yaw, pitch)
    scale = size / extent_m
    return np.stack([size / 2 + seen[..., 0] * scale, size / 2 + seen[..., 1] * scale], axis=-1)


def view_extent(points: np.ndarray, minimum: float = 2.2) -> float:
    """Metres the view must span to hold every point whatever the turn (twice the farthest distance)."""
    pts = np.asarray(points, np.float32).reshape(-1, 3)
    if not len(pts):
        return minimum
    return max(minimum, 2.2 * float(np.linalg.norm(pts, axis=1).max()))

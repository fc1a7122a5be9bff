"""Rotated regions of an image: the one crop helper of every landmark model.

A :class:`Region` is a rectangle in image pixels with a centre, a size and a rotation,
the way MediaPipe describes a hand, face or body region of interest. A crop of it is an
affine warp into a fixed-size model input; points the model gives in crop pixels map back
with the inverse. Rotation is in radians, counter-clockwise on screen: a region rotated so
that its "up" points along a limb gives the model an upright hand, face or body.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np


def normalize_angle(angle: float) -> float:
    """The same angle in [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def upright_rotation(start: np.ndarray, end: np.ndarray, target: float = math.pi / 2) -> float:
    """The rotation that turns the direction ``start -> end`` (image pixels, y down) to ``target``
    (pi/2: pointing up on screen), e.g. wrist -> middle finger for a hand, hips -> shoulders for a body."""
    dx, dy = float(end[0] - start[0]), float(end[1] - start[1])
    return normalize_angle(target - math.atan2(-dy, dx))


@dataclass(frozen=True)
class Region:
    """A rectangle of ``width`` x ``height`` pixels centred on (``cx``, ``cy``), rotated by ``rotation``."""

    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0

    @classmethod
    def from_box(cls, box: np.ndarray, rotation: float = 0.0) -> Region:
        """The region of an ``x1, y1, x2, y2`` box."""
        x1, y1, x2, y2 = (float(v) for v in box)
        return cls((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, rotation)

    def scaled(self, sx: float, sy: float | None = None) -> Region:
        """The region grown by ``sx`` (and ``sy``, default the same) about its centre."""
        return replace(self, width=self.width * sx, height=self.height * (sx if sy is None else sy))

    def shifted(self, dx: float, dy: float) -> Region:
        """The region moved by (dx, dy) in its own axes, in units of its size (MediaPipe's shift_x/y)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        ox, oy = dx * self.width, dy * self.height
        return replace(self, cx=self.cx + c * ox - s * oy, cy=self.cy + s * ox + c * oy)

    def squared(self) -> Region:
        """A square region with the longer side."""
        side = max(self.width, self.height)
        return replace(self, width=side, height=side)

    def crop_to_image(self, out_w: int, out_h: int) -> np.ndarray:
        """2x3 affine from crop pixels (``out_w`` x ``out_h``) to image pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        kx, ky = self.width / out_w, self.height / out_h
        # image = centre + R(rotation) @ ((u - out_w/2) * kx, (v - out_h/2) * ky)
        a = np.array([[c * kx, -s * ky], [s * kx, c * ky]], np.float64)
        t = np.array([self.cx, self.cy]) - a @ np.array([out_w / 2, out_h / 2])
        return np.hstack([a, t[:, None]])

    def image_to_crop(self, out_w: int, out_h: int) -> np.ndarray:
        """2x3 affine from image pixels to crop pixels (what ``cv2.warpAffine`` takes)."""
        return cv2.invertAffineTransform(self.crop_to_image(out_w, out_h))

    def crop(self, image: np.ndarray, out_w: int, out_h: int, border: int | tuple[int, ...] = 0) -> np.ndarray:
        """The region warped to an ``out_w`` x ``out_h`` image (outside the frame: ``border``)."""
        return cv2.warpAffine(image, self.image_to_crop(out_w, out_h), (out_w, out_h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border)

    def points_to_image(self, points: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
        """Points (..., 2+) in crop pixels to image pixels; columns after x, y are kept as they are."""
        return _apply(self.crop_to_image(out_w, out_h), points)

    def points_to_crop(self, points: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
        """Points (..., 2+) in image pixels to crop pixels."""
        return _apply(self.image_to_crop(out_w, out_h), points)

    def corners(self) -> np.ndarray:
        """The four corners in image pixels (for drawing and for the enclosing box)."""
        unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
        return self.points_to_image(unit, 1, 1)

    def bounding_box(self) -> np.ndarray:
        """The axis-aligned ``x1, y1, x2, y2`` box around the rotated region."""
        pts = self.corners()
        return np.array([*pts.min(axis=0), *pts.max(axis=0)], np.float32)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64)
    out = pts.copy()
    out[..., :2] = pts[..., :2] @ matrix[:, :2].T + matrix[:, 2]
    return out.astype(np.asarray(points).dtype if np.asarray(points).dtype.kind == "f" else np.float64)

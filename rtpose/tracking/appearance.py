"""Appearance of a tracked person: a colour histogram of their torso, to tell people apart.

Why: boxes and poses alone cannot tell who is who while one person walks behind another;
a pose crop around the hidden person then latches onto the one in front, and a person who
reappears after a long occlusion is far from where their Kalman filter predicted them.
Clothing colour settles both cheaply (the idea of DeepSORT's appearance descriptor, without
a re-id network): a hue-saturation histogram of the middle of the box, compared with the
Bhattacharyya distance (0: the same colours, 1: none in common). Hue and saturation, not
brightness, so a person stepping into shade keeps their colours.
"""

from __future__ import annotations

import cv2
import numpy as np

TORSO = (0.3, 0.2, 0.7, 0.5)
"""The part of a person box whose colours are compared, as fractions (x1, y1, x2, y2) of the box:
the chest, which is rarely the background and moves least while walking."""
HIST_BINS = (16, 8)
"""Hue and saturation bins."""


def torso_histograms(image_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
    """One L2-normalised hue-saturation histogram (N, 16 * 8) float32 per box's :data:`TORSO`
    region; all zeros for a region outside the image or under 2x2 pixels."""
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    out = np.zeros((len(boxes), HIST_BINS[0] * HIST_BINS[1]), np.float32)
    h, w = image_bgr.shape[:2]
    fx1, fy1, fx2, fy2 = TORSO
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        bw, bh = x2 - x1, y2 - y1
        left, right = int(max(0, x1 + fx1 * bw)), int(min(w, x1 + fx2 * bw))
        top, bottom = int(max(0, y1 + fy1 * bh)), int(min(h, y1 + fy2 * bh))
        if right - left < 2 or bottom - top < 2:
            continue
        hsv = cv2.cvtColor(image_bgr[top:bottom, left:right], cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256]).ravel()
        out[i] = hist / max(float(np.linalg.norm(hist)), 1e-12)
    return out


def appearance_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bhattacharyya distances (len(a), len(b)) between histograms: 0 same colours, 1 disjoint.

    Histograms are renormalised to sum 1 here; an all-zero one (nothing seen) is at distance 1
    from everything."""
    a = np.asarray(a, np.float64).reshape(-1, HIST_BINS[0] * HIST_BINS[1])
    b = np.asarray(b, np.float64).reshape(-1, HIST_BINS[0] * HIST_BINS[1])
    pa = a / np.maximum(a.sum(axis=1, keepdims=True), 1e-12)
    pb = b / np.maximum(b.sum(axis=1, keepdims=True), 1e-12)
    coefficient = np.sqrt(pa) @ np.sqrt(pb).T
    return np.sqrt(np.clip(1.0 - coefficient, 0.0, 1.0))

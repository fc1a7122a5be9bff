"""A person's limbs do not change length: per-track bone lengths for 3D skeletons.

Per-frame 3D estimates (BlazePose's world landmarks, a lifter's output) let a thigh grow and
shrink by centimetres from frame to frame. :class:`BoneLengths` keeps each track's recent bone
lengths and :func:`enforce_bone_lengths` rebuilds every frame's skeleton from the root outward
with each bone's direction as estimated and its length the track's median, so the skeleton
moves but does not stretch.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def bone_lengths(points: np.ndarray, edges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Lengths (..., E) of the ``(parent, child)`` edges of skeletons (..., K, 3)."""
    parents, children = np.array(edges).T
    return np.linalg.norm(points[..., children, :] - points[..., parents, :], axis=-1)


def enforce_bone_lengths(points: np.ndarray, edges: tuple[tuple[int, int], ...], lengths: np.ndarray) -> np.ndarray:
    """The skeleton (K, 3) rebuilt from the root with each edge's direction kept and its length set.

    ``edges`` must list parents before their children (a tree walked from the root), as the
    ``h36m17`` schema's skeleton does."""
    out = points.astype(np.float32, copy=True)
    for (parent, child), length in zip(edges, lengths):
        direction = points[child] - points[parent]
        norm = float(np.linalg.norm(direction))
        if norm > 1e-6:
            out[child] = out[parent] + direction / norm * length
        else:
            out[child] = out[parent] + (points[child] - points[parent])
    return out


class BoneLengths:
    """Each track's bone lengths over its last ``window`` frames; the median is its skeleton."""

    def __init__(self, edges: tuple[tuple[int, int], ...], window: int = 60) -> None:
        self.edges = edges
        self.window = window
        self._history: dict[int, deque[np.ndarray]] = {}

    def reset(self) -> None:
        self._history.clear()

    def forget_except(self, track_ids: set[int]) -> None:
        for tid in [t for t in self._history if t not in track_ids]:
            del self._history[tid]

    def steady(self, track_id: int, points: np.ndarray) -> np.ndarray:
        """Record this frame's bone lengths for the track and return the skeleton with its median lengths."""
        history = self._history.setdefault(track_id, deque(maxlen=self.window))
        history.append(bone_lengths(points, self.edges))
        return enforce_bone_lengths(points, self.edges, np.median(np.stack(history), axis=0))

"""Scoring 3D skeletons against ground truth: PA-MPJPE, and bone-length stability over time."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rtpose.tracking.bones import bone_lengths


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean joint distance after the best similarity transform (scale, rotation, translation) of
    ``pred`` (K, 3) onto ``gt`` (K, 3), in ``gt``'s unit: the usual "Protocol 2" of Human3.6M."""
    p, g = pred - pred.mean(0), gt - gt.mean(0)
    u, s, vt = np.linalg.svd(p.T @ g)
    if np.linalg.det(u @ vt) < 0:  # a reflection is not a pose: take the best proper rotation
        u[:, -1] *= -1
        s[-1] *= -1
    scale = s.sum() / (p ** 2).sum()
    return float(np.linalg.norm(scale * p @ (u @ vt) - g, axis=1).mean())


def bone_cv(sequence: np.ndarray, edges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Coefficient of variation (std / mean) of each bone's length over a track's frames (T, K, 3)."""
    lengths = bone_lengths(sequence, edges)
    return lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-9)


def tracked_sequences(records: Iterable[dict], field: str = "keypoints_3d", min_frames: int = 20) -> list[np.ndarray]:
    """Each track's ``field`` over time, (T, K, 3), from exported JSON Lines records (``{"people":
    [{"track_id", field}]}``); tracks seen on fewer than ``min_frames`` frames are left out."""
    tracks: dict[int, list] = {}
    for record in records:
        for person in record["people"]:
            tracks.setdefault(person["track_id"], []).append(person[field])
    return [np.array(seq, np.float64) for seq in tracks.values() if len(seq) >= min_frames]


def median_step(sequences: Iterable[np.ndarray]) -> float:
    """Median frame-to-frame movement of a joint, over every joint of every sequence (T, K, 3): jitter."""
    return float(np.median(np.concatenate([np.linalg.norm(np.diff(seq, axis=0), axis=-1).ravel()
                                           for seq in sequences])))

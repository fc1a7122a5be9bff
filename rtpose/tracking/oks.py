"""Box IoU and pose similarity (COCO OKS) matrices, the costs of track association."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from rtpose.schemas import KeypointSchema, get_schema, schema_names


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N,4 xyxy) with every box in ``b`` (M,4): (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def match_boxes(boxes_a: np.ndarray, boxes_b: np.ndarray, min_iou: float = 0.5) -> list[tuple[int, int]]:
    """Pairs (index in a, index in b) of the IoU-maximising assignment with IoU >= ``min_iou``."""
    if len(boxes_a) == 0 or len(boxes_b) == 0:
        return []
    iou = iou_matrix(np.asarray(boxes_a, np.float32), np.asarray(boxes_b, np.float32))
    rows, cols = linear_sum_assignment(-iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]


def oks_matrix(kpts_a: np.ndarray, kpts_b: np.ndarray, areas_b: np.ndarray,
               sigmas: np.ndarray | KeypointSchema | None = None, min_score: float = 0.3) -> np.ndarray:
    """COCO object keypoint similarity of every pose in ``a`` with every pose in ``b``: (N, M).

    ``kpts_*`` are (N, K, 3) ``x, y, score``; ``areas_b`` (M,) is the object scale s^2
    of ``b`` (COCO uses the segment area; a box area times ~0.53 is a fair stand-in).
    ``sigmas``: per-keypoint constants, or the poses' schema; by default those of the
    schema with K keypoints (:func:`sigmas_for`).
    Only keypoints confident in both poses count, so occluded joints don't vote; a
    pair with no such keypoint gets NaN, which callers treat as "no pose evidence".
    """
    a = np.asarray(kpts_a, np.float64)
    b = np.asarray(kpts_b, np.float64)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    if sigmas is None:
        sigmas = sigmas_for(a.shape[1])
    elif isinstance(sigmas, KeypointSchema):
        sigmas = sigmas.oks_sigmas()
    if len(sigmas) != a.shape[1] or b.shape[1] != a.shape[1]:
        raise ValueError(f"oks_matrix: {a.shape[1]} and {b.shape[1]} keypoints with {len(sigmas)} sigmas")
    d2 = np.sum(np.square(a[:, None, :, :2] - b[None, :, :, :2]), axis=3)  # (N, M, K)
    var = np.square(2 * np.asarray(sigmas, np.float64))[None, None, :]
    s2 = np.maximum(np.asarray(areas_b, np.float64), 1.0)[None, :, None]
    sim = np.exp(-d2 / (2 * s2 * var))
    both = (a[:, None, :, 2] >= min_score) & (b[None, :, :, 2] >= min_score)
    count = both.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (sim * both).sum(axis=2) / count, np.nan)


def sigmas_for(num_keypoints: int) -> np.ndarray:
    """OKS sigmas for poses of ``num_keypoints`` points when the caller has only the array.

    COCO-17's for 17 points (the body default), else those of the one registered schema
    of that size; with none or several, the base schema's flat default.
    """
    if num_keypoints == 17:
        return get_schema("coco17").oks_sigmas()
    sized = [get_schema(n) for n in schema_names() if len(get_schema(n)) == num_keypoints]
    if len(sized) == 1:
        return sized[0].oks_sigmas()
    return np.full(num_keypoints, KeypointSchema.__dataclass_fields__["default_sigma"].default, np.float32)

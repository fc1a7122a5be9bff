"""Tracking and pose accuracy against make_clip's exact ground truth (``gt.json``).

One implementation for the tests and the benchmarks: id switches, coverage, keypoint
jitter, smoothing lag, keypoint error and PCK.

Inputs: ``frames`` is ``gt.json``'s ``"frames"`` list (``{"frame", "people": [{"track_id",
"bbox": [x, y, w, h], "keypoints": [[x, y, v] * 17]}]}``, v = 2 visible, 1 hidden behind
someone, 0 outside the frame or unlabelled); ``outputs`` is one item per frame, either a
:class:`~rtpose.types.Tracks` / :class:`~rtpose.types.Poses` or a record of ``--export``
JSON Lines (``{"people": [{"track_id", "bbox": [x, y, w, h], "keypoints"}]}``).

Outputs are matched to the ground truth per frame by a Hungarian assignment, either on box IoU
(``match="box"``: pairs with IoU >= 0.5, as the body-pipeline acceptance test does) or on pose
similarity (``match="pose"``: COCO OKS of the output's keypoints with the gt's visible ones,
pairs with OKS >= 0.5). ``"auto"`` (the default of the tracking metrics) matches by pose when the
outputs carry keypoints. Why pose: make_clip's gt box is the whole cut-out sprite, which often
differs from the person a detector (or a pose-guided box) frames, e.g. a COCO person cut off at
the knees, or with a bag; their box IoU then falls under 0.5 while the pose is right, so box
matching counts a well-tracked person as missed. Pose matching asks the question tracking cares
about: whose body is this track's pose on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from rtpose.tracking.oks import match_boxes, oks_matrix
from rtpose.types import Tracks

MIN_IOU = 0.5
MIN_OKS = 0.5
HALF_VISIBLE = 0.5
"""A person is "more than half visible" in a frame when at least this share of their labelled
keypoints (those labelled in any frame of the clip: the COCO annotation's) has v = 2 in that frame,
i.e. inside the frame and not behind another person."""


def people_arrays(item: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(boxes xyxy (N, 4) float64, track ids (N,) int64, keypoints (N, K, 3) or None)`` of one frame's
    output (Tracks/Poses, export record) or ground-truth frame."""
    if isinstance(item, Tracks):
        kps = getattr(item, "keypoints", None)
        return (item.boxes.astype(np.float64), item.track_ids.astype(np.int64),
                None if kps is None else np.asarray(kps, np.float64))
    people = item["people"] if isinstance(item, dict) else item
    xywh = np.array([p["bbox"] for p in people], np.float64).reshape(-1, 4)
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    ids = np.array([p.get("track_id", -1) for p in people], np.int64)
    kps = np.array([p["keypoints"] for p in people], np.float64).reshape(len(people), -1, 3) \
        if people and "keypoints" in people[0] else None
    return boxes, ids, kps


def coco_frames(annotations: dict[str, Any], file_names: Sequence[str],
                unlabel: Sequence[int] = (), labelled_visible: bool = False) -> list[dict[str, Any]]:
    """Ground-truth frames (the ``gt.json`` shape above) from a COCO-format keypoint file (COCO,
    PoseTrack), one per entry of ``file_names`` (the images' ``file_name``), in that order: the
    photos of an image folder as the metrics see a clip. Crowd regions and people without labelled
    keypoints are left out; keypoints at ``unlabel`` get v = 0 (e.g. PoseTrack's head_bottom and
    head_top, which stand where COCO has the eyes). ``labelled_visible``: every labelled keypoint
    counts as visible (v = 2), for sets that label all with v = 1 (PoseTrack) and so would give no
    pose to match by. The annotation id is the person's ``track_id``."""
    image_id = {image["file_name"]: image["id"] for image in annotations["images"]}
    missing = [name for name in file_names if name not in image_id]
    if missing:
        raise ValueError(f"no image {missing[0]!r} in the annotations (they have {sorted(image_id)[:5]} ...)")
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for a in annotations["annotations"]:
        if a.get("iscrowd") or not a.get("num_keypoints"):
            continue
        kps = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
        kps[list(unlabel), 2] = 0
        if labelled_visible:
            kps[kps[:, 2] > 0, 2] = 2
        by_image.setdefault(a["image_id"], []).append(
            {"track_id": int(a["id"]), "bbox": list(map(float, a["bbox"])), "keypoints": kps.tolist()})
    return [{"frame": i, "people": by_image.get(image_id[name], [])} for i, name in enumerate(file_names)]


@dataclass
class Aligned:
    """Ground truth and matched outputs as dense arrays over (frame T, gt person P, keypoint K).

    ``gt`` and ``pred`` are (T, P, K, 3) with NaN where the person is absent / unmatched,
    ``size`` (T, P) the gt box's longer side, ``matched`` (T, P) bool, ``track`` (T, P) the matched
    output's track id (-1: unmatched or untracked), ``present`` (T, P) bool, ``visible`` (T, P) the share of the person's labelled
    keypoints with v = 2.
    """

    ids: list[int]
    gt: np.ndarray
    pred: np.ndarray
    size: np.ndarray
    matched: np.ndarray
    track: np.ndarray
    present: np.ndarray
    visible: np.ndarray


def match_poses(gt_kps: np.ndarray, gt_boxes: np.ndarray, pred_kps: np.ndarray,
                min_oks: float = MIN_OKS) -> list[tuple[int, int]]:
    """Pairs (gt index, output index) of the OKS-maximising assignment with OKS >= ``min_oks``
    (gt keypoints with v = 2 and output keypoints scoring >= 0.3 vote; scale: gt box area x 0.53)."""
    if len(gt_kps) == 0 or len(pred_kps) == 0:
        return []
    gt = np.array(gt_kps, np.float64)
    gt[..., 2] = gt[..., 2] == 2
    wh = gt_boxes[:, 2:] - gt_boxes[:, :2]
    oks = np.nan_to_num(oks_matrix(pred_kps, gt, wh[:, 0] * wh[:, 1] * 0.53).T, nan=0.0)  # (gt, output)
    rows, cols = linear_sum_assignment(-oks)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if oks[r, c] >= min_oks]


def align(frames: Sequence[dict], outputs: Sequence[Any], match: str = "auto", min_iou: float = MIN_IOU,
          min_oks: float = MIN_OKS) -> Aligned:
    """Match every frame's outputs to its ground truth (see :func:`match_boxes`, :func:`match_poses`)."""
    n = min(len(frames), len(outputs))
    ids = sorted({p["track_id"] for f in frames[:n] for p in f["people"]})
    col = {g: i for i, g in enumerate(ids)}
    k = len(frames[0]["people"][0]["keypoints"]) if any(f["people"] for f in frames[:n]) else 17
    gt = np.full((n, len(ids), k, 3), np.nan)
    pred = np.full_like(gt, np.nan)
    size = np.full((n, len(ids)), np.nan)
    track = np.full((n, len(ids)), -1, np.int64)
    matched = np.zeros((n, len(ids)), bool)
    for t in range(n):
        people = frames[t]["people"]
        gt_boxes, gt_ids, gt_kps = people_arrays(people)
        for i, g in enumerate(gt_ids):
            gt[t, col[int(g)]] = gt_kps[i]
            size[t, col[int(g)]] = max(people[i]["bbox"][2], people[i]["bbox"][3])
        boxes, tids, kps = people_arrays(outputs[t])
        by_pose = match == "pose" or (match == "auto" and kps is not None)
        pairs = match_poses(gt_kps, gt_boxes, kps, min_oks) if by_pose and kps is not None \
            else match_boxes(gt_boxes, boxes, min_iou)
        for gi, pj in pairs:
            c = col[int(gt_ids[gi])]
            track[t, c] = tids[pj]
            matched[t, c] = True
            if kps is not None:
                pred[t, c] = kps[pj]
    present = ~np.isnan(size)
    labelled = np.nanmax(np.where(present[..., None], gt[..., 2] > 0, False), axis=0).sum(axis=-1) \
        if n else np.zeros(len(ids))
    visible = np.where(present, (gt[..., 2] == 2).sum(axis=-1) / np.maximum(labelled, 1), 0.0)
    return Aligned(ids, gt, pred, size, matched, track, present, visible)


def id_metrics(frames: Sequence[dict], outputs: Sequence[Any], track_buffer: int = 30,
               min_visible: float | None = None, match: str = "auto") -> tuple[int, dict[int, float]]:
    """ID switches and per-person coverage.

    A switch is a change of the track id matched to a gt person, except after the person was
    out of sight (absent from the ground truth) for longer than ``track_buffer`` frames, where a
    new id is the designed outcome. Coverage: the share of a person's frames with a matched
    track; with ``min_visible`` only frames where they are at least that visible (see
    :data:`HALF_VISIBLE`) count. People with no such frame are left out.
    """
    a = align(frames, outputs, match)
    switches = 0
    coverage: dict[int, float] = {}
    for c, gid in enumerate(a.ids):
        last_tid, last_seen = None, None
        for t in np.flatnonzero(a.present[:, c]):
            if last_seen is not None and t - last_seen > track_buffer + 1:
                last_tid = None
            last_seen = t
            if a.matched[t, c]:
                tid = int(a.track[t, c])
                switches += last_tid is not None and last_tid != tid
                last_tid = tid
        frames_of = a.present[:, c] if min_visible is None else a.present[:, c] & (a.visible[:, c] >= min_visible)
        if frames_of.any():
            coverage[gid] = float((frames_of & a.matched[:, c]).sum() / frames_of.sum())
    return switches, coverage


def keypoint_error(a: Aligned, shift: float = 0.0, mask: np.ndarray | None = None) -> float:
    """Mean distance (pixels) of matched outputs' keypoints to the gt ``shift`` frames earlier
    (linearly interpolated), over keypoints visible (v = 2) in the ground truth."""
    gt_xy, ok = _shifted_gt(a, shift)
    d = np.linalg.norm(a.pred[..., :2] - gt_xy, axis=-1)
    use = ok & ~np.isnan(d) if mask is None else mask
    return float(d[use].mean()) if use.any() else float("nan")


def _shifted_gt(a: Aligned, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """gt positions at time t - shift (T, P, K, 2), and where they are defined and visible."""
    t = a.gt.shape[0]
    src = np.arange(t) - shift
    lo = np.floor(src).astype(int)
    w = (src - lo)[:, None, None, None]
    valid_t = (lo >= 0) & (lo + 1 < t) | ((lo >= 0) & (lo < t) & (w[:, 0, 0, 0] == 0))
    lo_c, hi_c = np.clip(lo, 0, t - 1), np.clip(lo + 1, 0, t - 1)
    g_lo, g_hi = a.gt[lo_c], a.gt[hi_c]
    hi_used = np.where(w > 0, g_hi, g_lo)
    xy = g_lo[..., :2] * (1 - w) + hi_used[..., :2] * w
    vis = (g_lo[..., 2] == 2) & (hi_used[..., 2] == 2) & valid_t[:, None, None]
    return xy, vis


def lag(a: Aligned, max_lag: float = 3.0, step: float = 0.25) -> float:
    """The time offset (frames) that best aligns the outputs to the ground truth: the ``shift``
    minimising :func:`keypoint_error`, over keypoints defined for every candidate shift."""
    shifts = np.arange(-max_lag, max_lag + step / 2, step)
    common = np.ones(a.pred.shape[:3], bool)
    for s in shifts:
        common &= _shifted_gt(a, s)[1]
    common &= ~np.isnan(a.pred[..., 0])
    errors = [keypoint_error(a, s, common) for s in shifts]
    return float(shifts[int(np.nanargmin(errors))])


def jitter(a: Aligned, still: float = 0.5) -> dict[str, float]:
    """Mean frame-to-frame displacement of output keypoints whose gt does not move (by less than
    ``still`` pixels) and is visible in both frames: pixels, and per mille of the person's size."""
    gt, pred = a.gt, a.pred
    moved = np.linalg.norm(gt[1:, ..., :2] - gt[:-1, ..., :2], axis=-1)
    use = (moved < still) & (gt[1:, ..., 2] == 2) & (gt[:-1, ..., 2] == 2)
    d = np.linalg.norm(pred[1:, ..., :2] - pred[:-1, ..., :2], axis=-1)
    use &= ~np.isnan(d)
    rel = d / a.size[1:, :, None]
    return {"px": float(d[use].mean()) if use.any() else float("nan"),
            "rel": float(1000 * rel[use].mean()) if use.any() else float("nan"), "samples": int(use.sum())}


def pck(frames: Sequence[dict], outputs: Sequence[Any], alpha: float = 0.1, match: str = "box") -> dict[str, float]:
    """PCK@alpha over matched people's keypoints labelled in the gt (v > 0): within ``alpha`` x the
    gt box's longer side; recall (share of gt people matched); and ``pck_all``: the share of all
    labelled keypoints of all gt people that are correct (a missed person's keypoints count as
    wrong), with people matched by pose at any OKS > 0, which rewards finding people as well."""
    a = align(frames, outputs, match)
    d = np.linalg.norm(a.pred[..., :2] - a.gt[..., :2], axis=-1)
    labelled = (a.gt[..., 2] > 0) & ~np.isnan(a.pred[..., 0])
    close = d <= alpha * a.size[..., None]
    every = align(frames, outputs, "pose", min_oks=1e-6)
    d_all = np.linalg.norm(every.pred[..., :2] - every.gt[..., :2], axis=-1)
    correct_all = (d_all <= alpha * every.size[..., None]) & (every.gt[..., 2] > 0)
    pck_all = float(correct_all.sum() / max((every.gt[..., 2] > 0).sum(), 1))
    return {"pck": float((close & labelled).sum() / max(labelled.sum(), 1)), "pck_all": pck_all,
            "recall": float(a.matched.sum() / max(a.present.sum(), 1)), "keypoints": int(labelled.sum())}


def summary(frames: Sequence[dict], outputs: Sequence[Any], track_buffer: int = 30) -> dict[str, Any]:
    """Everything at once: PCK@0.1, recall, id switches, coverage (all frames and more-than-half
    visible frames), keypoint error (px) and lag (frames)."""
    switches, coverage = id_metrics(frames, outputs, track_buffer)
    _, half = id_metrics(frames, outputs, track_buffer, HALF_VISIBLE)
    a = align(frames, outputs)
    return {**pck(frames, outputs), "id_switches": switches,
            "coverage_min": min(coverage.values(), default=float("nan")),
            "coverage_half_visible_min": min(half.values(), default=float("nan")),
            "coverage_half_visible": half, "error_px": keypoint_error(a), "lag": lag(a)}

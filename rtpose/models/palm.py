"""MediaPipe's palm detector: where the hands are in a close-up frame, and the hand region each palm gives.

The palm detector is an SSD: for each of its 2016 anchors it gives a box and 7 palm keypoints
as offsets from the anchor (in input pixels) and a score logit. The anchors are not in the
model file; they are generated from the options MediaPipe's graph (``palm_detection_cpu``) gives
its ``SsdAnchorsCalculator``: 4 layers, strides 8/16/16/16, scales 0.1484375..0.75, two anchors
per cell, fixed anchor size. The frame is letterboxed into the 192x192 input (kept aspect,
centred, black bars), as MediaPipe does.

A palm is smaller and more rigid than a hand, so it is found more reliably; the hand's region is
then derived from it (:func:`palm_region`): turned so wrist -> middle-finger knuckle points up,
moved half a palm towards the fingers and grown 2.6 times, the hand landmark model's crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend, open_backend
from rtpose.errors import ModelError
from rtpose.models.region import Region, upright_rotation
from rtpose.schemas import KeypointSchema, register_schema
from rtpose.tracking.oks import iou_matrix

PALM7 = register_schema(KeypointSchema(
    name="palm7",
    keypoints=("wrist", "index_finger_mcp", "middle_finger_mcp", "ring_finger_mcp", "pinky_mcp",
               "thumb_cmc", "thumb_mcp"),
    skeleton=((0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (5, 6)),
))
"""The palm detector's 7 keypoints (what ``palm_detect`` outputs as a pose per palm)."""
WRIST, MIDDLE_MCP = 0, 2


@dataclass(frozen=True)
class SsdAnchorOptions:
    """The options of MediaPipe's ``SsdAnchorsCalculator`` that the BlazePalm/BlazeFace family uses."""

    input_height: int
    input_width: int
    strides: tuple[int, ...]
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    anchor_offset: tuple[float, float] = (0.5, 0.5)
    fixed_anchor_size: bool = True


PALM_ANCHORS = SsdAnchorOptions(192, 192, strides=(8, 16, 16, 16))
"""palm_detection_{full,lite}: 24x24x2 + 12x12x6 = 2016 anchors."""
PALM_INPUT = 192
NUM_PALM_KEYPOINTS = 7
SCORE_CLIP = 100.0
PALM_TO_HAND_SCALE, PALM_TO_HAND_SHIFT = 2.6, -0.5


def _layer_scale(options: SsdAnchorOptions, layer: int) -> float:
    n = len(options.strides)
    if n == 1:
        return (options.min_scale + options.max_scale) / 2
    return options.min_scale + (options.max_scale - options.min_scale) * layer / (n - 1)


def ssd_anchors(options: SsdAnchorOptions) -> np.ndarray:
    """(A, 4) anchors ``cx, cy, w, h``, normalised to the input, in the order the model's rows follow.

    Consecutive layers with the same stride share one feature map; each cell of it gets, per such
    layer, one anchor per aspect ratio plus one at the scale interpolated with the next layer's.
    Anchors run row by row over the cells, all of a cell's anchors together."""
    strides = options.strides
    rows: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        sizes: list[tuple[float, float]] = []  # (w, h) per anchor of a cell
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _layer_scale(options, last)
            for ratio in options.aspect_ratios:
                sizes.append((scale * math.sqrt(ratio), scale / math.sqrt(ratio)))
            if options.interpolated_scale_aspect_ratio > 0:
                following = 1.0 if last == len(strides) - 1 else _layer_scale(options, last + 1)
                between, ratio = math.sqrt(scale * following), options.interpolated_scale_aspect_ratio
                sizes.append((between * math.sqrt(ratio), between / math.sqrt(ratio)))
            last += 1
        fh = math.ceil(options.input_height / strides[layer])
        fw = math.ceil(options.input_width / strides[layer])
        ys, xs = np.meshgrid((np.arange(fh) + options.anchor_offset[1]) / fh,
                             (np.arange(fw) + options.anchor_offset[0]) / fw, indexing="ij")
        wh = np.ones((len(sizes), 2)) if options.fixed_anchor_size else np.array(sizes)
        centres = np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), len(sizes), axis=0)
        rows.append(np.concatenate([centres, np.tile(wh, (fh * fw, 1))], axis=1))
        layer = last
    return np.concatenate(rows).astype(np.float32)


def frame_region(width: int, height: int) -> Region:
    """The whole frame as a centred square: cropping it to the input letterboxes the frame."""
    return Region(width / 2, height / 2, float(max(width, height)), float(max(width, height)))


def preprocess(image_bgr: np.ndarray) -> tuple[np.ndarray, Region]:
    """(1, 192, 192, 3) float32 RGB in [0, 1] of the letterboxed frame, and the region it shows."""
    region = frame_region(image_bgr.shape[1], image_bgr.shape[0])
    crop = region.crop(image_bgr, PALM_INPUT, PALM_INPUT)[..., ::-1]
    return (crop.astype(np.float32) / 255.0)[None], region


@dataclass
class Palms:
    """Palms in image pixels: ``boxes`` (N, 4) x1 y1 x2 y2, ``keypoints`` (N, 7, 2), ``scores`` (N,)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
           input_size: int = PALM_INPUT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per anchor: box ``x1, y1, x2, y2``, keypoints (A, 7, 2), both normalised to the input, and the
    score (sigmoid of the logit, clipped at +-100 as MediaPipe does)."""
    raw = np.asarray(raw_boxes, np.float32).reshape(len(anchors), -1)
    scale = anchors[:, 2:4] / input_size  # offsets are in input pixels, relative to the anchor size
    centre = raw[:, 0:2] * scale + anchors[:, 0:2]
    half = raw[:, 2:4] * scale / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    kps = raw[:, 4:4 + 2 * NUM_PALM_KEYPOINTS].reshape(-1, NUM_PALM_KEYPOINTS, 2) * scale[:, None] \
        + anchors[:, None, 0:2]
    logits = np.clip(np.asarray(raw_scores, np.float32).reshape(-1), -SCORE_CLIP, SCORE_CLIP)
    return boxes, kps, 1.0 / (1.0 + np.exp(-logits))


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression: the best remaining detection absorbs every other
    overlapping it by more than ``iou_threshold``; its box and keypoints become their score-weighted
    mean (steadier than keeping one anchor's), its score stays the best one's."""
    order = np.argsort(-scores)
    iou = iou_matrix(boxes.astype(np.float32), boxes.astype(np.float32))
    left = np.ones(len(scores), bool)
    out_boxes, out_kps, out_scores = [], [], []
    for i in order:
        if not left[i]:
            continue
        group = np.flatnonzero(left & (iou[i] > iou_threshold))
        group = np.union1d(group, [i])
        left[group] = False
        w = scores[group] / scores[group].sum()
        out_boxes.append(w @ boxes[group])
        out_kps.append(np.tensordot(w, keypoints[group], axes=1))
        out_scores.append(scores[i])
    if not out_scores:
        return np.zeros((0, 4), np.float32), np.zeros((0, keypoints.shape[1], 2), np.float32), np.zeros(0, np.float32)
    return (np.array(out_boxes, np.float32), np.array(out_kps, np.float32), np.array(out_scores, np.float32))


def postprocess(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, region: Region,
                min_score: float = 0.5, iou_threshold: float = 0.3) -> Palms:
    """The model's raw outputs to palms in image pixels: decode, threshold, weighted NMS, undo the letterbox."""
    boxes, kps, scores = decode(raw_boxes, raw_scores, anchors)
    keep = scores >= min_score
    boxes, kps, scores = weighted_nms(boxes[keep], kps[keep], scores[keep], iou_threshold)
    corners = region.points_to_image(boxes.reshape(-1, 2, 2) * PALM_INPUT, PALM_INPUT, PALM_INPUT)
    points = region.points_to_image(kps * PALM_INPUT, PALM_INPUT, PALM_INPUT)
    return Palms(corners.reshape(-1, 4).astype(np.float32), points.astype(np.float32), scores)


def palm_region(box: np.ndarray, keypoints: np.ndarray) -> Region:
    """The hand landmark model's region for one palm (MediaPipe's palm -> hand ROI): the palm box turned
    so that wrist -> middle-finger knuckle points up, shifted half its height towards the fingers,
    made square on its longer side and grown 2.6 times."""
    rotation = upright_rotation(keypoints[WRIST, :2], keypoints[MIDDLE_MCP, :2])
    return (Region.from_box(box, rotation).shifted(0.0, PALM_TO_HAND_SHIFT).squared()
            .scaled(PALM_TO_HAND_SCALE))


class PalmDetector:
    """``image (BGR) -> Palms`` with MediaPipe's palm detection model (``.onnx`` or ``.tflite``)."""

    def __init__(self, model: str | Path | Backend, backend: str = "auto", device: str = "auto",
                 min_score: float = 0.5, iou_threshold: float = 0.3, **options: Any) -> None:
        self.backend = model if isinstance(model, Backend) else open_backend(model, backend, device, **options)
        self.path = str(model) if not isinstance(model, Backend) else model.name
        shape = tuple(self.backend.input_shapes[0])
        self.anchors = ssd_anchors(PALM_ANCHORS)
        if shape[1:] != (PALM_INPUT, PALM_INPUT, 3) or len(self.backend.output_names) != 2:
            raise ModelError(f"{self.path}: expected a palm detection model with input [1, 192, 192, 3] and two "
                             f"outputs (boxes, scores); got input {list(shape)}, outputs {self.backend.output_names}")
        self.min_score, self.iou_threshold = min_score, iou_threshold

    def __call__(self, image_bgr: np.ndarray) -> Palms:
        batch, region = preprocess(image_bgr)
        outs = self.backend.run(batch)
        raw_boxes, raw_scores = sorted(outs, key=lambda o: -o.shape[-1])  # [1, A, 18] then [1, A, 1]
        if raw_boxes.size != len(self.anchors) * 18:
            raise ModelError(f"{self.path}: {raw_boxes.shape} box outputs for {len(self.anchors)} anchors x 18")
        return postprocess(raw_boxes, raw_scores, self.anchors, region, self.min_score, self.iou_threshold)

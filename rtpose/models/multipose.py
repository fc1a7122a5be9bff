"""MoveNet MultiPose (Google): a single-stage bottom-up model that gives up to 6 people per run,
each with 17 COCO keypoints, a box and a score, with no grouping step of our own.

Contract (the TF Hub model, as converted to ONNX): int32 NHWC RGB 0..255, height and width any
multiples of 32 (larger inputs find smaller people, at a cost); output (1, 6, 56): per person
17 x (y, x, score) normalised to the input, then ymin, xmin, ymax, xmax, score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend, open_backend, static_dim
from rtpose.errors import ModelError
from rtpose.models.yolox import letterbox
from rtpose.types import COCO_KEYPOINTS, Poses

KEYPOINTS = len(COCO_KEYPOINTS)
PERSON_VALUES = KEYPOINTS * 3 + 5
MULTIPLE = 32


def check_input_size(input_size: Sequence[int]) -> tuple[int, int]:
    """(width, height), both positive multiples of 32, or a ModelError saying which is not."""
    width, height = int(input_size[0]), int(input_size[1])
    if width <= 0 or height <= 0 or width % MULTIPLE or height % MULTIPLE:
        raise ModelError(f"MoveNet MultiPose input size {width}x{height}: width and height must be "
                         f"positive multiples of {MULTIPLE} (e.g. 320x256 or 640x384)")
    return width, height


def preprocess(image_bgr: np.ndarray, input_size: Sequence[int]) -> tuple[np.ndarray, float]:
    """(1, H, W, 3) int32 RGB 0..255: the frame letterboxed top-left into ``input_size`` (width,
    height); and the scale (``image_xy = input_xy / scale``)."""
    tensor, scale = letterbox(image_bgr, check_input_size(input_size))
    return np.ascontiguousarray(tensor[:, ::-1].transpose(0, 2, 3, 1)).astype(np.int32), scale


def decode(raw: np.ndarray, input_size: Sequence[int], scale: float,
           score_threshold: float = 0.2) -> Poses:
    """(1, 6, 56) output -> the people scoring at least ``score_threshold``, keypoints and boxes in
    image pixels (undoing the letterbox), best first."""
    people = np.asarray(raw, np.float32).reshape(-1, PERSON_VALUES)
    width, height = input_size
    yx = people[:, :KEYPOINTS * 3].reshape(-1, KEYPOINTS, 3)
    keypoints = np.stack([yx[..., 1] * width / scale, yx[..., 0] * height / scale, yx[..., 2]], axis=-1)
    ymin, xmin, ymax, xmax, score = people[:, KEYPOINTS * 3:].T
    boxes = np.stack([xmin * width, ymin * height, xmax * width, ymax * height], axis=1) / scale
    keep = np.flatnonzero(score >= score_threshold)
    keep = keep[np.argsort(-score[keep], kind="stable")]
    return Poses(boxes=boxes[keep], scores=score[keep], class_ids=np.zeros(len(keep), np.int64),
                 keypoints=keypoints[keep])


class MultiPoseEstimator:
    """``image -> Poses`` (COCO-17, untracked, at most 6 people) with MoveNet MultiPose."""

    def __init__(self, model: str | Path | Backend, backend: str = "auto", device: str = "auto",
                 input_size: Sequence[int] = (320, 256), score_threshold: float = 0.2, **options: Any) -> None:
        self.input_size = check_input_size(input_size)
        self.backend = model if isinstance(model, Backend) else open_backend(model, backend, device, **options)
        self.path = str(model) if not isinstance(model, Backend) else model.name
        shape = self.backend.input_shapes[0]
        fixed = (static_dim(shape, 2), static_dim(shape, 1))
        if len(shape) != 4 or static_dim(shape, 3) != 3:
            raise ModelError(f"{self.path}: expected an NHWC input [1, H, W, 3] (MoveNet MultiPose), got {list(shape)}")
        if all(fixed) and fixed != self.input_size:
            raise ModelError(f"{self.path}: the model's input is fixed at {fixed[0]}x{fixed[1]}, "
                             f"not the {self.input_size[0]}x{self.input_size[1]} asked for")
        self.score_threshold = score_threshold

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """The network alone: (1, 6, 56)."""
        raw = self.backend.run(tensor)[0]
        if raw.shape[-1] != PERSON_VALUES:
            raise ModelError(f"{self.path}: expected (1, 6, {PERSON_VALUES}) outputs, got {list(raw.shape)}")
        return raw

    def __call__(self, image_bgr: np.ndarray) -> Poses:
        tensor, scale = preprocess(image_bgr, self.input_size)
        return decode(self.infer(tensor), self.input_size, scale, self.score_threshold)

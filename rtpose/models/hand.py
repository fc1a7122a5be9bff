"""MediaPipe Hands landmarks: 21 hand points (image and metric), presence and handedness per hand region.

The landmark model (``hand_landmark_{full,lite}``) takes a 224x224 RGB crop in [0, 1] of one hand
standing upright in it (wrist at the bottom, fingers up) and gives 21 points in crop pixels (x, y
and a relative depth z), a presence score, a handedness score and the same 21 points in metres
around the hand's centre ("world landmarks"). How well it works depends on the crop: an upright,
well-sized hand. The crop is a :class:`~rtpose.models.region.Region`, found one of three ways:

- :func:`landmarks_region`: from the hand's own landmarks on the previous frame (MediaPipe's
  landmark-to-ROI step), the steady state of tracking a hand;
- :func:`rtpose.models.palm.palm_region`: from the palm detector, for close-up hand cameras;
- :func:`forearm_region`: from a body pose's elbow and wrist, for hands of tracked people.

Handedness convention: rtpose reports the hand's real side as seen in an unmirrored camera image
(a right hand is ``"right"``), the convention of the body's ``left_wrist``/``right_wrist``.
MediaPipe's own labels assume a mirrored (selfie) image and so name the other side; the model's
handedness output is the probability of a right hand in an unmirrored image (FreiHAND's right
hands score 0.97-1.0). For mirrored input, flip it (the ``hand_landmarks`` node's ``mirrored``).

World axes, as MediaPipe gives them (turned back by the region's rotation, so that they align with
the image): x to the image's right, y down, z away from the camera, metres, origin near the
hand's centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend, static_dim
from rtpose.errors import ModelError
from rtpose.models.landmark_model import open_landmark_model, run_crops
from rtpose.models.region import Region, upright_rotation

INPUT_SIZE = 224
NUM_POINTS = 21
ROI_POINTS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
"""The landmarks MediaPipe frames the next region around: the wrist, the thumb's base, every knuckle
and the joint above it (not the fingertips, which move most)."""
LANDMARKS_SCALE, LANDMARKS_SHIFT = 2.0, -0.1
BOX_SCALE = 1.6
"""A hand box (e.g. ground truth) is cropped as a square of this times its longer side."""
FOREARM_REACH = 0.35
"""The hand's centre lies this many forearm lengths beyond the wrist, along the forearm."""
FOREARM_SIZE = 1.6
"""The region's side in forearm lengths (the hand is about 0.75 forearm long)."""
MIN_SIDE_OF_BODY = 0.12
"""The region's side is at least this share of the body box's longer side (a hand is about a tenth of a
standing person's height; a forearm pointing at the camera looks short). With 1.6 forearms, measured on
the 10 COCO-WholeBody hands with both arm points: every hand keypoint inside its region, 2 of 10 hands
found (as many as from their ground-truth boxes: the others are 11-31 px and held or hidden)."""


def landmarks_region(points: np.ndarray) -> Region:
    """The next frame's region of a hand from its 21 image points (MediaPipe's landmark-to-ROI step).

    Rotation: wrist -> the mean of the middle knuckle and of the index and ring knuckles' midpoint
    points up. Centre and size: the box of :data:`ROI_POINTS` in that rotated frame, moved a tenth
    towards the fingers, made square on its longer side and doubled."""
    pts = np.asarray(points, np.float64)[list(ROI_POINTS), :2]
    knuckles = ((pts[4] + pts[8]) / 2 + pts[6]) / 2  # (index + ring) / 2 with middle; ROI_POINTS order
    rotation = upright_rotation(pts[0], knuckles)
    mid = (pts.min(axis=0) + pts.max(axis=0)) / 2
    c, s = math.cos(rotation), math.sin(rotation)
    upright = (pts - mid) @ np.array([[c, -s], [s, c]])  # each point turned by -rotation
    lo, hi = upright.min(axis=0), upright.max(axis=0)
    centre = mid + np.array([[c, -s], [s, c]]) @ ((lo + hi) / 2)
    region = Region(float(centre[0]), float(centre[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]), rotation)
    return region.shifted(0.0, LANDMARKS_SHIFT).squared().scaled(LANDMARKS_SCALE)


def box_region(box: np.ndarray) -> Region:
    """An upright square region around a hand box ``x1, y1, x2, y2`` (:data:`BOX_SCALE` times its longer side)."""
    return Region.from_box(np.asarray(box, np.float64)).squared().scaled(BOX_SCALE)


def forearm_region(wrist: np.ndarray, elbow: np.ndarray, body_size: float) -> Region:
    """The region of the hand at the end of a forearm: centred beyond the wrist along elbow -> wrist,
    turned so that the forearm points up (the fingers mostly continue it), sized from the forearm's
    length or, when it looks short (pointing at the camera), from the body's size."""
    wrist, elbow = np.asarray(wrist, np.float64)[:2], np.asarray(elbow, np.float64)[:2]
    forearm = wrist - elbow
    length = float(np.linalg.norm(forearm))
    centre = wrist + FOREARM_REACH * forearm
    side = max(FOREARM_SIZE * length, MIN_SIDE_OF_BODY * body_size, 8.0)
    rotation = upright_rotation(elbow, wrist) if length > 1e-6 else 0.0
    return Region(float(centre[0]), float(centre[1]), side, side, rotation)


def preprocess(image_bgr: np.ndarray, regions: list[Region]) -> np.ndarray:
    """(N, 224, 224, 3) float32 RGB in [0, 1]: each region warped upright."""
    crops = [region.crop(image_bgr, INPUT_SIZE, INPUT_SIZE)[..., ::-1] for region in regions]
    if not crops:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    return np.stack(crops).astype(np.float32) / 255.0


@dataclass
class HandLandmarks:
    """Per hand: ``image`` (N, 21, 3) x, y in image pixels and depth z (relative, same scale as x),
    ``world`` (N, 21, 3) metres, ``presence`` (N,), ``right`` (N,) the probability that it is a right
    hand in an unmirrored image, and the ``regions`` they were found in."""

    image: np.ndarray
    world: np.ndarray
    presence: np.ndarray
    right: np.ndarray
    regions: list[Region]

    def __len__(self) -> int:
        return len(self.regions)

    def take(self, indices: list[int] | np.ndarray) -> HandLandmarks:
        idx = np.asarray(indices, np.int64).reshape(-1)
        return HandLandmarks(self.image[idx], self.world[idx], self.presence[idx], self.right[idx],
                             [self.regions[i] for i in idx])


def postprocess(landmarks: np.ndarray, presence: np.ndarray, handedness: np.ndarray, world: np.ndarray,
                regions: list[Region]) -> HandLandmarks:
    """The model's raw outputs (already sigmoid scores) to image pixels through each region, and world
    points turned by each region's rotation back to image-aligned axes."""
    n = len(regions)
    crop = np.asarray(landmarks, np.float32).reshape(n, NUM_POINTS, 3)
    metres = np.asarray(world, np.float32).reshape(n, NUM_POINTS, 3)
    image = np.zeros((n, NUM_POINTS, 3), np.float32)
    turned = metres.copy()
    for i, region in enumerate(regions):
        image[i] = region.points_to_image(crop[i], INPUT_SIZE, INPUT_SIZE)
        image[i, :, 2] *= region.width / INPUT_SIZE  # depth in image pixels, like x
        c, s = math.cos(region.rotation), math.sin(region.rotation)
        turned[i, :, :2] = metres[i, :, :2] @ np.array([[c, s], [-s, c]], np.float32)
    return HandLandmarks(image, turned, np.asarray(presence, np.float32).reshape(n),
                         np.asarray(handedness, np.float32).reshape(n), list(regions))


class HandLandmarker:
    """``(image, regions) -> HandLandmarks`` with MediaPipe's hand landmark model (``.onnx`` or ``.tflite``)."""

    OUTPUTS = ("Identity", "Identity_1", "Identity_2", "Identity_3")
    """landmarks [1, 63], presence [1, 1], handedness [1, 1], world landmarks [1, 63]: the names in
    MediaPipe's file and its ONNX conversion (the two [1, 1] outputs can only be told apart by name)."""

    def __init__(self, model: str | Path | Backend, backend: str = "auto", device: str = "auto",
                 **options: Any) -> None:
        self.backend, self.path = open_landmark_model(model, backend, device, options)
        shape = tuple(self.backend.input_shapes[0])
        if shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3) or not set(self.OUTPUTS) <= set(self.backend.output_names):
            raise ModelError(f"{self.path}: expected a MediaPipe hand landmark model with input [N, 224, 224, 3] "
                             f"and outputs {list(self.OUTPUTS)}; got input {list(shape)}, outputs "
                             f"{self.backend.output_names}")
        self.batched = static_dim(shape, 0) != 1 or self.backend.free_batch_axis()

    def __call__(self, image_bgr: np.ndarray, regions: list[Region]) -> HandLandmarks:
        batch = preprocess(image_bgr, regions)
        if not regions:
            empty = np.zeros((0, NUM_POINTS, 3), np.float32)
            return HandLandmarks(empty, empty.copy(), np.zeros(0, np.float32), np.zeros(0, np.float32), [])
        return postprocess(*run_crops(self.backend, batch, self.batched, self.OUTPUTS), regions)

"""BlazePose GHUM landmarks with metric world coordinates, on a body region aligned from a 2D pose.

MediaPipe's pose landmark model (``pose_landmark_full``) takes a 256x256 RGB crop in [0, 1]
of a person standing upright in it, and gives 33 body points in crop pixels (plus 6 auxiliary
ones) and the same 39 points in metres, hip-centred ("world landmarks"). MediaPipe finds the
region with its own detector; here it comes from the 2D pose rtpose already has for every
tracked person: centred on the hips, turned so that hips -> shoulders points up (as BlazePose
aligns its region), sized to hold every confident keypoint.

World axes, as MediaPipe gives them: x to the image's right, y down, z away from the camera,
metres, origin at the midpoint of the hips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend, static_dim
from rtpose.models.landmark_model import open_landmark_model, outputs_by_size, run_crops
from rtpose.models.region import Region, upright_rotation

INPUT_SIZE = 256
BODY_POINTS = 33
"""The first 33 of the model's 39 points are the BlazePose body points; the rest are auxiliary."""
COCO_HIPS, COCO_SHOULDERS = (11, 12), (5, 6)
REGION_MARGIN = 1.6
"""The square region's half side is this times the farthest confident keypoint from the hips' midpoint.

BlazePose wants the whole body with room around it: on the shared Human3.6M frames (detector box,
SimplePose-nano 2D) PA-MPJPE was 105 mm at 1.25, 98 at 1.4, 87 at 1.6, 81 at 1.8 and 95 at 2.0,
where the standing subject starts to fail; 1.6 keeps clear of that edge. Chosen on those two
frames only, so the figures measured on them are optimistic."""


def body_region(keypoints: np.ndarray, box: np.ndarray, min_score: float = 0.3) -> Region:
    """The aligned square region of one person from a COCO-17 pose (``keypoints`` (17, 3)) and its box.

    Hips and shoulders give the centre and rotation; without confident ones the box's centre,
    upright, is used."""
    kp = np.asarray(keypoints, np.float32)
    ok = kp[:, 2] >= min_score
    hips, shoulders = list(COCO_HIPS), list(COCO_SHOULDERS)
    if ok[hips].all() and ok[shoulders].all():
        centre = kp[hips, :2].mean(axis=0)
        rotation = upright_rotation(centre, kp[shoulders, :2].mean(axis=0))
    else:
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
        rotation = 0.0
    points = kp[ok, :2] if ok.any() else np.array([box[:2], box[2:]], np.float32)
    radius = float(np.linalg.norm(points - centre, axis=1).max()) * REGION_MARGIN
    radius = max(radius, 0.5 * max(float(box[2] - box[0]), float(box[3] - box[1])), 8.0)
    return Region(float(centre[0]), float(centre[1]), 2 * radius, 2 * radius, rotation)


def preprocess(image_bgr: np.ndarray, regions: list[Region]) -> np.ndarray:
    """(N, 256, 256, 3) float32 RGB in [0, 1]: each region warped upright."""
    crops = [region.crop(image_bgr, INPUT_SIZE, INPUT_SIZE)[..., ::-1] for region in regions]
    return np.stack(crops).astype(np.float32) / 255.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class BodyLandmarks:
    """Per person: 33 image points ``x, y, visibility`` and 33 world points ``x, y, z`` (metres)."""

    image: np.ndarray  # (N, 33, 3)
    world: np.ndarray  # (N, 33, 3)
    presence: np.ndarray  # (N,)


def postprocess(landmarks: np.ndarray, world: np.ndarray, presence: np.ndarray,
                regions: list[Region]) -> BodyLandmarks:
    """The model's raw outputs to image pixels (through each region) and metric world points."""
    n = len(regions)
    lm = np.asarray(landmarks, np.float32).reshape(n, -1, 5)[:, :BODY_POINTS]
    image = np.stack([region.points_to_image(lm[i, :, :2], INPUT_SIZE, INPUT_SIZE)
                      for i, region in enumerate(regions)]) if n else np.zeros((0, BODY_POINTS, 2), np.float32)
    visibility = _sigmoid(lm[..., 3])
    points = np.concatenate([image, visibility[..., None]], axis=-1).astype(np.float32)
    metres = np.asarray(world, np.float32).reshape(n, -1, 3)[:, :BODY_POINTS]
    return BodyLandmarks(points, metres, _sigmoid(np.asarray(presence, np.float32).reshape(n)))


class BlazePoseLandmarks:
    """``(image, COCO-17 poses, boxes) -> BodyLandmarks``: one batch (or one run per person where
    the model pins batch 1 and the engine cannot free it)."""

    def __init__(self, model: str | Path | Backend, backend: str = "auto", device: str = "auto",
                 **options: Any) -> None:
        self.backend, self.path = open_landmark_model(model, backend, device, options, INPUT_SIZE,
                                                      "BlazePose landmark")
        shape = self.backend.input_shapes[0]
        outputs = outputs_by_size(self.backend, INPUT_SIZE, {"landmarks": 39 * 5, "world landmarks": 39 * 3,
                                                             "presence": 1}, self.path, "BlazePose GHUM")
        self._outputs = [outputs["landmarks"], outputs["world landmarks"], outputs["presence"]]
        # MediaPipe's file pins batch 1 and its segmentation head's Reshape really needs it (freeing the
        # axis fails the batch check), so people run one at a time unless the model says otherwise
        self.batched = static_dim(shape, 0) != 1

    def __call__(self, image_bgr: np.ndarray, keypoints: np.ndarray, boxes: np.ndarray) -> BodyLandmarks:
        regions = [body_region(kp, box) for kp, box in zip(keypoints, boxes)]
        if not regions:
            empty = np.zeros((0, BODY_POINTS, 3), np.float32)
            return BodyLandmarks(empty, empty.copy(), np.zeros(0, np.float32))
        batch = preprocess(image_bgr, regions)
        landmarks, world, presence = run_crops(self.backend, batch, self.batched, self._outputs)
        return postprocess(landmarks, world, presence, regions)



def blazepose33_to_h36m17(points: np.ndarray) -> np.ndarray:
    """BlazePose's 33 points (..., 33, C) as the 17 Human3.6M joints (..., 17, C), H36M order.

    Direct: hips 23/24, knees 25/26, ankles 27/28, shoulders 11/12, elbows 13/14, wrists 15/16.
    Derived: pelvis = mid-hips, thorax = mid-shoulders, spine = mid(pelvis, thorax), neck base =
    mid(thorax, mouth 9/10), head = mid-ears 7/8. Averaging also averages any score column."""
    p = np.asarray(points, np.float32)

    def mid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a + b) / 2

    pelvis, thorax = mid(p[..., 23, :], p[..., 24, :]), mid(p[..., 11, :], p[..., 12, :])
    joints = (pelvis, p[..., 24, :], p[..., 26, :], p[..., 28, :], p[..., 23, :], p[..., 25, :], p[..., 27, :],
              mid(pelvis, thorax), thorax, mid(thorax, mid(p[..., 9, :], p[..., 10, :])), mid(p[..., 7, :], p[..., 8, :]),
              p[..., 11, :], p[..., 13, :], p[..., 15, :], p[..., 12, :], p[..., 14, :], p[..., 16, :])
    return np.stack(joints, axis=-2)

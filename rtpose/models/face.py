"""MediaPipe Face Mesh on a face region found from a body pose's head points.

The face landmark model (``face_landmark``: 192x192 RGB crop in [0, 1], NHWC) gives the 468
mesh vertices in crop pixels (x, y, z) and a face-presence logit. MediaPipe finds the crop with
its face detector; here it comes from the body pose rtpose already has for every tracked
person: the eyes give the face's centre line and roll (the crop is turned so that the eyes lie
level, as MediaPipe aligns its face region), and the spread of eyes, ears and nose its size.

Pre-processing (:func:`face_region`, :func:`preprocess`), inference (:meth:`FaceLandmarks.infer`)
and post-processing (:func:`postprocess`) are separate functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend, static_dim
from rtpose.models.landmark_model import open_landmark_model, outputs_by_size, run_crops
from rtpose.models.region import Region, upright_rotation

INPUT_SIZE = 192
MESH_POINTS = 468
NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR = 0, 1, 2, 3, 4
"""The head points of COCO-17 (and of COCO-WholeBody, whose first 17 points are COCO-17's)."""

FACE_WIDTH_PER_EYE_DISTANCE = 2.2
"""A face is about this many eye distances wide (eye centre to eye centre, seen from the front)."""
FACE_WIDTH_PER_EAR_TO_NOSE = 1.3
"""Seen from the side, a face is about this many ear-to-nose distances wide."""
MAX_TURN = 2.5
"""A face turned aside shows its eyes closer together, by up to about this factor before one hides."""
CENTRE_BELOW_EYES = 0.25
"""The face's centre lies this many face widths below the eyes' midpoint (towards the mouth)."""
REGION_SCALE = 1.9
"""The square crop's side in face widths. A generous margin: head points place a face less
exactly than MediaPipe's face detector does. (On the 4 COCO-WholeBody faces in ../shared,
with SimplePose-nano's head points, 1.9 found all 4 and 1.4-1.6 lost one; a small sample.)"""


def face_region(keypoints: np.ndarray, min_score: float = 0.3) -> Region | None:
    """The square, roll-aligned face region of one person from their body pose (K, 3), or None
    when too few head points are confident (fewer than two of nose, eyes and ears)."""
    kp = np.asarray(keypoints, np.float32)
    ok = kp[:5, 2] >= min_score
    if ok.sum() < 2:
        return None
    pts = kp[:5, :2]
    widths = []
    if ok[LEFT_EYE] and ok[RIGHT_EYE]:
        widths.append(FACE_WIDTH_PER_EYE_DISTANCE * float(np.linalg.norm(pts[LEFT_EYE] - pts[RIGHT_EYE])))
    if ok[LEFT_EAR] and ok[RIGHT_EAR]:
        widths.append(float(np.linalg.norm(pts[LEFT_EAR] - pts[RIGHT_EAR])))
    if ok[NOSE]:
        widths += [FACE_WIDTH_PER_EAR_TO_NOSE * float(np.linalg.norm(pts[ear] - pts[NOSE]))
                   for ear in (LEFT_EAR, RIGHT_EAR) if ok[ear]]
    eyes = [e for e in (LEFT_EYE, RIGHT_EYE) if ok[e]]
    if not widths:  # one eye and the nose: their distance is about a quarter face
        other = NOSE if ok[NOSE] else next(k for k in range(5) if ok[k] and k not in eyes)
        widths.append(4.0 * float(np.linalg.norm(pts[eyes[0]] - pts[other])) if eyes else 8.0)
    width = float(np.median(widths))  # the median, and no more than a turned head allows: a misplaced ear
    if ok[LEFT_EYE] and ok[RIGHT_EYE]:  # must not blow the face up
        width = min(width, MAX_TURN * widths[0])
    width = max(width, 8.0)
    rotation = 0.0
    if ok[LEFT_EYE] and ok[RIGHT_EYE]:  # the subject's right eye -> left eye points right on screen
        rotation = upright_rotation(pts[RIGHT_EYE], pts[LEFT_EYE], target=0.0)
    anchor = pts[eyes].mean(axis=0) if eyes else pts[ok].mean(axis=0)
    region = Region(float(anchor[0]), float(anchor[1]), width, width, rotation)
    return region.shifted(0.0, CENTRE_BELOW_EYES if eyes else 0.0).scaled(REGION_SCALE)


def preprocess(image_bgr: np.ndarray, regions: list[Region]) -> np.ndarray:
    """(N, 192, 192, 3) float32 RGB in [0, 1]: each face region warped level."""
    crops = [region.crop(image_bgr, INPUT_SIZE, INPUT_SIZE)[..., ::-1] for region in regions]
    return np.stack(crops).astype(np.float32) / 255.0


@dataclass
class FaceMeshes:
    """Per face: 468 image points ``x, y, score`` (the score is the face's presence) and presence."""

    points: np.ndarray  # (N, 468, 3)
    presence: np.ndarray  # (N,)


def postprocess(landmarks: np.ndarray, presence_logits: np.ndarray, regions: list[Region]) -> FaceMeshes:
    """Raw outputs ([N, 1404] crop-pixel x, y, z; [N, 1] logits) to image points through each region."""
    n = len(regions)
    mesh = np.asarray(landmarks, np.float32).reshape(n, MESH_POINTS, 3)
    presence = (1.0 / (1.0 + np.exp(-np.asarray(presence_logits, np.float32).reshape(n)))).astype(np.float32)
    xy = np.stack([region.points_to_image(mesh[i, :, :2], INPUT_SIZE, INPUT_SIZE) for i, region in enumerate(regions)])
    scores = np.repeat(presence[:, None, None], MESH_POINTS, axis=1)
    return FaceMeshes(np.concatenate([xy, scores], axis=-1).astype(np.float32), presence)


class FaceLandmarks:
    """``(image, regions) -> FaceMeshes`` with the MediaPipe face landmark model (ONNX or TFLite)."""

    def __init__(self, model: str | Path | Backend, backend: str = "auto", device: str = "auto",
                 **options: Any) -> None:
        self.backend, self.path = open_landmark_model(model, backend, device, options, INPUT_SIZE, "face landmark")
        shape = self.backend.input_shapes[0]
        outputs = outputs_by_size(self.backend, INPUT_SIZE, {"landmarks": MESH_POINTS * 3, "presence": 1},
                                  self.path, "face mesh")
        self._outputs = [outputs["landmarks"], outputs["presence"]]
        self.batched = static_dim(shape, 0) != 1  # MediaPipe's file pins batch 1 and a Reshape needs it

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks (N, 1404) and presence logits (N, 1) for a (N, 192, 192, 3) batch."""
        mesh, presence = run_crops(self.backend, batch, self.batched, self._outputs)
        return mesh, presence

    def __call__(self, image_bgr: np.ndarray, regions: list[Region]) -> FaceMeshes:
        if not regions:
            return FaceMeshes(np.zeros((0, MESH_POINTS, 3), np.float32), np.zeros(0, np.float32))
        mesh, presence = self.infer(preprocess(image_bgr, regions))
        return postprocess(mesh, presence, regions)

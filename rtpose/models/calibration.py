"""INT8 calibration inputs made by the models' own pre-processing, by the name an engine spec
gives (``calibration: {preprocess: yolox | topdown}``).

It lives with the models, not in :mod:`rtpose.engines`, because engines sit below the model code
(models use backends, backends run engines): the engine builder takes one of these as a plain
function.
"""

from __future__ import annotations

import numpy as np

from rtpose.engines.calibration import Preprocess
from rtpose.models.heatmap import box_to_center_scale, crop_affine, normalize
from rtpose.models.yolox import letterbox


def yolox_input(image_bgr: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """A whole frame, letterboxed as the detector sees it."""
    return letterbox(image_bgr, size_wh)[0]


def topdown_input(image_bgr: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """The whole image as one person box, cropped and normalised as the pose model sees it."""
    h, w = image_bgr.shape[:2]
    centers, scales = box_to_center_scale(np.array([[0, 0, w, h]], np.float32), size_wh[0] / size_wh[1])
    return normalize(crop_affine(image_bgr, centers, scales, size_wh))


PREPROCESS: dict[str, Preprocess] = {"yolox": yolox_input, "topdown": topdown_input}

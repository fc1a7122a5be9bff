"""INT8 calibration batches, pre-processed exactly like the model's own input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rtpose.errors import ModelError

from rtpose.engines.spec import Calibration


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def calibration_images(folder: Path, count: int) -> list[Path]:
    """The first ``count`` images (sorted by name) of ``folder``."""
    if not folder.is_dir():
        raise ModelError(f"calibration folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ModelError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in calibration folder {folder}")
    return files[:count]


def preprocess_for(kind: str, image_bgr: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """One image -> (1, 3, H, W) float32 exactly as the model's own pre-processing makes it."""
    if kind == "yolox":
        from rtpose.models.yolox import letterbox

        return letterbox(image_bgr, size_wh)[0]
    from rtpose.models.heatmap import box_to_center_scale, crop_affine, normalize

    h, w = image_bgr.shape[:2]
    centers, scales = box_to_center_scale(np.array([[0, 0, w, h]], np.float32), size_wh[0] / size_wh[1])
    return normalize(crop_affine(image_bgr, centers, scales, size_wh))


def calibration_batches(calibration: Calibration, base_dir: Path,
                        shape: list[int] | tuple[int, ...]) -> Iterator[np.ndarray]:
    """Batches of ``shape`` (N, 3, H, W) for the INT8 calibrator; a last partial batch is dropped.

    TensorRT calibrates with the profile's ``opt`` shape, which is what callers pass as ``shape``.
    """
    import cv2

    batch, height, width = int(shape[0]), int(shape[2]), int(shape[3])
    files = calibration_images((base_dir / calibration.images).resolve(), calibration.count)
    if len(files) < batch:
        raise ModelError(f"calibration needs at least one batch of {batch} images, found {len(files)}")
    current: list[np.ndarray] = []
    for file in files:
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise ModelError(f"cannot read calibration image {file}")
        current.append(preprocess_for(calibration.preprocess, image, (width, height)))
        if len(current) == batch:
            yield np.concatenate(current).astype(np.float32)
            current = []

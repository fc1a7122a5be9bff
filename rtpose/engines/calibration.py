"""INT8 calibration batches, pre-processed exactly like the model's own input.

The pre-processing itself belongs to the model code (a layer above this one), so it is passed
in: :data:`rtpose.models.calibration.PREPROCESS` maps a spec's ``preprocess:`` name to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from rtpose.capture import IMAGE_SUFFIXES
from rtpose.engines.spec import Calibration
from rtpose.errors import ModelError

Preprocess = Callable[[np.ndarray, tuple[int, int]], np.ndarray]
"""One BGR image and the input ``(width, height)`` -> the model's (1, 3, H, W) float32 input."""


def calibration_images(folder: Path, count: int) -> list[Path]:
    """The first ``count`` images (sorted by name) of ``folder``."""
    if not folder.is_dir():
        raise ModelError(f"calibration folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ModelError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in calibration folder {folder}")
    return files[:count]


def calibration_batches(calibration: Calibration, base_dir: Path, shape: list[int] | tuple[int, ...],
                        preprocess: Preprocess) -> Iterator[np.ndarray]:
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
        current.append(preprocess(image, (width, height)))
        if len(current) == batch:
            yield np.concatenate(current).astype(np.float32)
            current = []

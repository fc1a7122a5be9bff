"""Top-down heatmap pose (SimpleBaseline / HRNet contract): crop each person, predict
one heatmap per keypoint, decode the peaks with DARK, map them back to the image.

The stages follow mmpose's conventions (box -> centre/scale with a fixed aspect
and 1.25 padding, one affine warp per person, DARK sub-pixel refinement) as pure
functions, so any model with the same contract (HRNet-W32/W48 256x192, the
SimplePose test model) plugs into :class:`TopDownPoseEstimator` unchanged.

Sizes are ``(width, height)``; scales are box sizes in image pixels (mmpose 1.x,
not the old "/200" units).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtpose.backends.base import Backend, open_backend, static_dim
from rtpose.errors import ModelError
from rtpose.models.registry import IMAGENET_MEAN, IMAGENET_STD


def box_to_center_scale(boxes: np.ndarray, aspect: float = 192 / 256,
                        padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """xyxy boxes (N, 4) -> centres (N, 2) and scales (N, 2) = crop (w, h) in pixels.

    The box grows to the model's aspect ratio (``aspect`` = width / height) so
    the warp does not distort the person, then by ``padding`` so limbs that
    stick out of a tight box stay in the crop.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    wider = w > h * aspect
    w_fixed = np.where(wider, w, h * aspect)
    h_fixed = np.where(wider, w / aspect, h)
    scales = np.stack([w_fixed, h_fixed], axis=1) * padding
    return centers.astype(np.float32), scales.astype(np.float32)


def _rotate(point: np.ndarray, angle_rad: float) -> np.ndarray:
    s, c = np.sin(angle_rad), np.cos(angle_rad)
    return np.array([point[0] * c - point[1] * s, point[0] * s + point[1] * c], np.float32)


def get_affine_transform(center: Sequence[float], scale: Sequence[float], rotation: float,
                         output_size: Sequence[int], inverse: bool = False) -> np.ndarray:
    """2x3 matrix taking the ``scale``-sized region around ``center`` to ``output_size``.

    As mmpose: the centre goes to the output centre and the region's width to the
    output width, rotated by ``rotation`` degrees; ``inverse`` maps back.
    Built from three point pairs, so rotation comes for free.
    """
    center = np.asarray(center, np.float32)
    src_w = float(scale[0])
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    src_dir = _rotate(np.array([0.0, src_w * -0.5]), np.deg2rad(rotation))
    dst_dir = np.array([0.0, dst_w * -0.5], np.float32)
    src = np.stack([center, center + src_dir, center + src_dir + _perpendicular(src_dir)])
    dst_c = np.array([dst_w * 0.5, dst_h * 0.5], np.float32)
    dst = np.stack([dst_c, dst_c + dst_dir, dst_c + dst_dir + _perpendicular(dst_dir)])
    src, dst = src.astype(np.float32), dst.astype(np.float32)
    return cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)


def _perpendicular(direction: np.ndarray) -> np.ndarray:
    """The direction turned 90 degrees (mmpose's third point: ``b + rot90(a - b)``)."""
    return np.array([direction[1], -direction[0]], np.float32)


def crop_affine(image: np.ndarray, centers: np.ndarray, scales: np.ndarray,
                input_size: Sequence[int] = (192, 256)) -> np.ndarray:
    """One warped crop per person -> (N, H, W, 3) array, same dtype as the image.

    Warping (not slicing + resizing) handles boxes that leave the image (filled
    with black, as in training) and does crop and resize in one pass.
    """
    width, height = int(input_size[0]), int(input_size[1])
    crops = np.empty((len(centers), height, width) + image.shape[2:], image.dtype)
    for i, (center, scale) in enumerate(zip(centers, scales)):
        matrix = get_affine_transform(center, scale, 0.0, (width, height))
        crops[i] = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR)
    return crops


def normalize(crops: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD, rgb: bool = True) -> np.ndarray:
    """BGR uint8 crops (N, H, W, 3) -> NCHW float32 ``(x - mean) / std``.

    ``mean``/``std`` are in 0..255 and in the model's channel order (RGB when
    ``rgb``), which is how mmpose configs give them. Written channel by channel
    into the output: about 3x faster than a fancy-indexed whole-array expression.
    """
    n, h, w, _ = crops.shape
    out = np.empty((n, 3, h, w), np.float32)
    for c in range(3):
        np.subtract(crops[..., 2 - c if rgb else c], np.float32(mean[c]), out=out[:, c],
                    dtype=np.float32)
        out[:, c] *= np.float32(1.0 / std[c])
    return out


def heatmap_argmax(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer peak (x, y) of each (N, K, H, W) heatmap -> coords (N, K, 2), values (N, K)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = np.argmax(flat, axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    return coords, maxvals.astype(np.float32)


def blur_heatmaps(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """Gaussian-blur each heatmap, rescaled to keep its maximum (mmpose ``gaussian_blur``).

    Smoothing makes the log-heatmap close to a quadratic around the peak, which
    is what DARK's Taylor expansion assumes.
    """
    out = np.empty_like(heatmaps, dtype=np.float32)
    for n in range(heatmaps.shape[0]):
        for k in range(heatmaps.shape[1]):
            hm = heatmaps[n, k].astype(np.float32)
            peak = hm.max()
            blurred = cv2.GaussianBlur(hm, (kernel, kernel), 0)
            out[n, k] = blurred * (peak / max(blurred.max(), 1e-12)) if peak > 0 else blurred
    return out


def refine_dark(coords: np.ndarray, heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK refinement (Zhang et al. 2020): ``x - H^-1 g`` on the blurred log-heatmap.

    Matches mmpose's ``refine_keypoints_dark``: central differences, with the
    second derivatives taken over two pixels. Peaks within 2 px of the border
    keep their integer position (the stencil would leave the map).
    """
    n, k, h, w = heatmaps.shape
    logs = np.log(np.clip(blur_heatmaps(heatmaps, kernel), 1e-3, 50.0))
    x = coords[..., 0].astype(np.int64)
    y = coords[..., 1].astype(np.int64)
    inside = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    xs, ys = np.clip(x, 2, w - 3), np.clip(y, 2, h - 3)
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")

    def at(dx: int, dy: int) -> np.ndarray:
        return logs[ni, ki, ys + dy, xs + dx]

    center = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * center + at(-2, 0))
    dyy = 0.25 * (at(0, 2) - 2 * center + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy * dxy
    ok = inside & (np.abs(det) > 1e-12)
    safe = np.where(ok, det, 1.0)
    off_x = -(dyy * gx - dxy * gy) / safe
    off_y = -(dxx * gy - dxy * gx) / safe
    refined = coords.astype(np.float32).copy()
    refined[..., 0] += np.where(ok, off_x, 0.0)
    refined[..., 1] += np.where(ok, off_y, 0.0)
    return refined


def decode_heatmaps(heatmaps: np.ndarray, dark: bool = True,
                    blur_kernel: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, H, W) heatmaps -> sub-pixel peaks (N, K, 2) in heatmap pixels, and peak values.

    Plain argmax is quantised to the heatmap grid (4 image px per cell at
    stride 4); DARK recovers most of that. ``blur_kernel`` 11 suits 64x48 maps
    (sigma 2); use 17 for 128x96 maps.
    """
    heatmaps = np.asarray(heatmaps, np.float32)
    if heatmaps.ndim != 4:
        raise ModelError(f"expected heatmaps (N, K, H, W), got shape {heatmaps.shape}")
    coords, maxvals = heatmap_argmax(heatmaps)
    if dark and heatmaps.shape[0]:
        coords = refine_dark(coords, heatmaps, blur_kernel)
    return coords, maxvals


def heatmap_to_image(coords: np.ndarray, centers: np.ndarray, scales: np.ndarray,
                     heatmap_size: Sequence[int]) -> np.ndarray:
    """Heatmap pixels (N, K, 2) -> image pixels, the inverse of the crop warp.

    ``x_img = x_hm / heatmap_w * scale_w + center_x - scale_w / 2`` (same for y),
    exactly what :func:`get_affine_transform` with ``inverse=True`` does for an
    unrotated crop, so the two stay consistent.
    """
    size = np.asarray(heatmap_size, np.float32)
    scales = np.asarray(scales, np.float32)[:, None, :]
    centers = np.asarray(centers, np.float32)[:, None, :]
    return coords / size * scales + centers - scales * 0.5


class TopDownPoseEstimator:
    """Heatmap model as ``(image, person boxes) -> keypoints (N, K, 3)`` (x, y, score).

    All crops of a frame go through the backend as one batch. A model exported with
    batch 1 (the shared SimplePose) first has its batch axis freed where the backend
    can (:meth:`Backend.free_batch_axis`); one that stays fixed gets the crops in
    chunks of its batch size, padding the last chunk. ``max_batch`` caps the batch
    of a dynamic-batch model (GPU memory, latency of very crowded frames).

    The number of keypoints K is the model's: the heatmap output's channel count, read
    once by :meth:`probe_keypoints`. ``heatmap_output`` picks that output by index or
    name for models with several (a CPM-style model's stages, say: choose the last).
    """

    def __init__(self, model: str | Path | Backend, backend: str = "auto", device: str = "auto",
                 input_size: Sequence[int] | None = None,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 rgb: bool = True, padding: float = 1.25, dark: bool = True,
                 blur_kernel: int = 11, max_batch: int | None = None, heatmap_output: int | str = 0,
                 **backend_options: Any) -> None:
        self.backend = model if isinstance(model, Backend) else open_backend(
            model, backend=backend, device=device, **backend_options)
        shape = self.backend.input_shapes[0] if self.backend.input_shapes else ()
        if static_dim(shape, 0) == 1 and self.backend.free_batch_axis():
            shape = self.backend.input_shapes[0]
        self.input_size = _input_size(shape, input_size)
        self.batch_size = static_dim(shape, 0) or max_batch
        self.mean, self.std, self.rgb = mean, std, rgb
        self.padding = padding
        self.dark = dark
        self.blur_kernel = blur_kernel
        self.output_index = _output_index(self.backend, heatmap_output)
        self.num_keypoints: int | None = None  # the heatmap output's K, known after the first run
        # device crops feed the model's first output only
        self.gpu_crops = (_gpu_preprocessor(self.backend, self.input_size, mean, std, rgb)
                          if self.output_index == 0 else None)

    def __call__(self, image_bgr: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Keypoints (N, K, 3) float32 for the N boxes, in image pixels."""
        boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, self.probe_keypoints(), 3), np.float32)
        aspect = self.input_size[0] / self.input_size[1]
        centers, scales = box_to_center_scale(boxes, aspect, self.padding)
        if self.gpu_crops is not None:
            from rtpose.models.gpu_preprocess import run_on_device
            heatmaps = run_on_device(self.backend, self.gpu_crops(image_bgr, centers, scales))
        else:
            crops = crop_affine(image_bgr, centers, scales, self.input_size)
            heatmaps = self.infer(normalize(crops, self.mean, self.std, self.rgb))
        coords, maxvals = decode_heatmaps(heatmaps, self.dark, self.blur_kernel)
        hm_size = (heatmaps.shape[3], heatmaps.shape[2])
        points = heatmap_to_image(coords, centers, scales, hm_size)
        return np.concatenate([points, maxvals[..., None]], axis=-1).astype(np.float32)

    def probe_keypoints(self) -> int:
        """K, the heatmap output's channel count: one run on a blank crop the first time."""
        if self.num_keypoints is None:
            blank = np.zeros((1, 3, self.input_size[1], self.input_size[0]), np.float32)
            heatmaps = self.infer(blank)
            if heatmaps.ndim != 4:
                raise ModelError(f"output {self.output_index} of the pose model is not (N, K, H, W) heatmaps "
                                 f"but shape {heatmaps.shape}; choose the heatmap output (heatmap_output)")
            self.num_keypoints = int(heatmaps.shape[1])
        return self.num_keypoints

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run (N, 3, H, W) through the backend: at once, or in chunks of the fixed batch size."""
        step = self.batch_size
        if step is None or len(batch) == step:
            return self.backend.run(batch)[self.output_index]
        fixed = static_dim(self.backend.input_shapes[0], 0) == step
        outputs = []
        for start in range(0, len(batch), step):
            chunk = batch[start:start + step]
            real = len(chunk)
            if fixed and real < step:  # a static batch axis accepts exactly `step` crops
                pad = np.zeros((step - real,) + chunk.shape[1:], chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            outputs.append(self.backend.run(chunk)[self.output_index][:real])
        return np.concatenate(outputs)


def _output_index(backend: Backend, output: int | str) -> int:
    """The position of the heatmap output, given by index or by name (a clear error otherwise)."""
    names = list(backend.output_names)
    if isinstance(output, str) and not output.lstrip("-").isdigit():
        if output not in names:
            raise ModelError(f"the pose model has no output {output!r}; its outputs: {', '.join(names)}")
        return names.index(output)
    index = int(output)
    if names and not -len(names) <= index < len(names):
        raise ModelError(f"heatmap_output {index} is out of range: the pose model has {len(names)} outputs "
                         f"({', '.join(names)})")
    return index % len(names) if names else index


def _input_size(shape: tuple, given: Sequence[int] | None) -> tuple[int, int]:
    """(width, height) from an NCHW input shape, unless the caller gave one."""
    if given is not None:
        return int(given[0]), int(given[1])
    h, w = static_dim(shape, 2), static_dim(shape, 3)
    if len(shape) != 4 or h is None or w is None:
        raise ModelError(f"cannot read a fixed input size from the model's input shape "
                         f"{shape}: pass input_size=(width, height)")
    return w, h


def _gpu_preprocessor(backend: Backend, input_size: tuple[int, int], mean: Sequence[float],
                      std: Sequence[float], rgb: bool) -> Any:
    """Crops made on the GPU when the model runs there (torch or TensorRT on CUDA), else None.

    The frame is uploaded once and every crop comes from one ``grid_sample``, so no
    crop travels between host and device.
    """
    if backend.device != "cuda" or backend.name not in ("torch", "tensorrt"):
        return None
    import torch

    from rtpose.models.gpu_preprocess import GpuTopDownPreprocessor

    tensorrt = backend.name == "tensorrt"
    dtype = torch.float32 if tensorrt else getattr(backend, "dtype", torch.float32)
    return GpuTopDownPreprocessor(input_size, mean, std, rgb, device="cuda", dtype=dtype,
                                  channels_last=not tensorrt)

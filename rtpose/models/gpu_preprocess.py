"""Top-down pose pre-processing on the GPU with torch: every person crop of a frame in one call.

On the CPU, :func:`rtpose.models.heatmap.crop_affine` warps one crop at a time with OpenCV and
:func:`~rtpose.models.heatmap.normalize` makes NCHW float32 that is then uploaded. Here the
frame is uploaded once (uint8: 4x fewer bytes than float crops), all crops are sampled in one
``grid_sample`` call, normalised, cast to fp16 and laid out channels_last on the device, ready
for a CUDA torch model or :meth:`rtpose.backends.tensorrt.TensorRTBackend.run_torch`.

The affine matrices are the CPU path's own (:func:`~rtpose.models.heatmap.get_affine_transform`),
converted to ``affine_grid``'s normalised ``theta``, so both paths crop the same pixels; the test
compares them on the CPU, where torch runs the same maths.

:class:`GraphedModel` replays a model through CUDA graphs captured for a few fixed batch sizes
("buckets"): HRNet is hundreds of small kernels, and at batch 1-8 their launch cost, not the
GPU, sets the latency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rtpose.errors import ModelError
from rtpose.models.heatmap import IMAGENET_MEAN, IMAGENET_STD, get_affine_transform

DEFAULT_BUCKETS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)


def _pixel_to_normalized(width: int, height: int) -> np.ndarray:
    """3x3 map from pixel coordinates (centres at integers) to ``align_corners=False`` [-1, 1]."""
    return np.array([[2.0 / width, 0.0, 1.0 / width - 1.0],
                     [0.0, 2.0 / height, 1.0 / height - 1.0],
                     [0.0, 0.0, 1.0]], np.float64)


def crop_thetas(centers: np.ndarray, scales: np.ndarray, input_size: Sequence[int],
                image_size: Sequence[int]) -> np.ndarray:
    """(N, 2, 3) ``affine_grid`` thetas that sample the same crops as ``heatmap.crop_affine``.

    ``cv2.warpAffine`` fills output pixel ``p`` from ``M^-1 p``; ``affine_grid`` maps normalised
    output coordinates to normalised input ones, so ``theta = N_in @ M^-1 @ N_out^-1``.
    Sizes are ``(width, height)``.
    """
    out_w, out_h = int(input_size[0]), int(input_size[1])
    to_out = np.linalg.inv(_pixel_to_normalized(out_w, out_h))
    to_in = _pixel_to_normalized(int(image_size[0]), int(image_size[1]))
    thetas = np.empty((len(centers), 2, 3), np.float32)
    for i, (center, scale) in enumerate(zip(centers, scales)):
        inverse = np.vstack([get_affine_transform(center, scale, 0.0, (out_w, out_h), inverse=True),
                             [0.0, 0.0, 1.0]])
        thetas[i] = (to_in @ inverse @ to_out)[:2]
    return thetas


class GpuTopDownPreprocessor:
    """``(image_bgr, centers, scales) -> (N, 3, H, W)`` normalised crops on ``device``.

    Same contract as ``normalize(crop_affine(...))``: BGR uint8 frame in, model channel order
    (RGB when ``rgb``) out, ``(x - mean) / std`` with mean/std in 0..255; out-of-image areas are
    black before normalisation, as with OpenCV's constant border. ``dtype`` fp16 and
    ``channels_last`` suit tensor-core convolutions on CUDA; on the CPU use float32/contiguous.
    """

    def __init__(self, input_size: Sequence[int] = (192, 256),
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 rgb: bool = True, device: str | torch.device = "cuda",
                 dtype: torch.dtype = torch.float16, channels_last: bool = True) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ModelError("GpuTopDownPreprocessor: device cuda asked for, but torch sees no CUDA GPU")
        self.dtype = dtype
        self.channels_last = channels_last
        self.order = [2, 1, 0] if rgb else [0, 1, 2]
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.inv_std = 1.0 / torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._pinned: torch.Tensor | None = None

    def upload(self, image_bgr: np.ndarray | torch.Tensor) -> torch.Tensor:
        """HxWx3 uint8 -> (1, 3, H, W) float32 on the device, via a reused pinned buffer on CUDA."""
        if isinstance(image_bgr, torch.Tensor):
            tensor = image_bgr.to(self.device)
        elif self.device.type == "cuda":
            if self._pinned is None or self._pinned.shape != image_bgr.shape:
                self._pinned = torch.empty(image_bgr.shape, dtype=torch.uint8, pin_memory=True)
            self._pinned.numpy()[...] = image_bgr
            tensor = self._pinned.to(self.device, non_blocking=True)
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(image_bgr))
        return tensor.permute(2, 0, 1).unsqueeze(0).float()

    def __call__(self, image_bgr: np.ndarray | torch.Tensor, centers: np.ndarray,
                 scales: np.ndarray) -> torch.Tensor:
        """All crops of one frame as one (N, 3, H, W) tensor on the device."""
        centers = np.asarray(centers, np.float32).reshape(-1, 2)
        scales = np.asarray(scales, np.float32).reshape(-1, 2)
        out_w, out_h = self.input_size
        n = len(centers)
        if n == 0:
            return torch.empty((0, 3, out_h, out_w), dtype=self.dtype, device=self.device)
        image = self.upload(image_bgr)
        height, width = image.shape[2], image.shape[3]
        theta = torch.from_numpy(crop_thetas(centers, scales, self.input_size, (width, height)))
        grid = F.affine_grid(theta.to(self.device), [n, 3, out_h, out_w], align_corners=False)
        # One image, N grids stacked along y: sample once instead of repeating the frame N times.
        sampled = F.grid_sample(image, grid.reshape(1, n * out_h, out_w, 2), mode="bilinear",
                                padding_mode="zeros", align_corners=False)
        crops = sampled.view(3, n, out_h, out_w).permute(1, 0, 2, 3)[:, self.order]
        out = ((crops - self.mean) * self.inv_std).to(self.dtype)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        return out.contiguous(memory_format=memory_format)


class GpuLetterbox:
    """``image_bgr -> ((1, 3, H, W) float tensor, scale)`` on ``device``: YOLOX's letterbox
    (:func:`rtpose.models.yolox.letterbox`) made on the GPU, so the frame crosses to the device once
    as uint8 and is resized there. Same contract: BGR 0..255, top-left aligned, grey padded."""

    def __init__(self, size_wh: Sequence[int], device: str | torch.device = "cuda",
                 dtype: torch.dtype = torch.float32) -> None:
        from rtpose.models.yolox import PAD_VALUE

        self.width, self.height = int(size_wh[0]), int(size_wh[1])
        self.pad = float(PAD_VALUE)
        self.dtype = dtype
        self.upload = GpuTopDownPreprocessor(device=device).upload  # pinned, reused host buffer

    def __call__(self, image_bgr: np.ndarray) -> tuple[torch.Tensor, float]:
        h, w = image_bgr.shape[:2]
        scale = min(self.width / w, self.height / h)
        new_w, new_h = min(self.width, round(w * scale)), min(self.height, round(h * scale))
        image = self.upload(image_bgr)
        resized = F.interpolate(image, size=(new_h, new_w), mode="bilinear", align_corners=False)
        canvas = torch.full((1, 3, self.height, self.width), self.pad, dtype=torch.float32, device=image.device)
        canvas[:, :, :new_h, :new_w] = resized.round().clamp_(0, 255)  # cv2 gives uint8 pixels
        return canvas.to(self.dtype), float(scale)


def pick_bucket(n: int, buckets: Sequence[int]) -> int:
    """The smallest bucket >= n (the largest if n exceeds them all: the caller chunks)."""
    if n < 1:
        raise ValueError(f"batch size must be >= 1, got {n}")
    fitting = [b for b in sorted(buckets) if b >= n]
    return fitting[0] if fitting else max(buckets)


class GraphedModel:
    """Replays ``module`` through one CUDA graph per batch bucket (captured on first use).

    Inputs are copied into the bucket's static input (padding rows keep stale data: rows are
    independent in an eval-mode conv net, and the padded outputs are dropped), the graph is
    replayed, and the first N output rows are cloned out before the next replay overwrites them.
    """

    def __init__(self, module: torch.nn.Module, sample_shape: Sequence[int],
                 buckets: Sequence[int] = DEFAULT_BUCKETS, dtype: torch.dtype = torch.float16,
                 device: str | torch.device = "cuda", channels_last: bool = True) -> None:
        if not torch.cuda.is_available():
            raise ModelError("CUDA graphs need a CUDA GPU, and torch sees none")
        self.device = torch.device(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.module = module.eval().to(self.device, dtype=dtype, memory_format=self.memory_format)
        self.sample_shape, self.dtype = tuple(sample_shape), dtype
        self.buckets = tuple(sorted(buckets))
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _capture(self, bucket: int) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        """Warm up on a side stream (as torch's docs require), then capture one forward pass."""
        static_in = torch.zeros((bucket, *self.sample_shape), dtype=self.dtype, device=self.device)
        static_in = static_in.contiguous(memory_format=self.memory_format)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(3):
                self.module(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_out = self.module(static_in)
        return graph, static_in, static_out

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) on the device -> the module's (N, ...) output, in chunks of the largest bucket."""
        if len(batch) > self.buckets[-1]:
            step = self.buckets[-1]
            return torch.cat([self(batch[i:i + step]) for i in range(0, len(batch), step)])
        n = len(batch)
        bucket = pick_bucket(n, self.buckets)
        if bucket not in self._graphs:
            self._graphs[bucket] = self._capture(bucket)
        graph, static_in, static_out = self._graphs[bucket]
        static_in[:n].copy_(batch)
        graph.replay()
        return static_out[:n].clone()


def run_on_device(backend: Any, batch: torch.Tensor) -> np.ndarray:
    """First output of ``backend`` for a device batch, as float32 numpy (for heatmap decoding).

    Torch backends run their module directly on the tensor, TensorRT takes it by device
    pointer (:meth:`~rtpose.backends.tensorrt.TensorRTBackend.run_torch`), anything else falls
    back to a host copy through ``Backend.run``.
    """
    if isinstance(backend, GraphedModel):
        out = backend(batch)
    elif getattr(backend, "name", None) == "torch" and hasattr(backend, "module"):
        with torch.inference_mode():
            out = backend.module(batch.to(backend.dtype))
        out = out[0] if isinstance(out, (list, tuple)) else out
    elif hasattr(backend, "run_torch"):
        out = backend.run_torch(batch)[0]
    else:
        return backend.run(batch.float().cpu().numpy())[0]
    return out.float().cpu().numpy()

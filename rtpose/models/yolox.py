"""YOLOX person detector: letterbox -> backend -> grid decode -> NMS -> Detections.

Each stage is a pure function on numpy arrays so it can be tested on hand-made
inputs and reused by other anchor-free detectors; :class:`YoloxDetector` only
wires them to a :class:`~rtpose.backends.base.Backend`.

Sizes are ``(width, height)`` throughout, as in OpenCV and mmpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtpose.backends.base import Backend, open_backend, static_dim
from rtpose.errors import ModelError
from rtpose.types import Detections

PAD_VALUE = 114
"""Grey that YOLOX was trained with in the padded area of a letterboxed image."""


def _as_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    w, h = size
    return int(w), int(h)


def letterbox(image_bgr: np.ndarray, size: int | Sequence[int]) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into a ``size`` canvas, top-left aligned, grey padded.

    Returns the (1, 3, H, W) float32 tensor (BGR, 0..255, not normalised: the
    YOLOX contract) and the scale, so that ``image_xy = model_xy / scale``.
    Top-left alignment means no offset has to be undone afterwards.
    """
    width, height = _as_size(size)
    h, w = image_bgr.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = min(width, round(w * scale)), min(height, round(h * scale))
    canvas = np.full((height, width, 3), PAD_VALUE, np.uint8)
    # Bilinear whatever the scale: the resize YOLOX was trained with.
    canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    return tensor, float(scale)


def make_grids(input_size: int | Sequence[int],
               strides: Sequence[int] = (8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    """Cell origins (A, 2) and strides (A, 1) for every anchor, in YOLOX's output order.

    Order: stride by stride, each grid row-major (y outer, x inner).
    """
    width, height = _as_size(input_size)
    grids, expanded = [], []
    for stride in strides:
        ys, xs = np.meshgrid(np.arange(height // stride), np.arange(width // stride), indexing="ij")
        grid = np.stack([xs, ys], -1).reshape(-1, 2)
        grids.append(grid)
        expanded.append(np.full((len(grid), 1), stride))
    return (np.concatenate(grids).astype(np.float32),
            np.concatenate(expanded).astype(np.float32))


def decode_outputs(raw: np.ndarray, input_size: int | Sequence[int],
                   strides: Sequence[int] = (8, 16, 32)) -> np.ndarray:
    """Grid-relative raw predictions (1 or none, A, 5+C) -> model-pixel cx, cy, w, h.

    Exported YOLOX models (``decode_in_inference=False``) leave this to the
    caller: ``xy = (xy + grid) * stride`` and ``wh = exp(wh) * stride``.
    Objectness and class columns are copied unchanged.
    """
    preds = np.asarray(raw, np.float32)
    preds = preds.reshape(preds.shape[-2], preds.shape[-1]) if preds.ndim == 3 else preds
    grids, stride = make_grids(input_size, strides)
    if len(preds) != len(grids):
        raise ModelError(f"YOLOX output has {len(preds)} anchors, but input size "
                         f"{_as_size(input_size)} with strides {tuple(strides)} gives {len(grids)}")
    out = preds.copy()
    out[:, :2] = (preds[:, :2] + grids) * stride
    out[:, 2:4] = np.exp(preds[:, 2:4]) * stride
    return out


def batched_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                iou_threshold: float) -> np.ndarray:
    """Greedy, class-aware non-maximum suppression on xyxy boxes (OpenCV's ``NMSBoxesBatched``):
    indices kept, best score first; boxes of different classes never suppress each other."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    kept = cv2.dnn.NMSBoxesBatched(xywh, np.asarray(scores, np.float32), np.asarray(class_ids, np.int32),
                                   float("-inf"), float(iou_threshold))
    return np.asarray(kept, np.int64).reshape(-1)


def postprocess(decoded: np.ndarray, scale: float, image_size: Sequence[int],
                score_threshold: float = 0.3, nms_threshold: float = 0.45,
                classes: Sequence[int] | None = (0,), max_detections: int = 100) -> Detections:
    """Decoded anchors (A, 5+C) -> final Detections in image pixels.

    Score is objectness x class score (YOLOX's definition); each anchor keeps its
    best class among ``classes`` (None = all). Boxes are mapped back with
    ``/ scale`` and clipped to the image ``(width, height)``.
    """
    decoded = np.asarray(decoded, np.float32)
    cls_scores = decoded[:, 5:] * decoded[:, 4:5]
    allowed = np.arange(cls_scores.shape[1]) if classes is None else np.asarray(classes, np.int64)
    cls_scores = cls_scores[:, allowed]
    best = np.argmax(cls_scores, axis=1)
    scores = cls_scores[np.arange(len(best)), best]
    keep = scores > score_threshold
    if not np.any(keep):
        return Detections()
    boxes = cxcywh_to_xyxy(decoded[keep, :4]) / scale
    scores, class_ids = scores[keep], allowed[best[keep]]
    width, height = image_size
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, class_ids = boxes[valid], scores[valid], class_ids[valid]
    idx = batched_nms(boxes, scores, class_ids, nms_threshold)[:max_detections]
    return Detections(boxes=boxes[idx], scores=scores[idx], class_ids=class_ids[idx])


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Centre/size boxes -> corner boxes (float32)."""
    boxes = np.asarray(boxes, np.float32)
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


class YoloxDetector:
    """A YOLOX model (exported without in-graph decoding) as ``image -> Detections``.

    ``model`` is a model file or an already open Backend; the input size is read
    from the model's input shape, or given as ``input_size=(w, h)`` when the
    model's spatial axes are dynamic.
    """

    def __init__(self, model: str | Path | Backend, backend: str = "auto", device: str = "auto",
                 score_threshold: float = 0.3, nms_threshold: float = 0.45,
                 classes: Sequence[int] | None = (0,), max_detections: int = 100,
                 input_size: Sequence[int] | None = None, strides: Sequence[int] = (8, 16, 32),
                 **backend_options: Any) -> None:
        self.backend = model if isinstance(model, Backend) else open_backend(
            model, backend=backend, device=device, **backend_options)
        self.input_size = _model_input_size(self.backend, input_size)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.classes = classes
        self.max_detections = max_detections
        self.strides = tuple(strides)
        self.gpu_letterbox = _gpu_letterbox(self.backend, self.input_size)

    def __call__(self, image_bgr: np.ndarray) -> Detections:
        """Detect in one HxWx3 uint8 BGR frame."""
        if self.gpu_letterbox is not None:  # the model runs on CUDA: letterbox there too
            tensor, scale = self.gpu_letterbox(image_bgr)
            raw = self.backend.run_torch(tensor)[0].float().cpu().numpy()
        else:
            tensor, scale = letterbox(image_bgr, self.input_size)
            raw = self.backend.run(tensor)[0]
        decoded = decode_outputs(raw, self.input_size, self.strides)
        h, w = image_bgr.shape[:2]
        return postprocess(decoded, scale, (w, h), self.score_threshold, self.nms_threshold,
                           self.classes, self.max_detections)


def _gpu_letterbox(backend: Backend, input_size: tuple[int, int]) -> Any:
    """A GPU letterbox when the model runs on CUDA and takes device tensors (torch, TensorRT), else None."""
    if backend.device != "cuda" or not hasattr(backend, "run_torch"):
        return None
    from rtpose.models.gpu_preprocess import GpuLetterbox

    return GpuLetterbox(input_size, device="cuda")


def _model_input_size(backend: Backend, given: Sequence[int] | None) -> tuple[int, int]:
    """(width, height) from an NCHW input shape, unless the caller gave one."""
    if given is not None:
        return _as_size(given)
    shape = backend.input_shapes[0] if backend.input_shapes else ()
    h, w = static_dim(shape, 2), static_dim(shape, 3)
    model = backend.path or f"the {backend.name} model"
    if len(shape) != 4 or (static_dim(shape, 1) not in (None, 3)):
        raise ModelError(f"{model}: not a YOLOX detector: its input shape is {shape}, and YOLOX takes "
                         "(1, 3, height, width) BGR images")
    if h is None or w is None:
        raise ModelError(f"{model}: the input's height and width are not fixed (shape {shape}), so the "
                         "detector cannot tell what size to letterbox frames to: export the model with a "
                         "fixed input size (or, from Python, pass YoloxDetector(..., input_size=(w, h)))")
    return w, h

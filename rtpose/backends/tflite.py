"""TFLite backend: MediaPipe's ``.tflite`` models as Google publishes them, on LiteRT (``ai-edge-litert``).

MediaPipe ships its hand, face and pose models only as TFLite files. Running them as they are
(rather than converting them to ONNX) keeps the numbers MediaPipe's own solutions give; LiteRT is
Google's runtime for them (CPU, XNNPACK). It is optional: ``pip install 'rtpose[tflite]'``.

One interpreter per backend instance, used from the one graph thread that owns the node (an
interpreter is not safe to share between threads). Inputs are cast to the model's dtype; a
model whose batch axis is 1 runs one item per call (the model code loops).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend
from rtpose.backends.onnxruntime import default_threads
from rtpose.errors import ModelError

INSTALL_HINT = "pip install 'rtpose[tflite]' (ai-edge-litert), or use the model's .onnx conversion"


def open_tflite(path: Path, backend: str = "auto", device: str = "auto", **options: Any) -> TFLiteBackend:
    """What ``open_backend`` does for a ``.tflite`` file: check the backend and device fit, then load it."""
    if backend not in ("auto", "tflite"):
        raise ModelError(f"{path}: the {backend} backend cannot run .tflite files (use auto or tflite)")
    if device not in ("auto", "cpu"):
        raise ModelError(f"{path}: the tflite backend runs on the cpu only, not on {device}")
    return TFLiteBackend(path, **options)


class TFLiteBackend(Backend):
    """A ``.tflite`` file in a LiteRT interpreter. Options: ``threads`` (default: half the cores, as for
    ONNX Runtime, ``$RTPOSE_ORT_THREADS`` included)."""

    name = "tflite"
    device = "cpu"

    def __init__(self, path: str | Path, threads: int | None = None, **unused: Any) -> None:
        if unused:
            raise ModelError(f"tflite backend: unknown options {sorted(unused)}")
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        try:
            interpreter_module = importlib.import_module("ai_edge_litert.interpreter")
        except ImportError as exc:
            raise ModelError(f"{self.path}: the tflite backend needs LiteRT ({exc}): {INSTALL_HINT}") from exc
        try:
            self.interpreter = interpreter_module.Interpreter(
                model_path=str(self.path), num_threads=int(threads) if threads else default_threads())
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.path}: LiteRT cannot load this model: {exc}") from exc
        inputs = self.interpreter.get_input_details()
        self._inputs = {d["name"]: d for d in inputs}
        self._outputs = self.interpreter.get_output_details()
        self.input_names = [d["name"] for d in inputs]
        self.input_shapes = [tuple(int(v) for v in d["shape"]) for d in inputs]
        self.output_names = [d["name"] for d in self._outputs]

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Set every input (cast to the model's dtype), invoke, copy every output out."""
        for name, array in self.feed(inputs).items():
            detail = self._inputs[name]
            value = np.ascontiguousarray(array, dtype=detail["dtype"])
            if tuple(value.shape) != tuple(detail["shape"]):
                raise ModelError(f"{self.path}: input {name!r} takes shape {list(detail['shape'])}, "
                                 f"got {list(value.shape)}")
            self.interpreter.set_tensor(detail["index"], value)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]).copy() for d in self._outputs]

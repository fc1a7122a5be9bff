"""torch backend: runs an ``nn.Module`` (or a TorchScript file) numpy-in, numpy-out.

This is the only rtpose module that imports torch at import time; everything
else reaches it through :func:`rtpose.backends.base.open_backend`, so rtpose
works without torch installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtpose.backends.base import Backend
from rtpose.errors import ModelError


def choose_device(device: str) -> torch.device:
    """``auto`` -> CUDA when torch sees a GPU, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device 'cuda' asked for, but torch sees no CUDA GPU: use device cpu")
    return torch.device(device)


class TorchBackend(Backend):
    """Wraps a module in eval mode under ``inference_mode`` on one device.

    ``fp16`` runs the module in half precision (CUDA only: CPU half kernels are
    slow or missing); inputs are cast on the way in, outputs back to float32.
    ``input_names``/``input_shapes``/``output_names`` describe the module for
    model code, since a module (unlike an ONNX file) does not carry them.
    """

    name = "torch"

    def __init__(self, module: torch.nn.Module, device: str = "auto", fp16: bool = False,
                 input_names: Sequence[str] = ("input",),
                 input_shapes: Sequence[tuple] | None = None,
                 output_names: Sequence[str] | None = None, **unused: Any) -> None:
        if unused:
            raise ModelError(f"torch backend: unknown options {sorted(unused)}")
        if not isinstance(module, torch.nn.Module):
            raise ModelError(f"torch backend needs a torch.nn.Module, got {type(module).__name__}")
        self.torch_device = choose_device(device)
        self.device = self.torch_device.type
        if fp16 and self.device != "cuda":
            raise ModelError("fp16 needs device cuda: CPU half-precision convolutions are slow or missing")
        self.dtype = torch.float16 if fp16 else torch.float32
        self.module = module.eval().to(self.torch_device, dtype=self.dtype)
        self.input_names = list(input_names)
        self.input_shapes = ([tuple(s) for s in input_shapes] if input_shapes is not None
                             else [() for _ in self.input_names])
        if len(self.input_shapes) != len(self.input_names):
            raise ModelError(f"torch backend: {len(self.input_shapes)} input_shapes for "
                             f"{len(self.input_names)} input_names")
        self.output_names = list(output_names) if output_names is not None else []

    @classmethod
    def from_file(cls, path: str | Path, device: str = "auto", **options: Any) -> "TorchBackend":
        """Load a TorchScript file (``torch.jit.save``); plain state dicts need their model class."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # torch raises RuntimeError/ValueError variants
            raise ModelError(
                f"{path}: not a TorchScript file ({exc}); build the module in Python "
                "and pass it to open_backend instead") from exc
        return cls(module, device=device, **options)

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Forward pass without autograd; returns every tensor output as float32 numpy."""
        feed = self.feed(inputs)
        args = [self._to_tensor(feed[n]) for n in self.input_names]
        with torch.inference_mode():
            out = self.module(*args)
        arrays = [_to_numpy(t) for t in _flatten(out)]
        if not self.output_names:
            self.output_names = [f"output{i}" for i in range(len(arrays))]
        return arrays

    def _to_tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if tensor.is_floating_point():
            tensor = tensor.to(self.dtype)
        return tensor.to(self.torch_device, non_blocking=True)


def _flatten(out: Any) -> list[torch.Tensor]:
    """Module outputs may be a tensor, a tuple/list, or a dict of tensors: list them in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _flatten(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _flatten(v)]
    raise ModelError(f"torch module returned {type(out).__name__}, expected tensors")


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach()
    if tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.cpu().numpy()

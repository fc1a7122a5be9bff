"""torch backend: runs an ``nn.Module``, a TorchScript file or an ONNX file (converted by
onnx2torch, :mod:`rtpose.backends.onnx_torch`) numpy-in, numpy-out, or CUDA tensors in and out.

rtpose reaches this module only through :func:`rtpose.backends.base.open_backend`, so rtpose
works without torch installed.

Half precision: ``fp16=None`` (what ONNX files get) runs fp16 on CUDA when, on a probe input,
every output stays within :data:`FP16_RTOL` of its largest float32 magnitude; else float32.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtpose.backends.base import Backend
from rtpose.errors import ModelError

FP16_RTOL = 0.01
"""fp16 is kept when every output differs from float32 by at most this share of its largest
magnitude (1%: well under a heatmap peak's or a landmark's own noise)."""


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

    def __init__(self, module: torch.nn.Module, device: str = "auto", fp16: bool | None = False,
                 input_names: Sequence[str] = ("input",),
                 input_shapes: Sequence[tuple] | None = None,
                 output_names: Sequence[str] | None = None,
                 input_dtypes: Sequence[np.dtype] | None = None, path: Path | None = None,
                 **unused: Any) -> None:
        if unused:
            raise ModelError(f"torch backend: unknown options {sorted(unused)}")
        if not isinstance(module, torch.nn.Module):
            raise ModelError(f"torch backend needs a torch.nn.Module, got {type(module).__name__}")
        self.path = path
        self.torch_device = choose_device(device)
        self.device = self.torch_device.type
        if fp16 and self.device != "cuda":
            raise ModelError("fp16 needs device cuda: CPU half-precision convolutions are slow or missing")
        self.input_names = list(input_names)
        self.input_shapes = ([tuple(s) for s in input_shapes] if input_shapes is not None
                             else [() for _ in self.input_names])
        if len(self.input_shapes) != len(self.input_names):
            raise ModelError(f"torch backend: {len(self.input_shapes)} input_shapes for "
                             f"{len(self.input_names)} input_names")
        self.input_dtypes = list(input_dtypes) if input_dtypes is not None else None
        self.output_names = list(output_names) if output_names is not None else []
        self.dtype = torch.float32
        self.module = module.eval().to(self.torch_device)
        if fp16 or (fp16 is None and self.device == "cuda" and self._fp16_keeps_outputs()):
            self.dtype = torch.float16
            self.module = self.module.to(dtype=torch.float16)

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

    @classmethod
    def from_onnx(cls, path: str | Path, device: str = "auto", fp16: bool | None = None) -> "TorchBackend":
        """An ONNX file converted to torch by onnx2torch; names, shapes and dtypes from the file."""
        import onnx

        from rtpose.backends.onnx_torch import convert_onnx

        path = Path(path)
        module = convert_onnx(path)
        graph = onnx.load(str(path), load_external_data=False).graph
        weights = {w.name for w in graph.initializer}
        inputs = [i for i in graph.input if i.name not in weights]
        shapes = [tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                        for d in i.type.tensor_type.shape.dim) for i in inputs]
        dtypes = [np.dtype(onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)) for i in inputs]
        return cls(module, device=device, fp16=fp16, input_names=[i.name for i in inputs], input_shapes=shapes,
                   output_names=[o.name for o in graph.output], input_dtypes=dtypes, path=path)

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Forward pass without autograd; returns every tensor output as float32 numpy."""
        arrays = self._forward(self.check_shapes(self.feed(inputs)))
        if not self.output_names:
            self.output_names = [f"output{i}" for i in range(len(arrays))]
        return arrays

    def _forward(self, feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        args = [self._to_tensor(feed[n]) for n in self.input_names]
        with torch.inference_mode():
            out = self.module(*args)
        return [_to_numpy(t) for t in _flatten(out)]

    def run_torch(self, inputs: Mapping[str, torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
        """Tensors already on the device in (e.g. GPU crops), tensors out: no host round trip."""
        feed = dict(inputs) if isinstance(inputs, Mapping) else {self.input_names[0]: inputs}
        args = [_cast(feed[n].to(self.torch_device), self.dtype) for n in self.input_names]
        with torch.inference_mode():
            return _flatten(self.module(*args))

    def free_batch_axis(self) -> bool:
        """A module converted from a batch-1 ONNX file usually takes any batch: checked by running a
        batch of two against two single runs; the batch axis is then declared free."""
        if super().free_batch_axis():
            return True
        probe = self._probe_inputs(batch=2)
        if probe is None or len(self.input_names) != 1:
            return False
        try:
            together = self._forward(probe)
            alone = [self._forward({n: a[i:i + 1] for n, a in probe.items()}) for i in range(2)]
        except Exception:  # noqa: BLE001 - a module that cannot take a batch of two keeps batch 1
            return False
        if all(np.allclose(t[i:i + 1], a, rtol=1e-3, atol=1e-4)
               for i, outs in enumerate(alone) for t, a in zip(together, outs)):
            self.input_shapes[0] = (None, *self.input_shapes[0][1:])
            return True
        return False

    def _probe_inputs(self, batch: int = 1) -> dict[str, np.ndarray] | None:
        """Seeded random inputs at the declared shapes (``batch`` on axis 0); None if a size is unknown."""
        rng = np.random.default_rng(0)
        feed = {}
        for name, shape, dtype in zip(self.input_names, self.input_shapes,
                                      self.input_dtypes or [np.dtype(np.float32)] * len(self.input_names)):
            dims = [batch, *shape[1:]] if shape else []
            if not dims or not all(isinstance(d, (int, np.integer)) and d > 0 for d in dims):
                return None
            feed[name] = (rng.standard_normal(dims).astype(dtype) if np.issubdtype(dtype, np.floating)
                          else rng.integers(0, 255, dims).astype(dtype))
        return feed

    def _fp16_keeps_outputs(self) -> bool:
        """Whether fp16 keeps every output within FP16_RTOL of float32 on a probe input."""
        probe = self._probe_inputs()
        if probe is None:
            return False
        reference = self._forward(probe)
        half = TorchBackend(copy.deepcopy(self.module), device=str(self.torch_device), fp16=True,
                            input_names=self.input_names, input_shapes=self.input_shapes)
        try:
            outputs = half._forward(probe)
        except RuntimeError:  # an operator without a half kernel
            return False
        return all(np.abs(h - r).max(initial=0) <= FP16_RTOL * max(np.abs(r).max(initial=0), 1e-6)
                   for h, r in zip(outputs, reference) if np.issubdtype(r.dtype, np.floating))

    def _to_tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return _cast(tensor, self.dtype).to(self.torch_device, non_blocking=True)


def _cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Floating inputs to the module's precision; integer inputs (e.g. int32 pixels) as they are."""
    return tensor.to(dtype) if tensor.is_floating_point() else tensor


def open_torch_file(path: str | Path, device: str = "auto", **options: Any) -> TorchBackend:
    """The backend registry's opener: ONNX files through onnx2torch, others as TorchScript."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return TorchBackend.from_onnx(path, device=device, **options)
    return TorchBackend.from_file(path, device=device, **options)


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

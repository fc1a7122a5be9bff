"""TensorRT backend: runs a serialized engine (TensorRT 10 named-tensor API) numpy-in, numpy-out.

CUDA binding: **torch** (device tensors, pinned host tensors, ``torch.cuda.Stream``).
Of the three options it keeps this file smallest and plainest, and it is what the rest of the
GPU path already uses:

* pycuda needs a CUDA context pushed/popped around every call in every graph thread;
* cuda-python (NVIDIA's samples, ``common_runtime.py``) uses the primary context like torch
  does, but every malloc/memcpy/free is a checked tuple-returning call (~3x the code here);
* torch also uses the primary context (no push), frees buffers by garbage collection, and lets
  :meth:`TensorRTBackend.run_torch` take crops that :mod:`rtpose.models.gpu_preprocess` made
  on the GPU without a round trip through host memory.

The calls map one to one onto the samples: ``tensor.data_ptr()`` is ``cudaMalloc``'s pointer,
``host.copy_(dev, non_blocking=True)`` on our stream is ``cudaMemcpyAsync``, and
``stream.cuda_stream`` is the ``cudaStream_t`` handed to ``execute_async_v3``.

Threads: each instance (= each node) owns its execution context, CUDA stream and buffers, so
nodes sharing one GPU from different threads never share mutable state; the current device
is set per call (it is thread-local in torch); a lock guards an instance someone shares.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend
from rtpose.errors import ModelError


def _imports() -> tuple[Any, Any]:
    """(tensorrt, torch), or a ModelError that says what to install."""
    from rtpose.engines import import_tensorrt

    trt = import_tensorrt()
    try:
        import torch
    except ImportError as exc:
        raise ModelError("the tensorrt backend uses torch (a CUDA build) for GPU memory: pip install torch") from exc
    if not torch.cuda.is_available():
        raise ModelError("the tensorrt backend needs a CUDA GPU, and torch sees none")
    return trt, torch


def _torch_dtype(trt: Any, torch: Any, trt_dtype: Any) -> Any:
    """TensorRT tensor dtype -> torch dtype (through numpy, which both know)."""
    return torch.from_numpy(np.empty(0, dtype=trt.nptype(trt_dtype))).dtype


class TensorRTBackend(Backend):
    """A TensorRT engine file (``.engine``/``.plan``), or an ONNX file built through the engine cache.

    Options: ``precision`` (fp32/fp16, for ONNX files no spec builds), ``max_batch`` (profile max
    of a dynamic batch axis, same), ``cache_dir`` (default ``$RTPOSE_HOME/engines``).
    Batches larger than the engine's profile allows are run in chunks.
    """

    name = "tensorrt"

    def __init__(self, path: str | Path, device: str = "auto", precision: str = "fp16",
                 max_batch: int = 32, cache_dir: str | Path | None = None, **unused: Any) -> None:
        if unused:
            raise ModelError(f"tensorrt backend: unknown options {sorted(unused)}")
        if device == "cpu":
            raise ModelError(f"{path}: TensorRT engines run only on a CUDA GPU, not on cpu")
        trt, torch = _imports()
        self._trt, self._torch = trt, torch
        self.path = self._engine_file(Path(path), precision, max_batch, cache_dir)
        self.torch_device = torch.device("cuda" if device == "auto" else device)
        self.device = "cuda"
        self._lock = threading.Lock()
        with torch.cuda.device(self.torch_device):
            self._load(trt)
            self._allocate(trt, torch)

    @staticmethod
    def _engine_file(path: Path, precision: str, max_batch: int, cache_dir: str | Path | None) -> Path:
        """An engine path as is; an ONNX path -> the engine of its spec (the ``engines/*.yaml`` spec
        of the same file, as ``rtpose engines build`` makes it), built first if not cached."""
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        if path.suffix.lower() != ".onnx":
            return path
        from rtpose import engines

        spec = engines.engine_spec_for_file(
            path, engines.engines_dir(), lambda p: engines.spec_for_onnx(p, precision, max_batch))
        return engines.ensure_engine(spec, Path(cache_dir) if cache_dir else engines.engine_cache_dir())

    def _load(self, trt: Any) -> None:
        """Deserialize the engine and describe its I/O tensors (TensorRT 10 named tensors)."""
        from rtpose.engines import trt_logger

        self._runtime = trt.Runtime(trt_logger())
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise ModelError(f"{self.path}: TensorRT cannot load this engine (built with another "
                             "TensorRT version or for another GPU? rebuild it: rtpose engines build)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        self.input_shapes = [tuple(d if d >= 0 else None for d in self.engine.get_tensor_shape(n))
                             for n in self.input_names]
        self._profiles = {n: self._profile(n) for n in self.input_names}

    def _profile(self, name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(min, max) shape of an input: its static shape, or optimization profile 0's bounds."""
        shape = tuple(self.engine.get_tensor_shape(name))
        if all(d >= 0 for d in shape):
            return shape, shape
        low, _, high = self.engine.get_tensor_profile_shape(name, 0)
        return tuple(low), tuple(high)

    def _allocate(self, trt: Any, torch: Any) -> None:
        """One stream, and device + pinned host buffers at the largest shapes the profile allows."""
        self.stream = torch.cuda.Stream(self.torch_device)
        for name in self.input_names:
            self.context.set_input_shape(name, self._profiles[name][1])
        self._device: dict[str, Any] = {}
        self._host: dict[str, Any] = {}
        for name in self.input_names + self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise ModelError(f"{self.path}: output {name!r} has a data-dependent shape {shape}, "
                                 "which this backend does not support")
            dtype = _torch_dtype(trt, torch, self.engine.get_tensor_dtype(name))
            self._device[name] = torch.empty(shape, dtype=dtype, device=self.torch_device)
            self._host[name] = torch.empty(shape, dtype=dtype, pin_memory=True)
        self.max_batch = self._profiles[self.input_names[0]][1][0] if self.input_names else None

    def _check_shape(self, name: str, shape: tuple[int, ...]) -> None:
        low, high = self._profiles[name]
        if len(shape) != len(low) or any(not lo <= d <= hi for d, lo, hi in zip(shape, low, high)):
            raise ModelError(f"{self.path.name}: input {name!r} shape {shape} is outside the engine's "
                             f"profile {low}..{high}: rebuild with a wider profile")

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Host arrays in, host arrays out: copy in via pinned memory, execute, copy out, wait."""
        feed = self.feed(inputs)
        too_big = self._chunked(feed)
        if too_big is not None:
            return too_big
        torch = self._torch
        with self._lock, torch.cuda.device(self.torch_device), torch.cuda.stream(self.stream):
            for name, array in feed.items():
                self._check_shape(name, tuple(array.shape))
                host = _view(self._host[name], array.shape)
                np.copyto(host.numpy(), array, casting="same_kind")
                self._bind_input(name, _view(self._device[name], array.shape).copy_(host, non_blocking=True))
            outputs = self._execute()
            hosts = [_view(self._host[n], tuple(t.shape)).copy_(t, non_blocking=True)
                     for n, t in zip(self.output_names, outputs)]
            self.stream.synchronize()
            return [h.numpy().copy() for h in hosts]  # copies: the pinned buffers are reused

    def run_torch(self, inputs: Mapping[str, Any] | Any) -> list[Any]:
        """CUDA tensors in (e.g. from ``GpuTopDownPreprocessor``), CUDA tensors out, no host copy."""
        torch = self._torch
        feed = dict(inputs) if isinstance(inputs, Mapping) else {self.input_names[0]: inputs}
        caller = torch.cuda.current_stream(self.torch_device)  # where the inputs were produced
        with self._lock, torch.cuda.device(self.torch_device), torch.cuda.stream(self.stream):
            self.stream.wait_stream(caller)
            keep = []  # inputs bound by address must live until the stream is synchronized
            for name in self.input_names:
                tensor = feed[name].to(self.torch_device, self._device[name].dtype).contiguous()
                self._check_shape(name, tuple(tensor.shape))
                self._bind_input(name, tensor)
                keep.append(tensor)
            outputs = [t.clone() for t in self._execute()]
            self.stream.synchronize()
        return outputs

    def _bind_input(self, name: str, device_tensor: Any) -> None:
        shape = tuple(device_tensor.shape)
        if not self.context.set_input_shape(name, shape):
            raise ModelError(f"{self.path.name}: TensorRT rejected shape {shape} for input {name!r}")
        self.context.set_tensor_address(name, device_tensor.data_ptr())

    def _execute(self) -> list[Any]:
        """Bind outputs at the shapes TensorRT infers from the inputs, then enqueue on our stream."""
        outputs = []
        for name in self.output_names:
            tensor = _view(self._device[name], tuple(self.context.get_tensor_shape(name)))
            self.context.set_tensor_address(name, tensor.data_ptr())
            outputs.append(tensor)
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise ModelError(f"{self.path.name}: TensorRT execution failed (see the TensorRT log)")
        return outputs

    def _chunked(self, feed: dict[str, np.ndarray]) -> list[np.ndarray] | None:
        """Split a single-input batch larger than the profile's max batch; None when it fits."""
        if len(feed) != 1 or not self.max_batch:
            return None
        (name, array), = feed.items()
        if array.ndim == 0 or array.shape[0] <= self.max_batch:
            return None
        parts = [self.run({name: array[i:i + self.max_batch]}) for i in range(0, len(array), self.max_batch)]
        return [np.concatenate(outs) for outs in zip(*parts)]

    def close(self) -> None:
        """Drop the context, engine and buffers now (in that order: the context uses the engine)."""
        for attr in ("context", "engine", "_runtime", "_device", "_host"):
            if hasattr(self, attr):
                delattr(self, attr)


def _view(buffer: Any, shape: tuple[int, ...]) -> Any:
    """The first ``prod(shape)`` elements of a preallocated buffer, viewed as ``shape``."""
    count = int(np.prod(shape)) if shape else 1
    return buffer.view(-1)[:count].view(shape)


def verify_engine(spec: Any, cache_dir: Path, sample: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
    """Run ``spec``'s engine and ONNX Runtime (CPU) on one sample (default
    :func:`rtpose.engines.sample_input`): max abs difference per output name."""
    from rtpose import engines
    from rtpose.backends.onnxruntime import OnnxRuntimeBackend

    engine = TensorRTBackend(engines.ensure_engine(spec, cache_dir))
    reference = OnnxRuntimeBackend(engines.resolve_onnx(spec), device="cpu")
    feed = dict(sample) if sample is not None else engines.sample_input(spec)
    try:
        diffs = engines.compare_outputs(reference.run(feed), engine.run(feed))
    finally:
        engine.close()
    return dict(zip(reference.output_names, diffs))

"""One small interface over the inference engines a model node can run on.

Model code (``rtpose.models``) only ever talks to a :class:`Backend`: numpy in,
numpy out. Which engine sits behind it (ONNX Runtime, torch, later TensorRT) is
chosen by :func:`open_backend`, so a node's graph file can say ``backend: auto``
and run on a laptop CPU or a GPU box unchanged.

Heavy engines are imported lazily, inside the functions that need them: torch
and TensorRT are optional dependencies, and importing torch alone costs seconds.
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtpose.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

BACKEND_NAMES: tuple[str, ...] = ("tensorrt", "torch", "onnxruntime")
"""Every backend name :func:`open_backend` accepts besides ``auto``."""

TRITON_SCHEME = "triton://"
"""``triton://HOST:PORT/MODEL``: a model served by a Triton server (see ``rtpose serve``)."""
TENSORRT_SUFFIXES: tuple[str, ...] = (".engine", ".plan", ".trt")
TORCHSCRIPT_SUFFIXES: tuple[str, ...] = (".pt", ".ts", ".torchscript", ".jit")


class Backend(ABC):
    """A loaded model that maps named numpy arrays to a list of numpy arrays.

    ``input_shapes`` holds one tuple per input; a dimension that is not fixed
    (a dynamic batch axis, say) is ``None`` or a string naming it. Model code
    reads fixed sizes (the network's input resolution, whether the batch axis
    is pinned to 1) from here instead of hard-coding them.
    """

    name: str
    device: str
    input_names: list[str]
    output_names: list[str]
    input_shapes: list[tuple]

    @abstractmethod
    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Run one inference; a bare array feeds the first (usually only) input."""

    def close(self) -> None:
        """Free engine resources early (optional; garbage collection also does it)."""

    def free_batch_axis(self) -> bool:
        """Let a model whose file pins the batch axis to 1 take batches of any size, where the
        engine can; returns whether the first input's batch axis is free now.

        Many exported pose models say batch 1 although none of their layers depends on it;
        batching all the people of a frame into one run is then faster than one run each.
        Engines that cannot relax a model (this default) leave it as it is.
        """
        return bool(self.input_shapes) and static_dim(self.input_shapes[0], 0) is None

    def feed(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Turn ``run``'s argument into a complete ``{input name: array}`` dict.

        Checking names here gives one clear error for every engine instead of
        each engine's own cryptic one.
        """
        if isinstance(inputs, np.ndarray):
            if len(self.input_names) != 1:
                raise ModelError(
                    f"{self.name} model has inputs {self.input_names}: pass a dict, not one array")
            return {self.input_names[0]: inputs}
        feed = dict(inputs)
        missing = [n for n in self.input_names if n not in feed]
        extra = [n for n in feed if n not in self.input_names]
        if missing or extra:
            raise ModelError(
                f"{self.name} model expects inputs {self.input_names}; "
                f"missing {missing}, unknown {extra}")
        return feed

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}{tuple(s)}" for n, s in zip(self.input_names, self.input_shapes))
        return f"<{type(self).__name__} {self.name}/{self.device} inputs: {ins}>"


def static_dim(shape: tuple, axis: int) -> int | None:
    """The size of ``shape[axis]`` if the model fixes it, else None (dynamic or unknown)."""
    try:
        dim = shape[axis]
    except IndexError:
        return None
    return int(dim) if isinstance(dim, (int, np.integer)) and dim > 0 else None


@lru_cache(maxsize=1)
def _tensorrt_importable() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


@lru_cache(maxsize=1)
def _torch_cuda() -> bool:
    """Whether torch is installed and sees a CUDA GPU (imports torch, so only on demand)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def available_backends() -> list[str]:
    """The backends that can run on this machine, in the order ``auto`` tries them.

    TensorRT and CUDA torch come first because on a GPU they are the fast paths;
    ONNX Runtime is the portable default; CPU torch is last resort (slower, big).
    """
    names: list[str] = []
    if _tensorrt_importable():
        names.append("tensorrt")
    cuda = _torch_cuda()
    if cuda:
        names.append("torch")
    if importlib.util.find_spec("onnxruntime") is not None:
        names.append("onnxruntime")
    if not cuda and _torch_installed():
        names.append("torch")
    return names


def open_backend(
    model: str | Path | "torch.nn.Module",
    backend: str = "auto",
    device: str = "auto",
    **options: Any,
) -> Backend:
    """Load ``model`` on the best (or the named) engine and device.

    ``model`` is a file (``.onnx``, a TensorRT ``.engine``/``.plan``, a
    TorchScript ``.pt``) or a ``torch.nn.Module``. ``backend`` is ``auto`` or one
    of :data:`BACKEND_NAMES`; ``device`` is ``auto``, ``cpu`` or ``cuda``.
    ``options`` go to the engine (e.g. ``threads`` for ONNX Runtime, ``fp16``
    for torch). Every failure is a :class:`ModelError` that names the model.
    """
    if isinstance(model, (str, Path)) and Path(model).suffix.lower() == ".tflite":  # LiteRT, optional
        return importlib.import_module("rtpose.backends.tflite").open_tflite(Path(model), backend, device, **options)
    if backend != "auto" and backend not in BACKEND_NAMES:
        raise ModelError(f"unknown backend {backend!r}: use auto or one of {', '.join(BACKEND_NAMES)}")
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    if not isinstance(model, (str, Path)):
        return _open_module(model, backend, device, options)
    if str(model).startswith(TRITON_SCHEME):
        from rtpose.backends.triton import TritonBackend

        address, _, name = str(model)[len(TRITON_SCHEME):].rpartition("/")
        return TritonBackend(address, name, **options)

    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    kind = _choose_backend(path, backend)
    if kind == "tensorrt":
        return _open_tensorrt(path, device, options)
    if kind == "torch":
        from rtpose.backends.torch import TorchBackend

        return TorchBackend.from_file(path, device=device, **options)
    from rtpose.backends.onnxruntime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, device=device, **options)


def _choose_backend(path: Path, backend: str) -> str:
    """Pick the engine for a model file from its suffix (and check a named one fits)."""
    suffix = path.suffix.lower()
    natural = ("tensorrt" if suffix in TENSORRT_SUFFIXES
               else "torch" if suffix in TORCHSCRIPT_SUFFIXES
               else "onnxruntime" if suffix == ".onnx" else None)
    if natural is None:
        raise ModelError(
            f"{path}: unknown model format {suffix!r}; expected .onnx, "
            f"{'/'.join(TENSORRT_SUFFIXES)} or {'/'.join(TORCHSCRIPT_SUFFIXES)}")
    if backend == "auto" or backend == natural:
        return natural
    if backend == "tensorrt" and suffix == ".onnx":
        return "tensorrt"  # the TensorRT backend builds an engine from the ONNX file
    raise ModelError(f"{path}: the {backend} backend cannot run {suffix} files (use {natural})")


def _open_module(module: Any, backend: str, device: str, options: dict[str, Any]) -> Backend:
    """Wrap an in-memory torch module; only the torch backend can run one."""
    if backend not in ("auto", "torch"):
        raise ModelError(
            f"a {type(module).__name__} object can only run on the torch backend; "
            f"export it to ONNX to use {backend}")
    if not _torch_installed():
        raise ModelError("torch is not installed: pip install 'rtpose[torch]'")
    from rtpose.backends.torch import TorchBackend

    return TorchBackend(module, device=device, **options)


def _open_tensorrt(path: Path, device: str, options: dict[str, Any]) -> Backend:
    """Load a TensorRT engine via ``rtpose.backends.tensorrt`` (imported only here)."""
    if device == "cpu":
        raise ModelError(f"{path}: TensorRT engines run only on a CUDA GPU, not on cpu")
    if not _tensorrt_importable():
        raise ModelError(
            f"{path}: the tensorrt backend needs NVIDIA TensorRT, which is not installed "
            "(pip install tensorrt on a CUDA machine), or use an .onnx model")
    try:
        module = importlib.import_module("rtpose.backends.tensorrt")
    except ImportError as exc:
        raise ModelError(f"{path}: the tensorrt backend is not available: {exc}") from exc
    return module.TensorRTBackend(path, device=device, **options)

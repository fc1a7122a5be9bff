"""Which backends exist, which files each opens and what each can do: one table, not if-chains.

A backend is added by one :class:`BackendInfo` line in :data:`BACKENDS` (or a call to
:func:`register_backend` from a plugin). ``opener`` is a ``"module:attribute"`` reference that is
imported only when a model is opened on that backend, so listing backends never imports torch,
TensorRT or TFLite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtpose.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rtpose.backends.base import Backend


@dataclass(frozen=True)
class BackendInfo:
    """One backend: its name, the files it opens, and what it can do.

    ``suffixes``: model files it opens, first the ones that are its own (an ``.engine`` is only
    TensorRT's; ``.onnx`` is ONNX Runtime's own, and TensorRT and torch open it too).
    ``devices``: where it runs. ``batch``: takes any batch size on a free batch axis.
    ``fp16``: can run in half precision. ``options``: the keyword options its opener takes,
    so ``backend: auto`` passes each backend only its own (``threads`` is ONNX Runtime's).
    ``opener``: ``"module:callable"``, called as ``opener(path, device=..., **options)``.
    """

    name: str
    suffixes: tuple[str, ...]
    devices: tuple[str, ...]
    batch: bool
    fp16: bool
    options: tuple[str, ...]
    opener: str
    native: tuple[str, ...] = ()

    def opens(self, suffix: str) -> bool:
        return suffix.lower() in self.suffixes

    def is_native(self, suffix: str) -> bool:
        """Whether files of ``suffix`` are this backend's own format (auto picks it for them)."""
        return suffix.lower() in (self.native or self.suffixes)

    def open(self, path: Path, device: str, **options: Any) -> "Backend":
        """Import the opener now (heavy engines stay unimported until used) and open ``path``."""
        module_name, _, attribute = self.opener.partition(":")
        try:
            opener: Callable[..., Backend] = getattr(importlib.import_module(module_name), attribute)
        except ImportError as exc:
            raise ModelError(f"{path}: the {self.name} backend is not available here: {exc}") from exc
        return opener(path, device=device, **options)


BACKENDS: list[BackendInfo] = [
    BackendInfo("onnxruntime", (".onnx",), ("cpu", "cuda"), batch=True, fp16=False,
                options=("threads", "spin", "optimization"),
                opener="rtpose.backends.onnxruntime:OnnxRuntimeBackend"),
    BackendInfo("tensorrt", (".engine", ".plan", ".trt", ".onnx"), ("cuda",), batch=True, fp16=True,
                options=("precision", "max_batch", "cache_dir"),
                opener="rtpose.backends.tensorrt:TensorRTBackend", native=(".engine", ".plan", ".trt")),
    BackendInfo("torch", (".pt", ".ts", ".torchscript", ".jit", ".onnx"), ("cpu", "cuda"), batch=True,
                fp16=True, options=("fp16",), opener="rtpose.backends.torch:open_torch_file",
                native=(".pt", ".ts", ".torchscript", ".jit")),
    BackendInfo("tflite", (".tflite",), ("cpu",), batch=False, fp16=False, options=("threads",),
                opener="rtpose.backends.tflite:open_tflite"),
]
"""Every backend, in the order ``backend: auto`` prefers them for a file they natively open."""


def register_backend(info: BackendInfo) -> None:
    """Add (or replace, by name) a backend, e.g. from a plugin."""
    BACKENDS[:] = [b for b in BACKENDS if b.name != info.name] + [info]


def backend_names() -> tuple[str, ...]:
    return tuple(b.name for b in BACKENDS)


def get_backend(name: str) -> BackendInfo:
    """The backend called ``name``; ModelError listing the known ones."""
    for info in BACKENDS:
        if info.name == name:
            return info
    raise ModelError(f"unknown backend {name!r}: use auto or one of {', '.join(backend_names())}")


def native_backend(path: Path) -> BackendInfo:
    """The backend whose own format ``path`` is (what ``auto`` means for it off the GPU)."""
    suffix = path.suffix.lower()
    for info in BACKENDS:
        if info.is_native(suffix):
            return info
    known = sorted({s for b in BACKENDS for s in b.suffixes})
    raise ModelError(f"{path}: unknown model format {suffix!r}; expected one of {', '.join(known)}")

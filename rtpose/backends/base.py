"""One small interface over the inference engines a model node can run on.

Model code (``rtpose.models``) only ever talks to a :class:`Backend`: numpy in,
numpy out. Which engine sits behind it (ONNX Runtime, torch, TensorRT, or any backend in
:mod:`rtpose.backends.registry`) is chosen by :func:`open_backend`, so a node's graph file can say ``backend: auto``
and run on a laptop CPU or a GPU box unchanged.

Heavy engines are imported lazily, inside the functions that need them: torch
and TensorRT are optional dependencies, and importing torch alone costs seconds.
"""

from __future__ import annotations

import importlib.util
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtpose.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

log = logging.getLogger(__name__)

TRITON_SCHEME = "triton://"
"""``triton://HOST:PORT/MODEL``: a model served by a Triton server (see ``rtpose serve``)."""


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
    path: Path | None = None  # the model file, named in errors

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

    def check_shapes(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feed`` as is, or a ModelError naming the model file, the input and the axis whose fixed
        size the array does not have (a 1-channel image for a 3-channel model, an NHWC model fed
        NCHW crops, a crop of another size), instead of the engine's own message."""
        for name, shape in zip(self.input_names, self.input_shapes):
            array = feed.get(name)
            if array is None or not shape:
                continue
            where = f"{self.path or self.name}: input {name!r}"
            if np.ndim(array) != len(shape):
                raise ModelError(f"{where} takes {len(shape)} dimensions {_shape_text(shape)}, "
                                 f"got an array of shape {tuple(np.shape(array))}")
            for axis, (want, got) in enumerate(zip(shape, np.shape(array))):
                if static_dim(shape, axis) is not None and want != got:
                    raise ModelError(f"{where} takes shape {_shape_text(shape)}, got {tuple(np.shape(array))}: "
                                     f"axis {axis} must be {want}, not {got}"
                                     + (" (channels: is the image gray, or the layout NHWC vs NCHW?)"
                                        if axis in (1, len(shape) - 1) and (want in (1, 3) or got in (1, 3))
                                        else ""))
        return feed

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}{tuple(s)}" for n, s in zip(self.input_names, self.input_shapes))
        return f"<{type(self).__name__} {self.name}/{self.device} inputs: {ins}>"


def _shape_text(shape: tuple) -> str:
    """(1, 3, 'h', None) -> '(1, 3, h, ?)': dynamic axes shown by name or '?'."""
    return "(" + ", ".join(str(d) if d not in (None, "") else "?" for d in shape) + ")"


def static_dim(shape: tuple, axis: int) -> int | None:
    """The size of ``shape[axis]`` if the model fixes it, else None (dynamic or unknown)."""
    try:
        dim = shape[axis]
    except IndexError:
        return None
    return int(dim) if isinstance(dim, (int, np.integer)) and dim > 0 else None


def open_backend(
    model: str | Path | "torch.nn.Module",
    backend: str = "auto",
    device: str = "auto",
    **options: Any,
) -> Backend:
    """Load ``model`` on the best (or the named) engine and device.

    ``model`` is a file (``.onnx``, a TensorRT ``.engine``/``.plan``, a TorchScript ``.pt``, or
    any format a backend in :data:`rtpose.backends.registry.BACKENDS` opens) or a
    ``torch.nn.Module``. ``backend`` is ``auto`` or a backend name; ``device`` is ``auto``,
    ``cpu`` or ``cuda``. ``auto`` follows :func:`rtpose.backends.plan.plan_backend`: on an NVIDIA
    GPU an ONNX model runs on TensorRT (serving from torch or ONNX Runtime until its engine is
    built in the background), else on torch CUDA; on a CPU on ONNX Runtime. ``options`` go to
    the engine (``threads`` for ONNX Runtime, ``fp16`` for torch, ...); with ``auto`` each
    backend gets only the options it takes. Every failure is a :class:`ModelError` naming the model.
    """
    from rtpose.backends.plan import plan_backend, probe_machine
    from rtpose.backends.registry import get_backend

    if isinstance(model, str) and model.startswith(TRITON_SCHEME):  # a served model, not a file
        from rtpose.backends.triton import TritonBackend

        address, _, name = model[len(TRITON_SCHEME):].rpartition("/")
        served = {k: v for k, v in options.items() if k in TritonBackend.OPTIONS}  # no threads etc.: it runs remotely
        return TritonBackend(address, name, **served)
    if backend != "auto":
        get_backend(backend)  # an unknown name fails first, whatever the model
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    if not isinstance(model, (str, Path)):
        return _open_module(model, backend, device, options)
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    plan = plan_backend(path, backend, device, probe_machine())
    if plan.start is not None:
        from rtpose.backends.switching import open_switching

        log.info("%s: %s (%s)", path.name, plan.backend, plan.reason)
        return open_switching(path, plan, options)
    if backend != "auto":
        return open_planned(path, plan.backend, plan.device, options)
    log.info("%s: %s on %s (%s)", path.name, plan.backend, plan.device, plan.reason)
    return open_planned(path, plan.backend, plan.device, options, strict=False,
                        fallback=plan.backend == "torch" and path.suffix.lower() == ".onnx")


def open_planned(path: Path, backend: str, device: str, options: Mapping[str, Any],
                 strict: bool = True, fallback: bool = False) -> Backend:
    """Open ``path`` on ``backend``/``device``; unless ``strict``, options the backend does not
    take are left out (a graph's ``threads`` means nothing to torch). With ``fallback``, an ONNX
    file torch cannot convert (onnx2torch lacks an operator) runs on ONNX Runtime instead, logged."""
    from rtpose.backends.registry import get_backend

    info = get_backend(backend)
    given = dict(options) if strict else {k: v for k, v in options.items() if k in info.options}
    try:
        return info.open(path, device, **given)
    except ModelError as exc:
        if not fallback:
            raise
        log.warning("%s; running it on onnxruntime instead", exc)
        return open_planned(path, "onnxruntime", "auto", options, strict=False)


def _open_module(module: Any, backend: str, device: str, options: dict[str, Any]) -> Backend:
    """Wrap an in-memory torch module; only the torch backend can run one."""
    if backend not in ("auto", "torch"):
        raise ModelError(
            f"a {type(module).__name__} object can only run on the torch backend; "
            f"export it to ONNX to use {backend}")
    if importlib.util.find_spec("torch") is None:
        raise ModelError("torch is not installed: pip install 'rtpose[torch]'")
    from rtpose.backends.torch import TorchBackend

    return TorchBackend(module, device=device, **options)

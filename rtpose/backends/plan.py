"""``backend: auto``, ``device: auto``: which backend serves a model file on this machine.

The decision is :func:`plan_backend`, a pure function of the file's format, what the graph
asked for and what this machine has (:class:`Machine`), so every case is tested on a CPU:

* an NVIDIA GPU with TensorRT importable: TensorRT; the graph starts at once on torch CUDA
  (ONNX Runtime where torch cannot convert the model) and switches when the engine, built in a
  background process, is ready;
* an NVIDIA GPU without TensorRT: torch CUDA (the ONNX file converted by onnx2torch), else
  ONNX Runtime's CUDA provider, else ONNX Runtime on the CPU;
* no GPU: ONNX Runtime on the CPU.

:func:`probe_machine` fills :class:`Machine` without importing torch when there is no NVIDIA
driver (importing torch costs seconds, and ``auto`` on a laptop should not pay them).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rtpose.backends.registry import get_backend, native_backend
from rtpose.errors import ModelError


@dataclass(frozen=True)
class Machine:
    """What the backend choice depends on."""

    cuda: bool  # torch sees an NVIDIA GPU
    tensorrt: bool  # ``import tensorrt`` can work
    onnx2torch: bool  # torch can run ONNX files (onnx2torch installed)
    ort_cuda: bool  # onnxruntime has the CUDA execution provider


@dataclass(frozen=True)
class Plan:
    """The backend and device that serve, and the one serving until then (TensorRT builds)."""

    backend: str
    device: str  # cpu, cuda, or auto: the backend's own choice (e.g. CUDA where its build has it)
    start: str | None = None  # serves while `backend`'s engine is built in the background
    start_device: str | None = None
    reason: str = ""


def plan_backend(path: Path, backend: str, device: str, machine: Machine) -> Plan:
    """The backend for ``path`` given the asked ``backend``/``device`` (``auto`` or a name) and
    this ``machine``. A named backend that cannot open the file or run on the device is a
    ModelError that says why and what would work."""
    suffix = path.suffix.lower()
    if backend != "auto":  # the backend itself says what is missing for the device asked
        info = get_backend(backend)
        if not info.opens(suffix):
            native = native_backend(path).name
            raise ModelError(f"{path}: the {backend} backend cannot run {suffix} files (use {native})")
        return Plan(backend, device, reason="asked for")  # `auto`: the backend picks its own device
    native = native_backend(path)
    if suffix != ".onnx":  # the format's own backend; it says itself if it cannot use the device
        return Plan(native.name, device, reason=f"{suffix} file")
    if device.startswith("cuda") and not machine.cuda:
        raise ModelError(f"{path}: device {device!r} asked for, but no CUDA GPU is visible to torch "
                         "(a CPU-only torch build, no driver, or no torch): use device cpu or auto")
    if device == "cpu" or not machine.cuda:
        return Plan("onnxruntime", "cpu", reason="no CUDA GPU" if device != "cpu" else "device cpu")
    start, start_device = (("torch", "cuda") if machine.onnx2torch
                           else ("onnxruntime", "cuda" if machine.ort_cuda else "cpu"))
    if machine.tensorrt:
        return Plan("tensorrt", "cuda", start, start_device,
                    reason=f"NVIDIA GPU with TensorRT; {start} {start_device} until the engine is built")
    hint = "" if machine.onnx2torch else " (pip install onnx2torch to run ONNX models on torch CUDA)"
    if device.startswith("cuda") and start_device == "cpu":
        raise ModelError(f"{path}: device {device!r} asked for, but nothing here runs ONNX models on "
                         f"CUDA{hint or ''}; or install onnxruntime-gpu or TensorRT, or use device auto")
    return Plan(start, start_device, reason=f"NVIDIA GPU without TensorRT{hint}")


def nvidia_driver_present() -> bool:
    """A cheap hint that an NVIDIA GPU may be here (the kernel driver or nvidia-smi), checked
    before importing torch to ask for sure."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


@lru_cache(maxsize=1)
def probe_machine() -> Machine:
    """This machine's :class:`Machine` (cached: it does not change while a process runs).

    ``RTPOSE_NO_CUDA=1`` makes it report no GPU (to run ``auto`` graphs on the CPU of a GPU box).
    """
    from rtpose.engines.build import tensorrt_available

    find = importlib.util.find_spec
    cuda = False
    if not os.environ.get("RTPOSE_NO_CUDA") and nvidia_driver_present() and find("torch") is not None:
        import torch

        cuda = bool(torch.cuda.is_available())
    ort_cuda = False
    if cuda and find("onnxruntime") is not None:
        import onnxruntime

        ort_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    return Machine(cuda=cuda, tensorrt=cuda and tensorrt_available(),
                   onnx2torch=find("onnx2torch") is not None, ort_cuda=ort_cuda)

"""Building, loading and verifying engines with TensorRT's Python API (imported lazily)."""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.errors import ModelError

from rtpose.engines.cache import (Platform, _write_atomic, cache_key, engine_paths, file_sha256, make_fingerprint,
                                  needs_rebuild, write_sidecar)
from rtpose.engines.calibration import Preprocess, calibration_batches
from rtpose.engines.spec import EngineSpec, Profile, resolve_onnx

log = logging.getLogger(__name__)


def tensorrt_available() -> bool:
    """Whether ``import tensorrt`` can work (checked without importing it): the one such check."""
    import importlib.util

    return importlib.util.find_spec("tensorrt") is not None


def import_tensorrt() -> Any:
    """``import tensorrt``, or a ModelError saying how to get it."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ModelError(
            "TensorRT is not installed: on a machine with an NVIDIA GPU, pip install tensorrt "
            f"(and torch with CUDA); or stay on the onnxruntime backend ({exc})") from exc
    return trt


def current_platform() -> Platform:
    """TensorRT version and the GPU (via torch CUDA, which the TensorRT backend uses anyway)."""
    trt = import_tensorrt()
    try:
        import torch
    except ImportError as exc:
        raise ModelError("the TensorRT path needs torch with CUDA for device memory: "
                         "pip install torch (a CUDA build)") from exc
    if not torch.cuda.is_available():
        raise ModelError("TensorRT needs a CUDA GPU, and torch sees none (CPU-only torch build or no driver)")
    index = torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(index)
    return Platform(str(trt.__version__), torch.cuda.get_device_name(index), f"{major}.{minor}")


_LOGGER: Any = None


def trt_logger() -> Any:
    """One process-wide TensorRT logger: TensorRT warns when builders/runtimes get different ones."""
    global _LOGGER
    if _LOGGER is None:
        trt = import_tensorrt()
        _LOGGER = trt.Logger(trt.Logger.WARNING)
    return _LOGGER


ProgressFn = Callable[[str], None]


def _progress_monitor(trt: Any, report: ProgressFn) -> Any:
    """An ``IProgressMonitor`` that reports "phase step/steps" (TensorRT >= 10 only; else None).

    TensorRT calls it from its own threads: ``report`` must be thread-safe (rich's Progress is).
    """
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self.steps[phase_name] = num_steps
            report(f"{phase_name} 0/{num_steps}")

        def step_complete(self, phase_name: str, step: int) -> bool:
            report(f"{phase_name} {step + 1}/{self.steps.get(phase_name, '?')}")
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self.steps.pop(phase_name, None)

    return Monitor()


def _make_calibrator(trt: Any, batches: list[np.ndarray], cache_file: Path | None) -> Any:
    """An ``IInt8EntropyCalibrator2`` fed from pre-processed numpy batches via one CUDA buffer."""
    import torch

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = iter(batches)
            self.device = torch.empty(batches[0].shape, dtype=torch.float32, device="cuda")

        def get_batch_size(self) -> int:
            return int(batches[0].shape[0])

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None  # tells TensorRT the calibration data is exhausted
            self.device.copy_(torch.from_numpy(batch))
            torch.cuda.synchronize()  # TensorRT reads the buffer on its own stream
            return [int(self.device.data_ptr())] * len(names)

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file is not None and cache_file.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            if cache_file is not None:
                _write_atomic(cache_file, bytes(cache))

    return EntropyCalibrator()


def build_serialized(spec: EngineSpec, onnx_path: Path, report: ProgressFn = lambda _: None,
                     calibration_cache: Path | None = None, preprocess: Preprocess | None = None) -> bytes:
    """Parse the ONNX file and build a serialized engine with TensorRT's Python API (TensorRT 10).

    Explicit batch is the default in TensorRT 10 (``create_network(0)``); one optimization
    profile covers every input; INT8 uses implicit quantization with an entropy calibrator
    (deprecated by NVIDIA since 10.1 in favour of explicitly quantized ONNX, still supported).
    """
    trt = import_tensorrt()
    logger = trt_logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    report("parsing ONNX")
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"{onnx_path}: TensorRT cannot parse this ONNX file: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_mb << 20)
    profile = builder.create_optimization_profile()
    network_inputs = {network.get_input(i).name for i in range(network.num_inputs)}
    for name, shapes in spec.inputs.items():
        if name not in network_inputs:
            raise ModelError(f"{spec.name}: the ONNX model has no input {name!r} (it has {sorted(network_inputs)})")
        profile.set_shape(name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(profile)
    if spec.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # int8 layers fall back to fp16, not fp32
    if spec.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_calibration_profile(profile)
        config.int8_calibrator = _calibrator_for(trt, spec, calibration_cache, report, preprocess)
    monitor = _progress_monitor(trt, report)
    if monitor is not None:
        config.progress_monitor = monitor
    report("building (minutes)")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"{spec.name}: TensorRT failed to build the engine (see the TensorRT log above)")
    return bytes(serialized)


def _calibrator_for(trt: Any, spec: EngineSpec, cache_file: Path | None, report: ProgressFn,
                    preprocess: Preprocess | None) -> Any:
    """Load every calibration batch (a few hundred MB at most) and wrap them in a calibrator."""
    assert spec.calibration is not None
    if preprocess is None:
        raise ModelError(f"{spec.name}: an int8 build needs the model's pre-processing for its "
                         f"calibration images: build it with `rtpose engines build {spec.name}`")
    name = next(iter(spec.inputs))
    report(f"reading {spec.calibration.count} calibration images")
    batches = list(calibration_batches(spec.calibration, spec.base_dir, spec.inputs[name].opt, preprocess))
    return _make_calibrator(trt, batches, cache_file)


def ensure_engine(spec: EngineSpec, cache_dir: Path, force: bool = False,
                  report: ProgressFn = lambda _: None, preprocess: Preprocess | None = None) -> Path:
    """The cached engine for ``spec`` on this machine, built first if missing or stale.

    ``preprocess`` makes int8 calibration inputs (:data:`rtpose.models.calibration.PREPROCESS`).
    """
    onnx_path = resolve_onnx(spec)
    assert onnx_path is not None
    fingerprint = make_fingerprint(spec, file_sha256(onnx_path), current_platform())
    key = cache_key(fingerprint)
    engine_path, sidecar_path = engine_paths(cache_dir, spec.name, key)
    reason = "forced" if force else needs_rebuild(engine_path, sidecar_path, fingerprint)
    if reason is None:
        return engine_path
    log.info("building TensorRT engine %s (%s)", spec.name, reason)
    start = time.perf_counter()
    data = build_serialized(spec, onnx_path, report, engine_path.with_suffix(".calib"), preprocess)
    _write_atomic(engine_path, data)
    write_sidecar(sidecar_path, fingerprint, len(data),
                  {"name": spec.name, "onnx": str(onnx_path), "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "build_seconds": round(time.perf_counter() - start, 1)})
    return engine_path


def cache_status(spec: EngineSpec, cache_dir: Path) -> str:
    """One line for ``engines list``: ready / stale (why) / not built, or why it cannot be told."""
    if not tensorrt_available():
        return "TensorRT not installed"
    onnx_path = resolve_onnx(spec, download=False)
    if onnx_path is None:
        return "ONNX not downloaded yet"
    try:
        fingerprint = make_fingerprint(spec, file_sha256(onnx_path), current_platform())
    except ModelError as exc:
        return f"cannot tell: {exc}"
    engine_path, sidecar_path = engine_paths(cache_dir, spec.name, cache_key(fingerprint))
    reason = needs_rebuild(engine_path, sidecar_path, fingerprint)
    return f"ready: {engine_path.name}" if reason is None else f"needs build ({reason})"


def spec_for_onnx(onnx_path: Path, precision: str = "fp16", max_batch: int = 32) -> EngineSpec:
    """A spec for a bare ONNX file (``open_backend(x.onnx, backend="tensorrt")``): static dims kept,
    a dynamic batch axis given the profile 1 / min(8, max) / ``max_batch``."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    inputs: dict[str, Profile] = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue  # old exporters list weights as inputs too
        dims = [d.dim_value if d.dim_value > 0 else None for d in value.type.tensor_type.shape.dim]
        if any(d is None for d in dims[1:]):
            raise ModelError(f"{onnx_path}: input {value.name!r} has dynamic dims {dims} beyond the batch "
                             "axis: write an engine spec with explicit profiles")
        rest = [int(d) for d in dims[1:]]
        if dims and dims[0] is None:
            inputs[value.name] = Profile(min=[1, *rest], opt=[min(8, max_batch), *rest], max=[max_batch, *rest])
        else:
            inputs[value.name] = Profile.model_validate([int(d) for d in dims])
    return EngineSpec(name=onnx_path.stem, onnx=str(onnx_path.resolve()), inputs=inputs, precision=precision)


# --------------------------------------------------------------------------- verify

def sample_input(spec: EngineSpec, seed: int = 0, preprocess: Preprocess | None = None) -> dict[str, np.ndarray]:
    """One input per name at its ``opt`` shape: the first calibration batch if there is one (and
    the model's ``preprocess``), else noise."""
    if spec.calibration is not None and preprocess is not None and len(spec.inputs) == 1:
        name, profile = next(iter(spec.inputs.items()))
        try:
            return {name: next(calibration_batches(spec.calibration, spec.base_dir, profile.opt, preprocess))}
        except (ModelError, StopIteration):
            pass
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(p.opt).astype(np.float32) for n, p in spec.inputs.items()}


def compare_outputs(reference: list[np.ndarray], other: list[np.ndarray]) -> list[float]:
    """Max absolute difference per output (shapes must agree)."""
    if len(reference) != len(other):
        raise ModelError(f"{len(reference)} reference outputs vs {len(other)}")
    diffs = []
    for a, b in zip(reference, other):
        if a.shape != b.shape:
            raise ModelError(f"output shapes differ: {a.shape} vs {b.shape}")
        diffs.append(float(np.max(np.abs(a.astype(np.float32) - b.astype(np.float32)))) if a.size else 0.0)
    return diffs


# --------------------------------------------------------------------------- building in the background

def _build_in_worker(spec_json: str, spec_path: str | None, cache_dir: str) -> str:
    """Process-pool entry point: build (or find) the engine and return its path."""
    spec = EngineSpec.model_validate_json(spec_json)
    spec.path = Path(spec_path) if spec_path else None
    return str(ensure_engine(spec, Path(cache_dir)))


def start_background_build(spec: EngineSpec, cache_dir: Path,
                           executor: concurrent.futures.Executor | None = None
                           ) -> concurrent.futures.Future:
    """Build ``spec``'s engine in a separate *process*; the future's result is the engine path.

    A process, not a thread: the builder may hold the GIL for minutes (its Python bindings do
    not all release it), it uses GBs of host and GPU memory that only a process exit returns
    for sure, and a crash in it must not take the running graph down. ``concurrent.futures``
    keeps that to one call; ``spawn`` because CUDA cannot be used in a forked child.
    """
    if executor is None:
        executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    spec_path = str(spec.path) if spec.path is not None else None
    future = executor.submit(_build_in_worker, spec.model_dump_json(), spec_path, str(cache_dir))
    future.add_done_callback(lambda _: executor.shutdown(wait=False))
    return future

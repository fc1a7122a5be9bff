"""TensorRT engines: build specs, a cache keyed on everything that makes an engine valid, build, verify.

An engine is only valid for the exact ONNX file, TensorRT version, GPU model (compute capability)
and input profile/precision it was built for, and a build takes minutes. So:

* a build spec (``engines/<name>.yaml``) says what to build: the ONNX file (a path relative to
  the spec, or a model name known to :mod:`rtpose.models.registry`), a ``{min, opt, max}`` shape
  profile per input, the precision and, for int8, the calibration images;
* the cache (``engines/cache/``, git-ignored) stores ``<name>-<key>.engine`` next to a JSON
  *sidecar* that records the :class:`Fingerprint` the key was hashed from. The sidecar is written
  last, so it doubles as the "build finished" marker;
* whether to rebuild is decided by pure functions (:func:`cache_key`, :func:`needs_rebuild`,
  :func:`read_sidecar`) that are tested without TensorRT or a GPU.

Everything that needs TensorRT, torch or a GPU is imported inside the function that uses it, so
this module (and ``rtpose engines list``) works on a machine with none of them.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rtpose.backends.base import Backend
from rtpose.errors import ModelError

log = logging.getLogger(__name__)

ENGINES_ENV = "RTPOSE_ENGINES"
SIDECAR_VERSION = 1
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


# --------------------------------------------------------------------------- specs

class Profile(BaseModel):
    """Shapes one input may take: TensorRT tunes for ``opt`` and accepts anything in [min, max].

    A plain list (``images: [1, 3, 416, 416]``) means a static shape (min = opt = max).
    """

    model_config = ConfigDict(extra="forbid")
    min: list[int]
    opt: list[int]
    max: list[int]

    @model_validator(mode="before")
    @classmethod
    def _static_shorthand(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return {"min": value, "opt": value, "max": value}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "Profile":
        if not (len(self.min) == len(self.opt) == len(self.max)):
            raise ValueError(f"min {self.min}, opt {self.opt} and max {self.max} must have the same rank")
        if any(d < 1 for d in self.min):
            raise ValueError(f"min {self.min}: every dimension must be >= 1")
        if not all(a <= b <= c for a, b, c in zip(self.min, self.opt, self.max)):
            raise ValueError(f"need min <= opt <= max in every dimension, got {self.min} / {self.opt} / {self.max}")
        return self


class Calibration(BaseModel):
    """INT8 calibration data: ``count`` images from a folder, pre-processed like the model's input.

    ``preprocess: topdown`` treats each whole image as one person box, so point ``images`` at a
    folder of person crops; ``yolox`` letterboxes full frames.
    """

    model_config = ConfigDict(extra="forbid")
    images: str
    count: int = Field(64, ge=1)
    preprocess: Literal["yolox", "topdown"]


class EngineSpec(BaseModel):
    """One ``engines/<name>.yaml``: what to build. ``path`` is the spec file (relative paths start there)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    onnx: str
    inputs: dict[str, Profile]
    precision: Literal["fp32", "fp16", "int8"] = "fp16"
    workspace_mb: int = Field(1024, ge=16)
    calibration: Calibration | None = None
    path: Path | None = Field(None, exclude=True)

    @field_validator("inputs")
    @classmethod
    def _some_inputs(cls, value: dict[str, Profile]) -> dict[str, Profile]:
        if not value:
            raise ValueError("name at least one input and its shape profile")
        return value

    @model_validator(mode="after")
    def _int8_needs_calibration(self) -> "EngineSpec":
        if self.precision == "int8" and self.calibration is None:
            raise ValueError("precision int8 needs a calibration: {images, count, preprocess} block")
        return self

    @property
    def base_dir(self) -> Path:
        """Where relative paths in the spec start: the spec's folder (or the cwd for in-memory specs)."""
        return self.path.parent if self.path is not None else Path.cwd()


def engines_dir(given: str | Path | None = None) -> Path:
    """The folder of build specs: ``given``, else $RTPOSE_ENGINES, else ``./engines``."""
    return Path(given or os.environ.get(ENGINES_ENV) or "engines").expanduser()


def cache_dir_for(specs_dir: Path) -> Path:
    """Built engines live in ``<specs>/cache`` (git-ignored)."""
    return specs_dir / "cache"


def load_spec(path: str | Path) -> EngineSpec:
    """Read and validate one spec; the name is the file's stem. ModelError says what is wrong and where."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"{path}: cannot read engine spec: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: an engine spec is a mapping (onnx:, inputs:, precision: ...)")
    try:
        return EngineSpec(**{"name": path.stem, **raw}, path=path)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ModelError(f"{path}: invalid engine spec: {problems}") from exc


def list_specs(specs_dir: Path) -> dict[str, EngineSpec]:
    """Every ``*.yaml`` spec in ``specs_dir`` by name."""
    return {p.stem: load_spec(p) for p in sorted(specs_dir.glob("*.yaml"))}


def find_spec(name: str, specs_dir: Path) -> EngineSpec:
    """The spec called ``name`` (or at path ``name``); ModelError lists the known ones."""
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return load_spec(name)
    path = specs_dir / f"{name}.yaml"
    if path.is_file():
        return load_spec(path)
    known = ", ".join(sorted(p.stem for p in specs_dir.glob("*.yaml"))) or "none"
    raise ModelError(f"no engine spec {name!r} in {specs_dir} (known: {known})")


def _looks_like_path(text: str) -> bool:
    return text.endswith(".onnx") or "/" in text or os.sep in text


def resolve_onnx(spec: EngineSpec, download: bool = True) -> Path | None:
    """The spec's ONNX file. A known model name goes through the registry (downloading only
    when ``download``); without download an absent file gives None instead of an error."""
    if _looks_like_path(spec.onnx):
        path = (spec.base_dir / Path(spec.onnx).expanduser()).resolve()
        if path.is_file():
            return path
        if download:
            raise ModelError(f"{spec.name}: ONNX file not found: {path}")
        return None
    from rtpose.models import registry

    return registry.resolve_model(spec.onnx) if download else registry.cached(spec.onnx)


# --------------------------------------------------------------------------- cache keys (pure)

@dataclass(frozen=True)
class Platform:
    """What, besides the model, an engine is bound to: TensorRT version and GPU."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str


@dataclass(frozen=True)
class Fingerprint:
    """Everything that makes a cached engine reusable; hashed into the cache key, kept in the sidecar.

    ``calibration`` is part of it for int8 (other images give another engine); ``workspace_mb``
    is not: it limits the tactics tried, it does not make an engine wrong.
    """

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    inputs: dict[str, dict[str, list[int]]]
    precision: str
    calibration: dict[str, Any] | None = None


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, read in 1 MiB chunks (HRNet-W32's 110 MB ONNX: ~0.2 s)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def make_fingerprint(spec: EngineSpec, onnx_sha256: str, platform: Platform) -> Fingerprint:
    """The fingerprint of building ``spec`` from an ONNX file with this hash on this platform."""
    calibration = None
    if spec.precision == "int8" and spec.calibration is not None:
        calibration = spec.calibration.model_dump()
    return Fingerprint(
        onnx_sha256=onnx_sha256, tensorrt_version=platform.tensorrt_version,
        gpu_name=platform.gpu_name, compute_capability=platform.compute_capability,
        inputs={name: p.model_dump() for name, p in sorted(spec.inputs.items())},
        precision=spec.precision, calibration=calibration)


def cache_key(fingerprint: Fingerprint) -> str:
    """16 hex digits of the sha256 of the fingerprint's canonical JSON: same inputs, same key."""
    text = json.dumps(asdict(fingerprint), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def engine_paths(cache_dir: Path, name: str, key: str) -> tuple[Path, Path]:
    """``(<name>-<key>.engine, <name>-<key>.json)`` in ``cache_dir``."""
    stem = cache_dir / f"{name}-{key}"
    return stem.with_suffix(".engine"), stem.with_suffix(".json")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_sidecar(path: Path, fingerprint: Fingerprint, engine_bytes: int,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Record what an engine was built from (written after the engine: it marks the build complete)."""
    record = {"version": SIDECAR_VERSION, "key": cache_key(fingerprint),
              "fingerprint": asdict(fingerprint), "engine_bytes": int(engine_bytes), **(extra or {})}
    _write_atomic(path, json.dumps(record, indent=2, sort_keys=True).encode())
    return record


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar's record, or None when it is missing, not JSON or not a sidecar (= rebuild)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != SIDECAR_VERSION:
        return None
    if not isinstance(record.get("fingerprint"), dict) or not isinstance(record.get("key"), str):
        return None
    return record


def needs_rebuild(engine_path: Path, sidecar_path: Path, fingerprint: Fingerprint) -> str | None:
    """Why the cached engine cannot be used (a sentence), or None when it can."""
    if not engine_path.is_file():
        return "no cached engine"
    record = read_sidecar(sidecar_path)
    if record is None:
        return "sidecar missing or corrupt"
    wanted = asdict(fingerprint)
    changed = sorted(k for k in set(wanted) | set(record["fingerprint"])
                     if wanted.get(k) != record["fingerprint"].get(k))
    if changed:
        return "changed since the build: " + ", ".join(changed)
    if record["key"] != cache_key(fingerprint):
        return "cache key differs from the sidecar's"
    if record.get("engine_bytes") != engine_path.stat().st_size:
        return "engine file size differs from the sidecar (partial or replaced file)"
    return None


def cached_engines(cache_dir: Path) -> list[tuple[Path, dict[str, Any] | None]]:
    """Every ``*.engine`` in the cache with its sidecar record (None if unreadable)."""
    if not cache_dir.is_dir():
        return []
    return [(p, read_sidecar(p.with_suffix(".json"))) for p in sorted(cache_dir.glob("*.engine"))]


# --------------------------------------------------------------------------- calibration data (numpy)

def calibration_images(folder: Path, count: int) -> list[Path]:
    """The first ``count`` images (sorted by name) of ``folder``."""
    if not folder.is_dir():
        raise ModelError(f"calibration folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ModelError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in calibration folder {folder}")
    return files[:count]


def preprocess_for(kind: str, image_bgr: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """One image -> (1, 3, H, W) float32 exactly as the model's own pre-processing makes it."""
    if kind == "yolox":
        from rtpose.models.yolox import letterbox

        return letterbox(image_bgr, size_wh)[0]
    from rtpose.models.heatmap import box_to_center_scale, crop_affine, normalize

    h, w = image_bgr.shape[:2]
    centers, scales = box_to_center_scale(np.array([[0, 0, w, h]], np.float32), size_wh[0] / size_wh[1])
    return normalize(crop_affine(image_bgr, centers, scales, size_wh))


def calibration_batches(calibration: Calibration, base_dir: Path,
                        shape: list[int] | tuple[int, ...]) -> Iterator[np.ndarray]:
    """Batches of ``shape`` (N, 3, H, W) for the INT8 calibrator; a last partial batch is dropped.

    TensorRT calibrates with the profile's ``opt`` shape, which is what callers pass as ``shape``.
    """
    import cv2

    batch, height, width = int(shape[0]), int(shape[2]), int(shape[3])
    files = calibration_images((base_dir / calibration.images).resolve(), calibration.count)
    if len(files) < batch:
        raise ModelError(f"calibration needs at least one batch of {batch} images, found {len(files)}")
    current: list[np.ndarray] = []
    for file in files:
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise ModelError(f"cannot read calibration image {file}")
        current.append(preprocess_for(calibration.preprocess, image, (width, height)))
        if len(current) == batch:
            yield np.concatenate(current).astype(np.float32)
            current = []


# --------------------------------------------------------------------------- TensorRT (lazy)

def tensorrt_available() -> bool:
    """Whether ``import tensorrt`` can work (checked without importing it)."""
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
                     calibration_cache: Path | None = None) -> bytes:
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
        config.int8_calibrator = _calibrator_for(trt, spec, calibration_cache, report)
    monitor = _progress_monitor(trt, report)
    if monitor is not None:
        config.progress_monitor = monitor
    report("building (minutes)")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"{spec.name}: TensorRT failed to build the engine (see the TensorRT log above)")
    return bytes(serialized)


def _calibrator_for(trt: Any, spec: EngineSpec, cache_file: Path | None, report: ProgressFn) -> Any:
    """Load every calibration batch (a few hundred MB at most) and wrap them in a calibrator."""
    assert spec.calibration is not None
    name = next(iter(spec.inputs))
    report(f"reading {spec.calibration.count} calibration images")
    batches = list(calibration_batches(spec.calibration, spec.base_dir, spec.inputs[name].opt))
    return _make_calibrator(trt, batches, cache_file)


def ensure_engine(spec: EngineSpec, cache_dir: Path, force: bool = False,
                  report: ProgressFn = lambda _: None) -> Path:
    """The cached engine for ``spec`` on this machine, built first if missing or stale."""
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
    data = build_serialized(spec, onnx_path, report, engine_path.with_suffix(".calib"))
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

def sample_input(spec: EngineSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """One input per name at its ``opt`` shape: the first calibration batch if there is one, else noise."""
    if spec.calibration is not None and len(spec.inputs) == 1:
        name, profile = next(iter(spec.inputs.items()))
        try:
            return {name: next(calibration_batches(spec.calibration, spec.base_dir, profile.opt))}
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


def verify_engine(spec: EngineSpec, cache_dir: Path) -> dict[str, float]:
    """Run the engine and ONNX Runtime (CPU) on one sample: max abs difference per output name."""
    from rtpose.backends.onnxruntime import OnnxRuntimeBackend
    from rtpose.backends.tensorrt import TensorRTBackend

    onnx_path = resolve_onnx(spec)
    engine = TensorRTBackend(ensure_engine(spec, cache_dir))
    reference = OnnxRuntimeBackend(onnx_path, device="cpu")
    feed = sample_input(spec)
    try:
        diffs = compare_outputs(reference.run(feed), engine.run(feed))
    finally:
        engine.close()
    return dict(zip(reference.output_names, diffs))


# --------------------------------------------------------------------------- start on ORT, switch to TRT

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


class EngineSwitchingBackend(Backend):
    """Serves from a fallback backend (ONNX Runtime) until an engine build finishes, then from TensorRT.

    The switch happens inside :meth:`run`, on the calling node's thread: the TensorRT backend's
    CUDA stream and buffers are created where they are used, and no lock is needed since a
    backend belongs to one node. A failed build is logged once and the fallback keeps serving.
    """

    def __init__(self, fallback: Backend, build: concurrent.futures.Future,
                 load: Callable[[Path], Backend] | None = None) -> None:
        self.current = fallback
        self._build: concurrent.futures.Future | None = build
        self._load = load or _load_tensorrt
        self.error: BaseException | None = None
        self._describe(fallback)

    def _describe(self, backend: Backend) -> None:
        self.name, self.device = backend.name, backend.device
        self.input_names, self.output_names = backend.input_names, backend.output_names
        self.input_shapes = backend.input_shapes

    @property
    def switched(self) -> bool:
        """True once the engine serves."""
        return self._build is None and self.error is None

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Run on whichever backend is current, switching first if the build just finished."""
        if self._build is not None and self._build.done():
            self._switch()
        return self.current.run(inputs)

    def _switch(self) -> None:
        future, self._build = self._build, None
        assert future is not None
        try:
            engine = self._load(Path(future.result()))
        except Exception as exc:  # a failed build or load must not stop the graph
            self.error = exc
            log.warning("TensorRT engine not used, staying on %s: %s", self.current.name, exc)
            return
        if engine.input_names != self.current.input_names:
            self.error = ModelError(f"engine inputs {engine.input_names} differ from "
                                    f"{self.current.input_names}: staying on {self.current.name}")
            log.warning("%s", self.error)
            engine.close()
            return
        old, self.current = self.current, engine
        self._describe(engine)
        old.close()
        log.info("switched to the TensorRT engine")

    def close(self) -> None:
        if self._build is not None:
            self._build.cancel()
        self.current.close()


def _load_tensorrt(path: Path) -> Backend:
    from rtpose.backends.tensorrt import TensorRTBackend

    return TensorRTBackend(path)


def open_engine(spec: EngineSpec, cache_dir: Path, background: bool = True, **ort_options: Any) -> Backend:
    """The best backend for ``spec`` now: a ready engine; else ONNX Runtime, switching to TensorRT
    when a background build finishes; else (no TensorRT/GPU) plain ONNX Runtime."""
    from rtpose.backends.onnxruntime import OnnxRuntimeBackend

    onnx_path = resolve_onnx(spec)
    if tensorrt_available():
        try:
            status = cache_status(spec, cache_dir)
            if status.startswith("ready") or (status.startswith("needs build") and not background):
                return _load_tensorrt(ensure_engine(spec, cache_dir))
            if status.startswith("needs build"):
                return EngineSwitchingBackend(OnnxRuntimeBackend(onnx_path, **ort_options),
                                              start_background_build(spec, cache_dir))
            log.warning("TensorRT not usable for %s (%s), using onnxruntime", spec.name, status)
        except ModelError as exc:
            log.warning("TensorRT not usable for %s, using onnxruntime: %s", spec.name, exc)
    return OnnxRuntimeBackend(onnx_path, **ort_options)

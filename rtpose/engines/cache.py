"""The engine cache: keys from everything that makes an engine valid, sidecars, rebuild decisions.

Pure functions, tested without TensorRT or a GPU.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


from rtpose.engines.spec import EngineSpec


SIDECAR_VERSION = 1


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

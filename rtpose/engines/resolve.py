"""One way from a node's ``model`` to the engine spec it runs, so that ``rtpose engines build``
warms exactly the cache entry that graphs read.

A node names its model by registry name (``hrnet_w32_coco_256x192``) or by path, and the model
code opens the resolved ONNX *file*. So the file decides: the spec in ``engines/*.yaml`` whose
ONNX has the same sha256 is the one used (its name, profiles and precision, hence its cache key);
a file that no spec builds gets a spec derived from the file itself. A spec name or a registry
name can be resolved too (the CLI does). The choice is made by :func:`choose_spec`, a pure
function; :func:`engine_spec_for_file` only gathers the hashes it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

from rtpose.engines.cache import file_sha256
from rtpose.engines.spec import EngineSpec, list_specs, resolve_onnx


def choose_spec(model: str, specs: Mapping[str, EngineSpec], spec_hashes: Mapping[str, str | None],
                model_sha256: str | None) -> EngineSpec | None:
    """The spec that builds ``model``, or None when none does (the caller then derives one).

    ``model`` is a spec name, a registry name (a spec whose ``onnx:`` names it) or a path whose
    file hashes to ``model_sha256``; ``spec_hashes`` maps each spec to its ONNX file's sha256
    (None when that file is not on this machine). A spec name wins, then a registry name, then
    the hash; among several specs of one file the first by name is taken, so the choice is stable.
    """
    if model in specs:
        return specs[model]
    by_name = [spec for _, spec in sorted(specs.items()) if spec.onnx == model]
    if by_name:
        return by_name[0]
    if model_sha256 is None:
        return None
    by_hash = [specs[name] for name, digest in sorted(spec_hashes.items())
               if digest == model_sha256 and name in specs]
    return by_hash[0] if by_hash else None


@lru_cache(maxsize=64)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, remembered while its size and mtime stay (one hash per file per process)."""
    return file_sha256(path)


def sha256_of(path: Path) -> str:
    """The file's sha256, computed once per process for an unchanged file."""
    stat = path.stat()
    return _cached_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def spec_hashes(specs: Mapping[str, EngineSpec],
                hash_file: Callable[[Path], str] = sha256_of) -> dict[str, str | None]:
    """Each spec's ONNX sha256, without downloading: None for a file not on this machine."""
    hashes: dict[str, str | None] = {}
    for name, spec in specs.items():
        path = resolve_onnx(spec, download=False)
        hashes[name] = hash_file(path) if path is not None else None
    return hashes


def engine_spec_for_file(onnx_path: Path, specs_dir: Path,
                         derive: Callable[[Path], EngineSpec]) -> EngineSpec:
    """The spec for an ONNX file a node opens: the ``specs_dir`` spec of the same file (by
    sha256), else ``derive(onnx_path)`` (a spec read off the file's own input shapes)."""
    specs = list_specs(specs_dir)
    chosen = choose_spec(str(onnx_path), specs, spec_hashes(specs), sha256_of(onnx_path)) if specs else None
    if chosen is None:
        return derive(onnx_path)
    return chosen.model_copy(update={"onnx": str(onnx_path.resolve())})

"""Engine build specs: ``engines/<name>.yaml`` validated, found and resolved to their ONNX file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rtpose.errors import ModelError


ENGINES_ENV = "RTPOSE_ENGINES"


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


CHECKOUT_SPECS = Path(__file__).resolve().parents[2] / "engines"
"""The specs of a source checkout (``engines/`` beside ``rtpose/``), found from any folder."""


def engines_dir(given: str | Path | None = None) -> Path:
    """The folder of build specs: ``given``, else $RTPOSE_ENGINES, else ``./engines`` when it
    exists, else the checkout's ``engines/`` (so a graph run from another folder finds them)."""
    if given or os.environ.get(ENGINES_ENV):
        return Path(given or os.environ[ENGINES_ENV]).expanduser()
    local = Path("engines")
    return local if local.is_dir() or not CHECKOUT_SPECS.is_dir() else CHECKOUT_SPECS


def engine_cache_dir() -> Path:
    """Built engines live in ``$RTPOSE_HOME/engines`` (default ``~/.cache/rtpose/engines``): one
    cache for ``rtpose engines build`` and for every graph, whatever the current folder."""
    from rtpose.models.registry import rtpose_home

    return rtpose_home() / "engines"


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
    """Every ``*.yaml`` spec in ``specs_dir`` by name (none when the folder does not exist)."""
    return {p.stem: load_spec(p) for p in sorted(specs_dir.glob("*.yaml"))} if specs_dir.is_dir() else {}


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

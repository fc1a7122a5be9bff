"""``rtpose engines``: list build specs and cached TensorRT engines, build them, check them against ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from rtpose import engines
from rtpose.console import err, fail, out
from rtpose.errors import RtposeError

app = typer.Typer(help="Build, cache and check TensorRT engines (engines/*.yaml; cache in $RTPOSE_HOME/engines).",
                  no_args_is_help=True)

DirOption = typer.Option(None, "--dir", help="Folder of build specs (default $RTPOSE_ENGINES or ./engines).")


def _profile_text(spec: engines.EngineSpec) -> str:
    return "; ".join(f"{n} {p.min}..{p.max}" if p.min != p.max else f"{n} {p.min}"
                     for n, p in spec.inputs.items())


@app.command("list")
def list_engines(specs_dir: Optional[Path] = DirOption) -> None:
    """Show every spec with its cache status, then every engine in the cache."""
    folder = engines.engines_dir(specs_dir)
    cache = engines.engine_cache_dir()
    try:
        specs = engines.list_specs(folder)
    except RtposeError as exc:
        fail(exc)
    if not engines.tensorrt_available():
        out.print("[yellow]TensorRT not installed[/]: specs are listed, nothing can be built or run here.")
    table = Table(title=f"engine specs in {folder}")
    table.add_column("name", no_wrap=True, min_width=max([4, *map(len, specs)]))
    for column in ("onnx", "precision", "inputs", "status"):
        table.add_column(column, overflow="fold")
    for name, spec in specs.items():
        table.add_row(name, spec.onnx, spec.precision, _profile_text(spec),
                      escape(engines.cache_status(spec, cache)))
    out.print(table)
    built = Table(title=f"cached engines in {cache}")
    for column in ("file", "MB", "GPU", "TensorRT", "precision", "built"):
        built.add_column(column)
    for path, record in engines.cached_engines(cache):
        fp = (record or {}).get("fingerprint", {})
        built.add_row(path.name, f"{path.stat().st_size / 1e6:.1f}",
                      f"{fp.get('gpu_name', '?')} (sm {fp.get('compute_capability', '?')})",
                      fp.get("tensorrt_version", "?"), fp.get("precision", "?"),
                      (record or {}).get("built_at", "sidecar missing or corrupt"))
    out.print(built)


@app.command("build")
def build(
    name: str = typer.Argument(..., help="A spec name (engines/NAME.yaml), a spec file, or 'all'."),
    specs_dir: Optional[Path] = DirOption,
    force: bool = typer.Option(False, "--force", help="Rebuild even if the cached engine is up to date."),
) -> None:
    """Build (or confirm the cache holds) the engine of one spec or of all of them."""
    folder = engines.engines_dir(specs_dir)
    try:
        specs = list(engines.list_specs(folder).values()) if name == "all" else [engines.find_spec(name, folder)]
        engines.import_tensorrt()
        for spec in specs:
            path = _build_with_progress(spec, engines.engine_cache_dir(), force)
            out.print(f"[green]{spec.name}[/]: {path}")
    except RtposeError as exc:
        fail(exc)


def _preprocess(spec: engines.EngineSpec) -> engines.Preprocess | None:
    """The model's own pre-processing for the spec's calibration images (int8 builds, verify samples)."""
    if spec.calibration is None:
        return None
    from rtpose.models.calibration import PREPROCESS

    return PREPROCESS[spec.calibration.preprocess]


def _build_with_progress(spec: engines.EngineSpec, cache: Path, force: bool) -> Path:
    """ensure_engine with a spinner, elapsed time and TensorRT's current phase (thread-safe updates)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(f"{spec.name}: checking cache", total=None)

        def report(text: str) -> None:
            progress.update(task, description=f"{spec.name}: {text}")

        path = engines.ensure_engine(spec, cache, force=force, report=report, preprocess=_preprocess(spec))
        progress.update(task, description=f"{spec.name}: done")
    return path


@app.command("verify")
def verify(
    name: str = typer.Argument(..., help="A spec name or spec file."),
    specs_dir: Optional[Path] = DirOption,
    as_json: bool = typer.Option(False, "--json", help="Print the differences as JSON."),
) -> None:
    """Run the engine and ONNX Runtime (CPU) on one sample and print the max abs difference per output."""
    folder = engines.engines_dir(specs_dir)
    try:
        spec = engines.find_spec(name, folder)
        engines.import_tensorrt()
        from rtpose.backends.tensorrt import verify_engine

        sample = engines.sample_input(spec, preprocess=_preprocess(spec))
        diffs = verify_engine(spec, engines.engine_cache_dir(), sample)
    except RtposeError as exc:
        fail(exc)
    if as_json:
        out.print_json(json.dumps(diffs))
        return
    table = Table(title=f"{spec.name} ({spec.precision}) vs onnxruntime")
    table.add_column("output")
    table.add_column("max abs diff", justify="right")
    for output, diff in diffs.items():
        table.add_row(output, f"{diff:.3g}")
    out.print(table)

"""``rtpose models``: see which models are known and cached, and fetch them before going offline."""

from __future__ import annotations

import typer
from rich.table import Table

from rtpose.console import fail, out
from rtpose.errors import RtposeError
from rtpose.models import registry

app = typer.Typer(help="List and download the models rtpose knows by name.", no_args_is_help=True)


@app.command("list")
def list_models() -> None:
    """Show every known model, whether it is cached, and where its file is (or would be)."""
    table = Table(title=f"models in {registry.models_dir()}")
    for column in ("name", "kind", "format", "cached?", "where"):
        table.add_column(column)
    for name, spec in sorted(registry.known_models().items()):
        onnx = registry.models_dir() / spec.onnx_filename
        source = registry.models_dir() / spec.filename
        if registry.cached(name) is not None:
            state, where = "yes", onnx
        elif source.is_file():  # a .pth downloaded but not converted yet
            state, where = "pth only", source
        else:
            state, where = "no", onnx
        table.add_row(name, spec.kind, spec.format, state, str(where))
    out.print(table)


@app.command("pull")
def pull_model(name: str = typer.Argument(..., help="a name from `rtpose models list`")) -> None:
    """Download (and convert to ONNX) one model now, so later runs need no network."""
    try:
        registry.get_spec(name)
    except RtposeError as exc:
        fail(exc, code=2)  # a wrong name is a bad option, as everywhere in the CLI
    try:
        path = registry.pull(name)
    except RtposeError as exc:
        fail(exc, code=1)
    typer.echo(str(path))

"""The ``rtpose`` command: run, validate and inspect graphs, list nodes and models."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import rtpose
from rtpose.console import err, fail, out
from rtpose.errors import GraphError, NodeFailed, RtposeError
from rtpose.graph.build import Graph, apply_overrides, build_graph, load_graph
from rtpose.graph.edit import add_export, interactive_nodes, remove_nodes, replace_source
from rtpose.graph.render import to_dot, to_text
from rtpose.graph.yamlfile import load_yaml
from rtpose.outputs import check_output
from rtpose.plugins import get_node_type, load_plugin, node_types, without_plugin_code

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Real-time multi-person pose pipelines built from a graph of nodes.")
nodes_app = typer.Typer(no_args_is_help=True, help="List and describe node types.")
app.add_typer(nodes_app, name="nodes")

PROGRESS_PERIOD_S = 0.25  # the bar needs no more; each update reads every node's figures
BAD_INPUT = 2
"""Exit code of a bad graph, option or output path (README: Command line)."""
_verbose = False  # -v: tracebacks of expected errors too


def _version(value: bool) -> None:
    if value:
        out.print(f"rtpose {rtpose.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the runtime and nodes do."),
) -> None:
    global _verbose
    _verbose = verbose
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def prepare_graph(path: Path, *, source: str | None = None, overrides: list[str] | None = None,
                  headless: bool = False, export: Path | None = None) -> Graph:
    """Load a graph file and apply the command-line edits, validating the result."""
    raw = load_yaml(path)
    apply_overrides(raw, overrides or [])
    if source is not None:
        replace_source(raw, source)
    if headless or export is not None:
        graph = build_graph(raw, path)
        if headless:
            remove_nodes(raw, interactive_nodes(graph))
        if export is not None:
            add_export(raw, graph, str(export))
    return build_graph(raw, path)


@app.command()
def run(
    graph_file: Path = typer.Argument(..., help="The graph, e.g. graphs/webcam_body.yaml."),
    source: Optional[str] = typer.Option(None, "--source", help="Replace the capture node's source: camera "
                                         "index, video file, URL or image folder."),
    set_: list[str] = typer.Option([], "--set", help="Override a parameter: NODE.PARAM=VALUE (repeatable)."),
    headless: bool = typer.Option(False, "--headless", help="Run without the window (no screen or Qt needed)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after N frames per source."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write keypoints per frame (.jsonl or .csv)."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="Write per-node figures as JSON."),
    trace: Optional[Path] = typer.Option(None, "--trace", help="Write a Chrome/Perfetto trace of every frame."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary table."),
    grace: float = typer.Option(2.0, "--grace", min=0.1, help="Seconds each node has to stop (Ctrl-C, SIGTERM, "
                                "window closed) or to close; a node that takes longer is reported with its "
                                "stack and the command exits anyway."),
) -> None:
    """Run a graph until its sources end, the window closes, Ctrl-C or SIGTERM."""
    from rtpose.runtime.scheduler import SIGNAL_NAMES, GraphRunner

    try:
        for path, what in ((export, "export file"), (metrics, "metrics file"), (trace, "trace file")):
            if path is not None:
                check_output(path, what)
        graph = prepare_graph(graph_file, source=source, overrides=set_, headless=headless, export=export)
    except RtposeError as exc:
        fail(exc, BAD_INPUT)
    runner = GraphRunner(graph, max_frames=max_frames, trace=trace is not None, grace=grace)
    with _progress(runner, enabled=not quiet and not interactive_nodes(graph)) as tick:
        result = runner.run(on_tick=tick)
    code = result.exit_code
    try:
        if metrics is not None:
            runner.metrics.write_json(metrics, {"graph": str(graph_file), "elapsed_s": result.elapsed,
                                                "exit_code": code})
        if trace is not None:
            runner.metrics.write_trace(trace)
    except RtposeError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        code = code or 1
    stats = runner.metrics.snapshot()
    if not quiet and any(node["frames_out"] for node in stats.values()):  # nothing ran: the error says it all
        print_summary(stats, result.elapsed)
    if result.error is not None:
        _report_failure(result.error)
    for stuck in result.stuck:
        err.print(f"[bold red]error:[/] {escape(stuck.describe())}; left running, its stack:", highlight=False)
        err.print(stuck.stack.rstrip(), highlight=False, markup=False)
    if result.signal is not None:
        err.print(f"stopped by {SIGNAL_NAMES.get(result.signal, f'signal {result.signal}')}")
    if result.stuck:  # their threads may never end: leave without waiting for them
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def _report_failure(failure: NodeFailed) -> None:
    """A user's mistake (a missing file, camera or model, an unwritable path) in one line; a bug with
    its traceback. ``-v`` shows the traceback of both."""
    if _verbose or not isinstance(failure.exc, RtposeError):
        err.print(failure.traceback_text.rstrip(), highlight=False, markup=False)
        err.print(f"[bold red]error:[/] {escape(str(failure))}", highlight=False)
        return
    for line in str(failure.exc).splitlines() or [""]:
        err.print(f"[bold red]error:[/] node {failure.node!r} failed: {escape(line)}", highlight=False, soft_wrap=True)


class _progress:
    """A rich progress bar of frames done, fed from the runner's tick on the main thread."""

    def __init__(self, runner: Any, enabled: bool) -> None:
        self.runner = runner
        self.enabled = enabled and err.is_terminal
        self.bar: Progress | None = None
        self.task: Any = None
        self.last_tick = float("-inf")

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[fps]:.1f} FPS"), TimeElapsedColumn(), console=err)
        self.bar.start()
        self.task = self.bar.add_task("frames", total=None, fps=0.0)
        return self.tick

    def tick(self) -> None:
        assert self.bar is not None
        now = time.monotonic()
        if now - self.last_tick < PROGRESS_PERIOD_S:
            return
        self.last_tick = now
        sources = self.runner.graph.sources()
        total = sum(filter(None, (getattr(self.runner.nodes.get(s), "frame_count", None) for s in sources))) or None
        if self.runner.max_frames and total:
            total = min(total, self.runner.max_frames * len(sources))
        stats = self.runner.metrics.snapshot()
        sinks = self.runner.graph.sinks()
        done = min((stats[s]["frames_out"] for s in sinks), default=0)
        fps = min((stats[s]["fps_recent"] for s in sinks), default=0.0)
        self.bar.update(self.task, completed=done, total=total, fps=fps)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.last_tick = float("-inf")
            self.tick()
            self.bar.stop()


def print_summary(stats: dict[str, dict[str, Any]], elapsed: float) -> None:
    """The table printed when a run ends: one row per node."""
    table = Table(title=f"rtpose run: {elapsed:.1f} s", title_justify="left")
    for column in ("node", "type", "in", "out", "FPS", "p50 ms", "p99 ms", "since capture p50 ms",
                   "queue mean/max", "drops", "notes"):
        table.add_column(column, justify="left" if column in ("node", "type", "notes") else "right")
    for name, s in stats.items():
        table.add_row(name, s["type"], str(s["frames_in"]), str(s["frames_out"]), f"{s['fps']:.1f}",
                      f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}", f"{s['latency_p50_ms']:.1f}",
                      f"{s['queue_mean']:.1f}/{s['queue_max']}", str(s["dropped"]), _notes(s.get("node") or {}))
    err.print(table)


def _notes(own: dict[str, float]) -> str:
    """A node's own figures (``Node.stats``) in words, e.g. a detector that skips frames."""
    if "ran" in own and "ms_per_run" in own:
        return f"model on {100 * own['ran']:.0f}% of frames, {own['ms_per_run']:.1f} ms a run"
    return ", ".join(f"{k} {v:.3g}" for k, v in own.items())


NO_PLUGINS_HELP = ("Do not import the graph's plugins (they are code: importing runs them); node types only they define "
                   "are reported as unknown.")


def _load_checked(graph_file: Path, no_plugins: bool) -> Graph:
    try:
        if no_plugins:
            with without_plugin_code():
                return load_graph(graph_file)
        return load_graph(graph_file)
    except RtposeError as exc:
        fail(exc, BAD_INPUT)


@app.command()
def validate(
    graph_file: Path = typer.Argument(..., help="The graph file to check."),
    no_plugins: bool = typer.Option(False, "--no-plugins", help=NO_PLUGINS_HELP),
) -> None:
    """Check a graph without running it; every problem is listed with its file and line."""
    graph = _load_checked(graph_file, no_plugins)
    out.print(f"[green]ok[/]: {graph_file}: {len(graph.nodes)} nodes, {len(graph.edges())} edges "
              f"({', '.join(graph.nodes)})")


@app.command("graph")
def show_graph(
    graph_file: Path = typer.Argument(...),
    dot: bool = typer.Option(False, "--dot", help="Print Graphviz DOT (pipe into `dot -Tpng`)."),
    no_plugins: bool = typer.Option(False, "--no-plugins", help=NO_PLUGINS_HELP),
) -> None:
    """Print a graph's nodes and wiring, as text or for Graphviz."""
    graph = _load_checked(graph_file, no_plugins)
    sys.stdout.write(to_dot(graph) if dot else to_text(graph))


@nodes_app.command("list")
def nodes_list(
    plugin: list[str] = typer.Option([], "--plugin", help="Also load this plugin (.py file or module); repeatable."),
    graph_file: Optional[Path] = typer.Option(None, "--graph", help="Also load the plugins this graph file names."),
) -> None:
    """All node types: the standard ones, those of installed plugins, and those of --plugin/--graph."""
    _load_plugins(plugin, graph_file)
    table = Table(title="node types", title_justify="left")
    for column in ("type", "inputs", "outputs", "from", "about"):
        table.add_column(column)
    for type_name, cls in node_types().items():
        table.add_row(type_name, _ports(cls.inputs), _ports(cls.outputs), cls.__module__, _first_line(cls.__doc__))
    out.print(table)


@nodes_app.command("show")
def nodes_show(
    type_name: str = typer.Argument(..., help="A node type, e.g. detect."),
    plugin: list[str] = typer.Option([], "--plugin", help="Load this plugin first (.py file or module); repeatable."),
    graph_file: Optional[Path] = typer.Option(None, "--graph", help="Load the plugins this graph file names first."),
) -> None:
    """A node type's ports and parameters, with types, defaults and docs."""
    _load_plugins(plugin, graph_file)
    try:
        cls = get_node_type(type_name)
    except RtposeError as exc:
        fail(exc, BAD_INPUT)
    out.print(f"[bold]{type_name}[/]  ({cls.__module__}.{cls.__qualname__})")
    if cls.__doc__:
        out.print(cls.__doc__.strip())
    out.print(f"inputs:  {_ports(cls.inputs) or '-'}\noutputs: {_ports(cls.outputs) or '-'}")
    table = Table(title="params", title_justify="left")
    for column in ("name", "type", "default", "description"):
        table.add_column(column)
    for name, field in cls.Params.model_fields.items():
        default = "required" if field.is_required() else json.dumps(field.get_default(call_default_factory=True),
                                                                    default=str)
        table.add_row(name, _annotation(field.annotation), default, field.description or "")
    out.print(table)


def _load_plugins(plugins: list[str], graph_file: Path | None) -> None:
    """Import plugin files or modules named on the command line or in a graph file (they are code)."""
    try:
        for spec in plugins:
            load_plugin(spec, Path.cwd())
        if graph_file is not None:
            raw = load_yaml(graph_file)
            for spec in (raw.get("plugins") or []) if isinstance(raw, dict) else []:
                load_plugin(str(spec), graph_file.parent)
    except RtposeError as exc:
        fail(exc, BAD_INPUT)


def _ports(ports: dict[str, type]) -> str:
    return ", ".join(f"{name}: {getattr(kind, '__name__', kind)}" for name, kind in ports.items())


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""


def _annotation(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "")


def _mount_subcommands() -> None:
    """The sub-commands, one module each in this package."""
    from rtpose.cli.cameras import cameras
    from rtpose.cli.engines import app as engines_app
    from rtpose.cli.models import app as models_app
    from rtpose.cli.serve import serve
    from rtpose.cli.plot3d import plot3d

    app.add_typer(models_app, name="models", help="Known models, the local cache and downloads.")
    app.add_typer(engines_app, name="engines", help="Build, cache and check TensorRT engines.")
    app.command("cameras")(cameras)
    app.command("serve")(serve)
    app.command("plot3d")(plot3d)


_mount_subcommands()


def main() -> None:
    try:
        app()
    except RtposeError as exc:  # raised outside a command (e.g. by a plugin at import)
        for line in str(exc).splitlines():
            err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
        sys.exit(BAD_INPUT)


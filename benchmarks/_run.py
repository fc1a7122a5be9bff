"""Run a prepared graph to the end and time it: the one timing code of the graph benchmarks.

Wall time and process CPU time both start when every node is open (models loaded) and end
when the last node has finished, so they count the frames only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.table import Table

from rtpose.graph.build import Graph
from rtpose.runtime.scheduler import GraphRunner, RunResult


@dataclass
class TimedRun:
    runner: GraphRunner
    result: RunResult
    wall_s: float
    cpu_s: float
    """Process CPU seconds (all threads, ONNX Runtime's pools included) over the same span."""


def run_timed(graph: Graph, max_frames: int | None = None) -> TimedRun:
    """Run ``graph`` through :class:`GraphRunner`; raises if a node failed."""
    runner = GraphRunner(graph, max_frames=max_frames)
    start = (time.monotonic(), time.process_time())
    ready: list[tuple[float, float]] = []
    result = runner.run(on_tick=lambda: ready or ready.append((time.monotonic(), time.process_time())))
    done = (time.monotonic(), time.process_time())
    if result.error is not None:
        raise RuntimeError(f"graph failed: {result.error}\n{result.error.traceback_text}")
    wall0, cpu0 = ready[0] if ready else (done[0] - result.elapsed, start[1])
    return TimedRun(runner, result, done[0] - wall0, done[1] - cpu0)


def unwire_back_edges(graph: Graph) -> Graph:
    """The same graph without its back edges (their optional inputs get ``None``: e.g. the
    detector runs on every frame and the tracker uses detections only)."""
    for entry in graph.nodes.values():
        entry.inputs = {port: edge for port, edge in entry.inputs.items() if not edge.back_edge}
    return graph


def ratio_table(title: str, columns: tuple[str, str, str], rows: list[tuple[str, float]]) -> Table:
    """A table of figures and each one's ratio to the first row (the baseline, run in the same process)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    baseline = rows[0][1]
    for label, value in rows:
        table.add_row(label, f"{value:.1f}", f"{value / baseline:.2f}")
    return table

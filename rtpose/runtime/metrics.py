"""Per-node figures computed from the exact timestamps each frame carries, never sampled.

For every node: frames in/out, FPS, processing time p50/p99, time since capture
(end-to-end latency at the sinks), queue depth and drops; plus a Chrome/Perfetto
trace of every frame through every node.

Percentiles come from a fixed-size uniform sample of the whole run per node (reservoir
sampling): the memory is allocated once, however long the run, and a p99 of 4096 samples is
as good as one of all of them for a summary.
"""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rtpose.outputs import write_atomically
from rtpose.runtime.inbox import EdgeStats

RESERVOIR_SIZE = 4096
MAX_TRACE_EVENTS = 2_000_000


class Reservoir:
    """A uniform random sample of at most ``size`` of all values added (Vitter's algorithm R),
    in memory allocated once. Pairs of values (time per frame, time since capture) share
    one slot, so both columns sample the same frames."""

    def __init__(self, size: int = RESERVOIR_SIZE, columns: int = 2, seed: int = 0) -> None:
        self._values = np.zeros((size, columns), np.float64)
        self.seen = 0
        self._random = random.Random(seed)

    def add(self, *values: float) -> None:
        size = len(self._values)
        slot = self.seen if self.seen < size else self._random.randrange(self.seen + 1)
        self.seen += 1
        if slot < size:
            self._values[slot] = values

    def sample(self) -> np.ndarray:
        """A copy of the kept values, one row per sampled frame."""
        return self._values[:min(self.seen, len(self._values))].copy()


@dataclass
class _NodeRecord:
    frames_in: int = 0
    frames_out: int = 0
    source_dropped: int = 0
    first_out: float | None = None
    last_out: float | None = None
    times_s: Reservoir = field(default_factory=Reservoir)  # (process, since capture) per sampled frame
    recent_out: deque = field(default_factory=lambda: deque(maxlen=60))


class Metrics:
    """Thread-safe collector; node threads record, anyone can snapshot."""

    def __init__(self, nodes: dict[str, str], trace: bool = False) -> None:
        self._types = nodes
        self._records = {name: _NodeRecord() for name in nodes}
        self._edges: dict[str, dict[str, EdgeStats]] = {}
        self._node_stats: dict[str, Callable[[], dict[str, float]]] = {}
        self._lock = threading.Lock()
        self._trace: list[tuple[str, str, int, float, float]] | None = [] if trace else None

    def attach_edges(self, node: str, stats: dict[str, EdgeStats]) -> None:
        self._edges[node] = stats

    def attach_node_stats(self, node: str, stats: Callable[[], dict[str, float]]) -> None:
        """A node's own figures (``Node.stats``), added to its entry of every snapshot as ``node``."""
        self._node_stats[node] = stats

    def received(self, node: str) -> None:
        with self._lock:
            self._records[node].frames_in += 1

    def processed(self, node: str, source: str, index: int, captured: float, start: float, end: float) -> None:
        with self._lock:
            rec = self._records[node]
            rec.frames_out += 1
            rec.first_out = end if rec.first_out is None else rec.first_out
            rec.last_out = end
            rec.times_s.add(end - start, end - captured)
            rec.recent_out.append(end)
            if self._trace is not None and len(self._trace) < MAX_TRACE_EVENTS:
                self._trace.append((node, source, index, start, end))

    def source_dropped(self, node: str) -> None:
        with self._lock:
            self._records[node].source_dropped += 1

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per node: frames, FPS (whole run and recent), times in ms, queues and drops.

        The samples are copied under the lock and the percentiles computed outside it, so
        a dashboard asking often never holds up the node threads that record every frame.
        """
        with self._lock:
            copies = {name: (rec.times_s.sample(), list(rec.recent_out),
                             rec.frames_in, rec.frames_out, rec.first_out, rec.last_out, rec.source_dropped)
                      for name, rec in self._records.items()}
        figures = {name: self._node_figures(name, *copy) for name, copy in copies.items()}
        for name, stats in self._node_stats.items():
            try:
                figures[name]["node"] = dict(stats())
            except Exception:  # noqa: BLE001 - a node's own figures must never break the dashboard
                figures[name]["node"] = {}
        return figures

    def _node_figures(self, name: str, times_s: np.ndarray, recent: list[float],
                      frames_in: int, frames_out: int, first_out: float | None, last_out: float | None,
                      source_dropped: int) -> dict[str, Any]:
        process = times_s[:, 0] * 1000.0
        since = times_s[:, 1] * 1000.0
        edges = self._edges.get(name, {})
        span = (last_out - first_out) if first_out is not None and last_out is not None else 0.0
        recent_span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
        return {
            "type": self._types[name],
            "frames_in": frames_in,
            "frames_out": frames_out,
            "fps": (frames_out - 1) / span if span > 0 else 0.0,
            "fps_recent": (len(recent) - 1) / recent_span if recent_span > 0 else 0.0,
            "p50_ms": _percentile(process, 50),
            "p99_ms": _percentile(process, 99),
            "mean_ms": float(process.mean()) if process.size else 0.0,
            "latency_p50_ms": _percentile(since, 50),
            "latency_p99_ms": _percentile(since, 99),
            # the deepest input's queue (a node waits on its fullest input; a sum over inputs would be
            # a mean larger than any queue's max)
            "queue_mean": max((e.depth_mean for e in edges.values()), default=0.0),
            "queue_max": max((e.depth_max for e in edges.values()), default=0),
            "dropped": sum(e.dropped for e in edges.values()) + source_dropped,
            "inputs": {port: {"policy": e.policy, "capacity": e.capacity, "received": e.received,
                              "dropped": e.dropped, "depth_mean": e.depth_mean, "depth_max": e.depth_max}
                       for port, e in edges.items()},
        }

    def write_json(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        payload = {"nodes": self.snapshot(), **(extra or {})}
        write_atomically(path, json.dumps(payload, indent=2), "metrics")

    def write_trace(self, path: Path) -> None:
        """Chrome trace format (open in ui.perfetto.dev or chrome://tracing): one lane per node."""
        events: list[dict[str, Any]] = []
        lanes = {name: i + 1 for i, name in enumerate(self._records)}
        for name, tid in lanes.items():
            events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}})
        with self._lock:
            spans = list(self._trace or [])
        origin = min((s[3] for s in spans), default=0.0)
        for node, source, index, start, end in spans:
            events.append({"name": f"{source}#{index}", "cat": self._types[node], "ph": "X", "pid": 1,
                           "tid": lanes[node], "ts": (start - origin) * 1e6, "dur": (end - start) * 1e6,
                           "args": {"frame": index, "source": source}})
        write_atomically(path, json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}), "trace")


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else 0.0

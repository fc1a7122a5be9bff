"""Flow limiting for live sources, like MediaPipe's FlowLimiterCalculator.

A live source may have at most ``max_in_flight`` frames inside the graph. A frame
leaves the graph when it has been handed to every sink (or was dropped on the way);
frames the source reads meanwhile are dropped at the source, so a slow graph never
builds a backlog and latency stays at about one frame time plus processing.
"""

from __future__ import annotations

import threading
from collections import deque


class LostFrames:
    """Indices of a source's frames that were dropped somewhere in the graph (recent ones)."""

    def __init__(self, keep: int = 4096) -> None:
        self._lock = threading.Lock()
        self._order: deque[int] = deque()
        self._set: set[int] = set()
        self._keep = keep

    def add(self, index: int) -> None:
        with self._lock:
            if index in self._set:
                return
            self._set.add(index)
            self._order.append(index)
            if len(self._order) > self._keep:
                self._set.discard(self._order.popleft())

    def __contains__(self, index: int) -> bool:
        with self._lock:
            return index in self._set


class FlowLimiter:
    """Admits a new frame only while fewer than ``max_in_flight`` are in the graph.

    ``sinks`` maps each sink to its number of inputs: a frame has reached a sink once
    every input of it has been handed that frame.
    """

    def __init__(self, max_in_flight: int, sinks: dict[str, int]) -> None:
        self.max_in_flight = max_in_flight
        self._sinks = {sink: ports for sink, ports in sinks.items() if ports}
        self._pending: dict[int, dict[str, int]] = {}
        self._lock = threading.Lock()

    def try_admit(self, index: int) -> bool:
        with self._lock:
            if len(self._pending) >= self.max_in_flight:
                return False
            if self._sinks:
                self._pending[index] = dict(self._sinks)
            return True

    def delivered(self, index: int, sink: str) -> None:
        with self._lock:
            waiting = self._pending.get(index)
            if waiting is None or sink not in waiting:
                return
            waiting[sink] -= 1
            if waiting[sink] <= 0:
                del waiting[sink]
            if not waiting:
                del self._pending[index]

    def lost(self, index: int) -> None:
        with self._lock:
            self._pending.pop(index, None)

"""A node's input queues: one bounded queue per input port, joined by frame index.

The queue policy is per edge:

- ``block``: lossless; the producer waits while the queue is full (files).
- ``latest``: keeps only the newest packet; older ones are dropped (live views).
- ``drop_oldest``: bounded; when full the oldest packet is dropped (live writers).

End-of-stream packets are never dropped. All waits are short slices that check the
graph's stop event, so no thread can hang on a queue.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

from rtpose.runtime.packet import Packet

WAIT_SLICE = 0.05


@dataclass
class EdgeStats:
    """Counters of one input queue."""

    capacity: int
    policy: str
    received: int = 0
    dropped: int = 0
    depth_sum: int = 0
    depth_samples: int = 0
    depth_max: int = 0

    def sample_depth(self, depth: int) -> None:
        self.depth_sum += depth
        self.depth_samples += 1
        self.depth_max = max(self.depth_max, depth)

    @property
    def depth_mean(self) -> float:
        return self.depth_sum / self.depth_samples if self.depth_samples else 0.0


class Inbox:
    """The input side of one node. Producers ``put``; the node's thread ``get``s joined frames."""

    def __init__(self, ports: dict[str, tuple[str, int]], stop: threading.Event,
                 on_drop: Callable[[str, Packet], None]) -> None:
        self._queues: dict[str, deque[Packet]] = {port: deque() for port in ports}
        self.stats = {port: EdgeStats(capacity=cap, policy=policy) for port, (policy, cap) in ports.items()}
        self._cond = threading.Condition()
        self._stop = stop
        self._on_drop = on_drop

    def put(self, port: str, packet: Packet) -> None:
        queue, stats = self._queues[port], self.stats[port]
        dropped: list[Packet] = []
        with self._cond:
            if stats.policy == "block" or packet.end:
                while len(queue) >= stats.capacity and not self._stop.is_set() and not packet.end:
                    self._cond.wait(WAIT_SLICE)
            elif stats.policy == "latest":
                dropped = [p for p in queue if not p.end]
                queue.clear()
            else:  # drop_oldest
                while len(queue) >= stats.capacity and not queue[0].end:
                    dropped.append(queue.popleft())
            queue.append(packet)
            stats.received += not packet.end
            stats.dropped += len(dropped)
            self._cond.notify_all()
        for old in dropped:
            self._on_drop(port, old)

    def get(self, timeout: float = WAIT_SLICE) -> dict[str, Packet] | None:
        """The next complete frame (one packet per port, same index), or None on timeout.

        When every port has reached end of stream, returns the end packets. Packets
        that can no longer be joined (another port has moved past their index or
        ended) are dropped and counted.
        """
        dropped: list[tuple[str, Packet]] = []
        with self._cond:
            joined = self._join(dropped)
            if joined is None:
                self._cond.wait(timeout)
                joined = self._join(dropped)
            for port, _ in dropped:
                self.stats[port].dropped += 1
            if joined is not None:
                for port, queue in self._queues.items():
                    self.stats[port].sample_depth(len(queue))
            if joined is not None or dropped:
                self._cond.notify_all()
        for port, packet in dropped:
            self._on_drop(port, packet)
        return joined

    def _join(self, dropped: list[tuple[str, Packet]]) -> dict[str, Packet] | None:
        queues = self._queues
        while True:
            heads = {port: (q[0] if q else None) for port, q in queues.items()}
            if any(p is not None and p.end for p in heads.values()):
                # A port that ended will never match what waits on the others.
                stale = [port for port, p in heads.items() if p is not None and not p.end]
                if not stale:
                    if all(p is not None for p in heads.values()):
                        return {port: q.popleft() for port, q in queues.items()}
                    return None
                for port in stale:
                    dropped.append((port, queues[port].popleft()))
                continue
            if any(p is None for p in heads.values()):
                return None
            newest = max(p.index for p in heads.values())  # type: ignore[union-attr]
            if all(p.index == newest for p in heads.values()):  # type: ignore[union-attr]
                return {port: q.popleft() for port, q in queues.items()}
            for port, q in queues.items():
                if q[0].index < newest:
                    dropped.append((port, q.popleft()))

    def depth(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())


class BackSlot:
    """A back edge: the newest value fed back from a downstream node, waited for by frame."""

    def __init__(self, stop: threading.Event) -> None:
        self._cond = threading.Condition()
        self._latest: Packet | None = None
        self._ended = False
        self._stop = stop

    def put(self, packet: Packet) -> None:
        with self._cond:
            if packet.end:
                self._ended = True
            else:
                self._latest = packet
            self._cond.notify_all()

    def wait_for(self, index: int | None, is_lost: Callable[[int], bool], timeout: float) -> Packet | None:
        """The value fed back for frame ``index`` (the frame this node handled before).

        Waits until it arrives, that frame is known lost (dropped), the producer
        ended, the graph stops, or ``timeout`` passes; then returns the newest value.
        """
        if index is None:
            return None
        with self._cond:
            remaining = timeout
            while (remaining > 0 and not self._ended and not self._stop.is_set() and not is_lost(index)
                   and (self._latest is None or self._latest.index < index)):
                self._cond.wait(min(WAIT_SLICE, remaining))
                remaining -= WAIT_SLICE
            return self._latest

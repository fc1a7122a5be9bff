"""The one place with threads: runs a validated graph, a thread per node.

Life of a run:

1. every node is created and ``open()``-ed on its own thread (models load in parallel);
2. once all are open, queues are made (their policy depends on whether the source
   turned out live) and sources start;
3. frames flow; a source's end of stream travels down every edge and each node
   thread ends when all its inputs have ended;
4. an exception in any node, Ctrl-C, or the window closing sets one stop event that
   every thread checks at least every 50 ms; ``close()`` runs on each node's thread.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from rtpose.errors import NodeFailed
from rtpose.graph.build import Edge, Graph
from rtpose.node import FrameInfo, Node
from rtpose.runtime.flow import FlowLimiter, LostFrames
from rtpose.runtime.inbox import WAIT_SLICE, BackSlot, Inbox
from rtpose.runtime.metrics import Metrics
from rtpose.runtime.packet import Packet, Span, end_of_stream

log = logging.getLogger("rtpose.runtime")

DEFAULT_CAPACITY = {"block": 4, "latest": 1, "drop_oldest": 8}
BACK_EDGE_TIMEOUT = 1.0


@dataclass
class RunResult:
    """How a run ended."""

    error: NodeFailed | None = None
    interrupted: bool = False
    window_closed: bool = False
    stuck_threads: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.error is not None or self.stuck_threads:
            return 1
        return 130 if self.interrupted else 0


class GraphRunner:
    """Runs a :class:`Graph` until its sources end, a node fails, or it is stopped."""

    def __init__(self, graph: Graph, *, max_frames: int | None = None, trace: bool = False,
                 stop_timeout: float = 2.0) -> None:
        self.graph = graph
        self.max_frames = max_frames
        self.stop_timeout = stop_timeout
        self.metrics = Metrics({name: e.cls.type_name for name, e in graph.nodes.items()}, trace=trace)
        self.nodes: dict[str, Node] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._opened: set[str] = set()
        self._finished: set[str] = set()
        self._all_finished = threading.Event()
        self._error: NodeFailed | None = None
        self._interrupted = False
        self._sinks = set(graph.sinks())
        self._inboxes: dict[str, Inbox] = {}
        self._back_slots: dict[tuple[str, str], BackSlot] = {}
        self._limiters: dict[str, FlowLimiter] = {}
        self._lost = {name: LostFrames() for name in graph.sources()}
        self._out_edges = {name: graph.consumers(name) for name in graph.nodes}
        self._threads: list[threading.Thread] = []

    # ---- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask every node to stop; safe from any thread or a signal handler."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, on_tick: Callable[[], None] | None = None) -> RunResult:
        """Run to the end on the calling thread (the main thread, for a window and Ctrl-C).

        ``on_tick`` is called from this thread about every 50 ms while no window runs
        (the CLI draws its progress bar with it).
        """
        started = time.monotonic()
        previous_handler = self._install_sigint()
        result = RunResult()
        try:
            for name, entry in self.graph.nodes.items():
                node = entry.cls(name, entry.params)
                node._stats_provider = self.metrics.snapshot  # type: ignore[attr-defined]
                self.nodes[name] = node
                thread = threading.Thread(target=self._node_thread, args=(name,), name=f"rtpose:{name}", daemon=True)
                self._threads.append(thread)
            for thread in self._threads:
                thread.start()
            self._wait_until_open()
            ui = next((n for n in self.nodes.values() if n.interactive), None)
            if ui is not None and self._ready.is_set() and not self._stop.is_set():
                ui.ui_loop(lambda: self._stop.is_set() or self._all_finished.is_set())
                result.window_closed = not self._all_finished.is_set() and not self._stop.is_set()
                self._stop.set()
            while not self._all_finished.wait(WAIT_SLICE):
                if on_tick is not None:
                    on_tick()
        except KeyboardInterrupt:
            self._interrupted = True
        finally:
            self._stop.set()
            result.stuck_threads = self._join_threads()
            self._restore_sigint(previous_handler)
        result.error = self._error
        result.interrupted = self._interrupted
        result.elapsed = time.monotonic() - started
        return result

    def _install_sigint(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(signum: int, frame: Any) -> None:
            self._interrupted = True
            self._stop.set()

        return signal.signal(signal.SIGINT, on_sigint)

    @staticmethod
    def _restore_sigint(previous: Any) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    def _join_threads(self) -> list[str]:
        deadline = time.monotonic() + self.stop_timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        for name in stuck:
            log.error("thread %s did not stop within %.1f s", name, self.stop_timeout)
        return stuck

    def _fail(self, name: str, exc: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = NodeFailed(name, traceback.format_exc(), exc)
        self._stop.set()

    # ---- set-up ----------------------------------------------------------------------------

    def _wait_until_open(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if len(self._opened) == len(self.nodes):
                    break
            time.sleep(WAIT_SLICE / 5)
        if self._stop.is_set():
            return
        self._make_queues()
        self._ready.set()
        log.info("graph %r running: %s", self.graph.name, ", ".join(self.nodes))

    def _make_queues(self) -> None:
        live = {name: self.nodes[name].live for name in self.graph.sources()}
        for name, entry in self.graph.nodes.items():
            ports: dict[str, tuple[str, int]] = {}
            for port, edge in entry.inputs.items():
                if edge.back_edge:
                    self._back_slots[(name, port)] = BackSlot(self._stop)
                else:
                    ports[port] = self._queue_policy(edge, entry.cls, live[self.graph.source_of(name)])
            if ports:
                inbox = Inbox(ports, self._stop, lambda port, packet: self._dropped(packet))
                self._inboxes[name] = inbox
                self.metrics.attach_edges(name, inbox.stats)
        for name in self.graph.sources():
            if live[name]:
                limit = self.graph.nodes[name].max_in_flight or 1
                sinks = {s: sum(not e.back_edge for e in self.graph.nodes[s].inputs.values())
                         for s in self._sinks if self.graph.source_of(s) == name and not self.graph.nodes[s].is_source}
                self._limiters[name] = FlowLimiter(limit, sinks)

    @staticmethod
    def _queue_policy(edge: Edge, consumer: type[Node], live: bool) -> tuple[str, int]:
        policy = edge.policy
        if policy == "auto":
            policy, capacity = consumer.live_input_queue if live else ("block", DEFAULT_CAPACITY["block"])
            return policy, edge.queue or capacity
        return policy, edge.queue or DEFAULT_CAPACITY[policy]

    def _dropped(self, packet: Packet) -> None:
        self._lost[packet.source].add(packet.index)
        limiter = self._limiters.get(packet.source)
        if limiter is not None:
            limiter.lost(packet.index)

    # ---- node threads ----------------------------------------------------------------------

    def _node_thread(self, name: str) -> None:
        node = self.nodes[name]
        opened = False
        try:
            node.open()
            opened = True
            with self._lock:
                self._opened.add(name)
            while not self._ready.wait(WAIT_SLICE):
                if self._stop.is_set():
                    return
            if self.graph.nodes[name].is_source:
                self._run_source(name, node)
            else:
                self._run_node(name, node)
        except BaseException as exc:  # noqa: BLE001 - any failure stops the graph with its traceback
            self._fail(name, exc)
        finally:
            if opened:
                try:
                    node.close()
                except Exception as exc:  # noqa: BLE001
                    self._fail(name, exc)
            with self._lock:
                self._finished.add(name)
                if len(self._finished) == len(self.nodes):
                    self._all_finished.set()

    def _run_source(self, name: str, node: Node) -> None:
        limiter = self._limiters.get(name)
        period = 1.0 / node.pace_fps if node.pace_fps else 0.0
        next_due = time.monotonic()
        index = emitted = 0
        try:
            while not self._stop.is_set():
                if period:
                    if self._stop.wait(max(0.0, next_due - time.monotonic())):
                        break
                    next_due = max(next_due + period, time.monotonic() - period)
                start = time.monotonic()
                outputs = node.process()
                end = time.monotonic()
                if outputs is None:
                    break
                self._check_outputs(name, node, outputs)
                index += 1
                if limiter is not None and not limiter.try_admit(index - 1):
                    self.metrics.source_dropped(name)
                    continue
                self.metrics.processed(name, name, index - 1, end, start, end)
                self._emit(name, name, index - 1, end, (Span(name, start, end),), outputs, node.segment)
                emitted += 1
                if self.max_frames is not None and emitted >= self.max_frames:
                    break
        finally:
            self._emit_end(name)

    def _run_node(self, name: str, node: Node) -> None:
        inbox = self._inboxes[name]
        back_ports = {port: slot for (consumer, port), slot in self._back_slots.items() if consumer == name}
        unconnected = {port: None for port in type(node).optional_inputs if port not in self.graph.nodes[name].inputs}
        previous_index: int | None = None
        previous_segment: int | None = None
        try:
            while not self._stop.is_set():
                joined = inbox.get(WAIT_SLICE)
                if joined is None:
                    continue
                first = next(iter(joined.values()))
                if first.end:
                    break
                self.metrics.received(name)
                inputs = {port: packet.value for port, packet in joined.items()} | unconnected
                lost = self._lost[first.source]
                new_segment = previous_segment is not None and first.segment != previous_segment
                if new_segment:
                    node.reset()
                    previous_index = None  # what was fed back belongs to the old segment
                for port, slot in back_ports.items():
                    fed_back = slot.wait_for(previous_index, lost.__contains__, BACK_EDGE_TIMEOUT)
                    inputs[port] = fed_back.value if fed_back is not None else None
                node.frame = FrameInfo(first.source, first.index, first.captured, first.segment)
                start = time.monotonic()
                outputs = node.process(**inputs)
                end = time.monotonic()
                self._check_outputs(name, node, outputs)
                spans = _merge_spans(joined.values()) + (Span(name, start, end),)
                self.metrics.processed(name, first.source, first.index, first.captured, start, end)
                self._emit(name, first.source, first.index, first.captured, spans, outputs or {}, first.segment)
                previous_index, previous_segment = first.index, first.segment
        finally:
            self._emit_end(name)

    @staticmethod
    def _check_outputs(name: str, node: Node, outputs: Any) -> None:
        declared = type(node).outputs
        if not declared:
            return
        if not isinstance(outputs, dict) or set(outputs) != set(declared):
            given = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
            raise TypeError(f"node {name!r} ({type(node).type_name}) must return a dict with the outputs "
                            f"{sorted(declared)}, got {given}")

    def _emit(self, producer: str, source: str, index: int, captured: float,
              spans: tuple[Span, ...], outputs: dict[str, Any], segment: int) -> None:
        limiter = self._limiters.get(source)
        for edge in self._out_edges[producer]:
            packet = Packet(source=source, index=index, captured=captured, value=outputs[edge.output], spans=spans,
                            segment=segment)
            if edge.back_edge:
                self._back_slots[(edge.consumer, edge.input)].put(packet)
                continue
            self._inboxes[edge.consumer].put(edge.input, packet)
            if limiter is not None and edge.consumer in self._sinks:
                limiter.delivered(index, edge.consumer)

    def _emit_end(self, producer: str) -> None:
        for edge in self._out_edges[producer]:
            packet = end_of_stream(producer)
            if edge.back_edge:
                self._back_slots[(edge.consumer, edge.input)].put(packet)
            elif edge.consumer in self._inboxes:
                self._inboxes[edge.consumer].put(edge.input, packet)


def _merge_spans(packets: Any) -> tuple[Span, ...]:
    seen: dict[tuple[str, float], Span] = {}
    for packet in packets:
        for span in packet.spans:
            seen.setdefault((span.node, span.start), span)
    return tuple(sorted(seen.values(), key=lambda s: s.start))

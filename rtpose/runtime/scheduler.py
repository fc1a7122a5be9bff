"""The one place with threads: runs a validated graph, a thread per node.

Life of a run:

1. every node is created and ``open()``-ed on its own thread (models load in parallel);
2. once all are open, queues are made (their policy depends on whether the source
   turned out live) and sources start;
3. frames flow; a source's end of stream travels down every edge and each node
   thread ends when all its inputs have ended;
4. an exception in any node, Ctrl-C, SIGTERM, or the window closing sets one stop event that
   every thread checks at least every 50 ms; the main thread then calls every node's
   ``interrupt()`` (a source blocked in a reconnect wait returns at once), and ``close()``
   runs on each node's thread. A source that fails ends its stream instead: what it
   delivered before still reaches every sink, then the run ends with its error.

Deadlines: after a stop, every thread has ``grace`` seconds to end, and a ``close()`` has
``grace`` seconds at any time (also at a normal end of stream). A node that does not make
it is reported by name, with what it was doing and its thread's stack, and the run returns
anyway (its threads are daemons; the command line then exits without waiting for them).
"""

from __future__ import annotations

import logging
import signal
import sys
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
from rtpose.runtime.packet import Packet, end_of_stream

log = logging.getLogger("rtpose.runtime")

DEFAULT_CAPACITY = {"block": 4, "latest": 1, "drop_oldest": 8}
BACK_EDGE_TIMEOUT = 1.0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


@dataclass(frozen=True)
class StuckNode:
    """A node whose thread did not end within the grace period: where it was, for how long, its stack."""

    node: str
    phase: str  # "open", "process", "reset", "close", or "waiting" (for frames or to start)
    seconds: float
    stack: str

    def describe(self) -> str:
        if self.phase in ("open", "process", "reset", "close"):
            return f"node {self.node!r} did not return from {self.phase}() for {self.seconds:.1f} s"
        return f"node {self.node!r} did not stop ({self.phase} for {self.seconds:.1f} s)"


@dataclass
class RunResult:
    """How a run ended."""

    error: NodeFailed | None = None
    signal: int | None = None
    stuck: list[StuckNode] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    @property
    def stuck_threads(self) -> list[str]:
        return [f"rtpose:{s.node}" for s in self.stuck]

    @property
    def exit_code(self) -> int:
        """128 + the signal that stopped the run (130 SIGINT, 143 SIGTERM); 1 for a failure; else 0."""
        if self.signal is not None:
            return 128 + int(self.signal)
        return 1 if self.error is not None or self.stuck else 0


class GraphRunner:
    """Runs a :class:`Graph` until its sources end, a node fails, or it is stopped."""

    def __init__(self, graph: Graph, *, max_frames: int | None = None, trace: bool = False,
                 grace: float = 2.0) -> None:
        self.graph = graph
        self.max_frames = max_frames
        self.grace = grace
        self.metrics = Metrics({name: e.cls.type_name for name, e in graph.nodes.items()}, trace=trace)
        self.nodes: dict[str, Node] = {}
        self._wind_down = threading.Event()  # sources stop; frames in the graph still reach the sinks
        self._stop = threading.Event()  # everything stops; what is still queued is dropped
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._opened: set[str] = set()
        self._finished: set[str] = set()
        self._all_finished = threading.Event()
        self._paused = threading.Event()
        self._error: NodeFailed | None = None
        self._signal: int | None = None
        self._hurry = False  # a second signal: give up waiting for the nodes
        self._phase: dict[str, tuple[str, float]] = {}  # node -> (what its thread does, since when)
        self._failed_source: str | None = None  # a source that failed: its frames drain, then the run stops
        self._sinks = set(graph.sinks())
        self._inboxes: dict[str, Inbox] = {}
        self._back_slots: dict[tuple[str, str], BackSlot] = {}
        self._limiters: dict[str, FlowLimiter] = {}
        self._lost = {name: LostFrames() for name in graph.sources()}
        self._out_edges = {name: graph.consumers(name) for name in graph.nodes}
        self._threads: list[threading.Thread] = []

    # ---- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the graph to stop; safe from any thread or a signal handler.

        Sources stop at once; frames already in the graph have half the grace period to
        reach the sinks (what is still queued then is dropped), every node the whole of it.
        """
        self._wind_down.set()

    def _halt(self) -> None:
        """Stop everything now (a node failed): queued frames are dropped."""
        self._wind_down.set()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._wind_down.is_set()

    def run(self, on_tick: Callable[[], None] | None = None) -> RunResult:
        """Run to the end on the calling thread (the main thread, for a window and signals).

        ``on_tick`` is called from this thread about every 50 ms while no window runs
        (the CLI draws its progress bar with it).
        """
        started = time.monotonic()
        previous_handlers = self._install_signal_handlers()
        result = RunResult()
        try:
            for name, entry in self.graph.nodes.items():
                node = entry.cls(name, entry.params)
                node._stats_provider = self.metrics.snapshot  # type: ignore[attr-defined]
                node._pause_control = self._pause_files  # type: ignore[attr-defined]
                self.metrics.attach_node_stats(name, node.stats)
                self.nodes[name] = node
                thread = threading.Thread(target=self._node_thread, args=(name,), name=f"rtpose:{name}", daemon=True)
                self._threads.append(thread)
            log.info("graph %r opening: %s", self.graph.name, ", ".join(self.nodes))
            for thread in self._threads:
                thread.start()
            self._wait_until_open(on_tick)
            ui = next((n for n in self.nodes.values() if n.interactive), None)
            if ui is not None and self._ready.is_set() and not self._wind_down.is_set():
                ui.ui_loop(lambda: self._wind_down.is_set() or (self._all_finished.is_set() and not ui.stays_open))
                self._wind_down.set()
            result.stuck = self._supervise(on_tick)
        except KeyboardInterrupt:  # signals arrive this way only when run off the main thread's handlers
            self._signal = self._signal or signal.SIGINT
            self._wind_down.set()
            result.stuck = self._supervise(None)
        finally:
            self._halt()
            self._restore_signal_handlers(previous_handlers)
        result.error = self._error
        result.signal = self._signal
        result.elapsed = time.monotonic() - started
        return result

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, frame: Any) -> None:
            if self._signal is not None:
                self._hurry = True  # asked twice: stop waiting for the nodes
            self._signal = self._signal or signum
            self._wind_down.set()

        return {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _supervise(self, on_tick: Callable[[], None] | None) -> list[StuckNode]:
        """Wait for every node thread, with deadlines; return the nodes that missed theirs.

        After a stop, every node is interrupted once, frames in flight have ``grace / 2``
        seconds to drain, and every node ``grace`` seconds to end; a ``close()`` gets
        ``grace`` seconds at any time.
        """
        stopped_at: float | None = None
        while not self._all_finished.wait(WAIT_SLICE):
            if on_tick is not None:
                on_tick()
            now = time.monotonic()
            if self._wind_down.is_set() and stopped_at is None:
                stopped_at = now
                self._interrupt_nodes()
            if stopped_at is not None and not self._stop.is_set() and now - stopped_at > self.grace / 2:
                log.info("frames still in the graph %.1f s after the stop are dropped", self.grace / 2)
                self._stop.set()
            if stopped_at is not None and (self._hurry or now - stopped_at > self.grace):
                return self._stuck_nodes(now)
            late = [name for name, (phase, since) in list(self._phase.items())
                    if phase == "close" and now - since > self.grace]
            if late:
                self._halt()
                self._interrupt_nodes()
                return self._stuck_nodes(now)
        return []

    def _interrupt_nodes(self) -> None:
        for name, node in self.nodes.items():
            try:
                node.interrupt()
            except Exception:  # noqa: BLE001 - a broken interrupt() must not keep the others running
                log.exception("node %r: interrupt() failed", name)

    def _stuck_nodes(self, now: float) -> list[StuckNode]:
        frames = sys._current_frames()
        stuck = []
        for thread in self._threads:
            if not thread.is_alive():
                continue
            name = thread.name.removeprefix("rtpose:")
            phase, since = self._phase.get(name, ("open", now))
            frame = frames.get(thread.ident or -1)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(no stack: thread ending)\n"
            stuck.append(StuckNode(name, phase, now - since, stack))
            log.error("node %r did not stop within %.1f s (in %s)", name, self.grace, phase)
        return stuck

    def _fail(self, name: str, exc: BaseException, drain: bool = False) -> None:
        """Record the first failure; stop the graph, or with ``drain`` (a source that failed
        while reading) let what it already delivered reach the sinks first."""
        with self._lock:
            if self._error is None:
                self._error = NodeFailed(name, traceback.format_exc(), exc)
            if drain and self._failed_source is None:
                self._failed_source = name
                return
        self._halt()

    # ---- set-up ----------------------------------------------------------------------------

    def _wait_until_open(self, on_tick: Callable[[], None] | None) -> None:
        while not self._wind_down.is_set():
            with self._lock:
                if len(self._opened) == len(self.nodes):
                    break
            if on_tick is not None:
                on_tick()
            self._wind_down.wait(WAIT_SLICE / 5)
        if self._wind_down.is_set():
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
        is_source = self.graph.nodes[name].is_source
        opened = running = False
        try:
            self._phase[name] = ("open", time.monotonic())
            node.open()
            opened = True
            self._phase[name] = ("waiting", time.monotonic())
            with self._lock:
                self._opened.add(name)
            while not self._ready.wait(WAIT_SLICE):
                if self._wind_down.is_set():
                    return
            running = True
            if is_source:
                self._run_source(name, node)
            else:
                self._run_node(name, node)
        except BaseException as exc:  # noqa: BLE001 - any failure stops the graph with its traceback
            self._fail(name, exc, drain=is_source and running)
        finally:
            if opened:
                self._phase[name] = ("close", time.monotonic())
                try:
                    node.close()
                except Exception as exc:  # noqa: BLE001
                    self._fail(name, exc)
            self._phase[name] = ("done", time.monotonic())
            self._finished_node(name)

    def _finished_node(self, name: str) -> None:
        with self._lock:
            self._finished.add(name)
            if len(self._finished) == len(self.nodes):
                self._all_finished.set()
            failed = self._failed_source
            drained = failed is not None and all(
                n in self._finished for n in self.graph.nodes if self.graph.source_of(n) == failed)
        if drained:
            self._halt()  # the failed source's frames reached every sink: end the other sources too

    def _pause_files(self, paused: bool) -> None:
        """Hold (or release) the sources that are not live; cameras and streams keep capturing."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def _run_source(self, name: str, node: Node) -> None:
        limiter = self._limiters.get(name)
        period = 1.0 / node.pace_fps if node.pace_fps else 0.0
        next_due = time.monotonic()
        index = emitted = 0
        try:
            while not self._wind_down.is_set():
                if self._paused.is_set() and not node.live:
                    self._wind_down.wait(WAIT_SLICE)
                    next_due = time.monotonic()
                    continue
                if period:
                    if self._wind_down.wait(max(0.0, next_due - time.monotonic())):
                        break
                    next_due = max(next_due + period, time.monotonic() - period)
                start = time.monotonic()
                self._phase[name] = ("process", start)
                outputs = node.process()
                end = time.monotonic()
                self._phase[name] = ("waiting", end)
                if outputs is None:
                    break
                self._check_outputs(name, node, outputs)
                index += 1
                if limiter is not None and not limiter.try_admit(index - 1):
                    self.metrics.source_dropped(name)
                    continue
                self.metrics.processed(name, name, index - 1, end, start, end)
                self._emit(name, name, index - 1, end, outputs, node.segment)
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
                    self._phase[name] = ("reset", time.monotonic())
                    node.reset()
                    previous_index = None  # what was fed back belongs to the old segment
                for port, slot in back_ports.items():
                    fed_back = slot.wait_for(previous_index, lost.__contains__, BACK_EDGE_TIMEOUT)
                    inputs[port] = fed_back.value if fed_back is not None else None
                node.frame = FrameInfo(first.source, first.index, first.captured, first.segment)
                start = time.monotonic()
                self._phase[name] = ("process", start)
                outputs = node.process(**inputs)
                end = time.monotonic()
                self._phase[name] = ("waiting", end)
                self._check_outputs(name, node, outputs)
                self.metrics.processed(name, first.source, first.index, first.captured, start, end)
                self._emit(name, first.source, first.index, first.captured, outputs or {}, first.segment)
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
              outputs: dict[str, Any], segment: int) -> None:
        limiter = self._limiters.get(source)
        for edge in self._out_edges[producer]:
            packet = Packet(source=source, index=index, captured=captured, value=outputs[edge.output], segment=segment)
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

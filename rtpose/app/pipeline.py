"""A graph running in the background of a Python program: frames in, results out.

:class:`Pipeline` runs :class:`rtpose.runtime.scheduler.GraphRunner` on a thread of its own
(the runner installs its Ctrl-C handler only on the main thread, so the program keeps its
own), so every guarantee of ``rtpose run`` holds: nodes open in parallel, a failing node
stops the graph, every node's ``close()`` runs (writers flush), threads are joined within
the stop deadline. The application's thread only pushes frames and takes results; a node's
exception comes back to it as :class:`rtpose.errors.NodeFailed` naming the node, at the
next ``push``, ``get``, ``poll`` or ``close`` (each waits in 50 ms slices).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import cv2
import numpy as np

from rtpose.app.channels import WAIT_SLICE, FrameChannel, PushedFrame, Result, ResultChannel, register
from rtpose.app.compose import APP, APP_SOURCE_TYPE, attach_app, default_outputs, load
from rtpose.errors import RtposeError
from rtpose.graph.build import Graph
from rtpose.runtime.scheduler import GraphRunner, RunResult

FILE_RESULTS = 8
"""Results waiting for the application before a file-fed graph pauses (back-pressure)."""
LIVE_RESULTS = 2
"""Results waiting for the application of a live graph: the graph drops frames rather than queue more."""


class Pipeline:
    """A graph started in the background; use it as a context manager.

        graph = rtpose.load("graphs/webcam_body.yaml", source=rtpose.APP)
        with rtpose.start(graph) as pipeline:          # lossless: one result per pushed frame
            for frame in frames:
                pipeline.push(frame)
            pipeline.end()
            for result in pipeline:
                print(result.index, len(result.poses))

    ``outputs`` maps result names to graph outputs (``{"poses": "smoother.poses"}``; default:
    the most downstream Poses output as ``poses``). ``live`` applies to pushed frames: False
    (lossless) makes ``push`` wait for room so every frame gives one result, in order; True
    behaves like a camera: frames pushed while the graph is busy are dropped at the source.
    ``on_result`` is called with each result on your thread, inside ``push``, ``poll`` and
    ``close`` (never on a graph thread); read results either that way or with ``get`` or
    iteration, not both. ``keep_image`` hands each frame's pixels back with its result.
    """

    def __init__(self, graph: Graph, *, outputs: Mapping[str, str] | None = None, live: bool = False,
                 keep_image: bool = False, on_result: Callable[[Result], Any] | None = None,
                 max_frames: int | None = None, stop_timeout: float = 2.0) -> None:
        pushed = any(entry.cls.type_name == APP_SOURCE_TYPE for entry in graph.nodes.values())
        self.live = live
        self.frames = FrameChannel(live) if pushed else None
        capacity = (LIVE_RESULTS if live else None) if pushed else FILE_RESULTS
        self.results = ResultChannel(capacity)
        self.graph = attach_app(graph, dict(outputs or default_outputs(graph)),
                                register(self.frames) if self.frames is not None else None,
                                register(self.results), live, keep_image)
        self.runner = GraphRunner(self.graph, max_frames=max_frames, grace=stop_timeout)
        for channel in (self.frames, self.results):
            if channel is not None:
                channel.bind(lambda: self.runner.stopping)
        self.on_result = on_result
        self.run_result: RunResult | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtpose:app", daemon=True)
        self._pushed = 0
        self._segment = 0

    # ---- life ------------------------------------------------------------------------------

    def start(self) -> Pipeline:
        """Start the graph (models load in the background); returns self."""
        self._thread.start()
        # a pipeline left running at exit is stopped and joined first: node threads killed inside
        # a model call at interpreter shutdown can abort the process
        weakref.finalize(self, _shut_down, self.runner, self._thread)
        return self

    def _run(self) -> None:
        try:
            self.run_result = self.runner.run()
        finally:
            self.results.end()
            if self.frames is not None:
                self.frames.end()
            self._done.set()

    def end(self) -> None:
        """No more frames: the graph processes those pushed, then ends (iteration stops after the last)."""
        if self.frames is not None:
            self.frames.end()

    def stop(self) -> None:
        """Stop now: frames in flight are dropped; every node is closed; a node failure is raised."""
        self.runner.stop()
        self._join()
        self._raise_failure()

    def close(self) -> None:
        """Finish: pushed frames (or a video file) are processed to the end and their results delivered
        (to ``on_result``, or kept for ``get``); a camera or stream is stopped. Raises a node's failure."""
        self.end()
        self.results.unbound()  # results nobody reads yet must not stall the graph
        while not self._done.wait(WAIT_SLICE):
            if self.frames is None and any(getattr(self.runner.nodes.get(s), "live", False)
                                           for s in self.graph.sources()):
                self.runner.stop()  # a camera never ends by itself (known once its node is open)
            self._dispatch()
        self._join()
        self._dispatch()
        self._raise_failure()

    def __enter__(self) -> Pipeline:
        if not self._thread.is_alive() and not self._done.is_set():
            self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # the caller's own error goes on; stop without raising a second one
            self.runner.stop()
            self._join()

    def _join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    # ---- frames in -------------------------------------------------------------------------

    def push(self, frame: np.ndarray, timestamp: float | None = None, *, rgb: bool = False,
             new_segment: bool = False) -> int:
        """Give the graph one frame; returns its index (the ``index`` of its result).

        ``frame``: HxWx3 uint8, BGR (OpenCV's order) or RGB with ``rgb=True``; HxW grey and
        HxWx4 are converted. It is copied, so the caller may reuse its buffer. ``timestamp``:
        the frame's time in seconds (default: now); smoothing uses it, so pass a video's own
        times when frames do not arrive live. ``new_segment``: this frame does not continue the
        previous one (another photo or clip): nodes that remember earlier frames start afresh.
        In lossless mode ``push`` waits while the graph is behind.
        """
        if self.frames is None:
            raise RtposeError(f"graph {self.graph.name!r} reads its own frames (a capture node); load it with "
                              f"source=rtpose.APP to push frames")
        if self.frames.ended:
            raise RtposeError("push() after end() or close(): the pipeline takes no more frames")
        pixels = as_bgr(frame, rgb)
        if new_segment and self._pushed:
            self._segment += 1
        item = PushedFrame(pixels, time.monotonic() if timestamp is None else float(timestamp), self._segment)
        if not self._thread.is_alive() and not self._done.is_set():
            self.start()
        while not self.frames.put(item, timeout=WAIT_SLICE):
            self._dispatch()
            if self.runner.stopping or self.frames.ended:
                self._join()  # the run ends within its stop deadline; a node's failure is raised here
                self._raise_failure()
                raise RtposeError(f"graph {self.graph.name!r} has stopped; it takes no more frames")
        self._dispatch()
        index, self._pushed = self._pushed, self._pushed + 1
        return index

    # ---- results out -----------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> Result | None:
        """The next result, waiting for it; None once the graph has ended and every result was taken.

        Raises:
            NodeFailed: a node raised (its name, exception and traceback are on the error).
            TimeoutError: ``timeout`` seconds passed without a result.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._raise_failure()
            result = self.results.get(WAIT_SLICE)
            if result is not None:
                return result
            if self._done.is_set() and not len(self.results):
                self._raise_failure()
                return None
            if self.runner.stopping:
                self._done.wait(WAIT_SLICE)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"no result from graph {self.graph.name!r} within {timeout} s")

    def __iter__(self) -> Iterator[Result]:
        while (result := self.get()) is not None:
            yield result

    def poll(self) -> list[Result]:
        """The results ready now, without waiting (each also passed to ``on_result``)."""
        ready = []
        while (result := self.results.get(0)) is not None:
            ready.append(result)
            if self.on_result is not None:
                self.on_result(result)
        self._raise_failure()
        return ready

    def _dispatch(self) -> None:
        if self.on_result is not None:
            self.poll()

    def _raise_failure(self) -> None:
        outcome = self.run_result
        if not self._done.is_set() or outcome is None:
            return
        if outcome.error is not None:
            raise outcome.error from outcome.error.exc
        if outcome.stuck_threads:
            raise RtposeError(f"threads did not stop within the deadline: {', '.join(outcome.stuck_threads)}")

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Per-node figures (frames, FPS, p50/p99 ms, queues, drops), as ``rtpose run`` prints them."""
        return self.runner.metrics.snapshot()


def _shut_down(runner: GraphRunner, thread: threading.Thread) -> None:
    runner.stop()
    thread.join(runner.grace + 1.0)


def as_bgr(frame: Any, rgb: bool = False) -> np.ndarray:
    """A private HxWx3 uint8 BGR copy of an application's frame, or a ValueError saying what is wrong."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"a frame must be a numpy array (HxWx3 uint8), got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"a frame must be uint8 (0..255), got {frame.dtype}; e.g. (frame * 255).astype(np.uint8)")
    channels = 1 if frame.ndim == 2 else frame.shape[2] if frame.ndim == 3 else 0
    codes = {1: cv2.COLOR_GRAY2BGR, 3: cv2.COLOR_RGB2BGR if rgb else None,
             4: cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR}
    if channels not in codes or min(frame.shape[:2]) == 0:
        raise ValueError(f"a frame must be HxWx3 (or HxW, HxWx4), got shape {frame.shape}")
    code = codes[channels]
    return np.ascontiguousarray(frame).copy() if code is None else cv2.cvtColor(frame, code)


def start(graph: Graph | str | os.PathLike[str], *, source: str | int | os.PathLike[str] | None = None,
          outputs: Mapping[str, str] | None = None, live: bool = False, keep_image: bool = False,
          on_result: Callable[[Result], Any] | None = None, max_frames: int | None = None,
          **params: Any) -> Pipeline:
    """Start a graph (a :class:`Graph`, or a graph file loaded with ``source`` and ``params`` as
    :func:`rtpose.load` does) in the background; see :class:`Pipeline`."""
    if not isinstance(graph, Graph):
        graph = load(graph, source=source, **params)
    elif source is not None or params:
        raise TypeError("source= and params apply to a graph file; for a Graph use rtpose.load() first")
    return Pipeline(graph, outputs=outputs, live=live, keep_image=keep_image, on_result=on_result,
                    max_frames=max_frames).start()


def run(graph: Graph | str | os.PathLike[str], source: str | int | os.PathLike[str] | None = None, *,
        outputs: Mapping[str, str] | None = None, keep_image: bool = False, max_frames: int | None = None,
        **params: Any) -> Iterator[Result]:
    """Run a graph on its own source and yield each frame's :class:`Result`; leaving the loop stops it.

        for result in rtpose.run("graphs/webcam_body.yaml", source="clip.mp4"):
            print(result.index, len(result.poses))
    """
    if source == APP:
        raise ValueError("rtpose.run() reads the graph's own source; to push frames use rtpose.start()")
    with start(graph, source=source, outputs=outputs, keep_image=keep_image, max_frames=max_frames,
               **params) as pipeline:
        yield from pipeline

"""The two hand-overs between the application's thread and a running graph.

:class:`FrameChannel` carries frames pushed by the application to the ``app_source`` node;
:class:`ResultChannel` carries what the ``app_sink`` node received back to the application.
The nodes find their channel by an id in their params (a graph file can only hold plain
values), looked up in a registry that holds the channels weakly, so a finished pipeline's
channels go away with it.

Every wait here is a 50 ms slice that also checks a ``stopped`` predicate (the runner's stop
event), so a stop or a failing node never leaves a graph thread or the application blocked.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

import numpy as np

from rtpose.errors import SourceError

WAIT_SLICE = 0.05
"""Seconds of every wait before the stop predicate is checked again (the runtime's slice)."""

T = TypeVar("T")


@dataclass(frozen=True)
class PushedFrame:
    """One frame from the application: BGR pixels, its timestamp (seconds) and segment."""

    pixels: np.ndarray
    timestamp: float
    segment: int


@dataclass(frozen=True)
class Result:
    """What the graph computed for one frame, as the application receives it.

    ``index`` is the frame's index at its source (frames read by the source, so frames
    dropped by a live source leave gaps; in lossless mode the n-th pushed frame has index n).
    ``timestamp`` is the frame's time in seconds (the one given to ``push``, or the file
    position). ``outputs`` maps each output name to its value (a :class:`rtpose.types.Poses`
    for pose outputs; hands, 3D points and rep counts come as ``Poses`` with a schema and
    per-person ``attributes``). ``image`` is the frame (BGR, HxWx3 uint8) when the pipeline
    was started with ``keep_image=True``, else None.
    """

    index: int
    timestamp: float
    segment: int
    outputs: dict[str, Any] = field(default_factory=dict)
    image: np.ndarray | None = None

    @property
    def poses(self) -> Any:
        """The ``poses`` output (the default output of a pipeline)."""
        try:
            return self.outputs["poses"]
        except KeyError:
            raise KeyError(f"this result has no output 'poses'; its outputs: {', '.join(self.outputs) or 'none'}") \
                from None


class _Channel(Generic[T]):
    """A FIFO between threads: ``capacity`` None is unbounded; when full, ``put`` blocks
    (``drop_oldest`` False) or drops the oldest item and counts it."""

    def __init__(self, capacity: int | None, drop_oldest: bool = False) -> None:
        self.capacity = capacity
        self.drop_oldest = drop_oldest
        self.dropped = 0
        self._items: deque[T] = deque()
        self._ended = False
        self._changed = threading.Condition()
        self._stopped: Callable[[], bool] = lambda: False

    def bind(self, stopped: Callable[[], bool]) -> None:
        """Make every wait give up once ``stopped()`` is true (the runner's stop)."""
        self._stopped = stopped

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Queue ``item``; False if the channel ended, the graph stopped, or ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self.capacity is not None and len(self._items) >= self.capacity:
                if self.drop_oldest:
                    self._items.popleft()
                    self.dropped += 1
                    break
                left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
                if self._ended or self._stopped() or left <= 0:
                    return False
                self._changed.wait(left)
            if self._ended:
                return False
            self._items.append(item)
            self._changed.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """The next item, or None when the channel ended empty, the graph stopped, or ``timeout`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._items:
                left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
                if self._ended or self._stopped() or left <= 0:
                    return None
                self._changed.wait(left)
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    def end(self) -> None:
        """No more items: ``get`` returns what is queued, then None."""
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def unbound(self) -> None:
        """Stop blocking ``put`` (the application is closing and reads what is left afterwards)."""
        with self._changed:
            self.capacity = None
            self._changed.notify_all()

    @property
    def ended(self) -> bool:
        return self._ended

    def __len__(self) -> int:
        return len(self._items)


class FrameChannel(_Channel[PushedFrame]):
    """Frames pushed by the application, waiting for the ``app_source`` node.

    ``live`` True: ``push`` never blocks; the graph's flow limiter drops frames at the source
    while the graph is busy, exactly as for a camera (the channel itself keeps at most
    ``LIVE_BACKLOG`` waiting frames, dropping the oldest, only if the source thread falls behind).
    ``live`` False (lossless): ``push`` blocks while ``capacity`` frames wait, so every frame
    is processed, in order, at the graph's pace.
    """

    LIVE_BACKLOG = 64

    def __init__(self, live: bool, capacity: int = 4) -> None:
        super().__init__(self.LIVE_BACKLOG if live else capacity, drop_oldest=live)
        self.live = live


class ResultChannel(_Channel[Result]):
    """Results from the ``app_sink`` node, in the order the sink received them."""


_registry: weakref.WeakValueDictionary[str, _Channel[Any]] = weakref.WeakValueDictionary()
_ids = itertools.count(1)


def register(channel: _Channel[Any]) -> str:
    """An id for ``channel`` to put in a node's params."""
    key = f"app-{next(_ids)}"
    _registry[key] = channel
    return key


def lookup(key: str, kind: type[_Channel[Any]], node: str) -> Any:
    """The channel of a node's params, or a SourceError saying the graph needs the Python API."""
    channel = _registry.get(key)
    if not isinstance(channel, kind):
        raise SourceError(f"node {node!r}: no application channel {key!r}; this node exchanges frames with a "
                          f"Python program: start the graph with rtpose.start() or rtpose.run(), not from "
                          f"the command line")
    return channel

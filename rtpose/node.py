"""The node contract: what a node declares and the three calls the runtime makes.

A node is a small class. It declares its input and output ports (name -> payload
type from :mod:`rtpose.types`), a pydantic ``Params`` model, and implements
``open`` / ``process`` / ``close``. The runtime owns everything else: the thread
the node runs in, the queues between nodes, timing, pacing and shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class FrameInfo:
    """Which frame a node is processing: its source, its index there (frames read by the source,
    so frames dropped on a live source leave gaps), when it was captured (``time.monotonic()``)
    and its segment (frames of one segment continue each other; see ``Node.reset``)."""

    source: str
    index: int
    captured: float
    segment: int = 0


class NoParams(BaseModel):
    """Params model of a node that takes none."""

    model_config = ConfigDict(extra="forbid")


class Params(BaseModel):
    """Base class for node params: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Node:
    """Base class of every node.

    Class attributes a subclass sets:

    - ``inputs`` / ``outputs``: port name -> payload type. A node without inputs is a
      source; its ``process()`` takes no arguments and returns ``None`` at end of stream.
    - ``optional_inputs``: input ports a graph may leave unconnected; ``process()``
      then gets ``None`` for them (e.g. a feedback input used only by some graphs).
    - ``Params``: pydantic model of the node's ``params:`` in the graph file.
    - ``interactive``: True for nodes that need a screen (``--headless`` removes them).
    - ``live_input_queue``: (policy, capacity) of this node's inputs when its source is
      live and the graph file does not say; writers use ``("drop_oldest", 64)`` so a
      slow disk drops (and counts) writes instead of stalling the live path.

    Instance attributes the runtime reads after ``open()`` (sources only):

    - ``live``: True for cameras and streams. Live sources are flow-limited (frames
      that arrive while the graph is busy are dropped at the source) and their edges
      default to latency-first queues; files default to lossless queues.
    - ``pace_fps``: when set, the runtime emits at most this many frames a second
      (a file played "in real time" to imitate a camera).
    - ``frame_count``: frames the source will deliver, when known (for progress bars).
    - ``segment``: read after every ``process()``: the run of continuous frames the frame
      just returned belongs to. A source changes it at every break (a loop, a seek, a
      reconnect) and for every frame that stands alone (each photo of a folder).

    The runtime sets ``frame`` (a :class:`FrameInfo`) before each ``process()`` of a node
    with inputs, so a node can say which frame it wrote (e.g. the keypoint writer).

    **Memory of earlier frames.** A node that remembers earlier frames (a tracker, a
    smoother, a counter) forgets it in ``reset()``; the runtime calls it before the first
    frame of every new segment, and back-edge inputs are ``None`` on that frame, as on the
    very first one. That one method is all a plugin needs to be right on photos and at the
    breaks of a video.
    """

    inputs: ClassVar[dict[str, type]] = {}
    outputs: ClassVar[dict[str, type]] = {}
    optional_inputs: ClassVar[frozenset[str]] = frozenset()
    Params: ClassVar[type[BaseModel]] = NoParams
    interactive: ClassVar[bool] = False
    live_input_queue: ClassVar[tuple[str, int]] = ("latest", 1)
    stays_open: bool = False
    """Interactive nodes: keep ``ui_loop`` running after the graph has ended, until the user closes it."""
    type_name: ClassVar[str] = ""  # set by @register_node

    live: bool = False
    pace_fps: float | None = None
    frame_count: int | None = None
    segment: int = 0
    frame: FrameInfo | None = None

    def __init__(self, name: str, params: BaseModel) -> None:
        self.name = name
        self.params = params

    def open(self) -> None:
        """Acquire resources (open the camera, load the model). Called once, before any frame."""

    def process(self, **inputs: Any) -> dict[str, Any] | None:
        """Compute this node's outputs for one frame.

        Gets one keyword argument per input port, all from the same frame, and returns
        a dict with a value for every output port. Sources get no arguments and return
        ``None`` when the stream has ended.
        """
        raise NotImplementedError(f"node type {self.type_name!r} does not implement process()")

    def reset(self) -> None:
        """Forget everything remembered from earlier frames: the next frame starts a new segment
        (a photo, or the first frame after a video looped, seeked or reconnected)."""

    def close(self) -> None:
        """Release resources. Called once, also after an error or a stop."""

    def interrupt(self) -> None:
        """The graph is stopping: return soon from a ``process()`` that waits (a source's reconnect
        back-off, a long read). Called once, from another thread, while ``process()`` may be running;
        it must be quick and thread-safe. ``close()`` still follows on the node's own thread."""

    def graph_stats(self) -> dict[str, dict[str, Any]]:
        """Live per-node figures of the running graph (FPS, ms, drops), for dashboards.

        Empty when the node is not run by the runtime (e.g. in a unit test).
        """
        provider = getattr(self, "_stats_provider", None)
        return provider() if provider is not None else {}

    def stats(self) -> dict[str, float]:
        """Figures of this node's own that the runtime's per-node timing cannot see, shown with its
        metrics (the summary table, the window's panel, ``--metrics``). The detector, which skips
        frames at almost no cost, reports ``ran`` (the fraction of frames it ran its model on) and
        ``ms_per_run``. Called from other threads: return plain numbers read from counters."""
        return {}

    def pause_sources(self, paused: bool) -> None:
        """Hold the graph's file and folder sources (a viewer's pause key), or let them go on;
        cameras and streams keep capturing. Does nothing outside the runtime."""
        control = getattr(self, "_pause_control", None)
        if control is not None:
            control(paused)

    def ui_loop(self, should_stop: Callable[[], bool]) -> None:
        """Run a user interface on the main thread (only for ``interactive`` nodes).

        The runtime calls it from the main thread while the graph runs and stops the
        graph when it returns (the window was closed). It must return soon after
        ``should_stop()`` becomes true. ``process()`` still runs on the node's own
        thread and hands frames to the interface.
        """


def is_source(node_cls: type[Node]) -> bool:
    return not node_cls.inputs

"""What travels on an edge: a value plus the frame's identity and timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Packet:
    """A value for one frame. ``end`` packets carry no value and close the edge.

    ``index`` counts the frames read by ``source`` (so frames dropped at the source
    leave gaps); ``segment`` is the source's run of continuous frames the frame belongs to
    (see :attr:`rtpose.types.Image.segment`); ``captured`` is when the frame left the source.
    Per-node timing is recorded by the metrics as each node finishes, not carried along.
    """

    source: str
    index: int
    captured: float
    value: Any = None
    end: bool = False
    segment: int = 0


def end_of_stream(source: str) -> Packet:
    return Packet(source=source, index=-1, captured=0.0, end=True)

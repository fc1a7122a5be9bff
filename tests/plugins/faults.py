"""Fault-injecting test nodes: a node that hangs where it is told and ignores every stop.

The runtime's deadlines are tested against these: a stop (Ctrl-C, SIGTERM, a failure)
cannot make them return, so the only way out is the grace period. ``FaultHang.release``
lets an in-process test end the hang once it has checked the report, so no thread
outlives the test.
"""

from __future__ import annotations

import threading
from typing import ClassVar, Literal

from pydantic import Field

from rtpose.api import Image, Node, Params, register_node


def hang_until_released(event: threading.Event) -> None:
    """Block like a driver call that never returns (the name shows in the reported stack)."""
    event.wait()


@register_node("fault_hang")
class FaultHang(Node):
    """Passes images through, but hangs in ``open()``, ``process()`` (from frame ``after``) or ``close()``."""

    inputs = {"image": Image}
    outputs = {"image": Image}
    release: ClassVar[threading.Event] = threading.Event()

    class Params(Params):
        where: Literal["open", "process", "close", "nowhere"] = "process"
        after: int = Field(0, ge=0, description="frames passed through before process() hangs")

    def open(self) -> None:
        self.count = 0
        if self.params.where == "open":
            hang_until_released(FaultHang.release)

    def process(self, image: Image) -> dict:
        if self.params.where == "process" and self.count >= self.params.after:
            hang_until_released(FaultHang.release)
        self.count += 1
        return {"image": image}

    def close(self) -> None:
        if self.params.where == "close":
            hang_until_released(FaultHang.release)

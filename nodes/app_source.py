"""``app_source``: frames pushed from the application's own code (``rtpose.start(...).push(frame)``).

The Python API (:mod:`rtpose.app`) owns the frame channel and puts its id in ``channel``;
this node only takes the next frame from it. Whether the source is live is a param, so the
runtime treats it exactly like a camera (flow-limited, latency-first edges) or like a file
(lossless: every pushed frame reaches every node, in order). Segments come with each frame:
the application starts a new one for every photo (see ``Node.reset``).

Run from the command line there is no application to push frames: ``open()`` says so.
"""

from __future__ import annotations

from pydantic import Field

from rtpose.api import Image, Node, Params, register_node
from rtpose.app.channels import FrameChannel, lookup


class AppSourceParams(Params):
    channel: str = Field("", description="id of the application's frame channel (set by rtpose.start)")
    live: bool = Field(False, description="True: like a camera, frames pushed while the graph is busy are dropped "
                                          "at the source; False: lossless, push() waits and every frame is processed")


@register_node("app_source")
class AppSource(Node):
    """Frames pushed by the application (numpy BGR), with their timestamps and segments."""

    outputs = {"image": Image}
    Params = AppSourceParams
    params: AppSourceParams

    def open(self) -> None:
        self._frames: FrameChannel = lookup(self.params.channel, FrameChannel, self.name)
        self.live = self.params.live

    def process(self) -> dict[str, Image] | None:
        frame = self._frames.get()
        if frame is None:
            return None
        self.segment = frame.segment
        return {"image": Image(frame.pixels, frame.timestamp, self.name, frame.segment)}

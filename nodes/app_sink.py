"""``app_sink``: hands each frame's outputs back to the application (``for result in pipeline``).

The Python API (:mod:`rtpose.app`) owns the result channel and puts its id in ``channel``.
The frame (``image`` input) gives the timestamp and, with ``keep_image``, the pixels; every
other input is one output of the graph, passed on under its port name. Those ports depend on
the graph, so the API asks :meth:`AppSink.with_outputs` for a node type with exactly the
ports it wires (each takes any payload).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rtpose.api import Image, Node, Params, register_node
from rtpose.app.channels import Result, ResultChannel, lookup


class AppSinkParams(Params):
    channel: str = Field("", description="id of the application's result channel (set by rtpose.start)")
    keep_image: bool = Field(False, description="hand the frame's pixels back with each result")


@register_node("app_sink")
class AppSink(Node):
    """Each frame's index, timestamp, optional pixels and the graph's outputs, to the application."""

    inputs: dict[str, type] = {"image": Image}
    outputs: dict[str, type] = {}
    Params = AppSinkParams
    params: AppSinkParams

    _variants: dict[tuple[str, ...], str] = {}

    @classmethod
    def with_outputs(cls, names: tuple[str, ...]) -> str:
        """The type name of an ``app_sink`` with one more input (of any payload) per name."""
        names = tuple(names)
        if names not in cls._variants:
            type_name = f"app_sink[{','.join(names)}]"
            variant = type(f"AppSink_{'_'.join(names)}", (cls,),
                           {"inputs": {"image": Image} | {name: object for name in names}, "__module__": __name__})
            register_node(type_name)(variant)
            cls._variants[names] = type_name
        return cls._variants[names]

    def open(self) -> None:
        self._results: ResultChannel = lookup(self.params.channel, ResultChannel, self.name)

    def process(self, image: Image, **outputs: Any) -> dict[str, Any]:
        assert self.frame is not None, "app_sink: run by the runtime, which sets the frame"
        pixels = image.pixels if self.params.keep_image else None
        self._results.put(Result(self.frame.index, image.timestamp, self.frame.segment, outputs, pixels))
        return {}

    def close(self) -> None:
        results = getattr(self, "_results", None)
        if results is not None:
            results.end()

"""The graph file format as pydantic models (the shape of the YAML, before wiring is checked).

    name: webcam_body
    plugins: [my_nodes.py]          # optional: .py files (relative to the graph) or modules
    nodes:
      - name: camera
        type: capture
        params: {source: 0}
      - name: detector
        type: detect
        inputs: {image: camera.image}   # input port: <node>.<output port>
      - name: display
        type: display
        inputs:
          image: camera.image
          poses: {from: smoother.poses, policy: latest, queue: 1}
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Policy = Literal["auto", "block", "latest", "drop_oldest"]


class InputSpec(BaseModel):
    """Where one input port gets its packets from, and how they queue."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", description="upstream output as <node>.<port>")
    policy: Policy = Field("auto", description="block: lossless; latest: keep only the newest; "
                                               "drop_oldest: bounded, oldest dropped; auto: block for files, "
                                               "latency first for live sources")
    queue: PositiveInt | None = Field(None, description="queue capacity (default: 4 for block, 1 for latest)")
    back_edge: bool = Field(False, description="feedback from a downstream node: delivers its output for the "
                                               "previous frame (None on the first), so loops are allowed")

    @field_validator("source")
    @classmethod
    def _node_dot_port(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(f"{value!r} is not of the form <node>.<output port>, e.g. camera.image")
        return value

    @property
    def node(self) -> str:
        return self.source.split(".", 1)[0]

    @property
    def port(self) -> str:
        return self.source.split(".", 1)[1]


class NodeSpec(BaseModel):
    """One node entry of the graph file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    max_in_flight: PositiveInt | None = Field(
        None, description="live sources: frames allowed in the graph at once (default 1)")

    @field_validator("inputs", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {port: {"from": spec} if isinstance(spec, str) else spec for port, spec in value.items()}
        return value

    @field_validator("params", "inputs", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class GraphSpec(BaseModel):
    """A whole graph file."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    plugins: list[str] = Field(default_factory=list)
    nodes: list[NodeSpec] = Field(min_length=1)

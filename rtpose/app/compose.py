"""Graphs from Python: a graph file with its params changed, or one composed in code.

Both end in :func:`rtpose.graph.build.build_graph`, so a graph made here is checked exactly
like a graph file and fails with the same messages; a composed graph's messages name the
file and line of the ``add()`` call instead of a YAML line. Edits of a file go through the
command line's own functions (``--set``, ``--source``, ``--headless``).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from rtpose.errors import GraphError
from rtpose.graph.build import Graph, build_graph
from rtpose.graph.edit import CAPTURE_TYPE, replace_source
from rtpose.graph.spec import NAME_PATTERN
from rtpose.graph.yamlfile import LineDict, LineList
from rtpose.plugins import get_node_type
from rtpose.types import Image, Poses

APP = "app:"
"""Pass as ``source=`` to feed the graph from your own code (``pipeline.push(frame)``):
the graph's one ``capture`` node becomes an ``app_source``."""

APP_SOURCE_TYPE = "app_source"
APP_SINK_TYPE = "app_sink"
SINK_NAME = "app_results"
_APP_PACKAGE = str(Path(__file__).resolve().parent)


def load(path: str | os.PathLike[str], source: str | int | os.PathLike[str] | None = None,
         **params: Any) -> Graph:
    """Load a graph file, point it at ``source`` and change params, validated as a whole.

    ``source``: a camera index, video file, URL or image folder (the command line's
    ``--source``), or :data:`APP` for frames pushed from your code. ``params``: the command
    line's ``--set``, keyed ``"node.param"``, e.g. ``rtpose.load(path, **{"detector.every": 3})``.
    Window nodes are removed: a Python program shows results itself
    (:func:`rtpose.viz.overlay.draw_poses`).

    Raises:
        GraphError: the file, a param or the source is wrong; each line names the file,
            the line and the node, as ``rtpose validate`` does.
    """
    from rtpose.cli import prepare_graph  # the command line's own sequence of edits

    overrides = [_override(key, value) for key, value in params.items()]
    if source is None or source == APP:
        plain_source = None
    else:
        plain_source = str(source) if isinstance(source, int) else os.fspath(source)
    graph = prepare_graph(Path(path), source=plain_source, overrides=overrides, headless=True)
    if source == APP:
        raw = graph.raw
        replace_source(raw, APP)  # the --source check: exactly one capture node
        capture = next(n for n in raw["nodes"] if isinstance(n, dict) and n.get("type") == CAPTURE_TYPE
                       and (n.get("params") or {}).get("source") == APP)
        capture["type"] = APP_SOURCE_TYPE
        capture["params"] = _line_dict({}, getattr(capture["params"], "line", capture.line))
        graph = build_graph(raw, graph.path)
    return graph


def _override(key: str, value: Any) -> str:
    """A ``--set`` string for one Python value (JSON is YAML, so the value keeps its type)."""
    def plain(item: Any) -> Any:
        if isinstance(item, os.PathLike):
            return os.fspath(item)
        if isinstance(item, np.generic | np.ndarray):
            return item.tolist()
        raise TypeError(f"{key}: cannot pass a {type(item).__name__} as a node param")

    return f"{key}={json.dumps(value, default=plain)}"


class GraphBuilder:
    """Compose a graph in code, node by node, checked like a graph file.

        g = rtpose.GraphBuilder("stills")
        g.add("camera", "app_source")
        g.add("detector", "detect", inputs={"image": "camera.image"}, params={"model": "yolox_nano"})
        g.add("pose", "pose", inputs={"image": "camera.image", "people": "detector.detections"})
        graph = g.build()

    ``inputs`` take what a graph file's ``inputs:`` takes (``"node.port"`` or
    ``{"from": "node.port", "policy": ..., "queue": ..., "back_edge": True}``); ``params`` a
    node type's params. Errors name the file and line of the ``add()`` that made the node.
    """

    def __init__(self, name: str = "graph", plugins: list[str] | None = None) -> None:
        self.name = name
        self.plugins = list(plugins or [])
        self._nodes: list[LineDict] = []
        self._file: str | None = None

    def add(self, name: str, type: str, inputs: Mapping[str, Any] | None = None,  # noqa: A002 - the YAML key
            params: Mapping[str, Any] | None = None, max_in_flight: int | None = None) -> str:
        """Add a node; returns its name (for ``f"{name}.port"`` wiring)."""
        file, line = _caller()
        self._file = self._file or file
        node: dict[str, Any] = {"name": name, "type": type}
        if inputs:
            node["inputs"] = _line_dict(dict(inputs), line)
        if params:
            node["params"] = _line_dict({k: os.fspath(v) if isinstance(v, os.PathLike) else v
                                         for k, v in params.items()}, line)
        if max_in_flight is not None:
            node["max_in_flight"] = max_in_flight
        self._nodes.append(_line_dict(node, line if file == self._file else 0))
        return name

    def build(self) -> Graph:
        """The validated graph; GraphError lists every problem with its ``file:line``."""
        nodes = LineList(self._nodes)
        nodes.line = self._nodes[0].line if self._nodes else 0
        nodes.item_lines = [n.line for n in self._nodes]
        raw = _line_dict({"name": self.name, "plugins": self.plugins, "nodes": nodes}, nodes.line)
        return build_graph(raw, Path(self._file) if self._file else None)


def _caller() -> tuple[str, int]:
    """File and line of the first frame outside this package (the user's ``add()`` call)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_APP_PACKAGE):
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno


def _line_dict(values: dict[str, Any], line: int) -> LineDict:
    """A dict that reports ``line`` for itself and every key, as a YAML mapping would."""
    result = LineDict(values)
    result.line = line
    result.key_lines = {str(key): line for key in values}
    return result


def default_outputs(graph: Graph) -> dict[str, str]:
    """``{"poses": <the most downstream Poses output>}``: what the window would have shown."""
    pose_outputs = [f"{node}.{port}" for node, entry in graph.nodes.items() if node != SINK_NAME
                    for port, kind in entry.cls.outputs.items() if isinstance(kind, type) and issubclass(kind, Poses)]
    if not pose_outputs:
        raise GraphError([f"{graph.path or graph.name}: the graph has no Poses output; name the outputs to "
                          f"receive, e.g. outputs={{'detections': 'detector.detections'}}"])
    return {"poses": pose_outputs[-1]}


def attach_app(graph: Graph, outputs: Mapping[str, str], frames: str | None, results: str, live: bool,
               keep_image: bool) -> Graph:
    """A copy of ``graph`` wired to the application: its ``app_source`` nodes read the frame channel
    ``frames`` and a sink sends ``outputs`` (name -> ``node.port``) with the frames to ``results``."""
    problems = [f"output name {name!r}: use a name like 'poses' (letters, digits, _), not 'image'"
                for name in outputs if name == "image" or not _is_name(name)]
    if problems:
        raise GraphError(problems)
    raw = copy.deepcopy(graph.raw)
    nodes = raw["nodes"]
    for node in nodes:
        if isinstance(node, dict) and node.get("type") == APP_SOURCE_TYPE:
            node["params"] = _line_dict(dict(node.get("params") or {}) | {"channel": frames, "live": live},
                                        getattr(node.get("params"), "line", 0))
    first_output = next(iter(outputs.values()), "").split(".")[0]
    source = graph.source_of(first_output) if first_output in graph.nodes else graph.sources()[0]
    image_port = next((p for p, kind in graph.nodes[source].cls.outputs.items() if kind is Image), None)
    if image_port is None:
        raise GraphError([f"{graph.path or graph.name}: source {source!r} outputs no image to time the results by"])
    sink_type = get_node_type(APP_SINK_TYPE).with_outputs(tuple(outputs))  # type: ignore[attr-defined]
    inputs = {"image": f"{source}.{image_port}"} | dict(outputs)
    nodes.append(_line_dict({"name": SINK_NAME, "type": sink_type, "inputs": _line_dict(inputs, 0),
                             "params": {"channel": results, "keep_image": keep_image}}, 0))
    if hasattr(nodes, "item_lines"):
        nodes.item_lines.append(0)
    return build_graph(raw, graph.path)


def _is_name(name: str) -> bool:
    return re.match(NAME_PATTERN, name) is not None

"""Command-line edits of a graph before it is validated: --source, --headless, --export.

They work on the raw YAML data, so errors still point into the graph file.
"""

from __future__ import annotations

from pathlib import Path

from typing import Any

from rtpose.errors import GraphError
from rtpose.graph.build import Graph
from rtpose.graph.yamlfile import LineDict
from rtpose.types import Image, Poses

CAPTURE_TYPE = "capture"
EXPORT_TYPE = "export_keypoints"


def _raw_nodes(raw: Any) -> list[Any]:
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    return nodes if isinstance(nodes, list) else []


def replace_source(raw: Any, source: str) -> None:
    """Point the graph's one capture node at another camera index, file, URL or folder."""
    captures = [n for n in _raw_nodes(raw) if isinstance(n, dict) and n.get("type") == CAPTURE_TYPE]
    if len(captures) != 1:
        names = ", ".join(str(n.get("name")) for n in captures) or "none"
        raise GraphError([f"--source needs exactly one '{CAPTURE_TYPE}' node, the graph has: {names}; "
                          f"use --set NODE.source=... instead"])
    params = captures[0].get("params")
    if not isinstance(params, dict):
        params = captures[0]["params"] = LineDict()
        params.key_lines = {}
    params["source"] = int(source) if source.isdigit() else source


def remove_nodes(raw: Any, names: set[str]) -> None:
    """Drop nodes by name (keeping the line numbers of the others)."""
    nodes = _raw_nodes(raw)
    for i in reversed(range(len(nodes))):
        if isinstance(nodes[i], dict) and nodes[i].get("name") in names:
            del nodes[i]
            if hasattr(nodes, "item_lines"):
                del nodes.item_lines[i]


def interactive_nodes(graph: Graph) -> set[str]:
    return {name for name, entry in graph.nodes.items() if entry.cls.interactive}


def add_export(raw: Any, graph: Graph, path: str, name: str = "export") -> None:
    """Feed each source's most downstream pose output (and its frames) to a keypoints writer: ``path``
    itself for a graph with one source, ``<stem>.<source><suffix>`` per source for several cameras."""
    pose_outputs = [(node, port) for node, entry in graph.nodes.items()
                    for port, kind in entry.cls.outputs.items() if isinstance(kind, type) and issubclass(kind, Poses)]
    if not pose_outputs:
        raise GraphError([f"{graph.path}: --export needs a node that outputs poses; this graph has none"])
    last_by_source = {graph.source_of(node): (node, port) for node, port in pose_outputs}
    several = len(last_by_source) > 1
    for source, (node, port) in last_by_source.items():
        image_port = next((p for p, kind in graph.nodes[source].cls.outputs.items() if kind is Image), None)
        if image_port is None:
            raise GraphError([f"{graph.path}: --export needs the frames of source {source!r}, which outputs no image"])
        file, writer = path, name if name not in graph.nodes else f"{name}_keypoints"
        if several:
            file = str(Path(path).with_name(f"{Path(path).stem}.{source}{Path(path).suffix}"))
            writer = f"{writer}_{source}"
        _raw_nodes(raw).append({"name": writer, "type": EXPORT_TYPE, "params": {"path": file},
                                "inputs": {"poses": f"{node}.{port}", "image": f"{source}.{image_port}"}})

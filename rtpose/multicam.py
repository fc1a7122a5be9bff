"""Graphs with N camera streams, made from a graph file that describes stream 0.

``graphs/multicam_body.yaml`` spells out two streams: nodes whose names end in the stream's
number (``cam0``, ``detector0``, ... ``display0``), wired only among themselves. Adding a
camera by hand means copying stream 0's nodes with another number; :func:`with_streams` does
that for any count, on the graph's raw data (as ``yaml.safe_load`` gives it), so the result
is validated like any graph file. Stream 0's window node (``display_grid``) becomes a
``grid_tile`` of the same grid in the copies, since a graph has one window.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from rtpose.errors import GraphError

WINDOW_TYPE, TILE_TYPE = "display_grid", "grid_tile"
_TILE_PARAMS = ("grid", "kpt_threshold")


def stream_nodes(raw: dict[str, Any], stream: int) -> list[dict[str, Any]]:
    """The nodes of one stream: those whose name ends in its number (and no other digit)."""
    return [n for n in raw.get("nodes") or [] if re.fullmatch(rf"\D+{stream}", str(n.get("name", "")))]


def with_streams(raw: dict[str, Any], sources: list[int | str]) -> dict[str, Any]:
    """A copy of the graph with one stream per source: stream 0's nodes repeated with the
    numbers 0..N-1, each capture node (``capK``/``camK``...) reading its source."""
    template = stream_nodes(raw, 0)
    if not template:
        raise GraphError(["the graph has no stream 0: name its nodes with a final 0 (cam0, detector0, ...)"])
    names = {n["name"] for n in template}
    others = [n for n in raw["nodes"] if not re.fullmatch(r"\D+\d+", str(n.get("name", "")))]
    nodes: list[dict[str, Any]] = []
    for k, source in enumerate(sources):
        for node in template:
            nodes.append(_renumbered(node, names, k, source))
    return {**copy.deepcopy({key: v for key, v in raw.items() if key != "nodes"}), "nodes": nodes + others}


def _renumbered(node: dict[str, Any], names: set[str], k: int, source: int | str) -> dict[str, Any]:
    def rename(ref: str) -> str:
        name, dot, port = ref.partition(".")
        return f"{name[:-1]}{k}{dot}{port}" if name in names else ref

    copied = copy.deepcopy(dict(node))
    copied["name"] = rename(copied["name"])
    inputs = copied.get("inputs") or {}
    copied["inputs"] = {port: ({**edge, "from": rename(edge["from"])} if isinstance(edge, dict) else rename(edge))
                        for port, edge in inputs.items()}
    if not copied["inputs"]:
        copied.pop("inputs")
        copied["params"] = {**(copied.get("params") or {}), "source": source}
    if k > 0 and copied.get("type") == WINDOW_TYPE:
        copied["type"] = TILE_TYPE
        copied["params"] = {p: v for p, v in (copied.get("params") or {}).items() if p in _TILE_PARAMS}
    return copied


def add_stream_exports(raw: dict[str, Any], folder: str, poses_from: str = "smoother") -> dict[str, Any]:
    """Add an ``export_keypoints`` node per stream: ``<folder>/<capture node>.jsonl`` from ``<poses_from>K``."""
    nodes = list(raw["nodes"])
    k = 0
    while stream := stream_nodes(raw, k):
        capture = next(n["name"] for n in stream if not n.get("inputs"))
        nodes.append({"name": f"export{k}", "type": "export_keypoints",
                      "inputs": {"poses": f"{poses_from}{k}.poses", "image": f"{capture}.image"},
                      "params": {"path": f"{folder}/{capture}.jsonl"}})
        k += 1
    return {**raw, "nodes": nodes}


__all__ = ["add_stream_exports", "stream_nodes", "with_streams"]

"""YAML loading that remembers line numbers, so every graph error can say where it is.

Safe by construction (a SafeLoader: tags cannot run code) and bounded: a file whose
aliases expand to more than :data:`MAX_VALUES` values (a "billion laughs" alias bomb,
700 bytes that expand to gigabytes once walked) is refused before anything walks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rtpose.errors import GraphError

MAX_VALUES = 100_000
"""The most values (scalars, lists, mappings) a graph file may hold with its aliases expanded."""


class LineDict(dict):
    """A dict from YAML that knows the line of itself and of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list):
    """A list from YAML that knows the line of itself and of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        self.flatten_mapping(node)
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[str(key)] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file into LineDict/LineList; syntax errors become GraphError with file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GraphError([f"{path}: cannot read graph file: {exc.strerror or exc}"]) from exc
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node, {})
        if size > MAX_VALUES:
            raise GraphError([f"{path}:{node.start_mark.line + 1}: its aliases (*name) expand to more than "
                              f"{MAX_VALUES} values ({size}); a graph file needs far fewer: refusing it"])
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise GraphError([f"{path}{line}: invalid YAML: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise GraphError([f"{path}: invalid YAML: {exc}"]) from exc
    finally:
        loader.dispose()


def expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is expanded, counted without expanding
    (each distinct node once: an alias is the same node object as its anchor)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    sizes[key] = 1  # a node that contains itself counts once
    if isinstance(node, yaml.SequenceNode):
        sizes[key] = 1 + sum(expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        sizes[key] = 1 + sum(expanded_size(k, sizes) + expanded_size(v, sizes) for k, v in node.value)
    return sizes[key]


def line_of(data: Any, path: tuple[Any, ...]) -> int:
    """The line of the deepest element of ``path`` that the YAML recorded (0 if none)."""
    line = getattr(data, "line", 0)
    current = data
    for step in path:
        if isinstance(current, LineDict) and step in current:
            line = current.key_lines.get(str(step), line)
            current = current[step]
        elif isinstance(current, LineList) and isinstance(step, int) and 0 <= step < len(current.item_lines):
            line = current.item_lines[step]
            current = current[step]
        else:
            break
    return line

"""Turn a graph file into a checked :class:`Graph`: every mistake found before anything starts.

Each problem is reported as ``file:line: node 'name': what is wrong`` and all of them
are collected, so a user fixes a graph in one pass.
"""

from __future__ import annotations

import graphlib

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rtpose.errors import GraphError, PluginError
from rtpose.graph.spec import GraphSpec, InputSpec, NodeSpec
from rtpose.graph.yamlfile import LineDict, line_of, load_yaml
from rtpose.node import Node, is_source
from rtpose.plugins import get_node_type, load_plugin, suggest


@dataclass(frozen=True)
class Edge:
    """One wire: ``producer.output`` feeds ``consumer.input``."""

    producer: str
    output: str
    consumer: str
    input: str
    policy: str
    queue: int | None
    back_edge: bool


@dataclass
class NodeEntry:
    """A checked node: its class, validated params and incoming edges."""

    name: str
    cls: type[Node]
    params: BaseModel
    inputs: dict[str, Edge]
    line: int
    max_in_flight: int | None = None

    @property
    def is_source(self) -> bool:
        return is_source(self.cls)


@dataclass
class Graph:
    """A validated graph; ``nodes`` is in topological order (sources first)."""

    name: str
    path: Path | None
    nodes: dict[str, NodeEntry]
    raw: Any = field(repr=False, default=None)

    def edges(self) -> list[Edge]:
        return [edge for node in self.nodes.values() for edge in node.inputs.values()]

    def consumers(self, name: str) -> list[Edge]:
        return [edge for edge in self.edges() if edge.producer == name]

    def sinks(self) -> list[str]:
        fed = {edge.producer for edge in self.edges() if not edge.back_edge}
        return [name for name in self.nodes if name not in fed]

    def sources(self) -> list[str]:
        return [name for name, node in self.nodes.items() if node.is_source]

    def source_of(self, name: str) -> str:
        """The one source whose frames reach this node (validation guarantees one)."""
        node = self.nodes[name]
        if node.is_source:
            return name
        upstream = next(edge for edge in node.inputs.values() if not edge.back_edge)
        return self.source_of(upstream.producer)


class _Problems:
    """Collects ``file:line: node 'x': message`` lines."""

    def __init__(self, path: Path | None, raw: Any) -> None:
        self.where = str(path) if path else "<graph>"
        self.raw = raw
        self.items: list[str] = []

    def add(self, loc: tuple[Any, ...], message: str, node: str | None = None) -> None:
        line = line_of(self.raw, loc)
        place = f"{self.where}:{line}" if line else self.where
        who = f" node {node!r}:" if node else ""
        self.items.append(f"{place}:{who} {message}")


def load_graph(path: str | Path, overrides: list[str] | None = None) -> Graph:
    """Read, override (``NODE.PARAM=VALUE`` strings) and validate a graph file."""
    path = Path(path)
    raw = load_yaml(path)
    apply_overrides(raw, overrides or [])
    return build_graph(raw, path)


def apply_overrides(raw: Any, overrides: list[str]) -> None:
    """Apply ``--set NODE.PARAM=VALUE`` to the raw graph; the value is parsed as YAML."""
    import yaml

    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    by_name = {n.get("name"): n for n in nodes or [] if isinstance(n, dict)}
    problems = []
    for item in overrides:
        target, sep, value = item.partition("=")
        node_name, dot, param = target.partition(".")
        if not sep or not dot or not param:
            problems.append(f"--set {item!r}: expected NODE.PARAM=VALUE, e.g. detector.score_threshold=0.4")
            continue
        if node_name not in by_name:
            problems.append(f"--set {item!r}: the graph has no node named {node_name!r}"
                            f"{suggest(node_name, [str(n) for n in by_name])}")
            continue
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            problems.append(f"--set {item!r}: the value is not valid YAML ({reason}); to pass it as text, "
                            f"quote it: --set '{target}=\"{value}\"'")
            continue
        entry = by_name[node_name]
        if not isinstance(entry.get("params"), dict):
            entry["params"] = LineDict()
            entry["params"].key_lines = {}
        entry["params"][param] = parsed
    if problems:
        raise GraphError(problems)


def build_graph(raw: Any, path: Path | None = None) -> Graph:
    """Validate raw YAML data into a Graph or raise GraphError listing every problem."""
    problems = _Problems(path, raw)
    if not isinstance(raw, dict):
        problems.add((), "a graph file must be a mapping with a 'nodes:' list")
        raise GraphError(problems.items)
    top = {k: v for k, v in raw.items() if k != "nodes"}
    top["nodes"] = [{"name": "_", "type": "_"}]  # nodes are checked one by one below
    try:
        spec = GraphSpec.model_validate(top)
    except ValidationError as exc:
        for err in exc.errors():
            problems.add(tuple(err["loc"]), _pydantic_message(err))
        raise GraphError(problems.items) from None
    base_dir = path.parent if path else Path.cwd()
    for i, plugin in enumerate(spec.plugins):
        try:
            load_plugin(plugin, base_dir)
        except PluginError as exc:
            problems.add(("plugins", i), str(exc))

    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        problems.add(("nodes",), "'nodes:' must be a non-empty list of nodes")
        raise GraphError(problems.items)

    # every check runs on every node that resolved, so one pass reports a bad param, a bad wire and a
    # cycle together; a wire to a node that did not resolve is that node's own error
    entries = _check_nodes(raw_nodes, problems)
    in_file = {str(n["name"]) for n in raw_nodes if isinstance(n, dict) and "name" in n}
    _check_wiring(entries, problems, in_file)
    order = _topological_order(entries, problems)
    if not problems.items:
        _check_schemas(entries, order, problems)
    if problems.items:
        raise GraphError(problems.items)
    name = spec.name or (path.stem if path else "graph")
    return Graph(name=name, path=path, nodes={n: entries[n] for n in order}, raw=raw)


def _check_nodes(raw_nodes: list[Any], problems: _Problems) -> dict[str, NodeEntry]:
    entries: dict[str, NodeEntry] = {}
    for i, raw_node in enumerate(raw_nodes):
        loc = ("nodes", i)
        name = raw_node.get("name") if isinstance(raw_node, dict) else None
        try:
            node_spec = NodeSpec.model_validate(raw_node)
        except ValidationError as exc:
            for err in exc.errors():
                problems.add(loc + tuple(err["loc"]), _pydantic_message(err), name if isinstance(name, str) else None)
            continue
        if node_spec.name in entries:
            problems.add(loc + ("name",), f"duplicate node name {node_spec.name!r} "
                                          f"(first at line {entries[node_spec.name].line})", node_spec.name)
            continue
        try:
            cls = get_node_type(node_spec.type)
        except PluginError as exc:
            problems.add(loc + ("type",), str(exc), node_spec.name)
            continue
        params = _check_params(cls, node_spec, loc, problems)
        if params is None:
            continue
        entries[node_spec.name] = NodeEntry(
            name=node_spec.name, cls=cls, params=params, line=line_of(problems.raw, loc),
            inputs=_edges(node_spec), max_in_flight=node_spec.max_in_flight)
        if node_spec.max_in_flight is not None and not is_source(cls):
            problems.add(loc + ("max_in_flight",), "max_in_flight applies to source nodes only", node_spec.name)
    return entries


def _edges(node_spec: NodeSpec) -> dict[str, Edge]:
    def edge(port: str, spec: InputSpec) -> Edge:
        return Edge(producer=spec.node, output=spec.port, consumer=node_spec.name, input=port,
                    policy=spec.policy, queue=spec.queue, back_edge=spec.back_edge)

    return {port: edge(port, spec) for port, spec in node_spec.inputs.items()}


def _check_params(cls: type[Node], node_spec: NodeSpec, loc: tuple[Any, ...],
                  problems: _Problems) -> BaseModel | None:
    try:
        return cls.Params.model_validate(node_spec.params)
    except ValidationError as exc:
        known = list(cls.Params.model_fields)
        for err in exc.errors():
            key = err["loc"][0] if err["loc"] else None
            if err["type"] == "extra_forbidden":
                message = (f"unknown parameter {key!r} for node type {node_spec.type!r}{suggest(str(key), known)}; "
                           f"known: {', '.join(known) or 'none'}")
            elif err["type"] == "missing":
                message = f"missing required parameter {key!r} for node type {node_spec.type!r}"
            else:
                where = ".".join(str(p) for p in err["loc"])
                message = f"parameter {where!r}: {err['msg']} (got {err.get('input')!r})"
            problems.add(loc + ("params",) + tuple(err["loc"]), message, node_spec.name)
        return None


def _check_wiring(entries: dict[str, NodeEntry], problems: _Problems, in_file: set[str]) -> None:
    names = list(entries)
    for name, entry in entries.items():
        loc = ("nodes", _raw_index(problems.raw, name), "inputs")
        declared = entry.cls.inputs
        for port, edge in entry.inputs.items():
            if port not in declared:
                problems.add(loc + (port,), f"node type {entry.cls.type_name!r} has no input {port!r}"
                             f"{suggest(port, list(declared))}; its inputs: {', '.join(declared) or 'none'}", name)
                continue
            producer = entries.get(edge.producer)
            if producer is None and edge.producer in in_file:
                continue  # the producer has an error of its own
            if producer is None:
                problems.add(loc + (port,), f"input {port!r} comes from {edge.producer}.{edge.output}, but there is "
                             f"no node {edge.producer!r}{suggest(edge.producer, names)}", name)
                continue
            outputs = producer.cls.outputs
            if edge.output not in outputs:
                problems.add(loc + (port,), f"input {port!r}: node {edge.producer!r} has no output {edge.output!r}"
                             f"{suggest(edge.output, list(outputs))}; its outputs: {', '.join(outputs) or 'none'}", name)
                continue
            given, wanted = outputs[edge.output], declared[port]
            if not (isinstance(given, type) and isinstance(wanted, type) and issubclass(given, wanted)):
                problems.add(loc + (port,), f"input {port!r} takes {_type_name(wanted)}, but "
                             f"{edge.producer}.{edge.output} gives {_type_name(given)}", name)
        for port in declared:
            if port not in entry.inputs and port not in entry.cls.optional_inputs:
                problems.add(("nodes", _raw_index(problems.raw, name)),
                             f"input {port!r} ({_type_name(declared[port])}) is not connected", name)
    if len(entries) == len(in_file) and not any(e.is_source for e in entries.values()):
        problems.add(("nodes",), "the graph has no source node (a node without inputs, such as capture)")
    interactive = [n for n, e in entries.items() if e.cls.interactive]
    if len(interactive) > 1:
        problems.add(("nodes", _raw_index(problems.raw, interactive[1])),
                     f"only one window node per graph is supported; also {interactive[0]!r}", interactive[1])


def _topological_order(entries: dict[str, NodeEntry], problems: _Problems) -> list[str]:
    """The nodes in data-flow order (file order among equals); a cycle of forward edges is an error
    that names one actual loop; back edges must point upstream."""
    position = {name: i for i, name in enumerate(entries)}
    sorter = graphlib.TopologicalSorter({
        name: [e.producer for e in entry.inputs.values() if not e.back_edge and e.producer in entries]
        for name, entry in entries.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1][1:]))  # graphlib lists a loop against the flow, its start repeated
        last = max(cycle, key=position.__getitem__)  # start where the loop goes back up the file
        cycle = cycle[cycle.index(last):] + cycle[:cycle.index(last)]
        problems.add(("nodes", _raw_index(problems.raw, cycle[0])),
                     f"the graph has a cycle through {' -> '.join(cycle + [cycle[0]])}; feedback needs "
                     f"'back_edge: true' on the input that goes upstream", cycle[0])
        return list(entries)
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order += ready
        sorter.done(*ready)
    for name, entry in entries.items():
        for port, edge in entry.inputs.items():
            loc = ("nodes", _raw_index(problems.raw, name), "inputs", port)
            if edge.back_edge and edge.producer not in _downstream(entries, name):
                problems.add(loc, f"input {port!r} is marked back_edge but {edge.producer!r} is not downstream "
                             f"of {name!r}", name)
        if entry.inputs and all(e.back_edge for e in entry.inputs.values()):
            problems.add(("nodes", _raw_index(problems.raw, name), "inputs"),
                         "a node needs at least one input that is not a back edge", name)
    _check_single_source(entries, order, problems)
    return order


def declared_output_schemas(entry: NodeEntry) -> dict[str, str]:
    """The keypoint schema each output gives, as the node type declares it for these params.

    A node declares ``output_schemas``: a dict, or a classmethod taking the params (the ``pose``
    node's depends on its ``schema`` param). Undeclared outputs give None here.
    """
    declared = getattr(entry.cls, "output_schemas", None)
    if callable(declared):
        declared = declared(entry.params)
    return dict(declared or {})


def _check_schemas(entries: dict[str, NodeEntry], order: list[str], problems: _Problems) -> None:
    """Refuse poses of the wrong keypoint schema, e.g. hands (``hand21``) into a node that needs ``coco17``.

    A node declares what its inputs need with ``input_schemas = {"poses": "coco17"}`` (a name or
    a tuple of names). Outputs give what their node declares; a ``Poses`` output that declares
    nothing passes on the schema of its node's one ``Poses`` input (smoothers, filters: a node
    that changes the schema must declare it), else it is unknown and not checked.
    """
    from rtpose.types import Poses

    given: dict[tuple[str, str], str] = {}
    for name in order:
        entry = entries[name]
        declared = declared_output_schemas(entry)
        needs = getattr(entry.cls, "input_schemas", {}) or {}
        pose_ports = [port for port, kind in entry.cls.inputs.items() if _is_poses(kind, Poses)]
        pose_inputs = [entry.inputs[port] for port in pose_ports if port in entry.inputs]
        for port, edge in entry.inputs.items():
            schema = given.get((edge.producer, edge.output))
            wanted = needs.get(port)
            if schema is None or wanted is None:
                continue
            allowed = (wanted,) if isinstance(wanted, str) else tuple(wanted)
            if schema not in allowed:
                loc = ("nodes", _raw_index(problems.raw, name), "inputs", port)
                problems.add(loc, f"input {port!r} needs {' or '.join(allowed)} keypoints, but "
                                  f"{edge.producer}.{edge.output} gives {schema}", name)
        for port, out_type in entry.cls.outputs.items():
            if port in declared:
                given[(name, port)] = declared[port]
            elif _is_poses(out_type, Poses) and len(pose_ports) == 1 and pose_inputs and not pose_inputs[0].back_edge:
                passed = given.get((pose_inputs[0].producer, pose_inputs[0].output))
                if passed is not None:
                    given[(name, port)] = passed


def _is_poses(value: Any, poses: type) -> bool:
    return isinstance(value, type) and issubclass(value, poses)


def _downstream(entries: dict[str, NodeEntry], start: str) -> set[str]:
    """Every node reachable from ``start`` along forward edges."""
    reached: set[str] = set()
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for name, entry in entries.items():
            if name not in reached and any(e.producer == current and not e.back_edge for e in entry.inputs.values()):
                reached.add(name)
                frontier.append(name)
    return reached


def _check_single_source(entries: dict[str, NodeEntry], order: list[str], problems: _Problems) -> None:
    """Inputs are joined by frame index, which only means something within one source."""
    origin: dict[str, set[str]] = {}
    for name in order:
        entry = entries[name]
        if entry.is_source:
            origin[name] = {name}
            continue
        origin[name] = set().union(*(origin.get(e.producer, set()) for e in entry.inputs.values() if not e.back_edge))
        if len(origin[name]) > 1:
            problems.add(("nodes", _raw_index(problems.raw, name), "inputs"),
                         f"inputs come from different sources ({', '.join(sorted(origin[name]))}); inputs are "
                         f"joined by frame index, so they must share one source", name)


def _raw_index(raw: Any, name: str) -> int:
    for i, node in enumerate(raw.get("nodes") or []):
        if isinstance(node, dict) and node.get("name") == name:
            return i
    return 0


def _type_name(value: Any) -> str:
    return getattr(value, "__name__", repr(value))


def _pydantic_message(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "missing":
        return f"missing required key {loc!r}"
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    return f"{loc}: {err['msg']}"


__all__ = ["Edge", "Graph", "NodeEntry", "apply_overrides", "build_graph", "load_graph"]

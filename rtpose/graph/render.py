"""Pictures of a graph: a text listing for the terminal and Graphviz DOT."""

from __future__ import annotations

from rtpose.graph.build import Graph


def to_text(graph: Graph) -> str:
    """One line per node with where each input comes from."""
    lines = [f"graph {graph.name!r} ({graph.path})"]
    for name, entry in graph.nodes.items():
        wires = ", ".join(f"{port} <- {e.producer}.{e.output}" + (" (back edge)" if e.back_edge else "")
                          + (f" [{e.policy}]" if e.policy != "auto" else "")
                          for port, e in entry.inputs.items())
        lines.append(f"  {name} ({entry.cls.type_name})" + (f": {wires}" if wires else ": source"))
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph) -> str:
    """Graphviz DOT: boxes for nodes, edges labelled output -> input, back edges dashed."""
    lines = [f'digraph "{graph.name}" {{', "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    for name, entry in graph.nodes.items():
        shape = ', shape=house, fillcolor="#e3f5e1"' if entry.is_source else ""
        lines.append(f'  "{name}" [label="{name}\\n({entry.cls.type_name})"{shape}];')
    for edge in graph.edges():
        label = edge.output if edge.output == edge.input else f"{edge.output} -> {edge.input}"
        if edge.policy != "auto":
            label += f"\\n[{edge.policy}]"
        style = ", style=dashed, constraint=false" if edge.back_edge else ""
        lines.append(f'  "{edge.producer}" -> "{edge.consumer}" [label="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"

"""Layering of the inference stack, checked by reading every import statement (function-level ones
included, since lazy imports are imports too): backends run engines, engines build them, models
use backends; nothing lower imports anything higher."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RTPOSE = Path(__file__).resolve().parents[1] / "rtpose"

# Lowest first. "files" is where model files come from (names, downloads, .pth -> ONNX with the
# HRNet definition); it imports none of the others.
LAYERS: list[tuple[str, list[str]]] = [
    ("files", ["rtpose.models.registry", "rtpose.models.hrnet"]),
    ("engines", ["rtpose.engines"]),
    ("backends", ["rtpose.backends"]),
    ("models", ["rtpose.models"]),
]


def layer_of(module: str) -> int | None:
    """Index in LAYERS of the most specific prefix that matches ``module`` (None: outside the stack)."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return best[0] if best else None


def module_name(path: Path) -> str:
    parts = path.relative_to(RTPOSE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every rtpose module ``path`` imports (``from rtpose import engines`` counts as rtpose.engines)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from rtpose.models import registry` imports the submodule
                full = f"{node.module}.{alias.name}"
                names.add(full if is_module(full) else node.module)
    return {n for n in names if n.startswith("rtpose.")}


def is_module(name: str) -> bool:
    path = RTPOSE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(RTPOSE.rglob("*.py")):
        here = layer_of(module_name(path))
        if here is None:
            continue
        for target in sorted(imported(path)):
            there = layer_of(target)
            if there is not None and there > here:
                problems.append(f"{module_name(path)} ({LAYERS[here][0]}) imports {target} ({LAYERS[there][0]})")
    return problems


def test_no_layer_imports_a_higher_one() -> None:
    assert upward_imports() == []


@pytest.mark.parametrize("module, layer", [
    ("rtpose.models.registry", "files"), ("rtpose.engines.build", "engines"),
    ("rtpose.backends.switching", "backends"), ("rtpose.models.yolox", "models"),
    ("rtpose.models.calibration", "models"), ("rtpose.cli", None),
])
def test_layer_of(module: str, layer: str | None) -> None:
    index = layer_of(module)
    assert (LAYERS[index][0] if index is not None else None) == layer


def test_the_scan_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from rtpose.models.yolox import letterbox\n    import rtpose.backends.base\n")
    assert imported(source) == {"rtpose.models.yolox", "rtpose.backends.base"}


def test_importing_the_engines_loads_no_backend_or_model_code() -> None:
    import subprocess
    import sys

    code = ("import sys, rtpose.engines\n"
            "loaded = sorted(m for m in sys.modules if m.startswith(('rtpose.backends', 'rtpose.models')))\n"
            "assert loaded in ([], ['rtpose.models', 'rtpose.models.registry']), loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

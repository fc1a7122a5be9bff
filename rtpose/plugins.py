"""Where node types come from: the decorator, installed packages and plugin files.

Three ways to add a node type, all ending in :func:`register_node`:

- decorate a class with ``@register_node("my_type")`` in any imported module;
- ship it in a package that declares an entry point in the group ``rtpose.nodes``
  (the value is a module to import or a Node class); the standard nodes are found
  this way too;
- list a Python file or module under ``plugins:`` in a graph.

A graph's ``plugins:`` is code: loading the graph runs it. :func:`without_plugin_code`
(``rtpose validate|graph --no-plugins``) checks a graph from an untrusted source without
running it; node types that only its plugins define are then reported as such.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from rtpose.errors import PluginError
from rtpose.node import Node

ENTRY_POINT_GROUP = "rtpose.nodes"

_REGISTRY: dict[str, type[Node]] = {}
_entry_points_loaded = False
_skipped_plugins: list[str] | None = None  # a list while graph plugins must not run

N = TypeVar("N", bound=type[Node])


def register_node(type_name: str) -> Callable[[N], N]:
    """Class decorator: make a Node subclass available to graphs as ``type: <type_name>``."""

    def decorate(cls: N) -> N:
        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise PluginError(f"@register_node({type_name!r}) must decorate a subclass of rtpose.api.Node, got {cls!r}")
        existing = _REGISTRY.get(type_name)
        if existing is not None and _qualname(existing) != _qualname(cls):
            raise PluginError(
                f"node type {type_name!r} is registered twice: by {_qualname(existing)} and by {_qualname(cls)}")
        cls.type_name = type_name
        _REGISTRY[type_name] = cls
        return cls

    return decorate


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_entry_points() -> None:
    """Import every ``rtpose.nodes`` entry point of the installed packages (once)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken third-party plugin must name itself
            raise PluginError(f"cannot load node plugin {ep.name!r} ({ep.value}) from entry point group "
                              f"{ENTRY_POINT_GROUP!r}: {type(exc).__name__}: {exc}") from exc
        if isinstance(loaded, type) and issubclass(loaded, Node) and not loaded.type_name:
            register_node(ep.name)(loaded)


@contextmanager
def without_plugin_code() -> Iterator[None]:
    """While inside, :func:`load_plugin` runs nothing and only notes what it skipped."""
    global _skipped_plugins
    _skipped_plugins = []
    try:
        yield
    finally:
        _skipped_plugins = None


def load_plugin(spec: str, base_dir: Path | None = None) -> None:
    """Import a plugin given as a ``.py`` path (relative to ``base_dir``) or a module name."""
    if _skipped_plugins is not None:
        _skipped_plugins.append(spec)
        return
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise PluginError(f"plugin file not found: {path}")
        module_name = f"rtpose_plugin_{path.stem}_{abs(hash(str(path.resolve()))):x}"
        if module_name in sys.modules:
            return
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise PluginError(f"plugin {path} failed to import: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            importlib.import_module(spec)
        except ImportError as exc:
            raise PluginError(f"plugin module {spec!r} cannot be imported: {exc}") from exc


def node_types() -> dict[str, type[Node]]:
    """All registered node types, the installed plugins included."""
    load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def suggest(name: str, choices: list[str]) -> str:
    """A ' (did you mean ...?)' hint for a misspelt name, or ''."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def get_node_type(type_name: str) -> type[Node]:
    types = node_types()
    if type_name not in types:
        skipped = f" (it may come from the plugins not loaded with --no-plugins: {', '.join(_skipped_plugins)})" \
            if _skipped_plugins else suggest(type_name, list(types))
        raise PluginError(f"unknown node type {type_name!r}{skipped}")
    return types[type_name]

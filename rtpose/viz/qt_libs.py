"""Will Qt's window open here? A check of the system libraries PyQt5's X11 plugin needs.

PyQt5's wheel bundles Qt but not the xcb libraries its X11 platform plugin (``libqxcb.so``)
links against; on a plain Debian/Ubuntu machine several are missing and Qt aborts the process
("could not load the Qt platform plugin xcb", exit 134) before any window shows. Asking
``ldd`` first turns that crash into an error that names the packages to install. Nothing
here imports Qt, so the check runs on any thread.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

LDD_TIMEOUT_S = 5.0


def xcb_plugin() -> Path | None:
    """PyQt5's bundled X11 platform plugin, when PyQt5 is installed as a wheel."""
    try:
        spec = importlib.util.find_spec("PyQt5")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        plugin = Path(root) / "Qt5" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def missing_libraries(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as ``not found``, each once, in order."""
    found = re.findall(r"^\s*(\S+)\s+=>\s+not found", ldd_output, flags=re.MULTILINE)
    return list(dict.fromkeys(found))


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships a library (``libxcb-icccm.so.4`` -> ``libxcb-icccm4``)."""
    match = re.fullmatch(r"(lib[\w+.-]+?)\.so\.(\d+).*", soname)
    if not match:
        return soname
    name, major = match.group(1).lower(), match.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def uses_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt will pick its X11 plugin: asked for, or the default on a Linux X display."""
    platform = environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return sys.platform.startswith("linux") and bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def xcb_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why Qt's X11 plugin cannot load here (naming the packages to install), or None."""
    env = os.environ if environ is None else environ
    plugin = xcb_plugin()
    if not uses_xcb(env) or plugin is None or shutil.which("ldd") is None:
        return None
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=LDD_TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    missing = missing_libraries(out)
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(debian_package(lib) for lib in missing))
    return (f"Qt's X11 plugin cannot load: missing system libraries {', '.join(missing)}. Install them "
            f"(Debian/Ubuntu: sudo apt-get install {packages}), or run with --headless")

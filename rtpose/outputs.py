"""Output files (exports, recordings, metrics, traces): checked before a run, written so a
failure never leaves a half-written or emptied file where a good one was."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rtpose.errors import OutputError


def check_output(path: str | Path, what: str = "output") -> Path:
    """Make sure ``path`` can be written, creating its folder; an OutputError naming it if not.

    Writes and removes a temporary file in the folder, which is the only test that holds
    for read-only mounts, full disks and root alike. An existing file is left untouched.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder: give a file name")
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise OutputError(f"cannot write {what} {path}: {blocker} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: {exc.strerror or exc} (choose another path with a "
                          f"writable folder)") from exc
    return path


def write_atomically(path: str | Path, text: str, what: str = "output") -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``, so readers
    see the old file or the whole new one; an OutputError naming the path (a full disk, say)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {what} {path}: {exc.strerror or exc}") from exc

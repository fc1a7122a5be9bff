"""``rtpose cameras``: list the cameras a ``capture`` node can open, with their formats.

The lead mounts :func:`cameras` on the main typer app (``app.command("cameras")(cameras)``).
"""

from __future__ import annotations

import typer
from rich.table import Table

from rtpose.cameras import CAMERA_PROBE_INDICES, CameraInfo, list_cameras
from rtpose.console import out


def camera_table(found: list[CameraInfo]) -> Table:
    """A rich table: index to put in ``source:``, device, name, default mode, pixel formats."""
    table = Table(title="Cameras (use the index as `source:` of a capture node)")
    for column in ("index", "device", "name", "default", "pixel formats", "note"):
        table.add_column(column)
    for cam in found:
        default = f"{cam.width}x{cam.height}" if cam.width and cam.height else "?"
        if cam.fps:
            default += f" @ {cam.fps:g} fps"
        formats = "\n".join(f.summary() for f in cam.formats) or ("?" if not cam.note else "")
        table.add_row(str(cam.index), cam.device, cam.name, default, formats, cam.note)
    return table


def cameras(
    max_index: int = typer.Option(CAMERA_PROBE_INDICES, "--max-index", min=1,
                                  help="Where no device list exists (not Linux), probe indices 0..N-1."),
) -> None:
    """List the cameras of this machine, their default size and rate and their pixel formats."""
    found = list_cameras(max_index)
    if not found:
        out.print("no cameras found (on Linux: no /dev/video* device; check that the camera is plugged "
                      "in and that you may read /dev/video*, e.g. are in the 'video' group)")
        return
    out.print(camera_table(found))
    if not any(c.formats for c in found):
        out.print("(pixel formats are listed when v4l2-ctl is installed: package v4l-utils)")

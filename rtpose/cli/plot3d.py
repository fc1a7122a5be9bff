"""``rtpose plot3d``: draw a recorded run's 3D skeletons (see :mod:`rtpose.viz.plot3d`)."""

from __future__ import annotations

from pathlib import Path

import typer

from rtpose.console import fail
from rtpose.console import out as console_out
from rtpose.errors import RtposeError
from rtpose.viz.plot3d import render


def plot3d(
    export: Path = typer.Argument(..., help="A keypoint export (.jsonl) of a graph with a pose3d node."),
    out: Path = typer.Option(Path("anim.mp4"), "--out", "-o", help="The MP4 to write."),
    fps: float = typer.Option(30.0, "--fps", min=1, help="Frame rate of the video."),
    size: int = typer.Option(640, "--size", min=160, help="Width and height of the video in pixels."),
) -> None:
    """Draw a recorded run's 3D skeletons as an MP4 (matplotlib)."""
    try:
        frames = render(export, out, fps, size)
    except RtposeError as exc:
        fail(exc, code=2)
    except OSError as exc:
        fail(RtposeError(f"{export}: {exc.strerror or exc}"), code=2)
    console_out.print(f"wrote {out} ({frames} frames)")

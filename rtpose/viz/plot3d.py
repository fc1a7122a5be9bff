"""A recorded run's 3D skeletons as an MP4, drawn with matplotlib (``rtpose plot3d``).

Reads a keypoint export (JSON Lines) whose people carry ``keypoints_3d`` (the ``pose3d``
node's output), places people side by side as the window's 3D panel does
(:mod:`rtpose.viz.view3d`), and draws every frame in a fixed 3D view with the floor level
and the height axis up. matplotlib is the ``plot`` extra; it is imported here only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from rich.progress import Progress

from rtpose.errors import RtposeError
from rtpose.schemas import get_schema
from rtpose.viz.colors import track_color
from rtpose.viz.view3d import FLOOR_WIDTH_M, place_people


def read_frames(path: Path) -> Iterator[tuple[int, list[dict]]]:
    """(frame, people with 3D) for every line of an export; a clear error for a file that is not one."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                yield int(record["frame"]), [p for p in record["people"] if "keypoints_3d" in p]
            except (ValueError, KeyError, TypeError) as exc:
                raise RtposeError(f"{path}:{number}: not a keypoint export line ({exc})") from None


def frame_width(people: list[dict]) -> float:
    """The frame's width is not in the export: people are spread over the span of their boxes."""
    right = max((p["bbox"][0] + p["bbox"][2] for p in people), default=1.0)
    return max(right, 1.0)


def render(path: Path, out: Path, fps: float = 30.0, size: int = 640, elev: float = 15.0,
           azim: float = -70.0) -> int:
    """Write the MP4; returns the number of frames drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = list(read_frames(path))
    if not any(people for _, people in frames):
        raise RtposeError(f"{path}: no person has keypoints_3d (run a graph with a pose3d node and --export)")
    width = max(frame_width(people) for _, people in frames if people)
    fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.add_subplot(projection="3d")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    if not writer.isOpened():
        raise RtposeError(f"cannot write {out}: OpenCV has no MP4 encoder for it")
    half = FLOOR_WIDTH_M / 2 + 0.5
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task(f"drawing {out.name}", total=len(frames))
            for index, people in frames:
                ax.cla()
                ax.set(xlim=(-half, half), ylim=(-half, half), zlim=(-1.0, 1.2), xlabel="x (m)", ylabel="depth (m)",
                       zlabel="height (m)", title=f"frame {index}")
                ax.view_init(elev=elev, azim=azim)
                if people:
                    points = place_people(np.array([p["keypoints_3d"] for p in people], np.float32),
                                          np.array([[p["bbox"][0], 0, p["bbox"][0] + p["bbox"][2], 0]
                                                    for p in people], np.float32), width)
                    for person, pts in zip(people, points):
                        edges = get_schema(person.get("schema_3d", "h36m17")).skeleton
                        b, g, r = track_color(int(person["track_id"]))
                        for a, c in edges:  # matplotlib's z is up: the data's y is down, its z is depth
                            ax.plot([pts[a, 0], pts[c, 0]], [pts[a, 2], pts[c, 2]], [-pts[a, 1], -pts[c, 1]],
                                    color=(r / 255, g / 255, b / 255), linewidth=2)
                fig.canvas.draw()
                rgba = np.asarray(fig.canvas.buffer_rgba())
                writer.write(cv2.cvtColor(cv2.resize(rgba, (size, size)), cv2.COLOR_RGBA2BGR))
                progress.advance(task)
    finally:
        writer.release()
        plt.close(fig)
    return len(frames)


"""``annotate``: one annotated image per input image (skeletons, boxes, ids), written into a folder.

The photo counterpart of ``record``: where ``record`` makes one video of a stream, ``annotate``
writes every frame as its own picture, e.g. an annotated copy of each photo of a folder.
Files are named by the frame's index at its source (``000000.jpg``, ``000001.jpg`` ...): a folder
source reads its images in name order, so the n-th file of the input is ``n`` here. Drawn with
:func:`rtpose.viz.overlay.draw_poses`, as the window and ``record`` draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
from pydantic import Field

from rtpose.api import Image, Node, Poses, RtposeError, register_node
from rtpose.viz.overlay import DrawingSettings, draw_poses


class AnnotateParams(DrawingSettings):
    folder: str = Field("annotated", description="where the annotated images go (created; files there are replaced)")
    format: Literal["jpg", "png"] = Field("jpg", description="image file format")


@register_node("annotate")
class Annotate(Node):
    """Writes each frame, with its poses drawn on it, as an image file of its own."""

    inputs = {"image": Image, "poses": Poses}
    outputs: dict[str, type] = {}
    live_input_queue = ("drop_oldest", 64)  # a slow disk drops (and counts) writes, never stalls the graph
    Params = AnnotateParams

    def open(self) -> None:
        p: AnnotateParams = self.params  # type: ignore[assignment]
        self.folder = Path(p.folder).expanduser()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RtposeError(f"node {self.name!r}: cannot create the folder {self.folder}: {exc}") from exc
        self.written = 0

    def process(self, image: Image, poses: Poses) -> dict:
        p: AnnotateParams = self.params  # type: ignore[assignment]
        index = self.frame.index if self.frame is not None else self.written
        path = self.folder / f"{index:06d}.{p.format}"
        if not cv2.imwrite(str(path), draw_poses(image.pixels, poses, p.kpt_threshold, p.draw_boxes, p.draw_ids)):
            raise RtposeError(f"node {self.name!r}: cannot write {path} (is the folder writable?)")
        self.written += 1
        return {}

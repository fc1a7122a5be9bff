"""annotate: one annotated image per frame, named by the frame's index; clear errors for a bad folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.api import FrameInfo, Image, Poses, RtposeError
from rtpose.plugins import get_node_type
from helpers import body


def make(folder: Path, **params: object):
    cls = get_node_type("annotate")
    return cls("annotated", cls.Params(folder=str(folder), **params))


def test_writes_each_frame_with_the_poses_drawn(tmp_path: Path) -> None:
    node = make(tmp_path / "out", format="png")
    node.open()
    pixels = np.full((240, 320, 3), 30, np.uint8)
    poses = Poses(boxes=[[100, 40, 220, 200]], scores=[0.9], class_ids=[0], keypoints=[body(160, 120)])
    for index in (0, 7):  # a dropped frame leaves a gap in the names, as in the source
        node.frame = FrameInfo("photos", index, 0.0, index + 1)
        node.process(image=Image(pixels, 0.0, "photos", index + 1), poses=poses)
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["000000.png", "000007.png"]
    drawn = cv2.imread(str(tmp_path / "out" / "000007.png"))
    assert drawn.shape == pixels.shape and (drawn != pixels).any(axis=2).mean() > 0.01
    assert (pixels == 30).all()  # the frame itself is not drawn on


def test_a_folder_that_cannot_be_made_names_the_node(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    node = make(blocker / "out")
    with pytest.raises(RtposeError, match="node 'annotated': cannot create the folder"):
        node.open()

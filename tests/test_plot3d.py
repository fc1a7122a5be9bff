"""``rtpose plot3d``'s renderer: a 3D export becomes a playable MP4 with the skeletons drawn."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.errors import RtposeError
from rtpose.viz.plot3d import render

STANDING = [[0, 0, 0], [-0.1, 0, 0], [-0.1, 0.45, 0], [-0.1, 0.9, 0], [0.1, 0, 0], [0.1, 0.45, 0], [0.1, 0.9, 0],
            [0, -0.25, 0], [0, -0.5, 0], [0, -0.6, 0], [0, -0.75, 0], [0.2, -0.5, 0], [0.25, -0.2, 0],
            [0.3, 0.05, 0], [-0.2, -0.5, 0], [-0.25, -0.2, 0], [-0.3, 0.05, 0]]


def test_a_3d_export_becomes_a_video(tmp_path: Path) -> None:
    export = tmp_path / "run.jsonl"
    lines = []
    for frame in range(6):
        lines.append(json.dumps({"frame": frame, "timestamp": frame / 30, "people": [
            {"track_id": 1, "bbox": [100, 50, 80, 300], "score": 0.9, "keypoints": [],
             "keypoints_3d": (np.array(STANDING) + [0, 0, 0.05 * frame]).tolist(), "schema_3d": "h36m17"},
            {"track_id": 2, "bbox": [500, 50, 80, 300], "score": 0.9, "keypoints": []}]}))
    export.write_text("\n".join(lines) + "\n")
    out = tmp_path / "anim.mp4"
    assert render(export, out, size=320) == 6
    video = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, image = video.read()
        if not ok:
            break
        frames.append(image)
    assert len(frames) == 6 and frames[0].shape == (320, 320, 3)
    coloured = (frames[0].max(axis=2).astype(int) - frames[0].min(axis=2)) > 60  # the skeleton, not the grey axes
    assert coloured.sum() > 50


def test_an_export_without_3d_is_refused_with_the_reason(tmp_path: Path) -> None:
    export = tmp_path / "flat.jsonl"
    export.write_text(json.dumps({"frame": 0, "timestamp": 0.0, "people": [{"track_id": 1, "bbox": [0, 0, 1, 1]}]}))
    with pytest.raises(RtposeError, match="no person has keypoints_3d"):
        render(export, tmp_path / "x.mp4")
    export.write_text("not json\n")
    with pytest.raises(RtposeError, match=r"flat.jsonl:1: not a keypoint export line"):
        render(export, tmp_path / "x.mp4")

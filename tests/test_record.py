"""The record node and its VideoSink: files that play back with the right frames, size and rate."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.api import Image, Poses, RtposeError
from rtpose.viz import colors
from rtpose_nodes.record import Record, RecordParams, VideoSink, estimate_fps

H, W = 240, 320


def poses() -> Poses:
    kpts = np.zeros((1, 17, 3), np.float32)
    kpts[0, :, 0] = 160
    kpts[0, :, 1] = np.linspace(20, 220, 17)
    kpts[0, :, 2] = 0.9
    kpts[0, 13] = (100, 60, 0.9)   # left knee
    kpts[0, 15] = (100, 200, 0.9)  # left ankle: a long vertical green limb at x=100
    return Poses(boxes=[[40, 10, 280, 230]], scores=[0.9], class_ids=[0], track_ids=[2], keypoints=kpts)


def frames(n: int, dt: float = 0.1) -> list[Image]:
    return [Image(np.full((H, W, 3), 20 + 10 * i, np.uint8), i * dt, "test") for i in range(n)]


def read_back(path: Path) -> tuple[int, int, int, float, list[np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    count, w, h = (int(cap.get(p)) for p in (cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FRAME_WIDTH,
                                             cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS)
    decoded = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        decoded.append(img)
    cap.release()
    return count, w, h, fps, decoded


def run_record(path: Path, images: list[Image], **params) -> None:
    node = Record("rec", RecordParams(path=str(path), **params))
    node.open()
    try:
        for img in images:
            assert node.process(image=img, poses=poses()) == {}
    finally:
        node.close()


def test_writes_ten_annotated_frames(tmp_path: Path) -> None:
    path = tmp_path / "out" / "clip.mp4"
    run_record(path, frames(10), fps=10.0)
    count, w, h, fps, decoded = read_back(path)
    assert (count, w, h) == (10, W, H) and len(decoded) == 10
    assert fps == pytest.approx(10.0, abs=0.01)
    limb = decoded[5][80:180, 97:104].reshape(-1, 3).astype(int)  # the left shin, lossy-coded
    assert (np.abs(limb - np.array(colors.LEFT)).max(axis=1) < 60).sum() > 50


def test_frame_rate_comes_from_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    run_record(path, frames(12, dt=0.04))
    count, _, _, fps, _ = read_back(path)
    assert count == 12 and fps == pytest.approx(25.0, abs=0.1)


def test_short_clip_and_hud(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    run_record(path, frames(3), hud=True)  # fewer frames than the fps probe: still written at close
    count, w, h, _, decoded = read_back(path)
    assert (count, w, h) == (3, W, H)
    assert decoded[0][12:30, 12:60].max() > 180  # white HUD text on the dark panel


def test_sink_resizes_odd_frames_and_ignores_writes_after_close(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "s.mp4", fps=5.0)
    sink.write(np.zeros((H, W, 3), np.uint8), 0.0)
    sink.write(np.zeros((100, 100, 3), np.uint8), 0.2)
    assert sink.close() == tmp_path / "s.mp4"
    sink.write(np.zeros((H, W, 3), np.uint8), 0.4)
    count, w, h, _, _ = read_back(tmp_path / "s.mp4")
    assert (count, w, h) == (2, W, H)


def test_empty_recording_makes_no_file(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "none.mp4")
    assert sink.close() is None and not (tmp_path / "none.mp4").exists()


def test_unwritable_destination_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    node = Record("rec", RecordParams(path=str(blocker / "clip.mp4")))
    with pytest.raises(RtposeError, match=r"cannot write .*clip.mp4: .*file, not a folder"):
        node.open()


def test_estimate_fps() -> None:
    assert estimate_fps([0.0, 0.04, 0.08, 0.2, 0.24]) == pytest.approx(25.0)
    assert estimate_fps([1.0]) == 30.0 and estimate_fps([1.0, 1.0, 1.0]) == 30.0


def test_an_existing_video_is_replaced_only_by_a_finished_one(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"the previous recording")
    sink = VideoSink(path, fps=10.0)
    for image in frames(5):
        sink.write(image.pixels, image.timestamp)
    assert path.read_bytes() == b"the previous recording"  # frames go to a hidden partial file meanwhile
    assert sink.partial_path.exists() and sink.partial_path.suffix == ".mp4"
    assert sink.close() == path and not sink.partial_path.exists()
    assert read_back(path)[0] == 5

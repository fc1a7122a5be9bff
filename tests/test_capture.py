"""The capture node and rtpose.capture on real files, folders, a real HTTP MJPEG stream, and no cameras."""

from __future__ import annotations

import http.server
import logging
import threading
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from rtpose.capture import (
    SourceKind,
    backoff_delays,
    folder_images,
    natural_key,
    parse_source,
    redact_url,
)
from rtpose.cameras import parse_v4l2_formats
from rtpose.cli.cameras import cameras
from rtpose.errors import SourceError
from rtpose.types import Image
from rtpose_nodes.capture import Capture, CaptureParams


@pytest.fixture(scope="module")
def street(shared: Path) -> Path:
    return shared / "data/video/street_5frames.mp4"


@pytest.fixture(scope="module")
def posetrack_dir(shared: Path) -> Path:
    return shared / "data/posetrack18/videos/000001_mpiinew_test"


def make(name: str = "cam", **params: object) -> Capture:
    return Capture(name, CaptureParams(**params))


def drain(node: Capture, limit: int = 100) -> list[Image]:
    """Every image a source gives until it ends (at most ``limit``)."""
    images = []
    for _ in range(limit):
        out = node.process()
        if out is None:
            break
        images.append(out["image"])
    return images


# ------------------------------------------------------------------ files and folders


def test_video_file_gives_its_five_frames_then_ends(street: Path) -> None:
    node = make(source=str(street))
    node.open()
    try:
        images = drain(node)
        assert node.process() is None
    finally:
        node.close()
    assert len(images) == 5
    assert all(im.pixels.shape == (540, 960, 3) and im.pixels.dtype == np.uint8 for im in images)
    stamps = [im.timestamp for im in images]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    assert stamps[0] == pytest.approx(0.0) and stamps[1] == pytest.approx(0.2)  # 5 fps: position in the file
    assert node.live is False and node.pace_fps is None
    assert images[0].source == str(street)


def test_image_folder_in_natural_order(posetrack_dir: Path) -> None:
    node = make(source=str(posetrack_dir), fps=10)
    node.open()
    try:
        images = drain(node)
    finally:
        node.close()
    files = sorted(posetrack_dir.glob("*.jpg"))
    assert len(images) == 5
    for im, path in zip(images, files):
        assert np.array_equal(im.pixels, cv2.imread(str(path)))
    assert [im.timestamp for im in images] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert node.live is False


def test_natural_order_puts_2_before_10(tmp_path: Path) -> None:
    for name in ("img10.png", "img2.png", "img1.PNG", "notes.txt"):
        cv2.imwrite(str(tmp_path / name), np.zeros((4, 4, 3), np.uint8)) if name.endswith(("png", "PNG")) \
            else (tmp_path / name).write_text("x")
    assert [p.name for p in folder_images(tmp_path)] == ["img1.PNG", "img2.png", "img10.png"]
    assert sorted(["a10", "a9", "a100"], key=natural_key) == ["a9", "a10", "a100"]


def test_realtime_paces_at_the_file_rate_and_counts_as_live(street: Path) -> None:
    file_fps = cv2.VideoCapture(str(street)).get(cv2.CAP_PROP_FPS)
    node = make(source=str(street), realtime=True)
    node.open()
    node.close()
    assert node.pace_fps == pytest.approx(file_fps) and node.live is True

    overridden = make(source=str(street), realtime=True, live=False)
    overridden.open()
    overridden.close()
    assert overridden.pace_fps == pytest.approx(file_fps) and overridden.live is False


def test_realtime_folder_paces_at_the_fps_param(posetrack_dir: Path) -> None:
    node = make(source=str(posetrack_dir), realtime=True, fps=12)
    node.open()
    node.close()
    assert node.pace_fps == 12 and node.live is True


def test_loop_restarts_with_timestamps_still_increasing(street: Path, posetrack_dir: Path) -> None:
    for source in (street, posetrack_dir):
        node = make(source=str(source), loop=True)
        node.open()
        try:
            images = drain(node, limit=12)
        finally:
            node.close()
        assert len(images) == 12
        assert np.array_equal(images[5].pixels, images[0].pixels)
        assert np.array_equal(images[11].pixels, images[1].pixels)
        stamps = [im.timestamp for im in images]
        assert all(b > a for a, b in zip(stamps, stamps[1:])), stamps


def test_two_instances_on_one_file_are_independent(street: Path) -> None:
    a, b = make("a", source=str(street)), make("b", source=str(street))
    a.open()
    b.open()
    try:
        first_a = [a.process()["image"] for _ in range(3)]
        first_b = b.process()["image"]
        assert first_b.timestamp == pytest.approx(0.0)
        assert np.array_equal(first_b.pixels, first_a[0].pixels)
        assert len(drain(a)) == 2 and len(drain(b)) == 4
    finally:
        a.close()
        b.close()


# ------------------------------------------------------------------ errors that name the source


def test_missing_file_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match="does not exist") as err:
        make(source=str(missing)).open()
    assert str(missing) in str(err.value)


def test_unreadable_file_names_its_path(tmp_path: Path) -> None:
    bogus = tmp_path / "not_a_video.mp4"
    bogus.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match="cannot be opened") as err:
        make(source=str(bogus)).open()
    assert str(bogus) in str(err.value)


def test_missing_camera_index_points_to_rtpose_cameras() -> None:
    with pytest.raises(SourceError) as err:
        make(source=7).open()
    assert "camera 7 could not be opened" in str(err.value) and "`rtpose cameras`" in str(err.value)
    with pytest.raises(SourceError, match="camera 7"):
        make(source="7").open()


def test_empty_folder_and_folder_without_images(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="has no images") as err:
        make(source=str(tmp_path)).open()
    assert str(tmp_path) in str(err.value)
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(SourceError, match=f"{tmp_path}.*has no images"):
        make(source=str(tmp_path)).open()


def test_corrupt_image_in_folder_is_named_and_skipped_or_stops(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cv2.imwrite(str(tmp_path / "0.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "1.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(tmp_path / "2.png"), np.full((8, 8, 3), 9, np.uint8))
    caplog.set_level(logging.WARNING, logger="rtpose.capture")
    node = make(source=str(tmp_path))  # on_error: skip
    node.open()
    images = drain(node)
    node.close()
    assert [int(im.pixels[0, 0, 0]) for im in images] == [0, 9] and node.skipped == 1
    assert [im.timestamp for im in images] == [0.0, 2 / 30]  # the skipped photo keeps its place in time
    assert any("1.jpg cannot be decoded" in r.getMessage() for r in caplog.records)
    stopping = make(source=str(tmp_path), on_error="stop")
    stopping.open()
    assert stopping.process() is not None
    with pytest.raises(SourceError, match="1.jpg"):
        stopping.process()
    stopping.close()


def test_truncated_jpeg_and_png_are_detected(tmp_path: Path, posetrack_dir: Path) -> None:
    from rtpose.capture import read_image

    jpeg = (posetrack_dir / "000000.jpg").read_bytes()
    (tmp_path / "whole.jpg").write_bytes(jpeg)
    assert read_image(tmp_path / "whole.jpg").shape[2] == 3
    (tmp_path / "half.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    assert cv2.imread(str(tmp_path / "half.jpg")) is not None  # OpenCV alone decodes it, half grey
    with pytest.raises(SourceError, match="half.jpg is a truncated JPEG"):
        read_image(tmp_path / "half.jpg")
    png = cv2.imencode(".png", cv2.imread(str(tmp_path / "whole.jpg")))[1].tobytes()
    (tmp_path / "cut.png").write_bytes(png[:-40])
    with pytest.raises(SourceError, match="cut.png is a truncated PNG"):
        read_image(tmp_path / "cut.png")


def test_gstreamer_pipeline_is_recognised_and_named_in_errors() -> None:
    pipeline = "videotestsrc num-buffers=3 ! videoconvert ! appsink"
    spec = parse_source(pipeline)
    assert spec.kind is SourceKind.GSTREAMER
    node = make(source=pipeline)
    try:
        node.open()  # works only with an OpenCV built with GStreamer
    except SourceError as exc:
        assert "GStreamer" in str(exc) and pipeline in str(exc)
    else:
        assert node.live is True
        node.close()


def test_unreachable_url_is_named_without_its_password() -> None:
    url = "rtsp://admin:hunter2@127.0.0.1:9/stream1"
    with pytest.raises(SourceError, match="could not be opened") as err:
        make(source=url).open()
    assert "rtsp://admin:***@127.0.0.1:9/stream1" in str(err.value) and "hunter2" not in str(err.value)


def test_parse_source_kinds(tmp_path: Path, street: Path) -> None:
    assert parse_source(0).kind is SourceKind.CAMERA and parse_source(0).value == 0
    assert parse_source("2").value == 2
    assert parse_source("/dev/video3").kind is SourceKind.CAMERA
    assert parse_source("rtsp://cam.local/live").kind is SourceKind.URL
    assert parse_source("https://x.org/a.m3u8").kind is SourceKind.URL
    assert parse_source(str(tmp_path)).kind is SourceKind.FOLDER
    assert parse_source(str(street)).kind is SourceKind.FILE
    assert parse_source("rtspsrc location=rtsp://a:b@h/x ! decodebin ! appsink").kind is SourceKind.GSTREAMER
    assert "a:***@h" in parse_source("rtspsrc location=rtsp://a:b@h/x ! appsink").label
    assert redact_url("http://h:8080/x") == "http://h:8080/x"
    with pytest.raises(SourceError):
        parse_source(-1)


def test_params_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="fourcc"):
        CaptureParams(source=0, fourcc="MJPEG")
    with pytest.raises(ValueError):
        CaptureParams(source=0, reconnect_attempts=-1)
    with pytest.raises(ValueError):
        CaptureParams(source=0, colour="red")  # type: ignore[call-arg]


# ------------------------------------------------------------------ a real stream that drops: reconnect


class MjpegCamera:
    """An IP camera imitation: serves the street clip as MJPEG over HTTP, then hangs up (a drop)."""

    def __init__(self, video: Path) -> None:
        cap = cv2.VideoCapture(str(video))
        self.jpegs = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            self.jpegs.append(cv2.imencode(".jpg", frame)[1].tobytes())
        jpegs = self.jpegs

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                for jpg in jpegs:
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                                     + jpg + b"\r\n")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video.mjpg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mjpeg_camera(street: Path) -> Iterator[MjpegCamera]:
    camera = MjpegCamera(street)
    yield camera
    camera.stop()


def test_stream_is_live_and_timestamped_at_grab(mjpeg_camera: MjpegCamera) -> None:
    node = make(source=mjpeg_camera.url, reconnect_attempts=0)
    node.open()
    try:
        before = time.monotonic()
        images = drain(node)
        after = time.monotonic()
    finally:
        node.close()
    assert node.live is True and node.pace_fps is None
    assert len(images) == 5 and images[0].pixels.shape == (540, 960, 3)
    assert all(before <= im.timestamp <= after for im in images)


def test_dropped_stream_reconnects_with_logged_backoff_then_fails(
        mjpeg_camera: MjpegCamera, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="rtpose.capture")
    node = make(source=mjpeg_camera.url, reconnect_attempts=2, reconnect_backoff=0.05)
    node.open()
    try:
        images = drain(node, limit=8)  # 5 frames, the server hangs up, reconnect, 3 more
        assert len(images) == 8
        assert any("reconnect attempt 1/2" in r.getMessage() and mjpeg_camera.url in r.getMessage()
                   for r in caplog.records)
        mjpeg_camera.stop()  # the camera goes away for good
        started = time.monotonic()
        with pytest.raises(SourceError, match="did not come back after 2 reconnect attempts") as err:
            drain(node)
        assert mjpeg_camera.url in str(err.value)
        assert time.monotonic() - started >= 0.05 + 0.1  # waited 0.05 s then 0.1 s
    finally:
        node.close()


def test_close_from_another_thread_ends_a_backoff_wait(mjpeg_camera: MjpegCamera) -> None:
    node = make(source=mjpeg_camera.url, reconnect_attempts=3, reconnect_backoff=20)
    node.open()
    assert len(drain(node, limit=5)) == 5
    mjpeg_camera.stop()
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(node.process()))
    worker.start()
    time.sleep(0.3)  # the node is now waiting 20 s before its first reconnect attempt
    started = time.monotonic()
    node.close()
    worker.join(timeout=5)
    assert not worker.is_alive() and result == [None]
    assert time.monotonic() - started < 3


def test_interrupt_ends_a_backoff_wait_on_the_node_thread(mjpeg_camera: MjpegCamera) -> None:
    """What the runtime does on a stop: interrupt() from the main thread while the node's own
    thread waits to reconnect; close() follows on the node's thread."""
    node = make(source=mjpeg_camera.url, reconnect_attempts=3, reconnect_backoff=20)
    node.open()
    assert len(drain(node, limit=5)) == 5
    mjpeg_camera.stop()
    result: list[object] = []
    worker = threading.Thread(target=lambda: (result.append(node.process()), node.close()))
    worker.start()
    time.sleep(0.3)  # the node thread now waits 20 s before its first reconnect attempt
    started = time.monotonic()
    node.interrupt()
    worker.join(timeout=5)
    assert not worker.is_alive() and result == [None]
    assert time.monotonic() - started < 3


def test_backoff_doubles_and_is_capped() -> None:
    assert list(backoff_delays(4, 0.5)) == [0.5, 1.0, 2.0, 4.0]
    assert max(backoff_delays(10, 10)) == 30.0


# ------------------------------------------------------------------ rtpose cameras


def test_cameras_command_without_cameras_says_so_and_exits_0() -> None:
    app = typer.Typer()
    app.command("cameras")(cameras)
    app.command("other")(lambda: None)  # two commands, so typer keeps `cameras` as a subcommand
    result = CliRunner().invoke(app, ["cameras"])
    assert result.exit_code == 0, result.output
    assert "no cameras found" in result.output


V4L2_SAMPLE = """ioctl: VIDIOC_ENUM_FMT
	Type: Video Capture

	[0]: 'MJPG' (Motion-JPEG, compressed)
		Size: Discrete 1280x720
			Interval: Discrete 0.033s (30.000 fps)
			Interval: Discrete 0.067s (15.000 fps)
		Size: Discrete 640x480
			Interval: Discrete 0.033s (30.000 fps)
	[1]: 'YUYV' (YUYV 4:2:2)
		Size: Discrete 640x480
			Interval: Discrete 0.033s (30.000 fps)
		Size: Discrete 1280x720
			Interval: Discrete 0.100s (10.000 fps)
"""


def test_parse_v4l2_formats() -> None:
    formats = parse_v4l2_formats(V4L2_SAMPLE)
    assert [f.fourcc for f in formats] == ["MJPG", "YUYV"]
    assert formats[0].sizes == {(1280, 720): 30.0, (640, 480): 30.0}
    assert formats[1].summary() == "YUYV up to 1280x720@10 (2 sizes)"
    assert parse_v4l2_formats("") == []


def test_files_and_folders_say_how_many_frames_they_hold(street: Path, posetrack_dir: Path) -> None:
    """For progress bars (`136/300`, not `136/?`); a looping or live source has no end."""
    counts = {}
    for key, params in {"file": {"source": str(street)}, "folder": {"source": str(posetrack_dir)},
                        "looping": {"source": str(street), "loop": True}}.items():
        node = make(**params)
        node.open()
        counts[key] = node.frame_count
        node.close()
    assert counts["file"] == 5 and counts["looping"] is None
    assert counts["folder"] == len([p for p in posetrack_dir.iterdir() if p.suffix.lower() in (".jpg", ".png")])

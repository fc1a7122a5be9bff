#!/usr/bin/env python3
"""Screenshot of the real ``display`` window while the real graph runs (for docs/window.png).

Repeatable end to end: makes a clip of real people walking (the shared ``make_clip.py``)
or takes ``--clip``, starts ``Xvfb`` when there is no ``DISPLAY``, runs
``graphs/webcam_body.yaml`` with the clip as a real-time, looping camera and the shared
YOLOX-Nano + SimplePose-nano models through :class:`GraphRunner`, lets it play for
``--seconds``, grabs the X root window (what a user sees: with a window manager the frame
is included; a bare Xvfb has none), crops it to the window, saves a PNG and stops the graph.

    python tools/screenshot_window.py                     # -> docs/window.png
    python tools/screenshot_window.py --clip my.mp4 --seconds 15 --out /tmp/w.png
    RTPOSE_SHARED=/data/shared python tools/screenshot_window.py

Needs: Xvfb (only without a DISPLAY), ImageMagick's ``import`` (the grab) and
``xwininfo`` (the window's place; without it the whole screen is kept), and the libs
PyQt5's xcb plugin loads. On Debian/Ubuntu::

    apt-get install xvfb x11-utils imagemagick libxcb-icccm4 libxcb-keysyms1 \\
        libxcb-xinerama0 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DET_MODEL = "models/det/yolox_nano_416x416.onnx"
POSE_MODEL = "models/pose/simplepose_nano_256x192.onnx"
MAX_PNG_BYTES = 400_000


def log(message: str) -> None:
    print(f"[screenshot] {message}", file=sys.stderr, flush=True)


def shared_dir(arg: str | None) -> Path:
    """--shared, else $RTPOSE_SHARED, else ../shared beside the checkout (as the tests do)."""
    path = Path(arg or os.environ.get("RTPOSE_SHARED") or REPO.parent / "shared").expanduser().resolve()
    for rel in (DET_MODEL, POSE_MODEL, "tools/make_clip.py"):
        if not (path / rel).exists():
            sys.exit(f"error: {path / rel} not found: point --shared or RTPOSE_SHARED at the shared folder")
    return path


def make_clip(shared: Path, folder: Path, frames: int, people: int) -> Path:
    log(f"making a {frames}-frame clip of {people} people walking in {folder}")
    subprocess.run([sys.executable, str(shared / "tools/make_clip.py"), "--out", str(folder), "--frames", str(frames),
                    "--people", str(people), "--mode", "walk"], check=True, stdout=subprocess.DEVNULL)
    return folder / "clip.mp4"


def free_display() -> int:
    for n in range(99, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    sys.exit("error: no free X display number between :99 and :199")


def start_xvfb(size: str) -> subprocess.Popen:
    """Start Xvfb on a free display, point DISPLAY at it, and wait until it accepts clients."""
    if shutil.which("Xvfb") is None:
        sys.exit("error: no DISPLAY and no Xvfb: install it (apt-get install xvfb) or run under a desktop")
    n = free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"error: Xvfb :{n} did not start")
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"
    log(f"started Xvfb :{n} ({size})")
    return proc


def window_rect(title: str, frame: bool) -> tuple[int, int, int, int] | None:
    """Absolute x, y, w, h of the top-level window titled ``title`` (its WM frame included), via xwininfo."""
    if shutil.which("xwininfo") is None:
        return None
    args = ["xwininfo", "-name", title] + (["-frame"] if frame else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        return None
    fields = {}
    for key, pattern in (("x", r"Absolute upper-left X:\s+(-?\d+)"), ("y", r"Absolute upper-left Y:\s+(-?\d+)"),
                         ("w", r"Width:\s+(\d+)"), ("h", r"Height:\s+(\d+)")):
        match = re.search(pattern, done.stdout)
        if match is None:
            return None
        fields[key] = int(match.group(1))
    return fields["x"], fields["y"], fields["w"], fields["h"]


def grab_root(out: Path, title: str, crop: bool) -> None:
    """Grab the X root window (what is on screen), cropped to the window, as a PNG under MAX_PNG_BYTES."""
    if shutil.which("import") is None:
        raise RuntimeError("ImageMagick's `import` is needed for the grab: apt-get install imagemagick")
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_name(out.stem + ".raw.png")
    subprocess.run(["import", "-silent", "-window", "root", str(raw)], check=True, timeout=30)
    geometry = window_rect(title, frame=True) if crop else None
    if crop and geometry is None:
        log("window not found with xwininfo: keeping the whole screen")
    args = ["convert", str(raw)]
    if geometry is not None:
        x, y, w, h = geometry
        args += ["-crop", f"{w}x{h}+{max(0, x)}+{max(0, y)}", "+repage"]
    # A palette of 256 colours keeps a 1280x720 video frame well under the size limit and
    # is indistinguishable at a glance; text stays crisp (no dithering).
    for colours in (256, 128, 64):
        subprocess.run(args + ["-dither", "None", "-colors", str(colours), "-define", "png:compression-level=9",
                               f"PNG8:{out}"], check=True, timeout=60)
        if out.stat().st_size <= MAX_PNG_BYTES:
            break
    raw.unlink(missing_ok=True)
    log(f"saved {out} ({out.stat().st_size // 1024} KB{', window ' + 'x'.join(map(str, geometry[2:])) if geometry else ''})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, help="video to play (default: make one with make_clip.py)")
    parser.add_argument("--shared", help="the shared folder with models/ and tools/ (default: $RTPOSE_SHARED or ../shared)")
    parser.add_argument("--out", type=Path, default=REPO / "docs/window.png", help="PNG to write (default docs/window.png)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the graph plays before the grab")
    parser.add_argument("--frames", type=int, default=300, help="length of the made clip")
    parser.add_argument("--people", type=int, default=5, help="people in the made clip")
    parser.add_argument("--graph", type=Path, default=REPO / "graphs/webcam_body.yaml")
    parser.add_argument("--screen", default="1600x1000", help="Xvfb screen size when one is started")
    parser.add_argument("--no-crop", action="store_true", help="keep the whole screen, not just the window")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="extra graph overrides, as with rtpose run")
    args = parser.parse_args()

    shared = shared_dir(args.shared)
    xvfb = start_xvfb(args.screen) if not os.environ.get("DISPLAY") else None
    os.environ["QT_QPA_PLATFORM"] = "xcb"  # the real X window, never offscreen
    temp = tempfile.TemporaryDirectory(prefix="rtpose-shot-")
    try:
        clip = args.clip or make_clip(shared, Path(temp.name), args.frames, args.people)
        return run_and_grab(args, shared, clip.resolve())
    finally:
        temp.cleanup()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


def run_and_grab(args: argparse.Namespace, shared: Path, clip: Path) -> int:
    sys.path.insert(0, str(REPO))
    from rtpose.cli import prepare_graph
    from rtpose.runtime.scheduler import GraphRunner

    overrides = [f"detector.model={shared / DET_MODEL}", f"pose.model={shared / POSE_MODEL}",
                 "camera.realtime=true", "camera.loop=true"] + args.overrides
    graph = prepare_graph(args.graph, source=str(clip), overrides=overrides)
    display = next(name for name, entry in graph.nodes.items() if entry.cls.interactive)
    title = graph.nodes[display].params.title  # type: ignore[attr-defined]
    runner = GraphRunner(graph)
    failure: list[BaseException] = []

    def grab_then_stop() -> None:
        try:
            start = time.monotonic()
            while time.monotonic() - start < 60 and not runner.stopping:  # models load first
                window = getattr(runner.nodes.get(display), "window", None)
                if window is not None and window.shown_index is not None:
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("the window showed no frame within 60 s")
            log(f"window up; playing for {args.seconds:g} s")
            if runner._stop.wait(args.seconds):  # noqa: SLF001 - stopped early: the graph failed
                raise RuntimeError("the graph stopped before the grab")
            grab_root(args.out, title, crop=not args.no_crop)
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            failure.append(exc)
        finally:
            runner.stop()

    log(f"running {args.graph.name} on {clip}")
    threading.Thread(target=grab_then_stop, name="screenshot", daemon=True).start()
    result = runner.run()
    stats = runner.metrics.snapshot()
    for name, s in stats.items():
        log(f"  {name:9s} {s['frames_out']:4d} frames  {s['fps']:5.1f} fps  p50 {s['p50_ms']:6.2f} ms  "
            f"since capture {s['latency_p50_ms']:6.1f} ms  dropped {s['dropped']}")
    if result.error is not None:
        log(f"graph failed: {result.error}\n{result.error.traceback_text}")
    if failure:
        log(f"no screenshot: {failure[0]}")
        return 1
    log(f"graph stopped cleanly in {result.elapsed:.1f} s (exit code {result.exit_code})")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())

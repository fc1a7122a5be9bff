"""The real window on the real X11 path: Qt's xcb plugin under Xvfb, pixels read back from the X server.

Every other window test uses Qt's offscreen platform, which needs none of the system libraries
a desktop needs; this one fails where a user's window would (a missing libxcb-* aborts Qt).
CI installs Xvfb and those libraries (.ci/run), as the README's system-packages line says.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.viz.qt_libs import debian_package, missing_libraries, uses_xcb, xcb_problem

PLUGIN = (Path(__file__).parent / "plugins" / "synthetic.py").as_posix()
BACKGROUND_BGR = (40, 160, 40)

PROBE = """
import sys
from PyQt5.QtCore import QTimer
from rtpose.graph.build import load_graph
from rtpose.runtime.scheduler import GraphRunner
from rtpose.viz.window import ensure_app

runner = GraphRunner(load_graph(sys.argv[1]))
app = ensure_app()

def grab() -> None:
    app.primaryScreen().grabWindow(0).save(sys.argv[2])  # the X server's root window: what a user sees
    runner.stop()

QTimer.singleShot(int(float(sys.argv[3]) * 1000), grab)
result = runner.run()
print("exit", result.exit_code, result.error)
"""


def start_xvfb() -> tuple[subprocess.Popen, str]:
    n = next(n for n in range(120, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists()
             and not Path(f"/tmp/.X{n}-lock").exists())
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb :{n} did not start")
        time.sleep(0.05)
    return proc, f":{n}"


@pytest.mark.skipif(sys.platform != "linux", reason="the xcb platform is Linux's")
def test_window_shows_video_and_skeleton_on_the_x11_platform(tmp_path: Path) -> None:
    assert shutil.which("Xvfb"), "Xvfb is needed for this test (apt-get install xvfb; .ci/run installs it)"
    clip = tmp_path / "green.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    for _ in range(30):
        writer.write(np.full((360, 640, 3), BACKGROUND_BGR, np.uint8))
    writer.release()
    graph = tmp_path / "window.yaml"
    graph.write_text(f"""\
plugins: [{PLUGIN}]
nodes:
  - name: camera
    type: capture
    params: {{source: {clip.as_posix()}, loop: true, realtime: true}}
  - name: pose
    type: synthetic_poses
    inputs: {{image: camera.image}}
  - name: display
    type: display
    params: {{width: 640, height: 360}}
    inputs: {{image: camera.image, poses: pose.poses}}
""")
    xvfb, display = start_xvfb()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")} | {
            "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        assert xcb_problem(env) is None, xcb_problem(env)
        shot = tmp_path / "screen.png"
        done = subprocess.run([sys.executable, "-c", PROBE, str(graph), str(shot), "4"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "exit 0 None" in done.stdout, done.stdout + done.stderr
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    screen = cv2.imread(str(shot))
    assert screen is not None and screen.shape[:2] == (800, 1280)
    background = np.all(np.abs(screen.astype(int) - BACKGROUND_BGR) <= 12, axis=2)
    assert background.mean() > 0.1, "the video frame is not on the screen"
    ys, xs = np.nonzero(background)
    inside = screen[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    drawn = ~np.all(np.abs(inside.astype(int) - BACKGROUND_BGR) <= 12, axis=2)
    assert 0.005 < drawn.mean() < 0.6, "no skeleton drawn over the frame"


def test_missing_xcb_libraries_are_named_with_their_packages() -> None:
    ldd = ("\tlinux-vdso.so.1 (0x00007ffd)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxkbcommon-x11.so.0 => not found\n\tlibxcb.so.1 => /lib/libxcb.so.1 (0x7f)\n"
           "\tlibxcb-icccm.so.4 => not found\n")
    assert missing_libraries(ldd) == ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0"]
    assert [debian_package(lib) for lib in missing_libraries(ldd)] == ["libxcb-icccm4", "libxkbcommon-x11-0"]
    assert debian_package("libX11-xcb.so.1") == "libx11-xcb1"


def test_xcb_is_expected_only_where_qt_will_choose_it() -> None:
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert not uses_xcb({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"})
    assert uses_xcb({"DISPLAY": ":0"}) == sys.platform.startswith("linux")
    assert not uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})

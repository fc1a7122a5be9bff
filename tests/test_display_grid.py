"""The grid window (nodes/display_grid.py): two real streams in one window, a tile each.

Qt runs offscreen; the poses come from the shared test plugin (a fixed person per frame), so
the window is tested without models, in the real runtime with real capture nodes.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt

import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("PyQt5")

from PyQt5.QtCore import QTimer  # noqa: E402

from rtpose.graph.build import load_graph  # noqa: E402
from rtpose.runtime.scheduler import GraphRunner  # noqa: E402
from rtpose.viz import colors, window as win  # noqa: E402
from rtpose_nodes.display_grid import compose_grid, fit_tile, grid_shape  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLIP = "data/video/street_5frames.mp4"


def test_grid_shape_and_layout() -> None:
    assert [grid_shape(n) for n in (1, 2, 3, 4, 5, 9)] == [(1, 1), (2, 1), (2, 2), (2, 2), (3, 2), (3, 3)]
    red, blue = np.full((90, 160, 3), (0, 0, 255), np.uint8), np.full((90, 160, 3), (255, 0, 0), np.uint8)
    mosaic = compose_grid([red, None, blue], 320, 180)  # 2x2: red top left, nothing top right, blue bottom left
    assert (mosaic[45, 80] == (0, 0, 255)).all() and (mosaic[45, 240] == 0).all()
    assert (mosaic[135, 80] == (255, 0, 0)).all()
    tile = fit_tile(np.full((720, 1280, 3), 200, np.uint8), 160, 180)  # 16:9 into a taller cell: letterboxed
    assert tile.shape == (180, 160, 3) and tile[0, 80].max() == 0 and tile[90, 80].min() == 200


def test_two_streams_show_side_by_side_in_one_window(qapp, tmp_path: Path, shared: Path) -> None:
    camera = {"source": str(shared / CLIP), "loop": True, "realtime": True}
    nodes = []
    for k in (0, 1):
        nodes += [{"name": f"cam{k}", "type": "capture", "params": camera},
                  {"name": f"poser{k}", "type": "synthetic_poses", "inputs": {"image": f"cam{k}.image"}}]
    nodes += [{"name": "display0", "type": "display_grid", "inputs": {"image": "cam0.image", "poses": "poser0.poses"},
               "params": {"grid": "test", "width": 1280, "height": 360, "snapshot_dir": str(tmp_path)}},
              {"name": "display1", "type": "grid_tile", "inputs": {"image": "cam1.image", "poses": "poser1.poses"},
               "params": {"grid": "test"}}]
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"name": "grid_test", "plugins": [str(REPO / "tests/plugins/synthetic.py")],
                                    "nodes": nodes}, sort_keys=False))
    runner = GraphRunner(load_graph(path))
    shots: list[np.ndarray] = []

    def tick() -> None:
        window = getattr(runner.nodes.get("display0"), "window", None)
        if window is None or window.shown_index is None or window.shown_index < 8 or shots:
            return
        window.toggle_panel()  # the panel must not be what is found
        window.view.repaint()
        shots.append(win.qimage_to_bgr(window.view.grab().toImage()))
        runner.stop()

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    timer.start()
    watchdog = threading.Timer(30.0, runner.stop)
    watchdog.start()
    try:
        result = runner.run()
    finally:
        watchdog.cancel()
        timer.stop()
    assert result.error is None, result.error
    assert shots, "the grid window never showed 8 frames"
    shot = shots[0]
    rows = np.where(shot.std(axis=(1, 2)) > 0)[0]  # the letterboxed mosaic's rows
    mosaic = shot[rows.min():rows.max() + 1]
    person = np.array(colors.track_color(1))
    half = mosaic.shape[1] // 2
    for side in (mosaic[:, :half], mosaic[:, half:]):  # both streams: picture and skeleton in their own tile
        assert side.std() > 20, "a tile shows no picture"
        assert (np.abs(side.astype(int) - person).max(axis=2) <= 25).sum() > 50, "a tile has no overlay"

"""The 3D view: placing, turning and projecting skeletons, and the window's 3D panel (offscreen Qt)."""

from __future__ import annotations

import math
import os
import time

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rtpose.api import Poses  # noqa: E402
from rtpose.viz.view3d import place_people, project, turn, view_extent  # noqa: E402


def standing(height: float = 1.7) -> np.ndarray:
    """An h36m17 skeleton, pelvis at the origin, y down: feet at +0.9, head at -0.8."""
    pts = np.zeros((17, 3), np.float32)
    pts[[3, 6], 1] = 0.9
    pts[10, 1] = height - 0.9 - 1.7
    pts[[1, 2, 3], 0], pts[[4, 5, 6], 0] = -0.1, 0.1
    return pts


def test_people_stand_where_they_are_in_the_frame() -> None:
    both = place_people(np.stack([standing(), standing()]), np.array([[0, 0, 100, 400], [500, 0, 600, 400]]), 600)
    assert both[0, 0, 0] < 0 < both[1, 0, 0]  # left person left of centre, right person right
    np.testing.assert_allclose(both[:, :, 1], np.stack([standing(), standing()])[:, :, 1])


def test_turning_a_quarter_shows_the_side_and_tilting_shows_the_top() -> None:
    point = np.array([[1.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(turn(point, math.pi / 2, 0.0), [[0.0, 0.0, 1.0]], atol=1e-6)  # x goes into depth
    np.testing.assert_allclose(turn(np.array([[0, 0, 1.0]]), 0.0, math.pi / 2), [[0, 1.0, 0]], atol=1e-6)
    px = project(standing()[None], 0.0, 0.0, 200, view_extent(standing()))
    assert px[0, 10, 1] < px[0, 0, 1] < px[0, 3, 1]  # head above pelvis above feet on screen
    assert np.all((px >= 0) & (px <= 200))


def test_window_draws_a_3d_panel_that_turns_with_the_mouse(qtbot) -> None:
    from PyQt5.QtCore import QEvent, QPointF, Qt
    from PyQt5.QtGui import QMouseEvent
    from PyQt5.QtWidgets import QApplication

    from rtpose.viz import colors, window as win

    slot: win.LatestSlot[win.DisplayFrame] = win.LatestSlot()
    w = win.PoseWindow(slot, win.WindowOptions(width=900, height=600, show_panel=False))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    kps = np.zeros((1, 17, 3), np.float32)
    poses = Poses(boxes=[[200, 100, 400, 500]], scores=[0.9], class_ids=[0], track_ids=[4], keypoints=kps,
                  attributes={"keypoints_3d": standing()[None], "schema_3d": ["h36m17"]})
    slot.put(win.DisplayFrame(pixels=np.full((480, 640, 3), 40, np.uint8), poses=poses, index=0,
                              timestamp=time.monotonic(), received=time.monotonic(), people=1, pipeline_fps=None,
                              camera_fps=None, latency_ms=None, captured=time.monotonic()))
    qtbot.waitUntil(lambda: w.shown_index == 0, timeout=3000)
    rect = w.view.view3d_rect()

    def panel() -> np.ndarray:
        shot = win.qimage_to_bgr(w.view.grab().toImage())
        return shot[rect.y():rect.y() + rect.height(), rect.x():rect.x() + rect.width()]

    colour = np.array(colors.track_color(4))
    before = panel()
    drawn = (np.abs(before.astype(int) - colour).max(axis=2) <= 30)
    assert drawn.sum() > 50, "no skeleton in the 3D panel"
    centre = QPointF(rect.center())
    for kind, pos, button, buttons in ((QEvent.MouseButtonPress, centre, Qt.LeftButton, Qt.LeftButton),
                                       (QEvent.MouseMove, centre + QPointF(60, 0), Qt.NoButton, Qt.LeftButton),
                                       (QEvent.MouseButtonRelease, centre + QPointF(60, 0), Qt.LeftButton,
                                        Qt.NoButton)):
        QApplication.sendEvent(w.view, QMouseEvent(kind, pos, button, buttons, Qt.NoModifier))
    qtbot.wait(50)
    assert w.view.yaw == pytest.approx(0.6 + 60 * 0.01, abs=0.05)
    after = panel()
    assert (np.abs(after.astype(int) - colour).max(axis=2) <= 30).sum() > 50
    assert not np.array_equal(before, after), "dragging did not turn the view"

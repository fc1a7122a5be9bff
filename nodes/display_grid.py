"""``display_grid``: several streams in one window, as a grid of tiles, each with its own FPS.

A node's inputs come from one source (the runtime joins them by frame index), and a graph
has one window node, so a grid is one ``display_grid`` node (the window, and the tile of
its own stream) plus one ``grid_tile`` node per other stream, all naming the same ``grid``.
Each of them draws its frame's poses, shrinks the frame to its tile, writes the stream's
name, FPS and people on it and puts the whole mosaic in the window's latest-frame slot.
Drawing happens on the worker threads here, unlike ``display``: the mosaic is composed
from frames of several threads, and a tile is a fraction of a frame. Without the window
(``--headless`` drops it) the tiles draw nothing.
"""

from __future__ import annotations

import importlib
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
from pydantic import Field

from rtpose.api import Image, Node, Params, Poses, RtposeError, register_node
from rtpose.viz.overlay import draw_hud, draw_poses
from rtpose.viz.qt_libs import xcb_problem
from rtpose_nodes.display import RateMeter, _no_pyqt5, _pyqt5_available, screen_problem, user_media_dir


class GridTileParams(Params):
    grid: str = Field("grid", description="the display_grid and grid_tile nodes naming one grid share its window")
    kpt_threshold: float = Field(0.3, ge=0.0, le=1.0, description="hide joints scoring below this")


class DisplayGridParams(GridTileParams):
    title: str = Field("rtpose", description="window title")
    width: int = Field(1280, ge=160, le=16384, description="width of the whole grid")
    height: int = Field(720, ge=90, le=16384, description="height of the whole grid")
    snapshot_dir: str = Field(default_factory=lambda: str(user_media_dir("PICTURES")),
                              description="folder for s snapshots (PNG) of the grid")


def grid_shape(tiles: int) -> tuple[int, int]:
    """(columns, rows) of the most square grid holding ``tiles`` tiles: 2 -> 2x1, 4 -> 2x2, 5 -> 3x2."""
    columns = max(1, math.ceil(math.sqrt(tiles)))
    return columns, max(1, math.ceil(tiles / columns))


def compose_grid(tiles: list[np.ndarray | None], width: int, height: int) -> np.ndarray:
    """The tiles (each already at its cell size, or None: black) laid out row by row in one frame."""
    columns, rows = grid_shape(len(tiles))
    mosaic = np.zeros((height, width, 3), np.uint8)
    cell_w, cell_h = width // columns, height // rows
    for i, tile in enumerate(tiles):
        if tile is not None:
            y, x = (i // columns) * cell_h, (i % columns) * cell_w
            mosaic[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return mosaic


def fit_tile(pixels: np.ndarray, cell_w: int, cell_h: int) -> np.ndarray:
    """The frame shrunk to fit its cell, aspect kept (letterboxed onto black)."""
    h, w = pixels.shape[:2]
    scale = min(cell_w / w, cell_h / h)
    resized = cv2.resize(pixels, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    tile = np.zeros((cell_h, cell_w, 3), np.uint8)
    y, x = (cell_h - resized.shape[0]) // 2, (cell_w - resized.shape[1]) // 2
    tile[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return tile


@dataclass
class Grid:
    """What the nodes of one grid share: their names (the tiles' order), tiles and the window's slot."""

    size: tuple[int, int] = (1280, 720)
    names: list[str] = field(default_factory=list)
    tiles: dict[str, np.ndarray] = field(default_factory=dict)
    slot: Any = None
    window_module: Any = None
    frames: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_GRIDS: dict[str, Grid] = {}
_GRIDS_LOCK = threading.Lock()


def join_grid(name: str, node: str) -> Grid:
    """The grid called ``name``, with ``node`` among its tiles (tiles are in node-name order)."""
    with _GRIDS_LOCK:
        grid = _GRIDS.setdefault(name, Grid())
    with grid.lock:
        grid.names = sorted({*grid.names, node})
    return grid


def leave_grid(name: str, node: str) -> None:
    with _GRIDS_LOCK:
        grid = _GRIDS.get(name)
        if grid is None:
            return
        with grid.lock:
            grid.names = [n for n in grid.names if n != node]
            grid.tiles.pop(node, None)
            if not grid.names:
                del _GRIDS[name]


def put_tile(grid: Grid, node: str, stream: str, fps: float | None, image: Image, poses: Poses,
             kpt_threshold: float) -> None:
    """Draw one stream's frame into its tile and hand the window the grid (nothing without a window)."""
    with grid.lock:  # the window may close meanwhile: keep what was there when this frame came
        slot, window_module = grid.slot, grid.window_module
    if slot is None:
        return
    width, height = grid.size
    columns, rows = grid_shape(len(grid.names))
    tile = fit_tile(draw_poses(image.pixels, poses, kpt_threshold), width // columns, height // rows)
    label = f"{stream}  {fps:.1f} fps  {len(poses)} people" if fps else f"{stream}  {len(poses)} people"
    draw_hud(tile, [label])
    now = time.monotonic()
    with grid.lock:
        grid.tiles[node] = tile
        mosaic = compose_grid([grid.tiles.get(n) for n in grid.names], width, height)
        grid.frames += 1
        index = grid.frames
    slot.put(window_module.DisplayFrame(pixels=mosaic, index=index, timestamp=now, received=now, people=len(poses)))


class GridTile(Node):
    """Base of the grid nodes: one stream's tile, with the stream's FPS (registered as ``grid_tile``)."""

    inputs = {"image": Image, "poses": Poses}
    outputs: dict[str, type] = {}
    Params = GridTileParams

    def open(self) -> None:
        self.grid = join_grid(self.params.grid, self.name)
        self._rate = RateMeter()

    def process(self, image: Image, poses: Poses) -> dict:
        self._rate.tick(time.monotonic())
        stream = self.frame.source if self.frame is not None else self.name
        put_tile(self.grid, self.name, stream, self._rate.rate, image, poses, self.params.kpt_threshold)
        return {}

    def close(self) -> None:
        leave_grid(self.params.grid, self.name)


@register_node("display_grid")
class DisplayGrid(GridTile):
    """A window showing several streams as a grid: this node's stream and those of the grid's ``grid_tile`` nodes.

    Keys as in ``display``: q/Esc quit, space pause, s snapshot, f fullscreen, h panel.
    """

    interactive = True
    Params = DisplayGridParams

    window: Any = None

    def open(self) -> None:
        problem = screen_problem() or xcb_problem()
        if problem is not None:
            raise RtposeError(f"node {self.name!r}: {problem}")
        if threading.current_thread() is not threading.main_thread() and not _pyqt5_available():
            raise RtposeError(_no_pyqt5(self.name, "PyQt5 is not installed"))
        super().open()
        self.grid.size = (self.params.width, self.params.height)

    def ui_loop(self, should_stop: Callable[[], bool]) -> None:
        """Run the grid's window on the main thread until it is closed or ``should_stop()``."""
        p: DisplayGridParams = self.params  # type: ignore[assignment]
        try:
            window_module = importlib.import_module("rtpose.viz.window")
        except ImportError as exc:
            raise RtposeError(_no_pyqt5(self.name, exc)) from exc
        with self.grid.lock:
            self.grid.window_module, self.grid.slot = window_module, window_module.LatestSlot()
        options = window_module.WindowOptions(title=p.title, width=p.width, height=p.height,
                                              snapshot_dir=Path(p.snapshot_dir).expanduser(),
                                              kpt_threshold=p.kpt_threshold)

        def created(window: Any) -> None:
            self.window = window

        try:
            window_module.run_window(self.grid.slot, should_stop, options, self.graph_stats, on_created=created)
        finally:
            self.window = None
            with self.grid.lock:
                self.grid.slot = None

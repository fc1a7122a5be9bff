"""``grid_tile``: one more stream in a ``display_grid`` window (see nodes/display_grid.py)."""

from __future__ import annotations

from rtpose.api import register_node
from rtpose_nodes.display_grid import GridTile

register_node("grid_tile")(GridTile)

"""Frame continuity: photos stand alone, a looping video breaks at the wrap, and nodes with
memory are reset (with no fed-back value) at every break, through the real capture node."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from rtpose.graph.build import load_graph
from rtpose.plugins import get_node_type
from rtpose.runtime.scheduler import GraphRunner

PLUGIN = (Path(__file__).parent / "plugins" / "synthetic.py").as_posix()


def run_memory_graph(tmp_path: Path, capture_params: str) -> list[tuple[int, int, bool]]:
    path = tmp_path / "graph.yaml"
    path.write_text(f"""\
plugins: [{PLUGIN}]
nodes:
  - name: camera
    type: capture
    params: {capture_params}
  - name: memory
    type: synthetic_memory
    inputs: {{image: camera.image, previous: {{from: echo.image, back_edge: true}}}}
  - name: echo
    type: synthetic_optional
    inputs: {{image: memory.image}}
""")
    result = GraphRunner(load_graph(path), max_frames=12).run()
    assert result.exit_code == 0, result.error
    return get_node_type("synthetic_memory").seen["memory"]


def test_every_photo_of_a_folder_is_its_own_segment(tmp_path: Path, shared: Path) -> None:
    folder = tmp_path / "photos"
    shutil.copytree(shared / "data" / "coco", folder, ignore=shutil.ignore_patterns("*.json"))
    seen = run_memory_graph(tmp_path, f"{{source: {folder.as_posix()}}}")
    assert len(seen) == 4
    assert [segment for segment, _, _ in seen] == [1, 2, 3, 4]
    assert all(count == 1 and not fed_back for _, count, fed_back in seen), seen


def test_a_looping_video_starts_a_new_segment_at_the_wrap(tmp_path: Path) -> None:
    clip = tmp_path / "five.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    seen = run_memory_graph(tmp_path, f"{{source: {clip.as_posix()}, loop: true}}")
    assert [s for s, _, _ in seen] == [0] * 5 + [1] * 5 + [2] * 2
    assert [c for _, c, _ in seen] == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]
    # the value fed back on the first frame of a segment would belong to the previous one
    assert [f for _, _, f in seen] == [False, True, True, True, True] * 2 + [False, True]

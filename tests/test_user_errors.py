"""Expected user errors, from the real command: a few lines that say what is wrong and what to do,
no traceback unless ``-v``, and the exit codes the README documents (1 a node failed, 2 a bad graph,
option or output path). Output paths are checked before anything starts."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "tests" / "graphs" / "pipeline.yaml"
SYNTHETIC = (REPO / "tests" / "plugins" / "synthetic.py").as_posix()
RTPOSE = [sys.executable, "-m", "rtpose.cli"]
ENV = {**os.environ, "COLUMNS": "200"}


def rtpose(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(RTPOSE + list(args), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=ENV)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_a_set_value_that_is_not_yaml_is_one_line_and_exit_2() -> None:
    result = rtpose("run", str(PIPELINE), "--set", "work.work_s=[1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [
        "error: --set 'work.work_s=[1': the value is not valid YAML (expected ',' or ']', but got '<stream end>'); "
        "to pass it as text, quote it: --set 'work.work_s=\"[1\"'"]


def test_a_missing_file_is_one_line_and_its_traceback_only_with_verbose(tmp_path: Path) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - {name: cam, type: capture, params: {source: 0}}\n")
    quiet = rtpose("run", str(graph), "--source", str(tmp_path / "nope.mp4"), "--quiet")
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert error_lines(quiet.stderr) == [f"error: node 'cam' failed: video file {tmp_path / 'nope.mp4'} does not exist"]
    verbose = rtpose("-v", "run", str(graph), "--source", str(tmp_path / "nope.mp4"), "--quiet")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr and "nope.mp4" in verbose.stderr


def test_bad_graphs_exit_2_in_every_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - name: camera\n    type: captur\n")
    for command in (["validate"], ["graph"], ["run"]):
        result = rtpose(*command, str(bad))
        assert result.returncode == 2, (command, result.stderr)
        assert f"{bad}:3: node 'camera': unknown node type 'captur'" in result.stderr
    assert rtpose("nodes", "show", "detcet").returncode == 2


def test_unwritable_outputs_are_refused_before_the_graph_starts(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for option in ("--metrics", "--trace", "--export"):
        started = time.monotonic()
        result = rtpose("run", str(PIPELINE), "--set", "source.frames=0", option, str(blocker / "out.json"))
        # the graph is endless: only a check before it starts can end the command
        assert result.returncode == 2 and time.monotonic() - started < 60, (option, result.stderr)
        assert "cannot write" in result.stderr and f"{blocker} is a file, not a folder" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_missing_output_folder_is_created(tmp_path: Path) -> None:
    metrics, trace = tmp_path / "new" / "m.json", tmp_path / "other" / "t.json"
    result = rtpose("run", str(PIPELINE), "--metrics", str(metrics), "--trace", str(trace), "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads(metrics.read_text())["nodes"]["sink"]["frames_out"] == 50 and trace.exists()


def test_a_full_disk_names_the_file(tmp_path: Path) -> None:
    graph = tmp_path / "g.yaml"
    graph.write_text(f"""\
plugins: [{SYNTHETIC}]
nodes:
  - {{name: source, type: synthetic_source, params: {{frames: 20}}}}
  - {{name: people, type: synthetic_poses, inputs: {{image: source.image}}}}
  - name: keypoints
    type: export_keypoints
    inputs: {{image: source.image, poses: people.poses}}
    params: {{path: /dev/full, format: jsonl}}  # every write fails with ENOSPC, as on a full disk
""")
    result = rtpose("run", str(graph), "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [
        "error: node 'keypoints' failed: cannot write /dev/full: No space left on device"]


def giant_png(path: Path, side: int = 40_000) -> None:
    """A valid PNG header for a side x side (1.6 gigapixel) image: what a user's panorama looks like to OpenCV."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_a_gigapixel_image_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    giant_png(folder / "panorama.png")
    graph = tmp_path / "g.yaml"
    graph.write_text(f"nodes:\n  - {{name: cam, type: capture, params: {{source: {folder}, on_error: stop}}}}\n")
    result = rtpose("run", str(graph), "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"image {folder / 'panorama.png'} has more than OpenCV's limit of 1073741824 pixels" in result.stderr


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nnodes: *i\n")
    assert bomb.stat().st_size < 1000
    started = time.monotonic()
    result = rtpose("validate", str(bomb))
    assert result.returncode == 2 and time.monotonic() - started < 60
    assert "aliases (*name) expand to more than 100000 values" in result.stderr
    assert len(result.stdout) + len(result.stderr) < 1000


def test_no_plugins_checks_a_graph_without_running_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('plugin code ran')\n")
    graph = tmp_path / "g.yaml"
    graph.write_text("plugins: [evil.py]\nnodes:\n  - {name: cam, type: capture}\n  - {name: x, type: evil_node, "
                     "inputs: {image: cam.image}}\n")
    for command in (["validate", "--no-plugins"], ["graph", "--no-plugins"]):
        result = rtpose(*command, str(graph))
        assert result.returncode == 2 and not marker.exists(), result.stderr
        assert "unknown node type 'evil_node' (it may come from the plugins not loaded with --no-plugins: evil.py)" \
            in result.stderr
    rtpose("validate", str(graph))
    assert marker.read_text() == "plugin code ran"  # without the option, plugins: is code that runs

"""The wheel and the plugin mechanisms, installed for real into fresh environments."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN_DIR = REPO / "examples" / "joint-angles-plugin"
STANDARD_TYPES = ("capture", "detect", "track", "pose", "smooth", "display", "record", "export_keypoints",
                  "joint_angles", "count_reps")


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def fresh_venv(path: Path) -> Path:
    """A new venv that sees this environment's third-party packages but not its rtpose.

    The dependencies (numpy, OpenCV, ...) come from a plain path entry, which Python does
    not scan for .pth files, so the editable install of the checkout stays invisible.
    """
    venv.create(path, with_pip=False)
    python = path / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (Path(purelib) / "deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    return python


def pip_install(python: Path, target: str) -> None:
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-build-isolation",
         "--quiet", target])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)])
    (wheel_path,) = out.glob("rtpose-*.whl")
    return wheel_path


def test_wheel_installs_package_nodes_and_command(wheel: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, str(wheel))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = run([str(python), "-c", "import rtpose, rtpose_nodes; print(rtpose.__file__)"], cwd=tmp_path, env=env)
    assert str(tmp_path / "venv") in where.stdout  # the installed copy, not the checkout
    listed = run([str(tmp_path / "venv" / "bin" / "rtpose"), "nodes", "list"], cwd=tmp_path, env=env)
    for node_type in STANDARD_TYPES:
        assert node_type in listed.stdout


def test_plugin_by_path_in_a_graph(tmp_path: Path, shared: Path) -> None:
    graph = tmp_path / "curls.yaml"
    graph.write_text(f"""\
plugins: [{(PLUGIN_DIR / 'rtpose_curls.py').as_posix()}, {(REPO / 'tests' / 'plugins' / 'synthetic.py').as_posix()}]
nodes:
  - {{name: camera, type: capture, params: {{source: {shared / 'data' / 'video' / 'street_5frames.mp4'}}}}}
  - {{name: people, type: synthetic_poses, inputs: {{image: camera.image}}}}
  - {{name: curls, type: count_curls, inputs: {{poses: people.poses}}}}
""")
    run([sys.executable, "-m", "rtpose.cli", "run", str(graph), "--quiet", "--export", str(tmp_path / "out.jsonl")],
        cwd=tmp_path)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) == 5  # the plugin's per-person attributes reach the export without any change there
    assert all(r["people"][0]["curls"] == {"left": 0, "right": 0} for r in records)
    assert records[0]["people"][0]["caption"] == "curls L0 R0"


def test_plugin_by_entry_point_of_an_installed_package(tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, str(REPO))
    pip_install(python, str(PLUGIN_DIR))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    shown = run([str(tmp_path / "venv" / "bin" / "rtpose"), "nodes", "show", "count_curls"], cwd=tmp_path, env=env)
    assert "rtpose_curls.CountCurls" in shown.stdout and "low" in shown.stdout
    code = ("from rtpose.plugins import node_types; import json; "
            "print(json.dumps({k: v.__module__ for k, v in node_types().items()}))")
    modules = json.loads(run([str(python), "-c", code], cwd=tmp_path, env=env).stdout)
    assert modules["count_curls"] == "rtpose_curls" and modules["detect"] == "rtpose_nodes.detect"
    assert modules["count_reps"] == "rtpose_nodes.count_reps"


def test_the_plugins_own_test_passes_as_its_tutorial_runs_it() -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_curls.py"],
                            cwd=PLUGIN_DIR, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr

"""benchmarks/gpu_check.py, run as CI runs it (``--cpu``: the same steps, small sizes): every step
runs and the report says what ran and what was skipped and why."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None,
                                reason="onnx2torch not installed: pip install 'rtpose[torch]'")


def test_gpu_check_runs_on_the_cpu(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--cpu", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["machine"]["mode"].startswith("--cpu") and report["tests"]["ok"]
    eager = [r for r in report["hrnet"] if r["backend"].startswith("torch fp32 eager")]
    assert [r["batch"] for r in eager] == [1, 2] and all(r["ms_per_person"] > 0 for r in eager)
    assert {r["backend"]: r["skipped"] for r in report["hrnet"] if "skipped" in r}["torch fp16 CUDA graphs"] == "needs CUDA"
    converts = {Path(r["model"]).stem: r["converts"] for r in report["families"]}
    assert converts.pop("movenet_multipose") is False and all(converts.values()) and len(converts) == 7
    assert all(r["max_rel_diff"] < 1e-2 for r in report["families"] if r["converts"])
    graph = report["graph"]
    assert graph["fps"] > 0 and graph["decode_only_fps"] > graph["fps"]
    assert {"detector", "pose", "tracker"} <= set(graph["nodes"]) and graph["capture_to_output_p50_ms"] > 0
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| torch fp32 eager cpu | 1 |" in table and "skipped: needs CUDA" in table and "decode only" in table

"""One offline command that checks and measures the GPU path on a machine with an NVIDIA GPU and torch.

    python benchmarks/gpu_check.py --out gpu_check/         # on the GPU machine (< 8 minutes)
    python benchmarks/gpu_check.py --cpu --out /tmp/check/  # the same steps, small, on a CPU (CI)

Needs nothing beyond the project's own install (``pip install -e ".[dev]"``: torch, onnx2torch)
and ../shared (or $RTPOSE_SHARED); TensorRT rows appear when ``import tensorrt`` works. Steps:

1. the GPU tests (``pytest -m gpu`` on tests/test_gpu.py; on ``--cpu`` the same file, whose GPU
   tests then skip with their reason);
2. HRNet-W32 256x192 (random weights) per-person cost: torch fp32 eager against fp16 batched with
   CUDA graphs, at batch 1, 4 and 16 (TensorRT fp16 too when importable);
3. every shared ONNX model family on torch (onnx2torch): converts?, max difference against ONNX
   Runtime, and on CUDA whether fp16 kept it within the torch backend's tolerance;
4. the whole body graph (graphs/webcam_body.yaml, YOLOX-Nano + HRNet-W32 random weights) on torch
   CUDA over a 1280x720 5-person make_clip clip: FPS, per-node p50/p99, capture-to-output latency,
   and the rate at which the same clip merely decodes (the ceiling any graph has).

Writes ``gpu_check.json`` and ``gpu_check.md`` (the tables) into ``--out``. A step that cannot
run here is a row saying "skipped: reason", never a number.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, cached_clip, shared_dir  # noqa: E402
from _models import FAMILIES  # noqa: E402
from _run import run_timed  # noqa: E402

from rtpose.engines import tensorrt_available  # noqa: E402


def sizes(cpu: bool) -> dict[str, Any]:
    """What each step runs: full on a GPU, small enough for a 2-core CI box with --cpu."""
    if cpu:
        return {"batches": (1, 2), "iters": 3, "frames": 12, "people": 2, "width": 640, "height": 360}
    return {"batches": (1, 4, 16), "iters": 30, "frames": 300, "people": 5, "width": 1280, "height": 720}


def timed(fn: Callable[[], object], iters: int, sync: Callable[[], None]) -> float:
    """Median seconds of ``iters`` calls after two warm-up calls."""
    for _ in range(2):
        fn()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ------------------------------------------------------------------------------- 1. tests

def run_tests(cpu: bool, budget_s: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_gpu.py"]
    if not cpu:
        cmd += ["tests/test_onnx_torch.py", "-m", "gpu or not slow"]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=budget_s)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(cmd[2:]), "summary": f"timed out after {budget_s:.0f} s", "ok": False}
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return {"command": " ".join(cmd[2:]), "summary": lines[-1] if lines else done.stderr[-300:],
            "ok": done.returncode == 0, "seconds": round(time.perf_counter() - start, 1)}


# ------------------------------------------------------------------------------- 2. HRNet per person

def hrnet_rows(cuda: bool, tensorrt: bool, size: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    import torch

    from rtpose.models.hrnet import export_onnx, hrnet_w32

    torch.manual_seed(0)
    model = hrnet_w32().eval()
    device = "cuda" if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rows = []
    eager = model.to(device)
    for batch in size["batches"]:
        x = torch.randn(batch, 3, 256, 192, device=device)
        with torch.inference_mode():
            seconds = timed(lambda: eager(x).float().cpu(), size["iters"], sync)
        rows.append({"backend": f"torch fp32 eager {device}", "batch": batch, "ms": 1000 * seconds,
                     "ms_per_person": 1000 * seconds / batch})
    if cuda:
        from rtpose.models.gpu_preprocess import GraphedModel

        graphed = GraphedModel(copy.deepcopy(model), (3, 256, 192), buckets=size["batches"], dtype=torch.float16)
        for batch in size["batches"]:
            x = torch.randn(batch, 3, 256, 192, device="cuda", dtype=torch.float16)
            x = x.contiguous(memory_format=torch.channels_last)
            seconds = timed(lambda: graphed(x).float().cpu(), size["iters"], sync)
            rows.append({"backend": "torch fp16 CUDA graphs", "batch": batch, "ms": 1000 * seconds,
                         "ms_per_person": 1000 * seconds / batch})
    else:
        rows.append({"backend": "torch fp16 CUDA graphs", "skipped": "needs CUDA"})
    if tensorrt and cuda:
        from rtpose.backends.tensorrt import TensorRTBackend

        onnx_path = workdir / "hrnet_w32_random.onnx"
        export_onnx(model.cpu(), onnx_path, input_size=(192, 256))
        engine = TensorRTBackend(onnx_path, precision="fp16", max_batch=max(size["batches"]))
        for batch in size["batches"]:
            x = np.random.default_rng(0).standard_normal((batch, 3, 256, 192)).astype(np.float32)
            seconds = timed(lambda: engine.run(x), size["iters"], sync)
            rows.append({"backend": "tensorrt fp16", "batch": batch, "ms": 1000 * seconds,
                         "ms_per_person": 1000 * seconds / batch})
    else:
        rows.append({"backend": "tensorrt fp16", "skipped": "TensorRT not importable" if not tensorrt else "needs CUDA"})
    base = {r["batch"]: r["ms_per_person"] for r in rows if r["backend"].startswith("torch fp32") and "ms" in r}
    for row in rows:
        if "ms" in row and base.get(row["batch"]):
            row["speedup_vs_fp32_eager"] = base[row["batch"]] / row["ms_per_person"]
    return rows


# ------------------------------------------------------------------------------- 3. model families

def family_rows(cuda: bool) -> list[dict[str, Any]]:
    from rtpose.backends.base import open_backend
    from rtpose.errors import ModelError

    rows = []
    for file, shape, scale in FAMILIES:
        path = shared_dir() / "models" / file
        row: dict[str, Any] = {"model": file}
        try:
            reference = open_backend(path, backend="onnxruntime", device="cpu", threads=1)
            x = np.random.default_rng(0).uniform(0, scale, shape).astype(
                np.int32 if "movenet_multipose" in file else np.float32)
            expected = reference.run(x)
            backend = open_backend(path, backend="torch", device="cuda" if cuda else "cpu")  # fp16 if it keeps the outputs
            got = backend.run(x)
            row.update(converts=True, device=backend.device, dtype=str(backend.dtype).replace("torch.", ""),
                       max_rel_diff=max(float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-6))
                                        for g, e in zip(got, expected)))
        except ModelError as exc:
            row.update(converts=False, why=str(exc).splitlines()[0][:200])
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------- 4. the body graph

def decode_rate(clip: Path) -> float:
    """Frames per second at which OpenCV merely decodes the clip (what capture alone allows)."""
    cap = cv2.VideoCapture(str(clip))
    frames, start = 0, time.perf_counter()
    while cap.read()[0]:
        frames += 1
    cap.release()
    return frames / (time.perf_counter() - start)


def graph_run(cuda: bool, size: dict[str, Any], workdir: Path) -> dict[str, Any]:
    import torch

    from rtpose.cli import prepare_graph
    from rtpose.models.hrnet import export_onnx, hrnet_w32

    torch.manual_seed(0)
    hrnet = workdir / "hrnet_w32_random.onnx"
    if not hrnet.is_file():
        export_onnx(hrnet_w32().eval(), hrnet, input_size=(192, 256))
    clip = cached_clip(size["frames"], size["people"], "walk", size["width"], size["height"]) / "clip.mp4"
    device = "cuda" if cuda else "cpu"
    overrides = [f"detector.model={shared_dir() / 'models/det/yolox_nano_416x416.onnx'}", f"pose.model={hrnet}",
                 "detector.backend=torch", f"detector.device={device}", "pose.backend=torch", f"pose.device={device}"]
    graph = prepare_graph(REPO / "graphs" / "webcam_body.yaml", source=str(clip), overrides=overrides, headless=True)
    run = run_timed(graph)
    stats = run.runner.metrics.snapshot()
    sink = min(graph.sinks(), key=lambda s: stats[s]["frames_out"])
    frames = stats[sink]["frames_out"]
    return {"clip": f"{size['width']}x{size['height']}, {size['people']} people walking, {frames} frames",
            "device": device, "fps": frames / run.wall_s, "decode_only_fps": decode_rate(clip),
            "capture_to_output_p50_ms": stats[sink]["latency_p50_ms"],
            "capture_to_output_p99_ms": stats[sink]["latency_p99_ms"],
            "nodes": {name: {k: s[k] for k in ("fps", "p50_ms", "p99_ms", "latency_p50_ms", "latency_p99_ms")}
                      for name, s in stats.items()}}


# ------------------------------------------------------------------------------- report

def markdown(report: dict[str, Any]) -> str:
    lines = [f"# gpu_check ({report['machine']['device']}, {report['machine']['mode']})", "",
             f"- machine: {report['machine']}", f"- tests: `{report['tests'].get('command', '')}`: "
             f"{report['tests'].get('summary', report['tests'].get('skipped', ''))}", "",
             "## HRNet-W32 256x192 (random weights), per person", "",
             "| backend | batch | ms per batch | ms per person | vs fp32 eager |", "|---|---|---|---|---|"]
    for r in report["hrnet"]:
        if "skipped" in r:
            lines.append(f"| {r['backend']} | | skipped: {r['skipped']} | | |")
        else:
            lines.append(f"| {r['backend']} | {r['batch']} | {r['ms']:.2f} | {r['ms_per_person']:.2f} | "
                         f"{r.get('speedup_vs_fp32_eager', 0):.2f}x |")
    lines += ["", "## ONNX model families on torch (onnx2torch) vs ONNX Runtime", "",
              "| model | converts | device | dtype | max diff / max abs |", "|---|---|---|---|---|"]
    for r in report["families"]:
        if r["converts"]:
            lines.append(f"| {r['model']} | yes | {r['device']} | {r['dtype']} | {r['max_rel_diff']:.2e} |")
        else:
            lines.append(f"| {r['model']} | no: {r['why']} | | | |")
    g = report["graph"]
    lines += ["", f"## Body graph on torch {g.get('device', '')}: {g.get('clip', g.get('skipped', ''))}", ""]
    if "fps" in g:
        lines += [f"- FPS {g['fps']:.1f} (decode only: {g['decode_only_fps']:.1f} FPS)",
                  f"- capture to output p50 {g['capture_to_output_p50_ms']:.1f} ms, "
                  f"p99 {g['capture_to_output_p99_ms']:.1f} ms", "",
                  "| node | FPS | p50 ms | p99 ms | since capture p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
        for name, s in g["nodes"].items():
            lines.append(f"| {name} | {s['fps']:.1f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                         f"{s['latency_p50_ms']:.1f} | {s['latency_p99_ms']:.1f} |")
    lines.append(f"\ntotal {report['seconds']:.0f} s")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU with small sizes (CI)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check"), help="folder for gpu_check.json/.md")
    parser.add_argument("--no-tests", action="store_true", help="skip step 1 (the test run)")
    args = parser.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available() and not args.cpu
    if not args.cpu and not cuda:
        parser.error("torch sees no CUDA GPU: run with --cpu for the small CPU version")
    tensorrt = tensorrt_available()
    size = sizes(args.cpu)
    start = time.perf_counter()
    report: dict[str, Any] = {"machine": {
        "mode": "--cpu (small sizes)" if args.cpu else "full", "python": platform.python_version(),
        "torch": torch.__version__, "device": torch.cuda.get_device_name(0) if cuda else "CPU",
        "cpus": os.cpu_count(), "tensorrt": tensorrt}}
    report["tests"] = {"skipped": "--no-tests"} if args.no_tests else run_tests(args.cpu, budget_s=240)
    with tempfile.TemporaryDirectory() as tmp:
        report["hrnet"] = hrnet_rows(cuda, tensorrt, size, Path(tmp))
        report["families"] = family_rows(cuda)
        report["graph"] = graph_run(cuda, size, Path(tmp))
    report["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    (args.out / "gpu_check.md").write_text(table)
    print(table)
    return report


if __name__ == "__main__":
    main()

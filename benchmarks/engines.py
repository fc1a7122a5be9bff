"""Latency and throughput of HRNet-W32 256x192 (random weights) and YOLOX-Nano on every backend here.

    python benchmarks/engines.py                    # rich table
    python benchmarks/engines.py --json out.json --plot out.png

Backends: ONNX Runtime CPU (the baseline: it is everywhere), torch fp32 eager, and on a GPU
torch fp16 + CUDA graphs, ONNX Runtime CUDA and TensorRT fp16. Each row's speed-up is against
the baseline measured in the same process for the same model and batch. A backend that
cannot run here prints "skipped: reason" rather than a number.

Timing: one warm-up call, then calls until ``--budget`` seconds or ``--max-iters`` (at least
``--min-iters``); latency is the median, throughput = batch / median. CUDA timings synchronise
before the clock stops.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rtpose.errors import RtposeError  # noqa: E402

console = Console()
BASELINE = "onnxruntime cpu"


@dataclass
class Result:
    model: str
    batch: int
    backend: str
    latency_ms: float | None = None
    throughput: float | None = None  # images (crops or frames) per second
    iters: int = 0
    speedup: float | None = None
    skipped: str | None = None


class Skip(Exception):
    """A backend that cannot run here; the message is the reason."""


def measure(fn: Callable[[], object], budget_s: float, min_iters: int, max_iters: int,
            sync: Callable[[], None] = lambda: None) -> list[float]:
    """Seconds per call after one warm-up call."""
    fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_iters or (time.perf_counter() - start < budget_s and len(times) < max_iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


# ------------------------------------------------------------------ runners: (batch) -> zero-arg callable

def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def ort_runner(onnx_path: Path, device: str) -> Callable[[np.ndarray], Callable[[], object]]:
    from rtpose.backends.onnxruntime import OnnxRuntimeBackend, choose_providers

    if device == "cuda":
        try:
            choose_providers("cuda")
        except RtposeError as exc:
            raise Skip("onnxruntime has no CUDAExecutionProvider here") from exc
    backend = OnnxRuntimeBackend(onnx_path, device=device)
    return lambda x: (lambda: backend.run(x))


def torch_eager_runner(module: object) -> Callable[[np.ndarray], Callable[[], object]]:
    from rtpose.backends.torch import TorchBackend

    backend = TorchBackend(module, device="cuda" if _cuda() else "cpu")
    return lambda x: (lambda: backend.run(x))


def torch_onnx_runner(onnx_path: Path) -> Callable[[np.ndarray], Callable[[], object]]:
    """An ONNX file on torch (converted by onnx2torch), float32, CUDA when there is one."""
    from rtpose.backends.torch import TorchBackend

    backend = TorchBackend.from_onnx(onnx_path, device="cuda" if _cuda() else "cpu", fp16=False)
    return lambda x: (lambda: backend.run(x))


def torch_graphs_runner(module: object) -> Callable[[np.ndarray], Callable[[], object]]:
    if not _cuda():
        raise Skip("needs CUDA (torch.cuda.is_available() is False)")
    import torch

    from rtpose.models.gpu_preprocess import GraphedModel

    graphed = GraphedModel(module, (3, 256, 192), buckets=(1, 4, 16), dtype=torch.float16)

    def prepare(x: np.ndarray) -> Callable[[], object]:
        batch = torch.from_numpy(x).cuda().half().contiguous(memory_format=torch.channels_last)
        return lambda: graphed(batch).float().cpu()  # include the copy back, like the other rows

    return prepare


def tensorrt_runner(onnx_path: Path, max_batch: int) -> Callable[[np.ndarray], Callable[[], object]]:
    from rtpose import engines

    if not engines.tensorrt_available():
        raise Skip("TensorRT not installed")
    if not _cuda():
        raise Skip("needs CUDA (torch.cuda.is_available() is False)")
    from rtpose.backends.tensorrt import TensorRTBackend

    backend = TensorRTBackend(onnx_path, precision="fp16", max_batch=max_batch)  # $RTPOSE_HOME/engines
    return lambda x: (lambda: backend.run(x))


# ------------------------------------------------------------------ models

def hrnet_onnx(workdir: Path) -> tuple[object, Path]:
    """HRNet-W32 with random (seeded) weights, and its ONNX export (dynamic batch)."""
    import torch

    from rtpose.models.hrnet import export_onnx, hrnet_w32

    torch.manual_seed(0)
    model = hrnet_w32()
    path = workdir / "hrnet_w32_256x192_random.onnx"
    export_onnx(model, path, input_size=(192, 256))
    return model, path


def yolox_onnx() -> Path | None:
    """The shared YOLOX-Nano, else a registry-cached one; None if neither is here."""
    shared = Path(os.environ.get("RTPOSE_SHARED", REPO.parent / "shared"))
    path = shared / "models/det/yolox_nano_416x416.onnx"
    if path.is_file():
        return path
    from rtpose.models import registry

    return registry.cached("yolox_nano")


def run_case(results: list[Result], model: str, batch: int, backend: str,
             make: Callable[[], Callable[[np.ndarray], Callable[[], object]]] | None,
             x: np.ndarray, opts: dict, skip: str | None = None) -> None:
    """Measure one (model, batch, backend) row, or record why it was skipped."""
    row = Result(model, batch, backend)
    try:
        if skip or make is None:
            raise Skip(skip or "not available")
        import torch

        sync = torch.cuda.synchronize if _cuda() and "cpu" not in backend else (lambda: None)
        times = measure(make()(x), opts["budget"], opts["min_iters"], opts["max_iters"], sync)
        row.latency_ms = 1000 * statistics.median(times)
        row.throughput = batch / statistics.median(times)
        row.iters = len(times)
    except Skip as exc:
        row.skipped = str(exc)
    results.append(row)
    shown = f"{row.latency_ms:.1f} ms" if row.latency_ms else f"skipped: {row.skipped}"
    console.log(f"{model} b{batch} {backend}: {shown}", highlight=False)


def add_speedups(results: list[Result]) -> None:
    """Speed-up = baseline latency / latency, for the same model and batch."""
    base = {(r.model, r.batch): r.latency_ms for r in results if r.backend == BASELINE and r.latency_ms}
    fallback = {(r.model, r.batch): r.latency_ms for r in results
                if r.backend == "torch fp32 eager" and r.latency_ms}
    for r in results:
        ref = base.get((r.model, r.batch)) or fallback.get((r.model, r.batch))
        if ref and r.latency_ms:
            r.speedup = ref / r.latency_ms


def table(results: list[Result]) -> Table:
    out = Table(title=f"engines benchmark ({'CUDA' if _cuda() else 'CPU only'}, {os.cpu_count()} CPUs)")
    for column in ("model", "batch", "backend", "latency ms", "images/s", "speed-up", "iters"):
        out.add_column(column, justify="right" if column not in ("model", "backend") else "left")
    for r in results:
        if not r.skipped:
            out.add_row(r.model, str(r.batch), r.backend, f"{r.latency_ms:.1f}", f"{r.throughput:.2f}",
                        f"{r.speedup:.2f}x" if r.speedup else "", str(r.iters))
    return out


def skipped_lines(results: list[Result]) -> list[str]:
    """One "skipped: reason" line per backend that could not run (deduplicated across batches)."""
    seen: dict[tuple[str, str], str] = {}
    for r in results:
        if r.skipped:
            seen.setdefault((r.model, r.backend), r.skipped)
    return [f"{model} {backend}: skipped: {reason}" for (model, backend), reason in seen.items()]


def plot(results: list[Result], path: Path) -> None:
    """Throughput per backend, one group per model/batch (needs matplotlib: the plot extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.throughput]
    cases = sorted({(r.model, r.batch) for r in rows}, key=lambda c: (c[0], c[1]))
    backends = sorted({r.backend for r in rows})
    width = 0.8 / max(1, len(backends))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(cases)), 4))
    for i, name in enumerate(backends):
        values = [next((r.throughput for r in rows if (r.model, r.batch) == c and r.backend == name), 0)
                  for c in cases]
        ax.bar([j + i * width for j in range(len(cases))], values, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cases))], [f"{m}\nb{b}" for m, b in cases])
    ax.set_ylabel("images / s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(
    batches: str = typer.Option("1,4,16", help="HRNet batch sizes, comma separated."),
    budget: float = typer.Option(2.0, help="Seconds of timed calls per row (after one warm-up)."),
    min_iters: int = typer.Option(1, help="At least this many timed calls per row (CPU batch 16: ~10 s each)."),
    max_iters: int = typer.Option(200, help="At most this many timed calls per row."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the rows as JSON."),
    plot_out: Optional[Path] = typer.Option(None, "--plot", help="Write a throughput bar chart (PNG)."),
) -> None:
    """Run every model x batch x backend row and print the table."""
    opts = {"budget": budget, "min_iters": min_iters, "max_iters": max_iters}
    results: list[Result] = []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        module, onnx_path = hrnet_onnx(Path(tmp))
        for batch in [int(b) for b in batches.split(",")]:
            x = rng.standard_normal((batch, 3, 256, 192)).astype(np.float32)
            run_case(results, "hrnet_w32", batch, BASELINE, lambda: ort_runner(onnx_path, "cpu"), x, opts)
            run_case(results, "hrnet_w32", batch, "torch fp32 eager", lambda: torch_eager_runner(module), x, opts)
            run_case(results, "hrnet_w32", batch, "torch fp16 cuda graphs", lambda: torch_graphs_runner(module), x, opts)
            run_case(results, "hrnet_w32", batch, "onnxruntime cuda", lambda: ort_runner(onnx_path, "cuda"), x, opts)
            run_case(results, "hrnet_w32", batch, "tensorrt fp16", lambda: tensorrt_runner(onnx_path, 32), x, opts)
    yolox = yolox_onnx()
    frame = rng.uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    missing = None if yolox else "YOLOX-Nano ONNX not found (set RTPOSE_SHARED or rtpose models pull yolox_nano)"
    run_case(results, "yolox_nano", 1, BASELINE, lambda: ort_runner(yolox, "cpu"), frame, opts, missing)
    run_case(results, "yolox_nano", 1, "torch fp32 eager", lambda: torch_onnx_runner(yolox), frame, opts, missing)
    run_case(results, "yolox_nano", 1, "onnxruntime cuda", lambda: ort_runner(yolox, "cuda"), frame, opts, missing)
    run_case(results, "yolox_nano", 1, "tensorrt fp16", lambda: tensorrt_runner(yolox, 1), frame, opts, missing)
    add_speedups(results)
    console.print(table(results))
    for line in skipped_lines(results):
        console.print(line, highlight=False, soft_wrap=True)
    if json_out:
        json_out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    if plot_out:
        plot(results, plot_out)


if __name__ == "__main__":
    typer.run(main)

#!/usr/bin/env python3
"""Clients against one ``rtpose serve``: aggregate throughput and per-request latency, with and without
dynamic batching.

Starts ``rtpose serve graphs/webcam_body.yaml`` (shared YOLOX-Nano + SimplePose-nano) in the server
environment (``.venv-serve`` or ``$RTPOSE_SERVE_PYTHON``: PyTriton pins numpy < 2), then runs 1..4
client processes; each sends what one camera box sends per frame (the detector on a 1280x720 frame,
then the pose model on that frame's people as one batch) as fast as the server answers.

    python benchmarks/triton_clients.py --seconds 10 --clients 1 2 4
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, cached_clip, clip_frames, shared_dir  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(dynamic: bool) -> tuple[subprocess.Popen, int]:
    python = os.environ.get("RTPOSE_SERVE_PYTHON") or str(REPO / ".venv-serve/bin/python")
    shared, grpc = shared_dir(), free_port()
    cmd = [python, "-m", "rtpose.cli", "serve", str(REPO / "graphs/webcam_body.yaml"),
           "--set", f"detector.model={shared / 'models/det/yolox_nano_416x416.onnx'}",
           "--set", f"pose.model={shared / 'models/pose/simplepose_nano_256x192.onnx'}",
           "--grpc-port", str(grpc), "--http-port", str(free_port())] + ([] if dynamic else ["--no-dynamic-batching"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("ready"):
            return proc, grpc
    raise RuntimeError(f"rtpose serve did not start ({python})")


def client(port: int, seconds: float, frames: list[np.ndarray], queue: mp.Queue) -> None:
    from rtpose.backends.base import open_backend
    from rtpose.models.heatmap import TopDownPoseEstimator
    from rtpose.models.yolox import YoloxDetector

    detector = YoloxDetector(open_backend(f"triton://127.0.0.1:{port}/yolox_nano_416x416"), score_threshold=0.3)
    pose = TopDownPoseEstimator(open_backend(f"triton://127.0.0.1:{port}/simplepose_nano_256x192"))
    latencies, done, people = [], 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = frames[done % len(frames)]
        t0 = time.monotonic()
        boxes = detector(frame).boxes
        pose(frame, boxes)
        latencies.append(time.monotonic() - t0)
        done += 1
        people += len(boxes)
    queue.put((done, people, latencies))


def measure(port: int, clients: int, seconds: float, frames: list[np.ndarray]) -> dict[str, float]:
    queue: mp.Queue = mp.get_context("spawn").Queue()
    procs = [mp.get_context("spawn").Process(target=client, args=(port, seconds, frames, queue)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    lat = np.concatenate([r[2] for r in results]) * 1000
    return {"fps": sum(r[0] for r in results) / seconds, "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)), "people": sum(r[1] for r in results) / max(sum(r[0] for r in results), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    frames = list(clip_frames(cached_clip(frames=30, people=5) / "clip.mp4", 30))
    table = Table(title=f"clients against one rtpose serve (detector + pose per frame, {os.cpu_count()} cores)")
    for col in ("dynamic batching", "clients", "frames/s (all)", "x 1 client", "p50 ms / frame", "p99 ms", "people/frame"):
        table.add_column(col)
    for dynamic in (True, False):
        server, port = start_server(dynamic)
        try:
            base = None
            for n in args.clients:
                r = measure(port, n, args.seconds, frames)
                base = base or r["fps"]
                table.add_row("on" if dynamic else "off", str(n), f"{r['fps']:.1f}", f"{r['fps'] / base:.2f}",
                              f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['people']:.1f}")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    Console().print(table)


if __name__ == "__main__":
    main()

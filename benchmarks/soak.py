"""Soak: the full body graph on a looped clip for minutes, watching memory and threads.

    python benchmarks/soak.py                    # 10 minutes (not run in CI)
    python benchmarks/soak.py --minutes 2        # a shorter check

``graphs/video_body.yaml`` (capture -> detect -> track -> pose -> smooth -> record + export)
with the shared YOLOX-Nano and SimplePose-nano, on a make_clip clip (see benchmarks/_clip.py)
played in a loop as fast as the CPU allows, writing the annotated video and the keypoints
to a temporary folder. The process's resident memory (VmRSS) and its threads (the runtime's
``rtpose:*`` threads and all OS threads, ONNX Runtime's pools included) are sampled every
second from the main thread; printed: RSS at the start (graph open), after the first minute,
at the middle and at the end, the growth after the first minute (the acceptance figure:
under 2 MB), the largest thread counts, frames and FPS. The first minute is excluded from the
growth because allocators and ONNX Runtime's arenas settle during it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _clip import cached_clip, shared_dir  # noqa: E402

from rtpose.cli import prepare_graph  # noqa: E402
from rtpose.runtime.scheduler import GraphRunner  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SETTLE_S = 60.0


def proc_status() -> tuple[float, int]:
    """This process's resident memory (MB) and OS thread count, from /proc/self/status."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024.0, int(fields["Threads"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=150, help="frames of the looped clip")
    parser.add_argument("--people", type=int, default=3)
    args = parser.parse_args()
    duration = args.minutes * 60.0

    clip = cached_clip(frames=args.frames, people=args.people, mode="walk", width=640, height=360) / "clip.mp4"
    models = shared_dir() / "models"
    out = Path(tempfile.mkdtemp(prefix="rtpose-soak-"))
    graph = prepare_graph(REPO / "graphs" / "video_body.yaml", source=str(clip), overrides=[
        "camera.loop=true", f"detector.model={models / 'det/yolox_nano_416x416.onnx'}",
        f"pose.model={models / 'pose/simplepose_nano_256x192.onnx'}",
        f"video.path={out / 'annotated.mp4'}", f"keypoints.path={out / 'keypoints.jsonl'}"])
    runner = GraphRunner(graph)

    samples: list[tuple[float, float, int, int]] = []  # (seconds since open, RSS MB, OS threads, rtpose threads)
    started: list[float] = []

    def tick() -> None:
        now = time.monotonic()
        if not runner._ready.is_set():  # models still loading: the soak starts when the graph runs
            return
        if not started:
            started.append(now)
        elapsed = now - started[0]
        if not samples or elapsed - samples[-1][0] >= 1.0:
            rss, threads = proc_status()
            ours = sum(t.name.startswith("rtpose:") for t in threading.enumerate())
            samples.append((elapsed, rss, threads, ours))
        if elapsed >= duration:
            runner.stop()

    result = runner.run(on_tick=tick)
    if result.error is not None:
        raise SystemExit(f"graph failed: {result.error}\n{result.error.traceback_text}")
    frames = runner.metrics.snapshot()["keypoints"]["frames_out"]

    def at(seconds: float) -> tuple[float, float, int, int]:
        return min(samples, key=lambda s: abs(s[0] - seconds))

    start, settled, middle, end = samples[0], at(min(SETTLE_S, duration / 2)), at(duration / 2), samples[-1]
    print(f"soak: {end[0]:.0f} s of graphs/video_body.yaml on a looped {args.frames}-frame 640x360 clip "
          f"({args.people} people), {frames} frames, {frames / max(end[0], 1e-9):.1f} FPS")
    for label, (t, rss, threads, ours) in (("start", start), ("after settling", settled), ("middle", middle),
                                          ("end", end)):
        print(f"  RSS {label:>14} (t={t:6.0f} s): {rss:8.1f} MB   threads: {threads} OS, {ours} rtpose")
    print(f"  RSS growth after settling ({settled[0]:.0f} s -> {end[0]:.0f} s): {end[1] - settled[1]:+.1f} MB "
          f"(start -> end {end[1] - start[1]:+.1f} MB)")
    print(f"  threads: OS {min(s[2] for s in samples)}..{max(s[2] for s in samples)}, "
          f"rtpose {min(s[3] for s in samples)}..{max(s[3] for s in samples)}")
    print(f"  outputs in {out} (delete when done); exit code {result.exit_code}")


if __name__ == "__main__":
    main()

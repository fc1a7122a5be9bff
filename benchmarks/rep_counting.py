"""Jump-rope counting through ``graphs/jump_rope.yaml`` on make_clip's jump clips, against their hops.

    python benchmarks/rep_counting.py                        # seeds 0-3, 4 people, 300 frames
    python benchmarks/rep_counting.py --seeds 0 1 --people 3 --frames 240 --json out.json

For each seed, the clip (people skipping rope in place with rests, every hop's frames in
gt.json under ``jumps``) runs through the graph headless with the shared YOLOX-Nano and
SimplePose-nano, exactly as ``rtpose run graphs/jump_rope.yaml --headless --export`` (a
subprocess), with ``reps.events_csv`` writing every counted hop. Tracks are matched to the
clip's people per frame by pose (``rtpose.evaluation.tracking.align``); a person's count is the
final ``reps.jump`` of the tracks matched to them on at least 10 frames. Per person:

- **error**: counted minus true hops; **error tracked**: the same over the hops whose top
  comes once the person is tracked (``tracked from``: the first frame a track matches them;
  the detector finds some people late, and hops before that cannot be counted);
- **rest false**: hops counted while the person stood still: between the start and the first
  hop, in every pause of at least ``REST_FRAMES`` frames between two hops, and after the last
  one (each from ``LANDING_SLACK`` frames after a landing to the next take-off);
- **latency**: frames from a hop's landing (its last frame in gt) to the frame its count came,
  each counted hop paired in order with the nearest unpaired landing within ``PAIR_WINDOW``.

People the graph never tracks (the detector never finds them) are listed but left out of the
summary: there is nobody to count for. Then the same graph runs on ``walk`` and ``still`` clips
(same people count and length), where every count is a false one.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clip import REPO, cached_clip, shared_dir  # noqa: E402

from rtpose.evaluation.tracking import align  # noqa: E402

DET_MODEL = "models/det/yolox_nano_416x416.onnx"
POSE_MODEL = "models/pose/simplepose_nano_256x192.onnx"
REST_FRAMES = 20
LANDING_SLACK = 6
PAIR_WINDOW = 8
MIN_MATCHED = 10

console = Console(width=None if Console().is_terminal else 140)


def run_graph(clip: Path, out: Path) -> tuple[list[dict], list[dict]]:
    """Run graphs/jump_rope.yaml on ``clip`` headless; the export's records and the rep events."""
    shared = shared_dir()
    export, events = out / "out.jsonl", out / "events.csv"
    cmd = [sys.executable, "-m", "rtpose.cli", "run", str(REPO / "graphs" / "jump_rope.yaml"), "--source", str(clip),
           "--set", f"detector.model={shared / DET_MODEL}", "--set", f"pose.model={shared / POSE_MODEL}",
           "--set", f"reps.events_csv={events}", "--headless", "--export", str(export), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    records = [json.loads(line) for line in export.read_text().splitlines()]
    with events.open(newline="") as fh:
        return records, list(csv.DictReader(fh))


def rest_windows(hops: list[list[int]], frames: int) -> list[tuple[int, int]]:
    """Frame ranges [start, end) in which a person stands still (see the module's doc)."""
    windows, ground = [], 0
    for start, end in hops:
        if start - ground >= REST_FRAMES or ground == 0:
            windows.append((ground + (LANDING_SLACK if ground else 0), start))
        ground = end
    windows.append((ground + LANDING_SLACK, frames))
    return [(a, b) for a, b in windows if b > a]


def latencies(counted: list[int], landings: list[int]) -> list[int]:
    """Counted frame minus landing frame, pairing each count with the nearest free landing."""
    free, out = list(landings), []
    for frame in counted:
        near = [l for l in free if -PAIR_WINDOW <= frame - l <= PAIR_WINDOW]
        if near:
            landing = min(near, key=lambda l: abs(frame - l))
            free.remove(landing)
            out.append(frame - landing)
    return out


def score_people(truth: dict, records: list[dict], events: list[dict]) -> dict[int, dict[str, Any]]:
    """Per gt person: true and counted hops, error, false counts at rest, latencies."""
    a = align(truth["frames"], records)
    final: dict[int, int] = {}
    for record in records:
        for person in record["people"]:
            final[person["track_id"]] = person["reps"]["jump"]
    counted_at: dict[int, list[int]] = {}
    for row in events:
        counted_at.setdefault(int(row["track_id"]), []).append(int(row["frame"]))
    people = {}
    for column, gid in enumerate(a.ids):
        ids, frames = np.unique(a.track[:, column][a.track[:, column] >= 0], return_counts=True)
        tracks = [int(t) for t, n in zip(ids, frames) if n >= MIN_MATCHED]
        hops = truth["jumps"][str(gid)]["hops"]
        when = sorted(f for t in tracks for f in counted_at.get(t, []))
        rests = rest_windows(hops, len(truth["frames"]))
        lat = latencies(when, [end for _, end in hops])
        count = sum(final.get(t, 0) for t in tracks)
        seen = np.flatnonzero(np.isin(a.track[:, column], tracks))
        tracked_from = int(seen[0]) if len(seen) else len(truth["frames"])
        countable = sum((start + end) / 2 >= tracked_from for start, end in hops)
        people[int(gid)] = {
            "tracks": tracks, "tracked_from": tracked_from, "true": len(hops), "counted": count,
            "error": count - len(hops), "error_tracked": count - countable,
            "rest_false": sum(any(a <= f < b for a, b in rests) for f in when),
            "latency_median": float(np.median(lat)) if lat else float("nan"),
            "latency_max": int(max(lat)) if lat else None}
    return people


def run_clip(mode: str, seed: int, people: int, frames: int) -> tuple[dict, list[dict], list[dict]]:
    """make_clip's clip (cached), and the graph's export records and rep events on it."""
    folder = cached_clip(frames=frames, people=people, mode=mode, seed=seed)
    with tempfile.TemporaryDirectory(prefix="rep_counting.") as tmp:
        records, events = run_graph(folder / "clip.mp4", Path(tmp))
    return json.loads((folder / "gt.json").read_text()), records, events


def measure(seeds: list[int], people: int, frames: int) -> dict[int, dict[int, dict[str, Any]]]:
    """Per jump-clip seed, per person: :func:`score_people`."""
    return {seed: score_people(*run_clip("jump", seed, people, frames)) for seed in seeds}


def false_counts(mode: str, seed: int, people: int, frames: int) -> int:
    """Hops counted on a clip without any (walk, still)."""
    return len(run_clip(mode, seed, people, frames)[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--people", type=int, default=4)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    results = measure(args.seeds, args.people, args.frames)
    table = Table(title=f"jump counting, graphs/jump_rope.yaml, {args.people} people x {args.frames} frames per seed")
    for col in ("seed", "person", "tracks", "tracked from", "true", "counted", "error", "error tracked", "rest false",
                "latency median", "latency max"):
        table.add_column(col, justify="right")
    for seed, people in results.items():
        for gid, p in people.items():
            table.add_row(str(seed), str(gid), ",".join(map(str, p["tracks"])) or "-", str(p["tracked_from"]),
                          str(p["true"]), str(p["counted"]), f"{p['error']:+d}", f"{p['error_tracked']:+d}",
                          str(p["rest_false"]),
                          f"{p['latency_median']:.1f}", str(p["latency_max"]))
    console.print(table)
    everyone = [p for people in results.values() for p in people.values() if p["tracks"]]
    untracked = sum(not p["tracks"] for people in results.values() for p in people.values())
    errors = [abs(p["error"]) for p in everyone]
    once_tracked = [abs(p["error_tracked"]) for p in everyone]
    console.print(f"{len(everyone)} people tracked ({untracked} never tracked, left out): exact "
                  f"{sum(e == 0 for e in errors)}, within 1 {sum(e <= 1 for e in errors)}, max |error| {max(errors)}; "
                  f"once tracked: exact {sum(e == 0 for e in once_tracked)}, max |error| {max(once_tracked)}; "
                  f"total hops {sum(p['true'] for p in everyone)}, counted {sum(p['counted'] for p in everyone)}, "
                  f"false counts at rest {sum(p['rest_false'] for p in everyone)}, median latency "
                  f"{np.nanmedian([p['latency_median'] for p in everyone]):.1f} frames")
    walking = {mode: false_counts(mode, args.seeds[0], args.people, args.frames) for mode in ("walk", "still")}
    console.print(f"hops counted where nobody hops (seed {args.seeds[0]}, {args.people} people x {args.frames} "
                  "frames): "
                  + ", ".join(f"{mode} {n}" for mode, n in walking.items()))
    if args.json:
        args.json.write_text(json.dumps({"jump": {str(k): v for k, v in results.items()}, "no_hops": walking},
                                        indent=1))


if __name__ == "__main__":
    main()

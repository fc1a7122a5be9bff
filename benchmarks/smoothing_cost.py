"""What keypoint smoothing costs per frame: rtpose's vectorised Kalman and One-Euro against
the plain way (one filterpy KalmanFilter per keypoint), for 5 people x 17 keypoints.

    python benchmarks/smoothing_cost.py [--frames 300] [--people 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter
from rich.console import Console
from rich.table import Table

from rtpose.tracking.smoothing import PoseSmoother
from rtpose.types import Poses

FPS = 30.0


def frames(people: int, count: int, seed: int = 0) -> list[Poses]:
    """Noisy keypoints of ``people`` standing people, one Poses per frame."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(100, 600, (people, 17, 2))
    boxes = np.tile([[100, 100, 300, 500]], (people, 1))
    out = []
    for _ in range(count):
        xy = base + rng.normal(0, 2, base.shape)
        kps = np.concatenate([xy, np.full((people, 17, 1), 0.9)], axis=2)
        out.append(Poses(boxes=boxes, scores=np.ones(people), class_ids=np.zeros(people),
                         track_ids=np.arange(people), keypoints=kps))
    return out


def per_keypoint_filterpy(people: int) -> list[KalmanFilter]:
    """The baseline: a constant-velocity filterpy filter for each coordinate pair of each keypoint."""
    filters = []
    dt = 1 / FPS
    for _ in range(people * 17):
        kf = KalmanFilter(dim_x=4, dim_z=2)
        kf.F = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], float)
        kf.H = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], float)
        q = Q_discrete_white_noise(2, dt=dt, var=2.0)
        kf.Q = np.block([[q[0, 0] * np.eye(2), q[0, 1] * np.eye(2)], [q[1, 0] * np.eye(2), q[1, 1] * np.eye(2)]])
        kf.R *= 4.0
        filters.append(kf)
    return filters


def time_per_frame(step, sequence: list[Poses]) -> float:
    """Median milliseconds of ``step(poses, t)`` over the sequence."""
    times = []
    for i, poses in enumerate(sequence):
        start = time.perf_counter()
        step(poses, i / FPS)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--people", type=int, default=5)
    args = parser.parse_args()
    sequence = frames(args.people, args.frames)

    filters = per_keypoint_filterpy(args.people)

    def baseline(poses: Poses, _: float) -> None:
        for kf, z in zip(filters, poses.keypoints[:, :, :2].reshape(-1, 2)):
            kf.predict()
            kf.update(z)

    results = {"filterpy, one filter per keypoint (baseline)": time_per_frame(baseline, sequence)}
    for method in ("kalman", "one_euro"):
        smoother = PoseSmoother(method=method)
        results[f"rtpose PoseSmoother({method!r})"] = time_per_frame(smoother.update, sequence)

    base = next(iter(results.values()))
    table = Table(title=f"smoothing cost, {args.people} people x 17 keypoints, {args.frames} frames")
    for column in ("method", "ms / frame", "speed-up"):
        table.add_column(column)
    for name, ms in results.items():
        table.add_row(name, f"{ms:.3f}", f"{base / ms:.1f}x")
    Console().print(table)


if __name__ == "__main__":
    main()

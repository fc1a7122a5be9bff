"""Jump-rope counting end to end: graphs/jump_rope.yaml with the real shared models on make_clip's
jump clips, against every person's true hops (the measures of benchmarks/rep_counting.py).

Measured (benchmarks/rep_counting.py, seeds 0-5, 4 people x 300 frames): 19 of the 21 tracked people
counted exactly, the other two short by the 1 and 2 hops they made before the detector first found
them (every hop once tracked counted), no count while resting, counts 1 frame before to 2 frames
after the landing, none on walk and still clips. Seeds 0 and 2 here: all 7 tracked people exact.
Margins below: at most 1 off per person once tracked, 2 in all, 1 false count.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import rep_counting  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(shared: Path) -> dict[int, dict[int, dict]]:
    return rep_counting.measure([0, 2], people=4, frames=300)


def test_every_tracked_person_is_counted_within_one(results: dict[int, dict[int, dict]]) -> None:
    tracked = [p for people in results.values() for p in people.values() if p["tracks"]]
    assert len(tracked) >= 6, results  # 4 people on 2 clips; the detector misses one on seed 2
    assert all(abs(p["error_tracked"]) <= 1 for p in tracked), results
    assert sum(abs(p["error"]) for p in tracked) <= 2, results
    assert sum(p["counted"] for p in tracked) >= 80  # and not by counting nothing


def test_no_counts_at_rest_and_counts_come_at_landing(results: dict[int, dict[int, dict]]) -> None:
    tracked = [p for people in results.values() for p in people.values() if p["tracks"]]
    assert sum(p["rest_false"] for p in tracked) <= 1, results
    assert -3 <= np.median([p["latency_median"] for p in tracked]) <= 3
    assert max(p["latency_max"] for p in tracked) <= 5


def test_walking_people_count_nothing(shared: Path) -> None:
    assert rep_counting.false_counts("walk", 0, people=4, frames=300) <= 1

"""Batch groups (rtpose/backends/batching.py): one real model shared by several node threads.

The model is the shared SimplePose-nano on ONNX Runtime (its file pins batch 1; the group frees
the axis) and YOLOX-Nano, whose file cannot take a batch (it reshapes with a fixed 1).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from rtpose.backends.base import open_backend
from rtpose.backends.batching import BatchGroup, GroupMember, join_batch_group
from rtpose.errors import ModelError

POSE = "models/pose/simplepose_nano_256x192.onnx"
DETECTOR = "models/det/yolox_nano_416x416.onnx"


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=(n, 3, 256, 192)).astype(np.float32) for n in (2, 1, 3)]


def call_together(calls: list) -> list:
    """Run the calls on one thread each, released at once; their results (or exceptions) in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_calls_from_several_threads_become_one_inference(shared: Path, crops: list[np.ndarray]) -> None:
    group = BatchGroup(open_backend(shared / POSE, threads=1), active_s=60)
    members = [group.join(max_wait_ms=10_000) for _ in crops]
    results = call_together([lambda m=m, c=c: m.run(c) for m, c in zip(members, crops)])
    assert group.stats.requests == 3 and group.stats.inferences == 1 and group.stats.largest_batch == 6
    alone = open_backend(shared / POSE, threads=1)
    alone.free_batch_axis()
    for batch, result in zip(crops, results):
        assert not isinstance(result, Exception), result
        expected = alone.run(batch)[0]
        assert result[0].shape == expected.shape  # each caller gets its own slice, in its own order
        np.testing.assert_allclose(result[0], expected, atol=1e-4)


def test_a_lone_caller_waits_for_the_others_at_most_max_wait(shared: Path, crops: list[np.ndarray]) -> None:
    group = BatchGroup(open_backend(shared / POSE, threads=1), active_s=60)
    lone, _quiet = group.join(max_wait_ms=100), group.join(max_wait_ms=100)  # the other stream sends nothing
    out = lone.run(crops[1])
    assert group.stats.inferences == 1 and out[0].shape[0] == 1
    # it did wait for the other stream, and not for much more than its max wait (generous for a busy CPU)
    assert 0.09 <= group.stats.max_wait_s < 1.0, group.stats


def test_a_stream_that_stopped_calling_is_not_waited_for(shared: Path, crops: list[np.ndarray]) -> None:
    group = BatchGroup(open_backend(shared / POSE, threads=1), active_s=0.2)
    live, dead = group.join(max_wait_ms=5_000), group.join(max_wait_ms=5_000)
    threading.Event().wait(0.3)  # the dead member joined, then never called
    live.run(crops[0])
    assert group.stats.max_wait_s < 2.0, "waited for a member that stopped calling"
    dead.close()
    assert group.members == 1


def test_a_model_that_cannot_batch_is_not_shared(shared: Path) -> None:
    with pytest.raises(ModelError, match="batch axis is fixed"):
        BatchGroup(open_backend(shared / DETECTOR, threads=1))  # YOLOX-Nano's file reshapes with a fixed 1
    first = join_batch_group("detectors", shared / DETECTOR, threads=1)
    second = join_batch_group("detectors", shared / DETECTOR, threads=1)
    assert not isinstance(first, GroupMember) and first is not second  # each node runs its own, in parallel
    image = np.full((1, 3, 416, 416), 114.0, np.float32)
    np.testing.assert_allclose(first.run(image)[0], second.run(image)[0], atol=1e-5)


def test_a_failed_batch_reaches_every_caller_with_the_model_named(shared: Path) -> None:
    group = BatchGroup(open_backend(shared / POSE, threads=1), active_s=60)
    members = [group.join(max_wait_ms=10_000) for _ in range(2)]
    wrong = np.zeros((1, 3, 64, 64), np.float32)  # not the model's 256x192
    results = call_together([lambda m=m: m.run(wrong) for m in members])
    assert all(isinstance(r, ModelError) and "onnxruntime model: a batched run failed" in str(r) for r in results)


def test_nodes_naming_one_group_share_one_model_until_the_last_leaves(shared: Path) -> None:
    a = join_batch_group("test-group", shared / POSE, threads=1)
    b = join_batch_group("test-group", shared / POSE, threads=1)
    other = join_batch_group("another-group", shared / POSE, threads=1)
    assert a.group is b.group and other.group is not a.group
    a.close()
    a.close()  # twice is harmless
    assert b.group.members == 1
    b.close()
    other.close()
    fresh = join_batch_group("test-group", shared / POSE, threads=1)
    assert fresh.group is not a.group  # the old group was dropped with its last member
    fresh.close()

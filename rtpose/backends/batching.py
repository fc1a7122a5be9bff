"""One model for several streams: concurrent ``run()`` calls merged into one inference.

A graph with several cameras runs one chain of nodes per stream (each its own tracker and
smoother, joined by its own frame indices). Their model nodes can still share one model:
nodes that name the same ``batch_group`` get a :class:`GroupMember` each, all over one
:class:`BatchGroup` per (group, model file, backend, device, options). A call waits until
every stream that is running has a request in, or at most its own ``max_wait_ms``; then
one of the waiting callers (on its own node thread: no extra thread) runs the requests as
one batch and hands every caller its slice, like Triton's dynamic batcher, in-process.

A stream counts as running while it has called (or joined) within ``active_s``: a dead or stalled
camera stops being waited for after that, and a slow one costs the others at most
``max_wait_ms`` a call. A model whose file pins its batch axis (and whose engine cannot
free it) is not shared: each node gets its own instance, as without a group, since running
the streams' requests one after another on one instance would only serialise them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend, open_backend
from rtpose.errors import ModelError

log = logging.getLogger("rtpose.backends")

DEFAULT_ACTIVE_S = 1.0
"""A member that has not called for this long is not waited for (a dead or stalled stream)."""


@dataclass
class _Request:
    member: GroupMember
    feed: dict[str, np.ndarray]
    deadline: float
    outputs: list[np.ndarray] | None = None
    error: BaseException | None = None
    queued: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return len(next(iter(self.feed.values())))


@dataclass
class GroupStats:
    """What a group did: ``requests`` merged into ``inferences`` runs of the model."""

    requests: int = 0
    inferences: int = 0
    largest_batch: int = 0
    max_wait_s: float = 0.0
    """The longest a request waited before its inference started."""


class BatchGroup:
    """One backend shared by several members; their concurrent requests become one batch."""

    def __init__(self, backend: Backend, active_s: float = DEFAULT_ACTIVE_S) -> None:
        """``backend`` is shared from now on: the group closes it when its last member leaves.
        A ModelError if its batch axis is fixed and cannot be freed (nothing to merge into)."""
        if not backend.free_batch_axis():
            raise ModelError(f"{backend.name} model {backend.input_shapes}: its batch axis is fixed, so "
                             f"requests of several streams cannot be merged into one batch")
        self.backend = backend
        self.active_s = active_s
        self.stats = GroupStats()
        self._members: list[GroupMember] = []
        self._pending: list[_Request] = []
        self._busy = False
        self._cond = threading.Condition()

    def join(self, max_wait_ms: float = 5.0) -> GroupMember:
        """A new member (one per node): a Backend whose runs go through this group."""
        member = GroupMember(self, max_wait_ms / 1000.0)
        with self._cond:
            self._members.append(member)
        return member

    def leave(self, member: GroupMember) -> bool:
        """Drop a member (its node closed); True when it was the last one."""
        with self._cond:
            if member in self._members:
                self._members.remove(member)
            self._cond.notify_all()  # the others stop waiting for it
            return not self._members

    @property
    def members(self) -> int:
        with self._cond:
            return len(self._members)

    def _expected(self, now: float) -> int:
        """How many members a batch waits for: those that called (or joined) within ``active_s``."""
        return max(1, sum(now - m.last_call < self.active_s for m in self._members))

    def run(self, member: GroupMember, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Queue one request; lead a batch when all running members are in or the wait is up."""
        now = time.monotonic()
        request = _Request(member, feed, now + member.max_wait_s)
        with self._cond:
            member.last_call = now
            self._pending.append(request)
            self._cond.notify_all()
            while request.outputs is None and request.error is None:
                now = time.monotonic()
                full = len(self._pending) >= self._expected(now)
                if not self._busy and (full or now >= request.deadline):
                    batch, self._pending, self._busy = self._pending, [], True
                    break
                timeout = request.deadline - now if not self._busy and now < request.deadline else 0.05
                self._cond.wait(timeout)
            else:
                return _result(request)
        try:
            self._infer(batch)
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        return _result(request)

    def _infer(self, batch: list[_Request]) -> None:
        """Run the requests as one batch and give every request its slice of the outputs, or the error."""
        started = time.monotonic()
        self.stats.requests += len(batch)
        self.stats.max_wait_s = max(self.stats.max_wait_s, max(started - r.queued for r in batch))
        try:
            outputs = self.backend.run(_concat(batch)) if len(batch) > 1 else self.backend.run(batch[0].feed)
            self.stats.inferences += 1
            self.stats.largest_batch = max(self.stats.largest_batch, sum(r.size for r in batch))
            for request, part in zip(batch, _split(outputs, [r.size for r in batch])):
                request.outputs = part
        except BaseException as exc:  # noqa: BLE001 - every caller of the batch gets the failure
            for request in batch:
                request.error = exc


def _concat(requests: list[_Request]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([r.feed[name] for r in requests]) for name in requests[0].feed}


def _split(outputs: list[np.ndarray], sizes: list[int]) -> list[list[np.ndarray]]:
    """Each request's slice of every output (outputs without the batch axis are given whole)."""
    if len(sizes) == 1:
        return [outputs]
    total, cuts = sum(sizes), np.cumsum(sizes)[:-1]
    parts = [np.split(out, cuts) if out.ndim and len(out) == total else [out] * len(sizes) for out in outputs]
    return [[p[i] for p in parts] for i in range(len(sizes))]


def _result(request: _Request) -> list[np.ndarray]:
    if request.error is not None:
        raise ModelError(f"{request.member.name} model: a batched run failed: "
                         f"{type(request.error).__name__}: {request.error}") from request.error
    assert request.outputs is not None
    return request.outputs


class GroupMember(Backend):
    """One node's view of a :class:`BatchGroup`: a Backend whose ``run`` joins the group's batches."""

    def __init__(self, group: BatchGroup, max_wait_s: float) -> None:
        self.group = group
        self.max_wait_s = max_wait_s
        self.last_call = time.monotonic()  # a stream that just joined is waited for until active_s passes
        shared = group.backend
        self.name, self.device = shared.name, shared.device
        self.input_names, self.output_names = shared.input_names, shared.output_names
        self._closed = False

    @property
    def input_shapes(self) -> list[tuple]:  # type: ignore[override]
        return self.group.backend.input_shapes

    def free_batch_axis(self) -> bool:
        return True  # the group's model takes any batch

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        return self.group.run(self, self.group.backend.feed(inputs))

    def close(self) -> None:
        """Leave the group; the last member to leave closes the shared backend."""
        if not self._closed:
            self._closed = True
            _release(self)


_GROUPS: dict[tuple, BatchGroup] = {}
_GROUPS_LOCK = threading.Lock()


_UNBATCHABLE: set[tuple] = set()


def join_batch_group(group: str, model: str | Path, backend: str = "auto", device: str = "auto",
                     max_wait_ms: float = 5.0, **options: Any) -> Backend:
    """A member of the process's batch group for (``group``, model, backend, device, options),
    opening the model the first time; nodes call this from ``open()`` and ``close()`` what it gives.
    A model that cannot take a batch gives every node its own backend instead (logged once)."""
    key = (group, str(Path(model).resolve()) if Path(model).exists() else str(model), backend, device,
           tuple(sorted(options.items())))
    with _GROUPS_LOCK:  # models of one group load once; the other nodes wait for it and share it
        shared = _GROUPS.get(key)
        if shared is None and key not in _UNBATCHABLE:
            opened = open_backend(model, backend=backend, device=device, **options)
            if opened.name == "onnxruntime" and "threads" not in options:
                # one session now runs every stream's work, which took a session per stream (half the
                # cores each by default): it gets all the cores (docs/multicam.md)
                opened.close()
                opened = open_backend(model, backend=backend, device=device, threads=os.cpu_count(), **options)
            try:
                shared = _GROUPS[key] = BatchGroup(opened)
            except ModelError as exc:
                log.info("batch group %r: %s; each node runs %s on its own", group, exc, model)
                _UNBATCHABLE.add(key)
                return opened
        if shared is None:
            return open_backend(model, backend=backend, device=device, **options)
        return shared.join(max_wait_ms)


def _release(member: GroupMember) -> None:
    with _GROUPS_LOCK:
        if member.group.leave(member):
            for key, shared in list(_GROUPS.items()):
                if shared is member.group:
                    del _GROUPS[key]
            member.group.backend.close()


__all__ = ["BatchGroup", "GroupMember", "GroupStats", "join_batch_group"]

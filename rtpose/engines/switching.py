"""Start a graph on ONNX Runtime and switch to TensorRT when a background engine build is done."""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend
from rtpose.errors import ModelError

from rtpose.engines.build import cache_status, ensure_engine, tensorrt_available
from rtpose.engines.spec import EngineSpec, resolve_onnx

log = logging.getLogger(__name__)


def _build_in_worker(spec_json: str, spec_path: str | None, cache_dir: str) -> str:
    """Process-pool entry point: build (or find) the engine and return its path."""
    spec = EngineSpec.model_validate_json(spec_json)
    spec.path = Path(spec_path) if spec_path else None
    return str(ensure_engine(spec, Path(cache_dir)))


def start_background_build(spec: EngineSpec, cache_dir: Path,
                           executor: concurrent.futures.Executor | None = None
                           ) -> concurrent.futures.Future:
    """Build ``spec``'s engine in a separate *process*; the future's result is the engine path.

    A process, not a thread: the builder may hold the GIL for minutes (its Python bindings do
    not all release it), it uses GBs of host and GPU memory that only a process exit returns
    for sure, and a crash in it must not take the running graph down. ``concurrent.futures``
    keeps that to one call; ``spawn`` because CUDA cannot be used in a forked child.
    """
    if executor is None:
        executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    spec_path = str(spec.path) if spec.path is not None else None
    future = executor.submit(_build_in_worker, spec.model_dump_json(), spec_path, str(cache_dir))
    future.add_done_callback(lambda _: executor.shutdown(wait=False))
    return future


class EngineSwitchingBackend(Backend):
    """Serves from a fallback backend (ONNX Runtime) until an engine build finishes, then from TensorRT.

    The switch happens inside :meth:`run`, on the calling node's thread: the TensorRT backend's
    CUDA stream and buffers are created where they are used, and no lock is needed since a
    backend belongs to one node. A failed build is logged once and the fallback keeps serving.
    """

    def __init__(self, fallback: Backend, build: concurrent.futures.Future,
                 load: Callable[[Path], Backend] | None = None) -> None:
        self.current = fallback
        self._build: concurrent.futures.Future | None = build
        self._load = load or _load_tensorrt
        self.error: BaseException | None = None
        self._describe(fallback)

    def _describe(self, backend: Backend) -> None:
        self.name, self.device = backend.name, backend.device
        self.input_names, self.output_names = backend.input_names, backend.output_names
        self.input_shapes = backend.input_shapes

    @property
    def switched(self) -> bool:
        """True once the engine serves."""
        return self._build is None and self.error is None

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Run on whichever backend is current, switching first if the build just finished."""
        if self._build is not None and self._build.done():
            self._switch()
        return self.current.run(inputs)

    def _switch(self) -> None:
        future, self._build = self._build, None
        assert future is not None
        try:
            engine = self._load(Path(future.result()))
        except Exception as exc:  # a failed build or load must not stop the graph
            self.error = exc
            log.warning("TensorRT engine not used, staying on %s: %s", self.current.name, exc)
            return
        if engine.input_names != self.current.input_names:
            self.error = ModelError(f"engine inputs {engine.input_names} differ from "
                                    f"{self.current.input_names}: staying on {self.current.name}")
            log.warning("%s", self.error)
            engine.close()
            return
        old, self.current = self.current, engine
        self._describe(engine)
        old.close()
        log.info("switched to the TensorRT engine")

    def close(self) -> None:
        if self._build is not None:
            self._build.cancel()
        self.current.close()


def _load_tensorrt(path: Path) -> Backend:
    from rtpose.backends.tensorrt import TensorRTBackend

    return TensorRTBackend(path)


def open_engine(spec: EngineSpec, cache_dir: Path, background: bool = True, **ort_options: Any) -> Backend:
    """The best backend for ``spec`` now: a ready engine; else ONNX Runtime, switching to TensorRT
    when a background build finishes; else (no TensorRT/GPU) plain ONNX Runtime."""
    from rtpose.backends.onnxruntime import OnnxRuntimeBackend

    onnx_path = resolve_onnx(spec)
    if tensorrt_available():
        try:
            status = cache_status(spec, cache_dir)
            if status.startswith("ready") or (status.startswith("needs build") and not background):
                return _load_tensorrt(ensure_engine(spec, cache_dir))
            if status.startswith("needs build"):
                return EngineSwitchingBackend(OnnxRuntimeBackend(onnx_path, **ort_options),
                                              start_background_build(spec, cache_dir))
            log.warning("TensorRT not usable for %s (%s), using onnxruntime", spec.name, status)
        except ModelError as exc:
            log.warning("TensorRT not usable for %s, using onnxruntime: %s", spec.name, exc)
    return OnnxRuntimeBackend(onnx_path, **ort_options)

"""Start a model at once on torch or ONNX Runtime and switch to TensorRT when its engine is built.

:func:`open_switching` is what :func:`rtpose.backends.base.open_backend` does when
:func:`~rtpose.backends.plan.plan_backend` picks TensorRT for an ONNX file: the engine spec comes
from :func:`rtpose.engines.engine_spec_for_file` (so an engine built by ``rtpose engines build``
is found), a ready engine serves at once, and otherwise the model serves from the start backend
while the engine is built in a background process (:func:`rtpose.engines.start_background_build`).
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtpose import engines
from rtpose.backends.base import Backend, open_planned
from rtpose.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rtpose.backends.plan import Plan

log = logging.getLogger(__name__)


class EngineSwitchingBackend(Backend):
    """Serves from a fallback backend until an engine build finishes, then from TensorRT.

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
        self.name, self.device, self.path = backend.name, backend.device, backend.path
        self.input_names, self.output_names = backend.input_names, backend.output_names
        self.input_shapes = backend.input_shapes

    @property
    def switched(self) -> bool:
        """True once the engine serves."""
        return self._build is None and self.error is None

    def _maybe_switch(self) -> None:
        if self._build is not None and self._build.done():
            self._switch()

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Run on whichever backend is current, switching first if the build just finished."""
        self._maybe_switch()
        return self.current.run(inputs)

    def run_torch(self, inputs: Any) -> list[Any]:
        """Device tensors in and out, on whichever backend is current (torch or TensorRT)."""
        self._maybe_switch()
        if not hasattr(self.current, "run_torch"):
            raise ModelError(f"{self.current.name} takes host arrays only: use run()")
        return self.current.run_torch(inputs)

    def free_batch_axis(self) -> bool:
        freed = self.current.free_batch_axis()
        self.input_shapes = self.current.input_shapes
        return freed

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
        log.warning("%s: switched from %s to the TensorRT engine %s", old.path or "model", old.name, engine.path)

    def close(self) -> None:
        if self._build is not None:
            self._build.cancel()
        self.current.close()


def _load_tensorrt(path: Path) -> Backend:
    from rtpose.backends.tensorrt import TensorRTBackend

    return TensorRTBackend(path)


def open_switching(path: Path, plan: "Plan", options: Mapping[str, Any]) -> Backend:
    """TensorRT for an ONNX file now if its engine is cached, else the plan's start backend,
    switching to TensorRT when a background build is done (or staying, with the reason logged)."""
    trt_options = {k: v for k, v in options.items() if k in ("precision", "max_batch")}
    cache = engines.engine_cache_dir()
    try:
        spec = engines.engine_spec_for_file(path, engines.engines_dir(),
                                            lambda p: engines.spec_for_onnx(p, **trt_options))
        status = engines.cache_status(spec, cache)
    except ModelError as exc:  # e.g. dynamic sizes no spec gives a profile for
        spec, status = None, f"no engine spec: {exc}"
    if spec is not None and status.startswith("ready"):
        log.info("%s: TensorRT engine %s (%s)", path.name, spec.name, status)
        return _load_tensorrt(engines.ensure_engine(spec, cache))
    assert plan.start is not None and plan.start_device is not None
    start = open_planned(path, plan.start, plan.start_device, options, strict=False,
                         fallback=plan.start == "torch")
    if spec is None or not status.startswith("needs build"):
        log.warning("%s: TensorRT not usable (%s); running on %s", path.name, status, start.name)
        return start
    if spec.precision == "int8":
        log.warning("%s: the int8 engine %s is not built (%s): run `rtpose engines build %s`; "
                    "running on %s meanwhile", path.name, spec.name, status, spec.name, start.name)
        return start
    log.warning("%s: building the TensorRT engine %s in the background (%s, minutes); running on %s %s "
                "meanwhile", path.name, spec.name, status, start.name, start.device)
    return EngineSwitchingBackend(start, engines.start_background_build(spec, cache))

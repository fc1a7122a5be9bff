"""ONNX Runtime backend: the portable default (CPU everywhere, CUDA where installed).

``InferenceSession.run`` releases the GIL, so model nodes in different graph
threads really do run at the same time. The session options are chosen for that
situation: a small intra-op pool per session and no busy-spinning workers, so
that several sessions share a few cores instead of fighting over them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from rtpose.backends.base import Backend
from rtpose.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import onnx

THREADS_ENV = "RTPOSE_ORT_THREADS"


def default_threads() -> int:
    """Intra-op threads per session: $RTPOSE_ORT_THREADS, else half the cores.

    Half, not all: a pose graph runs a detector and a pose model concurrently,
    and two sessions each grabbing every core slow each other down.
    """
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError as exc:
            raise ModelError(f"${THREADS_ENV}={env!r} is not a whole number") from exc
    return max(1, (os.cpu_count() or 1) // 2)


def session_options(threads: int | None = None, spin: bool = False,
                    optimization: str = "all") -> ort.SessionOptions:
    """SessionOptions for a session that shares the CPU with other sessions.

    Spinning (busy-waiting) workers shave microseconds off a lone model but burn
    the cores other nodes need, so it is off unless asked for.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads) if threads else default_threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    levels = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if optimization not in levels:
        raise ModelError(f"unknown optimization level {optimization!r}: use one of {', '.join(levels)}")
    opts.graph_optimization_level = levels[optimization]
    spin_flag = "1" if spin else "0"
    opts.add_session_config_entry("session.intra_op.allow_spinning", spin_flag)
    opts.add_session_config_entry("session.inter_op.allow_spinning", spin_flag)
    return opts


def choose_providers(device: str) -> list[str]:
    """Execution providers for ``device``: CUDA then CPU for auto/cuda, CPU for cpu."""
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    has_cuda = "CUDAExecutionProvider" in available
    if device.startswith("cuda") and not has_cuda:
        raise ModelError(
            "device 'cuda' asked for, but this onnxruntime has no CUDAExecutionProvider "
            f"(it has {', '.join(available)}): install onnxruntime-gpu or use device cpu")
    return (["CUDAExecutionProvider"] if has_cuda else []) + ["CPUExecutionProvider"]


class OnnxRuntimeBackend(Backend):
    """An ``.onnx`` file in an ``onnxruntime.InferenceSession``.

    Options: ``threads`` (intra-op threads, default :func:`default_threads`),
    ``spin`` (busy-wait workers, default False), ``optimization``
    (none/basic/extended/all).
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None,
                 spin: bool = False, optimization: str = "all", **unused: Any) -> None:
        if unused:
            raise ModelError(f"onnxruntime backend: unknown options {sorted(unused)}")
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        self._options = session_options(threads, spin, optimization)
        self._providers = choose_providers(device)
        try:
            session = ort.InferenceSession(str(self.path), sess_options=self._options,
                                           providers=self._providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
            raise ModelError(f"{self.path}: onnxruntime cannot load this model: {exc}") from exc
        self._use(session)

    def _use(self, session: ort.InferenceSession) -> None:
        """Run ``session`` from now on, and describe its inputs and outputs."""
        self.session = session
        active = session.get_providers()
        self.device = "cuda" if active and active[0] == "CUDAExecutionProvider" else "cpu"
        inputs = session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.input_shapes = [tuple(i.shape) for i in inputs]
        self.output_names = [o.name for o in session.get_outputs()]
        self._dtypes = {i.name: _numpy_dtype(i.type) for i in inputs}

    def free_batch_axis(self) -> bool:
        """Reload the model with a free batch axis if its file pins it to 1 (see
        :func:`relax_batch_axis`), but only if the relaxed model really runs a batch of two
        inputs as it runs each alone: a model that reshapes with a hard-coded batch would not."""
        if super().free_batch_axis():
            return True
        import onnx  # a quarter of a second to import: only when a model is relaxed

        relaxed = relax_batch_axis(onnx.load(str(self.path)))
        if relaxed is None:
            return False
        level = self._options.log_severity_level
        self._options.log_severity_level = 3  # a model that fails the trial must not print warnings to the user
        try:
            session = ort.InferenceSession(relaxed, sess_options=self._options, providers=self._providers)
            batches_work = _runs_batches(session, self.session)
        except Exception:  # noqa: BLE001 - any failure means "keep the model as it was"
            batches_work = False
        finally:
            self._options.log_severity_level = level
        if batches_work:
            self._use(session)
        return batches_work

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Run the session; inputs are cast to the model's dtype and made contiguous."""
        feed = {name: np.ascontiguousarray(arr, dtype=self._dtypes[name])
                for name, arr in self.check_shapes(self.feed(inputs)).items()}
        return list(self.session.run(self.output_names, feed))


def relax_batch_axis(model: onnx.ModelProto) -> bytes | None:
    """``model`` with the first axis of its one input and of its outputs made free, serialised;
    None when the model has several inputs or that axis is not 1 everywhere.

    Weights listed among the graph inputs (old exporters do that) are dropped from them, so
    ONNX Runtime may treat them as constants and fold them (batch norm into convolutions).
    """
    graph = model.graph
    weights = {w.name for w in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1:
        return None
    axes = [value.type.tensor_type.shape.dim for value in [*inputs, *graph.output]]
    if not all(len(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == 1 for dims in axes):
        return None
    for dims in axes:
        dims[0].dim_param = "batch"
    del graph.input[:]  # extend() copies, so this comes after the edit
    graph.input.extend(inputs)
    del graph.value_info[:]  # inferred shapes with the old batch would contradict the new axis
    return model.SerializeToString()


def _runs_batches(batched: ort.InferenceSession, single: ort.InferenceSession) -> bool:
    """Whether ``batched`` gives for a batch of two inputs what ``single`` gives for each."""
    spec = single.get_inputs()[0]
    if _numpy_dtype(spec.type) != np.float32:
        return False
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal(spec.shape).astype(np.float32) for _ in range(2)]
    together = batched.run(None, {spec.name: np.concatenate(samples)})
    for row, sample in enumerate(samples):
        alone = single.run(None, {spec.name: sample})
        if not all(np.allclose(b[row:row + 1], a, rtol=1e-3, atol=1e-4) for b, a in zip(together, alone)):
            return False
    return True


def _numpy_dtype(onnx_type: str) -> np.dtype:
    """``'tensor(float)'`` -> float32 etc., so callers can pass float64 or uint8 arrays."""
    table = {
        "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
        "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int32)": np.int32,
        "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
    }
    return np.dtype(table.get(onnx_type, np.float32))

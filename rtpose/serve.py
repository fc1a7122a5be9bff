"""``rtpose serve``: the models of a graph on a Triton Inference Server, for many camera boxes.

Every node of the graph with a ``model`` param (the detector, the pose model, ...) has its model
file resolved and opened on a local backend (ONNX Runtime, torch or TensorRT, as the node
would), and bound to a Triton server started through PyTriton (the server binary ships in the
``nvidia-pytriton`` wheel) under the model's name (:func:`~rtpose.models.registry.served_name`),
with dynamic batching: requests from several
clients that arrive within ``queue_delay_ms`` run as one batch. Clients point a node at it with
``--set pose.backend=triton --set pose.url=HOST:8001``.

PyTriton pins numpy < 2, so the server runs in its own environment (``pip install
'rtpose[serve]'``); clients need only ``tritonclient`` (``rtpose[triton]``).

The server's Python-backend stub links the system ``libpython``; under another build of the
same Python (pyenv, conda) every model then fails to load (``'_thread.RLock' object has no
attribute '_recursion_count'``). :func:`python_library_env` puts the running interpreter's own
library folder first on ``LD_LIBRARY_PATH`` before the server starts.
"""

from __future__ import annotations

import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rtpose.backends.base import Backend, open_backend, static_dim
from rtpose.errors import ModelError, RtposeError
from rtpose.graph.build import Graph
from rtpose.models.registry import known_models, resolve_model, served_name


@dataclass
class ServedModel:
    """A node's model as the server offers it: a local backend and its tensors without the batch axis."""

    name: str
    path: Path
    nodes: list[str]
    backend: Backend
    inputs: list[tuple[str, np.dtype, tuple[int, ...]]]
    outputs: list[tuple[str, np.dtype, tuple[int, ...]]]
    batched: bool


def python_library_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` with the running interpreter's library folder first on ``LD_LIBRARY_PATH``."""
    env = dict(os.environ if environ is None else environ)
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        parts = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p and p != libdir]
        env["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *parts])
    return env


def model_nodes(graph: Graph) -> dict[str, str]:
    """Node name -> its ``model`` param, for every node of the graph that runs a model file: a
    ``model`` param naming a file or a known model (a smoother's ``model: cv`` is neither)."""
    known = known_models()
    return {name: entry.params.model for name, entry in graph.nodes.items()
            if isinstance(getattr(entry.params, "model", None), str)
            and (entry.params.model in known or Path(entry.params.model).expanduser().is_file())}


def open_served(model: str, nodes: list[str], backend: str = "auto", device: str = "auto") -> ServedModel:
    """Open a model locally (for the graph's ``nodes`` that run it) and learn its tensors from one run on zeros."""
    path = resolve_model(model)
    local = open_backend(path, backend=backend, device=device)
    batched = static_dim(local.input_shapes[0], 0) != 1 or local.free_batch_axis()
    dtypes = getattr(local, "_dtypes", {})
    inputs = []
    for input_name, shape in zip(local.input_names, local.input_shapes):
        dims = tuple(shape[1:])
        if any(static_dim(dims, i) is None for i in range(len(dims))):
            raise ModelError(f"{path}: input {input_name!r} has free sizes {list(shape)}; rtpose serve needs "
                             f"fixed sizes besides the batch axis")
        inputs.append((input_name, np.dtype(dtypes.get(input_name, np.float32)), tuple(int(d) for d in dims)))
    probe = local.run({n: np.zeros((1, *s), d) for n, d, s in inputs})
    outputs = [(n, out.dtype, tuple(out.shape[1:])) for n, out in zip(local.output_names, probe)]
    return ServedModel(served_name(model), path, nodes, local, inputs, outputs, batched)


def infer_function(model: ServedModel) -> Callable[..., dict[str, np.ndarray]]:
    """The function Triton calls with a dynamic batch: the whole batch at once where the model takes it."""

    def infer(**batch: np.ndarray) -> dict[str, np.ndarray]:
        n = len(next(iter(batch.values())))
        if model.batched or n == 1:
            outs = model.backend.run(batch)
        else:
            runs = [model.backend.run({k: v[i:i + 1] for k, v in batch.items()}) for i in range(n)]
            outs = [np.concatenate(parts) for parts in zip(*runs)]
        return {name: out for (name, _, _), out in zip(model.outputs, outs)}

    return infer


def bind(triton: Any, model: ServedModel, max_batch: int, queue_delay_ms: float, dynamic_batching: bool) -> None:
    """Bind one model to a PyTriton server."""
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor

    # without a batcher each request runs as sent (a client's own batch, e.g. a frame's people);
    # with one, requests of several clients queued within the delay run as one batch
    batcher = DynamicBatcher(max_queue_delay_microseconds=int(queue_delay_ms * 1000)) if dynamic_batching else None
    config = ModelConfig(max_batch_size=max_batch, batching=True, batcher=batcher)
    triton.bind(model_name=model.name, infer_func=batch(infer_function(model)),
                inputs=[Tensor(name=n, dtype=d, shape=s) for n, d, s in model.inputs],
                outputs=[Tensor(name=n, dtype=d, shape=s) for n, d, s in model.outputs],
                config=config, strict=False)


def start(graph: Graph, grpc_port: int = 8001, http_port: int = 8000, max_batch: int = 16,
          queue_delay_ms: float = 2.0, dynamic_batching: bool = True, host: str = "127.0.0.1",
          log_file: Path | None = None) -> tuple[Any, list[ServedModel]]:
    """Open every model of ``graph``, start a Triton server hosting them, and return it running."""
    try:
        from pytriton.triton import Triton, TritonConfig
    except ImportError:
        raise RtposeError("rtpose serve needs PyTriton: pip install 'rtpose[serve]' (in its own environment: "
                          "PyTriton pins numpy < 2)") from None
    nodes = model_nodes(graph)
    if not nodes:
        raise RtposeError(f"graph {graph.name!r} has no node with a model to serve")
    by_model: dict[str, list[str]] = {}
    for node, model in nodes.items():  # one served model per model file, whichever nodes run it
        by_model.setdefault(model, []).append(node)
    served = [open_served(model, names) for model, names in by_model.items()]
    os.environ.update(python_library_env())  # the server process inherits it
    config = TritonConfig(grpc_port=grpc_port, http_port=http_port, metrics_port=http_port + 2,
                          grpc_address=host, http_address=host, metrics_address=host, allow_gpu_metrics=False,
                          log_file=log_file)
    triton = Triton(config=config)
    try:
        for model in served:
            bind(triton, model, max_batch, queue_delay_ms, dynamic_batching)
        triton.run()
    except Exception:
        triton.stop()
        raise
    return triton, served

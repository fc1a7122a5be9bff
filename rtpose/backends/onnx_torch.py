"""ONNX files on torch, through onnx2torch (a maintained ONNX -> ``torch.nn.Module`` converter).

A GPU machine often has torch but neither TensorRT nor onnxruntime-gpu; converting the ONNX
graph to a torch module runs every ONNX model family on torch CUDA without an export of its own.

Two things keep converters from reading some files as they are, and are fixed here in memory:

* old exporters (MXNet, opset < 9) write ``BatchNormalization`` with ``spatial=0`` although the
  statistics are per channel (1-D), which the opset upgrade refuses: the attribute is dropped
  where the statistics are 1-D (then the two meanings agree), and the model upgraded to opset 13;
* onnx2torch imports torchvision at import time, only for its NMS and RoIAlign converters. A
  torchvision wheel built for another torch (a CPU-only torch with PyPI's CUDA torchvision)
  fails to import; onnx2torch is then loaded without those two converters, and a model that
  uses them says so when converted.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from pathlib import Path
from typing import Any

from rtpose.errors import ModelError

log = logging.getLogger(__name__)

TARGET_OPSET = 13
"""Opset that models older than 9 are upgraded to before conversion."""


def import_onnx2torch() -> Any:
    """``import onnx2torch``; where only its torchvision import fails, without NMS/RoIAlign."""
    try:
        return importlib.import_module("onnx2torch")
    except ImportError as exc:
        if exc.name == "onnx2torch":
            raise ModelError("running ONNX models on torch needs onnx2torch: pip install onnx2torch "
                             "(or pip install 'rtpose[torch]')") from exc
        if "torchvision" not in str(exc):
            raise
        failure: Exception = exc
    except RuntimeError as exc:  # torchvision's operators missing: built for another torch
        if "torchvision" not in str(exc):
            raise
        failure = exc
    log.info("torchvision cannot be imported here (%s); onnx2torch loaded without NMS/RoIAlign", failure)
    return _import_without_torchvision(str(failure))


def _import_without_torchvision(why: str) -> Any:
    for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "onnx2torch")]:
        del sys.modules[name]  # half-imported leftovers of the failed attempt

    def unavailable(*_: Any, **__: Any) -> Any:
        raise ModelError(f"this model needs torchvision's detection operators, and torchvision "
                         f"cannot be imported here: {why}")

    placeholder, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
    ops.nms = ops.batched_nms = ops.roi_align = unavailable  # type: ignore[attr-defined]
    placeholder.ops = ops  # type: ignore[attr-defined]
    sys.modules.update({"torchvision": placeholder, "torchvision.ops": ops})
    try:
        return importlib.import_module("onnx2torch")
    finally:  # nothing else in the process may see the placeholder
        del sys.modules["torchvision"], sys.modules["torchvision.ops"]


def modernize(model: Any) -> Any:
    """``model`` (an ``onnx.ModelProto``) in a form converters read: weights passed through
    ``Identity`` nodes made weights of their own, and, for opset < 9, legacy 1-D BatchNormalization
    ``spatial`` dropped and the model upgraded to :data:`TARGET_OPSET`."""
    from onnx import version_converter

    inline_identity_weights(model)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=TARGET_OPSET)
    if opset >= 9:
        return model
    ranks = {w.name: len(w.dims) for w in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "BatchNormalization" and all(ranks.get(n) == 1 for n in node.input[1:]):
            kept = [a for a in node.attribute if a.name != "spatial"]
            del node.attribute[:]
            node.attribute.extend(kept)
    try:
        return version_converter.convert_version(model, TARGET_OPSET)
    except Exception as exc:  # onnx raises RuntimeError or its own checker errors
        raise ModelError(f"cannot upgrade this opset-{opset} model to opset {TARGET_OPSET} for torch: {exc}") from exc


def inline_identity_weights(model: Any) -> None:
    """Replace ``Identity(weight)`` nodes by a copy of the weight under the node's output name.

    torch's exporter shares equal constants (e.g. HRNet's many zero conv biases) through Identity
    nodes; onnx2torch wants a convolution's weights and bias to be weights, not node outputs.
    """
    graph = model.graph
    weights = {w.name: w for w in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in weights:
            copy = graph.initializer.add()
            copy.CopyFrom(weights[node.input[0]])
            copy.name = node.output[0]
        else:
            kept.append(node)
    if len(kept) != len(graph.node):
        del graph.node[:]
        graph.node.extend(kept)


def convert_onnx(path: Path) -> Any:
    """The ONNX file as an eval-mode ``torch.nn.Module`` (CPU, float32); ModelError naming the file
    and the operator when onnx2torch cannot convert it."""
    import onnx

    onnx2torch = import_onnx2torch()
    try:
        model = modernize(onnx.load(str(path)))
        return onnx2torch.convert(model).eval()
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    except (NotImplementedError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{path}: onnx2torch cannot convert this model to torch ({exc}); "
                         "use backend onnxruntime or tensorrt") from exc

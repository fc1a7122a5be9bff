"""Backends: loading, errors that name the problem, and numerical parity across engines."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from rtpose.backends.base import Backend, open_backend, static_dim
from rtpose.engines import tensorrt_available
from rtpose.errors import ModelError

YOLOX = "models/det/yolox_nano_416x416.onnx"


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "model.onnx"
    with pytest.raises(ModelError, match="nope/model.onnx"):
        open_backend(missing)


def test_corrupt_onnx_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError, match="bad.onnx"):
        open_backend(bad)


def test_unknown_backend_and_format_are_rejected(shared: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown backend"):
        open_backend(shared / YOLOX, backend="openvino")
    odd = tmp_path / "model.bin"
    odd.write_bytes(b"\0")
    with pytest.raises(ModelError, match="unknown model format"):
        open_backend(odd)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\0")
    with pytest.raises(ModelError, match="cannot run .engine files"):
        open_backend(engine, backend="onnxruntime")


def test_engine_file_without_tensorrt_says_so(tmp_path: Path) -> None:
    if tensorrt_available():
        pytest.skip("TensorRT is installed here")
    engine = tmp_path / "det.engine"
    engine.write_bytes(b"\0")
    with pytest.raises(ModelError, match="tensorrt"):
        open_backend(engine)


def test_onnxruntime_backend_describes_and_runs_yolox(shared: Path) -> None:
    backend = open_backend(shared / YOLOX, device="cpu", threads=1)
    assert isinstance(backend, Backend)
    assert (backend.name, backend.device) == ("onnxruntime", "cpu")
    assert backend.input_names == ["images"]
    assert backend.input_shapes == [(1, 3, 416, 416)]
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 416, 416))  # float64: cast by the backend
    out_array = backend.run(x)
    out_dict = backend.run({"images": x})
    assert len(out_array) == len(backend.output_names) == 1
    assert out_array[0].shape == (1, 3549, 85)
    np.testing.assert_array_equal(out_array[0], out_dict[0])
    with pytest.raises(ModelError, match="missing"):
        backend.run({"wrong": x})


def test_cuda_request_without_cuda_is_a_clear_error(shared: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ModelError, match="yolox_nano_416x416.onnx: device 'cuda' asked for"):
        open_backend(shared / YOLOX, device="cuda")
    with pytest.raises(ModelError, match="CUDAExecutionProvider"):
        open_backend(shared / YOLOX, backend="onnxruntime", device="cuda")


def test_static_dim_tells_fixed_from_dynamic_axes() -> None:
    assert static_dim((1, 3, 256, 192), 0) == 1
    assert static_dim(("batch", 3, 256, 192), 0) is None
    assert static_dim((None, 3), 0) is None
    assert static_dim((1, 3), 3) is None


def test_importing_model_code_does_not_import_torch(shared: Path) -> None:
    code = (
        "import sys\n"
        "from rtpose.backends.base import open_backend\n"
        "import rtpose.models.yolox, rtpose.models.heatmap\n"
        f"open_backend({str(shared / YOLOX)!r}).run(__import__('numpy').zeros((1, 3, 416, 416)))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _small_net():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Dropout(0.5), torch.nn.Conv2d(8, 4, 1))
    with torch.no_grad():  # non-trivial BatchNorm statistics, so train/eval mode differ
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return torch, net


def test_torch_backend_runs_numpy_in_eval_mode() -> None:
    torch, net = _small_net()
    net.train()
    backend = open_backend(net, device="cpu", input_shapes=[("batch", 3, 16, 16)])
    assert (backend.name, backend.device) == ("torch", "cpu")
    assert not net.training  # dropout off, BatchNorm uses its running statistics
    x = np.random.default_rng(1).normal(size=(2, 3, 16, 16)).astype(np.float32)
    first, second = backend.run(x)[0], backend.run({"input": x})[0]
    assert isinstance(first, np.ndarray) and first.dtype == np.float32 and first.shape == (2, 4, 16, 16)
    np.testing.assert_array_equal(first, second)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(first, expected, rtol=1e-6, atol=1e-6)
    assert backend.output_names == ["output0"]


def test_torch_fp16_on_cpu_is_refused() -> None:
    _, net = _small_net()
    with pytest.raises(ModelError, match="fp16"):
        open_backend(net, device="cpu", fp16=True)


def test_onnxruntime_matches_torch_on_an_exported_model(tmp_path: Path) -> None:
    torch, net = _small_net()
    net.eval()
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 16, 16),), str(path), input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    ort_backend = open_backend(path, backend="onnxruntime")
    torch_backend = open_backend(net, backend="torch", device="cpu", input_names=["x"])
    assert ort_backend.input_names == ["x"] and ort_backend.output_names == ["y"]
    assert static_dim(ort_backend.input_shapes[0], 0) is None  # the dynamic batch axis shows
    x = np.random.default_rng(2).normal(size=(3, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(ort_backend.run(x)[0], torch_backend.run({"x": x})[0],
                               rtol=1e-4, atol=1e-5)


def test_torchscript_file_opens_on_torch_backend(tmp_path: Path) -> None:
    torch, net = _small_net()
    path = tmp_path / "net.pt"
    with warnings.catch_warnings():  # TorchScript is deprecated in torch, but still what .pt files hold
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net.eval()).save(str(path))
        backend = open_backend(path)
    assert backend.name == "torch"
    x = np.ones((1, 3, 8, 8), np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(backend.run(x)[0], net(torch.from_numpy(x)).numpy(), atol=1e-6)


def test_batch_one_model_is_freed_when_its_layers_allow(shared: Path) -> None:
    backend = open_backend(shared / "models/pose/simplepose_nano_256x192.onnx", threads=1)
    x = np.random.default_rng(3).normal(size=(3, 3, 256, 192)).astype(np.float32)
    alone = np.concatenate([backend.run(x[i:i + 1])[0] for i in range(3)])
    assert backend.input_shapes == [(1, 3, 256, 192)]
    assert backend.free_batch_axis()
    assert static_dim(backend.input_shapes[0], 0) is None and backend.input_names == ["data"]
    np.testing.assert_allclose(backend.run(x)[0], alone, rtol=1e-4, atol=1e-5)
    assert backend.free_batch_axis()  # already free: nothing to do


def _onnx_model(path: Path, target_shape: list[int]) -> Path:
    """x (1, 4) -> Relu -> Reshape(target_shape) -> y: a Reshape whose constant pins the batch."""
    import onnx
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [len(target_shape)], target_shape)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["y"])],
        "pinned", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2])], initializer=[shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_model_that_pins_its_batch_keeps_it(tmp_path: Path) -> None:
    pinned = open_backend(_onnx_model(tmp_path / "pinned.onnx", [1, 2, 2]), threads=1)
    assert not pinned.free_batch_axis()  # a batch of two cannot reshape to (1, 2, 2)
    assert pinned.input_shapes == [(1, 4)]
    x = np.array([[-1, 2, -3, 4]], np.float32)
    np.testing.assert_array_equal(pinned.run(x)[0], [[[0, 2], [0, 4]]])
    free = open_backend(_onnx_model(tmp_path / "free.onnx", [-1, 2, 2]), threads=1)
    assert free.free_batch_axis()
    assert free.run(np.concatenate([x, -x]))[0].shape == (2, 2, 2)


# ------------------------------------------------------------------ which backend `auto` picks (pure)

from rtpose.backends.plan import Machine, Plan, plan_backend  # noqa: E402
from rtpose.backends.registry import BACKENDS, BackendInfo, get_backend, native_backend, register_backend  # noqa: E402

CPU_ONLY = Machine(cuda=False, tensorrt=False, onnx2torch=True, ort_cuda=False)
GPU_TRT = Machine(cuda=True, tensorrt=True, onnx2torch=True, ort_cuda=False)
GPU_TORCH = Machine(cuda=True, tensorrt=False, onnx2torch=True, ort_cuda=False)
GPU_BARE = Machine(cuda=True, tensorrt=False, onnx2torch=False, ort_cuda=False)


@pytest.mark.parametrize("file, backend, device, machine, expected", [
    ("m.onnx", "auto", "auto", CPU_ONLY, ("onnxruntime", "cpu", None)),
    ("m.onnx", "auto", "auto", GPU_TRT, ("tensorrt", "cuda", "torch")),
    ("m.onnx", "auto", "auto", dataclasses.replace(GPU_TRT, onnx2torch=False), ("tensorrt", "cuda", "onnxruntime")),
    ("m.onnx", "auto", "auto", GPU_TORCH, ("torch", "cuda", None)),
    ("m.onnx", "auto", "auto", GPU_BARE, ("onnxruntime", "cpu", None)),
    ("m.onnx", "auto", "auto", dataclasses.replace(GPU_BARE, ort_cuda=True), ("onnxruntime", "cuda", None)),
    ("m.onnx", "auto", "cpu", GPU_TRT, ("onnxruntime", "cpu", None)),
    ("m.onnx", "torch", "auto", CPU_ONLY, ("torch", "auto", None)),
    ("m.onnx", "torch", "cpu", GPU_TORCH, ("torch", "cpu", None)),
    ("m.onnx", "tensorrt", "auto", GPU_TRT, ("tensorrt", "auto", None)),
    ("m.engine", "auto", "auto", CPU_ONLY, ("tensorrt", "auto", None)),
    ("m.pt", "auto", "cuda", GPU_TORCH, ("torch", "cuda", None)),
])
def test_plan_backend(file: str, backend: str, device: str, machine: Machine, expected: tuple) -> None:
    plan = plan_backend(Path(file), backend, device, machine)
    assert (plan.backend, plan.device, plan.start) == expected
    assert isinstance(plan, Plan) and plan.reason


@pytest.mark.parametrize("file, backend, device, machine, words", [
    ("m.onnx", "auto", "cuda", CPU_ONLY, "no CUDA GPU"),
    ("m.onnx", "auto", "cuda", GPU_BARE, "onnx2torch"),
    ("m.engine", "torch", "auto", GPU_TRT, "cannot run .engine"),
    ("m.onnx", "openvino", "auto", CPU_ONLY, "unknown backend"),
    ("m.xyz", "auto", "auto", CPU_ONLY, "unknown model format"),
])
def test_plan_backend_refuses_what_cannot_work(file, backend, device, machine, words) -> None:
    with pytest.raises(ModelError, match=words) as info:
        plan_backend(Path(file), backend, device, machine)
    assert file in str(info.value) or "unknown backend" in words


def test_the_backend_registry_describes_each_backend_and_takes_one_more_in_one_line(tmp_path: Path) -> None:
    assert native_backend(Path("a.onnx")).name == "onnxruntime"
    assert native_backend(Path("a.plan")).name == "tensorrt" and native_backend(Path("a.ts")).name == "torch"
    trt = get_backend("tensorrt")
    assert trt.devices == ("cuda",) and trt.fp16 and trt.batch and trt.opens(".onnx")
    assert "threads" in get_backend("onnxruntime").options and "threads" not in get_backend("torch").options
    before = list(BACKENDS)
    try:  # what another backend (e.g. rtpose/backends/tflite.py) adds: one line
        register_backend(BackendInfo("numpy", (".npy",), ("cpu",), batch=True, fp16=False, options=(),
                                     opener="tests.test_backends:NumpyScale"))
        np.save(tmp_path / "scale.npy", np.float32(3))
        backend = open_backend(tmp_path / "scale.npy")
        assert backend.name == "numpy" and backend.run(np.ones(2, np.float32))[0].tolist() == [3, 3]
    finally:
        BACKENDS[:] = before
    with pytest.raises(ModelError, match="unknown model format '.npy'"):
        open_backend(tmp_path / "scale.npy")


class NumpyScale(Backend):
    """The smallest real backend: a .npy scalar that multiplies the input (for the registry test)."""

    name, input_names, output_names, input_shapes = "numpy", ["x"], ["y"], [(None,)]

    def __init__(self, path: Path, device: str = "cpu") -> None:
        self.path, self.device, self.factor = path, device, np.load(path)

    def run(self, inputs):
        return [self.feed(inputs)["x"] * self.factor]


def test_auto_passes_each_backend_only_its_own_options(shared: Path) -> None:
    """`threads` is ONNX Runtime's: a graph that sets it and runs on torch must not fail."""
    from rtpose.backends.base import open_planned

    backend = open_planned(shared / YOLOX, "onnxruntime", "cpu", {"threads": 1, "fp16": True}, strict=False)
    assert backend.name == "onnxruntime"
    with pytest.raises(ModelError, match="unknown options"):
        open_planned(shared / YOLOX, "onnxruntime", "cpu", {"fp16": True})


# ------------------------------------------------------------------ errors that name the model

def test_an_input_that_does_not_fit_names_the_model_and_the_axis(shared: Path) -> None:
    backend = open_backend(shared / YOLOX, device="cpu", threads=1)
    with pytest.raises(ModelError, match=r"yolox_nano_416x416.onnx: input 'images'.*axis 1 must be 3, not 1") as info:
        backend.run(np.zeros((1, 1, 416, 416), np.float32))
    assert "gray" in str(info.value)
    with pytest.raises(ModelError, match=r"yolox_nano_416x416.onnx: input 'images'.*axis 3 must be 416, not 320"):
        backend.run(np.zeros((1, 3, 416, 320), np.float32))
    with pytest.raises(ModelError, match=r"yolox_nano_416x416.onnx.*4 dimensions"):
        backend.run(np.zeros((3, 416, 416), np.float32))


def test_a_pose_model_fed_crops_it_does_not_take_names_the_model(shared: Path) -> None:
    """An NHWC hand model given to the top-down pose estimator (which makes NCHW crops)."""
    from rtpose.models.heatmap import TopDownPoseEstimator

    estimator = TopDownPoseEstimator(shared / "models/hand/hand_landmark_full.onnx", threads=1)
    image = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(ModelError, match=r"hand_landmark_full.onnx: input 'input_1' takes shape .*224, 224, 3\).*axis 1 must be 224"):
        estimator(image, np.array([[10, 10, 100, 200]], np.float32))


def test_auto_falls_back_to_onnxruntime_for_a_model_torch_cannot_convert(shared: Path, monkeypatch, caplog) -> None:
    """On a GPU without TensorRT, auto means torch CUDA; MoveNet MultiPose does not convert (onnx2torch
    lacks SAME_UPPER padding on dynamic sizes), so it runs on ONNX Runtime, logged. The machine is
    simulated as CUDA-less torch (device cpu) to run here."""
    pytest.importorskip("onnx")
    import importlib.util

    if importlib.util.find_spec("onnx2torch") is None:
        pytest.skip("onnx2torch not installed")
    from rtpose.backends import plan

    monkeypatch.setattr(plan, "plan_backend", lambda path, backend, device, machine: plan.Plan("torch", "cpu"))
    with caplog.at_level("WARNING", logger="rtpose.backends.base"):
        backend = open_backend(shared / "models/bottomup/movenet_multipose.onnx", threads=1)
    assert backend.name == "onnxruntime" and "onnx2torch cannot convert" in caplog.text
    with pytest.raises(ModelError, match="onnx2torch cannot convert"):  # asked for by name: no fallback
        open_backend(shared / "models/bottomup/movenet_multipose.onnx", backend="torch", device="cpu")

"""The torch/TensorRT GPU path. The crop maths runs on the CPU (torch CPU executes the same
``affine_grid``/``grid_sample``), so it is tested everywhere; the rest needs CUDA or TensorRT and
skips with the reason when they are absent."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rtpose import engines
from rtpose.engines import tensorrt_available
from rtpose.models.calibration import PREPROCESS
from rtpose.models.gpu_preprocess import GpuTopDownPreprocessor, crop_thetas, pick_bucket
from rtpose.models.heatmap import box_to_center_scale, crop_affine, normalize
from helpers import TORCH_FAMILIES

REPO = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()
TRT = tensorrt_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs CUDA (torch.cuda.is_available() is False)")
needs_trt = pytest.mark.skipif(not (CUDA and TRT), reason="needs TensorRT and a CUDA GPU")
SIZE = (192, 256)


def _frame(shared: Path) -> np.ndarray:
    image = cv2.imread(str(shared / "data" / "coco" / "000000000785.jpg"))
    assert image is not None
    return image


def _boxes(image: np.ndarray) -> np.ndarray:
    """Ordinary, tiny (upsampled), whole-image (downsampled) and half-outside boxes."""
    h, w = image.shape[:2]
    return np.array([[10, 20, 200, 400], [300, 100, 330, 160], [0, 0, w, h],
                     [w - 100, h - 150, w + 60, h + 40], [-50, -30, 80, 90]], np.float32)


def _pixels(device: str) -> GpuTopDownPreprocessor:
    """A pre-processor that returns raw BGR pixels, to compare with crop_affine's uint8 crops."""
    return GpuTopDownPreprocessor(SIZE, mean=(0, 0, 0), std=(1, 1, 1), rgb=False, device=device,
                                  dtype=torch.float32, channels_last=False)


def test_identity_crop_gives_the_identity_theta() -> None:
    theta = crop_thetas(np.array([[96.0, 128.0]]), np.array([[192.0, 256.0]]), SIZE, SIZE)
    assert np.allclose(theta[0], [[1, 0, 0], [0, 1, 0]], atol=1e-6)


def test_grid_sample_crops_match_opencv_on_cpu(shared: Path) -> None:
    image = _frame(shared)
    centers, scales = box_to_center_scale(_boxes(image), SIZE[0] / SIZE[1])
    reference = crop_affine(image, centers, scales, SIZE).astype(np.float32)
    crops = _pixels("cpu")(image, centers, scales).permute(0, 2, 3, 1).numpy()
    diff = np.abs(crops - reference)
    assert diff.mean(axis=(1, 2, 3)).max() < 2.0  # gray levels, per crop
    assert diff.max() < 3.0  # OpenCV's fixed-point weights + uint8 rounding, nothing more
    assert crops[3, -1, -1].max() == 0  # outside the image: black, as OpenCV's constant border


def test_normalised_crops_match_the_cpu_pipeline(shared: Path) -> None:
    image = _frame(shared)
    centers, scales = box_to_center_scale(_boxes(image), SIZE[0] / SIZE[1])
    reference = normalize(crop_affine(image, centers, scales, SIZE))
    pre = GpuTopDownPreprocessor(SIZE, device="cpu", dtype=torch.float32, channels_last=False)
    batch = pre(image, centers, scales)
    assert batch.shape == reference.shape and batch.dtype == torch.float32
    assert np.abs(batch.numpy() - reference).mean() < 2.0 / 57.0  # < 2 gray levels after / std


def test_no_boxes_give_an_empty_batch(shared: Path) -> None:
    pre = GpuTopDownPreprocessor(SIZE, device="cpu", dtype=torch.float32)
    assert tuple(pre(_frame(shared), np.zeros((0, 2)), np.zeros((0, 2))).shape) == (0, 3, 256, 192)


def test_pick_bucket() -> None:
    buckets = (1, 2, 4, 8, 16, 32)
    assert [pick_bucket(n, buckets) for n in (1, 2, 3, 5, 9, 32, 40)] == [1, 2, 4, 8, 16, 32, 32]
    with pytest.raises(ValueError):
        pick_bucket(0, buckets)


# ------------------------------------------------------------------ CUDA only

@pytest.mark.gpu
@needs_cuda
def test_cuda_crops_match_opencv(shared: Path) -> None:
    image = _frame(shared)
    centers, scales = box_to_center_scale(_boxes(image), SIZE[0] / SIZE[1])
    reference = crop_affine(image, centers, scales, SIZE).astype(np.float32)
    crops = _pixels("cuda")(image, centers, scales).permute(0, 2, 3, 1).cpu().numpy()
    assert np.abs(crops - reference).mean(axis=(1, 2, 3)).max() < 2.0


@pytest.mark.gpu
@needs_cuda
def test_fp16_channels_last_output(shared: Path) -> None:
    image = _frame(shared)
    centers, scales = box_to_center_scale(_boxes(image), SIZE[0] / SIZE[1])
    batch = GpuTopDownPreprocessor(SIZE, device="cuda")(image, centers, scales)
    assert batch.dtype == torch.float16 and batch.is_cuda
    assert batch.is_contiguous(memory_format=torch.channels_last)
    reference = normalize(crop_affine(image, centers, scales, SIZE))
    assert np.abs(batch.float().cpu().numpy() - reference).mean() < 0.05


@pytest.mark.gpu
@needs_cuda
def test_cuda_graphs_match_eager() -> None:
    from rtpose.models.gpu_preprocess import GraphedModel
    from rtpose.models.hrnet import hrnet_w32

    torch.manual_seed(0)
    model = hrnet_w32()
    graphed = GraphedModel(model, (3, 256, 192), buckets=(1, 4), dtype=torch.float16)
    batch = torch.randn(3, 3, 256, 192, device="cuda", dtype=torch.float16)
    batch = batch.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        eager = graphed.module(batch).float()
    out = graphed(batch).float()
    assert out.shape == (3, 17, 64, 48)
    assert (out - eager).abs().max().item() < 1e-2


# ------------------------------------------------------------------ TensorRT

def _simplepose_spec(shared: Path) -> engines.EngineSpec:
    spec = engines.load_spec(REPO / "engines" / "simplepose_nano.yaml")
    return spec.model_copy(update={
        "onnx": str(shared / "models/pose/simplepose_nano_256x192.onnx"),
        "calibration": engines.Calibration(images=str(shared / "data/coco"), count=4, preprocess="topdown")})


@pytest.mark.gpu
@needs_trt
def test_engine_builds_caches_and_matches_onnxruntime(shared: Path, tmp_path: Path) -> None:
    spec = _simplepose_spec(shared)
    first = engines.ensure_engine(spec, tmp_path)
    assert engines.read_sidecar(first.with_suffix(".json")) is not None
    start = time.perf_counter()
    again = engines.ensure_engine(spec, tmp_path)
    from rtpose.backends.tensorrt import TensorRTBackend

    backend = TensorRTBackend(again)
    assert again == first and time.perf_counter() - start < 1.0  # cache hit + deserialise
    backend.close()
    from rtpose.backends.tensorrt import verify_engine

    diffs = verify_engine(spec, tmp_path, engines.sample_input(spec, preprocess=PREPROCESS["topdown"]))
    assert max(diffs.values()) < 0.05  # fp16 heatmaps vs fp32 ONNX Runtime


@pytest.mark.gpu
@needs_trt
def test_tensorrt_backends_in_two_threads_agree_with_one(shared: Path, tmp_path: Path) -> None:
    from rtpose.backends.tensorrt import TensorRTBackend

    path = engines.ensure_engine(_simplepose_spec(shared), tmp_path)
    x = np.random.default_rng(0).standard_normal((1, 3, 256, 192)).astype(np.float32)
    expected = TensorRTBackend(path).run(x)[0]
    results: list[np.ndarray] = []

    def work() -> None:
        backend = TensorRTBackend(path)
        results.extend(backend.run(x)[0] for _ in range(20))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40 and all(np.array_equal(r, expected) for r in results)


@pytest.mark.gpu
@needs_trt
def test_tensorrt_run_torch_takes_gpu_crops(shared: Path, tmp_path: Path) -> None:
    from rtpose.backends.tensorrt import TensorRTBackend
    from rtpose.models.gpu_preprocess import run_on_device

    backend = TensorRTBackend(engines.ensure_engine(_simplepose_spec(shared), tmp_path))
    image = _frame(shared)
    centers, scales = box_to_center_scale(_boxes(image)[:1], SIZE[0] / SIZE[1])
    batch = GpuTopDownPreprocessor(SIZE, device="cuda", dtype=torch.float32, channels_last=False)(
        image, centers, scales)
    on_device = run_on_device(backend, batch)
    on_host = backend.run(normalize(crop_affine(image, centers, scales, SIZE)))[0]
    assert on_device.shape == (1, 17, 64, 48) and np.abs(on_device - on_host).max() < 0.05


# ------------------------------------------------------------------ every model family on torch CUDA



@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("file, shape, scale", TORCH_FAMILIES, ids=[f[0].split("/")[-1] for f in TORCH_FAMILIES])
def test_every_family_runs_on_torch_cuda_within_the_fp16_tolerance(shared: Path, file: str, shape: tuple,
                                                                    scale: float) -> None:
    """On CUDA the torch backend keeps fp16 only where every output stays within FP16_RTOL of float32
    (checked on a probe input at open); either way it must agree with ONNX Runtime on real-range input."""
    from rtpose.backends.base import open_backend
    from rtpose.backends.torch import FP16_RTOL

    path = shared / "models" / file
    backend = open_backend(path, backend="torch", device="cuda")
    assert backend.device == "cuda"
    x = np.random.default_rng(0).uniform(0, scale, shape).astype(np.float32)
    expected = open_backend(path, backend="onnxruntime", device="cpu", threads=1).run(x)
    tolerance = 3 * FP16_RTOL if backend.dtype == torch.float16 else 1e-3
    for e, g in zip(expected, backend.run(x)):
        assert np.abs(g - e).max() <= tolerance * max(np.abs(e).max(), 1e-6)


@pytest.mark.gpu
@needs_cuda
def test_auto_on_a_gpu_runs_onnx_on_cuda(shared: Path, tmp_path: Path, monkeypatch) -> None:
    from rtpose.backends.base import open_backend

    monkeypatch.setenv("RTPOSE_HOME", str(tmp_path))  # a TensorRT build started here stays out of the user's cache
    backend = open_backend(shared / "models/det/yolox_nano_416x416.onnx")
    assert backend.device == "cuda" and backend.name in ("torch", "tensorrt")
    out = backend.run(np.zeros((1, 3, 416, 416), np.float32))[0]
    assert out.shape == (1, 3549, 85)


@pytest.mark.gpu
@needs_trt
def test_auto_switches_to_the_engine_the_cli_builds(shared: Path, tmp_path: Path, monkeypatch) -> None:
    """`rtpose engines build simplepose_nano` warms the cache; a graph's auto backend then opens the
    very engine, at once, with no build."""
    from rtpose.backends.base import open_backend

    monkeypatch.setenv("RTPOSE_HOME", str(tmp_path))
    spec = engines.find_spec("simplepose_nano", REPO / "engines")
    built = engines.ensure_engine(spec, engines.engine_cache_dir())
    backend = open_backend(shared / "models/pose/simplepose_nano_256x192.onnx")
    assert backend.name == "tensorrt" and backend.path == built


def test_gpu_letterbox_matches_the_cpu_letterbox_on_cpu(shared: Path) -> None:
    from rtpose.models.gpu_preprocess import GpuLetterbox
    from rtpose.models.yolox import letterbox

    image = _frame(shared)
    for size in ((416, 416), (640, 384)):
        reference, scale = letterbox(image, size)
        tensor, gpu_scale = GpuLetterbox(size, device="cpu")(image)
        assert gpu_scale == scale and tuple(tensor.shape) == reference.shape
        diff = np.abs(tensor.numpy() - reference)
        assert diff.mean() < 1.0 and diff.max() <= 3.0  # gray levels: bilinear weights, uint8 rounding
        assert tensor[0, :, -1, -1].tolist() == [114.0, 114.0, 114.0]


@pytest.mark.gpu
@needs_cuda
def test_yolox_on_torch_cuda_finds_what_onnxruntime_finds(shared: Path) -> None:
    from rtpose.models.yolox import YoloxDetector

    model = shared / "models/det/yolox_nano_416x416.onnx"
    image = _frame(shared)
    on_gpu = YoloxDetector(model, backend="torch", device="cuda")
    assert on_gpu.gpu_letterbox is not None
    reference = YoloxDetector(model, backend="onnxruntime", device="cpu", threads=1)(image)
    found = on_gpu(image)
    assert len(found) == len(reference) and np.abs(found.boxes - reference.boxes).max() < 3.0

"""ONNX models on torch through onnx2torch: every shared model family is converted and gives, on
the CPU, what ONNX Runtime gives (the reference) within a stated tolerance; the one that does not
convert says why."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from rtpose.backends.base import open_backend
from rtpose.errors import ModelError
from helpers import TORCH_FAMILIES

pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnx2torch") is None or
                                importlib.util.find_spec("torch") is None,
                                reason="onnx2torch not installed: pip install 'rtpose[torch]'")

# Tolerance: max abs difference <= RTOL x the output's largest
# magnitude + ATOL (float32 on both sides; only the order of the additions differs).
RTOL, ATOL = 1e-4, 1e-4


@pytest.mark.parametrize("file, shape, scale", TORCH_FAMILIES, ids=[f[0].split("/")[-1] for f in TORCH_FAMILIES])
def test_torch_on_a_converted_model_matches_onnxruntime(shared: Path, file: str, shape: tuple, scale: float) -> None:
    path = shared / "models" / file
    reference = open_backend(path, backend="onnxruntime", device="cpu", threads=1)
    torch_backend = open_backend(path, backend="torch", device="cpu")
    assert (torch_backend.name, torch_backend.device) == ("torch", "cpu")
    assert torch_backend.input_names == reference.input_names
    assert torch_backend.output_names == reference.output_names
    x = np.random.default_rng(0).uniform(0, scale, shape).astype(np.float32)
    expected, got = reference.run(x), torch_backend.run(x)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert g.shape == e.shape
        assert np.abs(g - e).max() <= RTOL * np.abs(e).max() + ATOL


def test_a_batch_one_file_takes_batches_on_torch(shared: Path) -> None:
    backend = open_backend(shared / "models/pose/simplepose_nano_256x192.onnx", backend="torch", device="cpu")
    assert backend.input_shapes == [(1, 3, 256, 192)] and backend.free_batch_axis()
    x = np.random.default_rng(1).standard_normal((3, 3, 256, 192)).astype(np.float32)
    alone = np.concatenate([backend.run(x[i:i + 1])[0] for i in range(3)])
    np.testing.assert_allclose(backend.run(x)[0], alone, rtol=1e-4, atol=1e-5)


def test_a_model_onnx2torch_cannot_convert_says_so(shared: Path) -> None:
    """MoveNet MultiPose uses SAME_UPPER padding on dynamic sizes, which onnx2torch does not convert."""
    with pytest.raises(ModelError, match=r"movenet_multipose.onnx: onnx2torch cannot convert.*auto_pad"):
        open_backend(shared / "models/bottomup/movenet_multipose.onnx", backend="torch", device="cpu")


def test_hrnet_exported_by_rtpose_runs_on_torch_through_onnx(tmp_path: Path) -> None:
    """torch's exporter shares equal constants through Identity nodes; they are inlined for onnx2torch."""
    import torch

    from rtpose.models.hrnet import export_onnx, hrnet_w32

    torch.manual_seed(0)
    model = hrnet_w32().eval()
    export_onnx(model, tmp_path / "hrnet.onnx", input_size=(192, 256))
    backend = open_backend(tmp_path / "hrnet.onnx", backend="torch", device="cpu")
    x = np.random.default_rng(2).standard_normal((2, 3, 256, 192)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(backend.run(x)[0], expected, rtol=RTOL, atol=ATOL)

"""VideoPose3D's temporal model against the paper's description, with random weights (no weights can
be had here): the official checkpoint layout, receptive fields, causal latency, checkpoint loading and
ONNX export parity; and the COCO -> Human3.6M 2D mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from rtpose.errors import ModelError  # noqa: E402
from rtpose.models import videopose3d as vp  # noqa: E402


def small(receptive_field: int, causal: bool = False) -> vp.TemporalModel:
    torch.manual_seed(0)
    model = vp.TemporalModel(17, 17, vp.RECEPTIVE_FIELDS[receptive_field], causal, channels=64).eval()
    for bn in model.modules():  # random statistics, so every layer matters
        if isinstance(bn, torch.nn.BatchNorm1d):
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
    return model


def test_state_dict_has_the_official_layout() -> None:
    """From the paper's architecture: expand conv (kernel 3 over 2*17 channels), then per block a dilated
    3-wide and a 1x1 conv, each followed by batch norm, and a 1x1 shrink to 17*3 with bias."""
    state = vp.temporal_model(243).state_dict()
    expected = {"expand_conv.weight": (1024, 34, 3), "shrink.weight": (51, 1024, 1), "shrink.bias": (51,)}
    for i in range(4):
        expected[f"layers_conv.{2 * i}.weight"] = (1024, 1024, 3)
        expected[f"layers_conv.{2 * i + 1}.weight"] = (1024, 1024, 1)
    for name in ["expand_bn"] + [f"layers_bn.{i}" for i in range(8)]:
        for part in ("weight", "bias", "running_mean", "running_var"):
            expected[f"{name}.{part}"] = (1024,)
        expected[f"{name}.num_batches_tracked"] = ()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


@pytest.mark.parametrize("receptive_field", [27, 81, 243])
def test_receptive_field_is_the_product_of_the_kernel_widths(receptive_field: int) -> None:
    model = small(receptive_field)
    assert model.receptive_field == receptive_field
    x = torch.randn(2, receptive_field + 9, 17, 2)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 10, 17, 3)
        # output 0 depends on input frames 0..RF-1 and on nothing after
        bumped = x.clone()
        bumped[:, receptive_field - 1] += 1.0
        assert not torch.allclose(model(bumped)[:, 0], out[:, 0])
        bumped = x.clone()
        bumped[:, receptive_field] += 1.0
        assert torch.allclose(model(bumped)[:, 0], out[:, 0])


@pytest.mark.parametrize("causal", [False, True])
def test_live_latency_centred_and_causal(causal: bool) -> None:
    model = small(27, causal)
    assert model.latency_frames == (0 if causal else 13)
    seq = np.random.default_rng(0).uniform(0, 640, (40, 17, 2)).astype(np.float32)
    out = vp.lift(model, seq, 640, 480)
    assert out.shape == (40, 17, 3)
    t = 20
    changed = seq.copy()
    changed[t + model.latency_frames + 1:] += 50.0  # frames later than what frame t may see
    np.testing.assert_allclose(vp.lift(model, changed, 640, 480)[t], out[t], atol=1e-5)
    changed = seq.copy()
    changed[t + model.latency_frames] += 50.0  # the latest frame frame t sees
    assert not np.allclose(vp.lift(model, changed, 640, 480)[t], out[t], atol=1e-5)


def test_official_checkpoint_loads_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    model = small(27)
    path = tmp_path / "pretrained.bin"
    torch.save({"epoch": 80, "lr": 0.001, "model_pos": model.state_dict()}, path)
    loaded = vp.load_checkpoint(vp.TemporalModel(17, 17, (3, 3, 3), channels=64), path)
    x = torch.randn(1, 27, 17, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(ModelError, match="shape mismatches"):
        vp.load_checkpoint(vp.TemporalModel(17, 17, (3, 3, 3), channels=32), path)


def test_onnx_export_matches_torch_for_any_length(tmp_path: Path) -> None:
    model = small(81, causal=True)
    path = vp.export_onnx(model, tmp_path / "vp3d.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (81, 100):
        x = np.random.default_rng(frames).normal(size=(3, frames, 17, 2)).astype(np.float32)
        (onnx_out,) = session.run(None, {"keypoints_2d": x})
        with torch.no_grad():
            np.testing.assert_allclose(onnx_out, model(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_coco_to_h36m_mapping() -> None:
    coco = np.zeros((17, 3), np.float32)
    coco[:, 2] = 1.0
    coco[11, :2], coco[12, :2] = (110, 300), (90, 300)  # left hip on the image right, as a person facing us
    coco[5, :2], coco[6, :2] = (120, 150), (80, 150)
    coco[0, :2], coco[1, :2], coco[2, :2] = (100, 100), (105, 95), (95, 95)
    coco[12, 2] = 0.2
    h36m = vp.coco17_to_h36m17(coco)
    np.testing.assert_allclose(h36m[0], [100, 300, 0.2])  # pelvis: mid-hips, the weaker score
    np.testing.assert_allclose(h36m[8, :2], [100, 150])  # thorax
    np.testing.assert_allclose(h36m[7, :2], [100, 225])  # spine
    assert h36m[1, 0] == 90 and h36m[4, 0] == 110  # right hip is COCO 12, left hip COCO 11
    assert h36m[11, 0] == 120 and h36m[14, 0] == 80  # left shoulder 11, right shoulder 14
    assert h36m[10, 1] < h36m[9, 1] < h36m[8, 1]  # head above the nose above the thorax
    assert vp.normalize_screen(np.array([[0, 0], [640, 480]]), 640, 480).tolist() == [[-1, -0.75], [1, 0.75]]


def test_lift3d_node_lifts_each_track_from_its_own_history(tmp_path: Path) -> None:
    from rtpose.api import Image, Poses
    from rtpose_nodes.lift3d import Lift3d, Lift3dParams

    model = small(27, causal=True)
    path = tmp_path / "causal.bin"
    torch.save({"model_pos": model.state_dict()}, path)
    node = Lift3d("lift", Lift3dParams(checkpoint=str(path), receptive_field=27, causal=True, channels=64))
    node.open()
    rng = np.random.default_rng(1)
    walk = {1: rng.uniform(100, 500, (35, 17, 2)), 2: rng.uniform(100, 500, (35, 17, 2))}
    image = Image(np.zeros((480, 640, 3), np.uint8), 0.0)
    outputs = []
    for t in range(35):
        kps = np.concatenate([np.stack([walk[1][t], walk[2][t]]), np.ones((2, 17, 1))], axis=2)
        poses = Poses(boxes=[[0, 0, 1, 1]] * 2, scores=[1, 1], class_ids=[0, 0], track_ids=[1, 2], keypoints=kps)
        outputs.append(node.process(image=image, poses=poses)["poses"])
    for tid, row in ((1, 0), (2, 1)):  # each frame's 3D is the lift of that track's frames up to it
        expected = vp.lift(model, walk[tid], 640, 480)
        for t in (0, 10, 34):
            np.testing.assert_allclose(outputs[t].attributes["keypoints_3d"][row], expected[t], atol=1e-4)
    assert outputs[-1].attributes["schema_3d"] == ["h36m17", "h36m17"] and outputs[-1].attributes["lag_frames"] == [0, 0]
    node.reset()
    fresh = node.process(image=image, poses=poses)["poses"].attributes["keypoints_3d"]
    np.testing.assert_allclose(fresh[0], vp.lift(model, walk[1][34:], 640, 480)[0], atol=1e-4)

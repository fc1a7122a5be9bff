"""HRNet-W32/W48: mmpose checkpoint layout, checkpoint loading, and ONNX export parity.

The expected state-dict layout is derived here, independently of rtpose's code, from the
rules in mmpose's own source (mmpose/models/backbones/hrnet.py, resnet.py,
heads/topdown_heatmap_simple_head.py and configs/.../hrnet_w32_coco_256x192.py):

* stem ``conv1``/``bn1``/``conv2``/``bn2`` (64 ch); ``layer1`` = 4 Bottlenecks 64->256, the
  first with ``downsample.{0,1}``; Bottleneck norms are ``bn1..bn3`` (mmcv's build_norm_layer).
* stages 2/3/4 have 1/4/3 HRModules of 2/3/4 branches, 4 BasicBlocks per branch.
* ``fuse_layers[i][j]``: j>i -> Sequential(conv1x1, BN, Upsample); j<i -> (i-j) Sequentials of
  (conv3x3 s2, BN[, ReLU]), the intermediate ones keep ``in_channels[j]``; j==i -> None.
* ``_make_stage(multiscale_output=True)`` by default, but stage 4 is built with the config's
  ``multiscale_output`` (absent -> False): its LAST module has only ``fuse_layers.0``.
* transitions: a kept branch with other width -> (conv3x3, BN, ReLU); a new branch -> a
  Sequential of strided (conv3x3, BN, ReLU) from the last previous branch.
* head: ``num_deconv_layers=0``, ``final_conv_kernel=1`` -> ``keypoint_head.final_layer`` is a
  bare Conv2d(width, 17, 1) with bias.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from rtpose.errors import ModelError  # noqa: E402
from rtpose.models import hrnet  # noqa: E402

Shape = tuple[int, ...]


def _conv(keys: dict[str, Shape], name: str, cout: int, cin: int, k: int) -> None:
    keys[f"{name}.weight"] = (cout, cin, k, k)


def _bn(keys: dict[str, Shape], name: str, c: int) -> None:
    for suffix in ("weight", "bias", "running_mean", "running_var"):
        keys[f"{name}.{suffix}"] = (c,)
    keys[f"{name}.num_batches_tracked"] = ()


def mmpose_topdown_hrnet_keys(width: int) -> dict[str, Shape]:
    """Key -> shape of an mmpose 0.x TopDown HRNet checkpoint, following mmpose's rules above."""
    keys: dict[str, Shape] = {}
    b = "backbone"
    _conv(keys, f"{b}.conv1", 64, 3, 3)
    _bn(keys, f"{b}.bn1", 64)
    _conv(keys, f"{b}.conv2", 64, 64, 3)
    _bn(keys, f"{b}.bn2", 64)
    for i in range(4):
        cin = 64 if i == 0 else 256
        _conv(keys, f"{b}.layer1.{i}.conv1", 64, cin, 1)
        _bn(keys, f"{b}.layer1.{i}.bn1", 64)
        _conv(keys, f"{b}.layer1.{i}.conv2", 64, 64, 3)
        _bn(keys, f"{b}.layer1.{i}.bn2", 64)
        _conv(keys, f"{b}.layer1.{i}.conv3", 256, 64, 1)
        _bn(keys, f"{b}.layer1.{i}.bn3", 256)
    _conv(keys, f"{b}.layer1.0.downsample.0", 256, 64, 1)
    _bn(keys, f"{b}.layer1.0.downsample.1", 256)
    pre = [256]
    for stage, num_modules in ((2, 1), (3, 4), (4, 3)):
        cur = [width * 2**k for k in range(stage)]
        t = f"{b}.transition{stage - 1}"
        for i in range(stage):
            if i < len(pre):
                if cur[i] != pre[i]:
                    _conv(keys, f"{t}.{i}.0", cur[i], pre[i], 3)
                    _bn(keys, f"{t}.{i}.1", cur[i])
                continue
            for j in range(i + 1 - len(pre)):
                out = cur[i] if j == i - len(pre) else pre[-1]
                _conv(keys, f"{t}.{i}.{j}.0", out, pre[-1], 3)
                _bn(keys, f"{t}.{i}.{j}.1", out)
        for m in range(num_modules):
            s = f"{b}.stage{stage}.{m}"
            for br in range(stage):
                for blk in range(4):
                    for n in (1, 2):
                        _conv(keys, f"{s}.branches.{br}.{blk}.conv{n}", cur[br], cur[br], 3)
                        _bn(keys, f"{s}.branches.{br}.{blk}.bn{n}", cur[br])
            multiscale = not (stage == 4 and m == num_modules - 1)
            for i in range(stage if multiscale else 1):
                for j in range(stage):
                    if j > i:
                        _conv(keys, f"{s}.fuse_layers.{i}.{j}.0", cur[i], cur[j], 1)
                        _bn(keys, f"{s}.fuse_layers.{i}.{j}.1", cur[i])
                    for k in range(i - j):
                        out = cur[i] if k == i - j - 1 else cur[j]
                        _conv(keys, f"{s}.fuse_layers.{i}.{j}.{k}.0", out, cur[j], 3)
                        _bn(keys, f"{s}.fuse_layers.{i}.{j}.{k}.1", out)
        pre = cur
    keys["keypoint_head.final_layer.weight"] = (17, width, 1, 1)
    keys["keypoint_head.final_layer.bias"] = (17,)
    return keys


# Counted by hand from the rules: conv = 1 key, BN = 5 keys.
KEYS_PER_PART = {
    "backbone.conv": 2, "backbone.bn": 10, "backbone.layer1.": 78, "backbone.transition": 24,
    "backbone.stage2.": 108, "backbone.stage3.": 744, "backbone.stage4.": 786, "keypoint_head.": 2,
}
EXACT_SHAPES = {
    32: {
        "backbone.conv1.weight": (64, 3, 3, 3),
        "backbone.layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "backbone.transition1.0.0.weight": (32, 256, 3, 3),
        "backbone.transition1.1.0.0.weight": (64, 256, 3, 3),
        "backbone.transition3.3.0.0.weight": (256, 128, 3, 3),
        "backbone.stage4.1.fuse_layers.3.0.0.0.weight": (32, 32, 3, 3),
        "backbone.stage4.1.fuse_layers.3.0.2.0.weight": (256, 32, 3, 3),
        "backbone.stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),
        "backbone.stage4.2.branches.3.3.bn2.running_var": (256,),
        "keypoint_head.final_layer.weight": (17, 32, 1, 1),
    },
    48: {
        "backbone.transition1.0.0.weight": (48, 256, 3, 3),
        "backbone.transition3.3.0.0.weight": (384, 192, 3, 3),
        "backbone.stage4.1.fuse_layers.3.0.2.0.weight": (384, 48, 3, 3),
        "keypoint_head.final_layer.weight": (17, 48, 1, 1),
    },
}
# mmpose model zoo / HRNet paper: 28.5M and 63.6M parameters.
PARAMS_M = {32: 28.5, 48: 63.6}


@pytest.fixture(scope="module")
def w32() -> hrnet.TopDownHRNet:
    torch.manual_seed(0)
    return _randomize_bn(hrnet.hrnet_w32())


def _randomize_bn(model: hrnet.TopDownHRNet) -> hrnet.TopDownHRNet:
    """Non-trivial BN statistics so a checkpoint round trip that drops buffers would show."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("width", [32, 48])
def test_state_dict_matches_mmpose_layout(width: int) -> None:
    model = hrnet.TopDownHRNet(width)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = mmpose_topdown_hrnet_keys(width)
    assert sorted(set(got) - set(expected)) == []
    assert sorted(set(expected) - set(got)) == []
    assert got == expected
    for prefix, count in KEYS_PER_PART.items():
        assert sum(k.startswith(prefix) for k in got) == count, prefix
    for key, shape in EXACT_SHAPES[width].items():
        assert got[key] == shape, key
    # Only with multiscale_output=True would the last stage-4 module fuse into branch 3.
    assert "backbone.stage4.2.fuse_layers.3.0.0.0.weight" not in got
    n_params = sum(p.numel() for p in model.parameters())
    assert round(n_params / 1e6, 1) == PARAMS_M[width]


def test_output_shape_is_stride_4(w32: hrnet.TopDownHRNet) -> None:
    with torch.no_grad():
        out = w32(torch.randn(2, 3, 256, 192))
    assert tuple(out.shape) == (2, 17, 64, 48)


def _save_mmpose(state: dict, path: Path) -> Path:
    torch.save({"state_dict": state, "meta": {"epoch": 210, "best": np.float64(0.74)}}, path)
    return path


@pytest.mark.parametrize("style", ["mmpose0", "ddp_prefix", "mmpose1_head"])
def test_mmpose_checkpoint_round_trips(w32: hrnet.TopDownHRNet, tmp_path: Path, style: str) -> None:
    state = dict(w32.state_dict())
    if style == "ddp_prefix":
        state = {f"module.{k}": v for k, v in state.items()}
    if style == "mmpose1_head":
        state = {k.replace("keypoint_head.", "head.", 1): v for k, v in state.items()}
    ckpt = _save_mmpose(state, tmp_path / "ckpt.pth")
    fresh = hrnet.load_mmpose_checkpoint(hrnet.hrnet_w32(), ckpt)
    loaded = fresh.state_dict()
    for key, value in w32.state_dict().items():
        assert torch.equal(loaded[key], value), key
    assert not fresh.training
    if style == "mmpose0":  # same weights -> same output (small input: only the weights matter here)
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            assert torch.equal(fresh(x), w32(x))


def test_missing_key_names_it(w32: hrnet.TopDownHRNet, tmp_path: Path) -> None:
    state = dict(w32.state_dict())
    del state["backbone.stage3.2.fuse_layers.2.0.1.1.running_var"]
    state["backbone.stage4.2.fuse_layers.3.0.0.0.weight"] = torch.zeros(32, 32, 3, 3)
    ckpt = _save_mmpose(state, tmp_path / "broken.pth")
    with pytest.raises(ModelError) as err:
        hrnet.load_mmpose_checkpoint(hrnet.hrnet_w32(), ckpt)
    text = str(err.value)
    assert "missing keys (1): backbone.stage3.2.fuse_layers.2.0.1.1.running_var" in text
    assert "unexpected keys (1): backbone.stage4.2.fuse_layers.3.0.0.0.weight" in text
    assert str(ckpt) in text


def test_w48_checkpoint_into_w32_reports_shapes(tmp_path: Path) -> None:
    ckpt = _save_mmpose(
        {"keypoint_head.final_layer.weight": torch.zeros(17, 48, 1, 1)}, tmp_path / "w48_head.pth"
    )
    with pytest.raises(ModelError, match=r"keypoint_head.final_layer.weight: checkpoint \(17, 48, 1, 1\)"):
        hrnet.load_mmpose_checkpoint(hrnet.hrnet_w32(), ckpt)


@pytest.fixture(scope="module")
def w32_onnx(w32: hrnet.TopDownHRNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hrnet.export_onnx(w32, tmp_path_factory.mktemp("onnx") / "hrnet_w32.onnx")


def test_onnx_contract(w32_onnx: Path) -> None:
    import onnx

    model = onnx.load(str(w32_onnx))
    assert model.opset_import[0].version == 17
    sess = ort.InferenceSession(str(w32_onnx), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, out.name) == ("input", "heatmaps")
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [3, 256, 192]
    assert isinstance(out.shape[0], str) and out.shape[1:] == [17, 64, 48]
    assert not list(w32_onnx.parent.glob("*.part"))


def test_sizes_are_width_height_everywhere(w32: hrnet.TopDownHRNet, tmp_path: Path) -> None:
    """The registry's input_size and export_onnx's are (width, height), like every model wrapper's."""
    from rtpose.models.registry import get_spec

    size = get_spec("hrnet_w32_coco_256x192").input_size
    assert size == (192, 256)
    path = hrnet.export_onnx(w32, tmp_path / "wide.onnx", input_size=(128, 96))  # a wide crop
    (inp,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()
    assert inp.shape[2:] == [96, 128]


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_matches_torch(w32: hrnet.TopDownHRNet, w32_onnx: Path, batch: int) -> None:
    sess = ort.InferenceSession(str(w32_onnx), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(batch).standard_normal((batch, 3, 256, 192), dtype=np.float32)
    (got,) = sess.run(["heatmaps"], {"input": x})
    with torch.no_grad():
        want = w32(torch.from_numpy(x)).numpy()
    assert got.shape == (batch, 17, 64, 48)
    assert np.abs(got - want).max() < 1e-4

"""HRNet-W32/W48 top-down pose models in torch, laid out so mmpose checkpoints load strictly.

Module and parameter names follow mmpose's own ``HRNet`` backbone (``mmpose/models/backbones/
hrnet.py``, ``BasicBlock``/``Bottleneck`` from ``resnet.py``, norms named ``bn1``.. as mmcv's
``build_norm_layer`` names them) and ``TopdownHeatmapSimpleHead`` with ``num_deconv_layers=0``
and ``final_conv_kernel=1`` (a single 1x1 ``final_layer`` conv).  The last HRModule of stage 4
is built with ``multiscale_output=False`` as in mmpose's COCO configs, so it only has
``fuse_layers.0``.  This is the only rtpose module that imports torch: rtpose itself never
imports it, only the registry when it converts a ``.pth`` to ONNX.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rtpose.errors import ModelError

NUM_KEYPOINTS = 17
STAGE_MODULES = (1, 4, 3)  # HRModules in stages 2, 3 and 4 (mmpose COCO configs)
BLOCKS_PER_BRANCH = 4


class BasicBlock(nn.Module):
    """mmpose's BasicBlock (expansion 1): two 3x3 convs and a residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Bottleneck(nn.Module):
    """mmpose's Bottleneck (expansion 4, 'pytorch' style) used by stage 1."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 4
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    """conv (no bias) + BN (+ ReLU): the unit of mmpose's transition and fuse layers."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _fuse_path(channels: list[int], src: int, dst: int) -> nn.Module | None:
    """How branch ``src`` reaches branch ``dst``: 1x1+upsample, identity, or strided 3x3s."""
    if src == dst:
        return None
    if src > dst:
        block = _conv_bn(channels[src], channels[dst], 1, 1, relu=False)
        block.append(nn.Upsample(scale_factor=2 ** (src - dst), mode="nearest"))
        return block
    steps = dst - src
    downs = [
        _conv_bn(channels[src], channels[dst], 3, 2, relu=False)
        if k == steps - 1
        else _conv_bn(channels[src], channels[src], 3, 2, relu=True)
        for k in range(steps)
    ]
    return nn.Sequential(*downs)


class HRModule(nn.Module):
    """Parallel branches of 4 BasicBlocks, then exchange between resolutions (mmpose HRModule)."""

    def __init__(self, channels: list[int], multiscale_output: bool) -> None:
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(BLOCKS_PER_BRANCH))) for c in channels
        )
        outs = n if multiscale_output else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_path(channels, j, i) for j in range(n)) for i in range(outs)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        fused = []
        for i, paths in enumerate(self.fuse_layers):
            y = xs[i]
            for j, path in enumerate(paths):
                if j != i:
                    y = y + path(xs[j])
            fused.append(self.relu(y))
        return fused


def _transition(prev: list[int], cur: list[int]) -> nn.ModuleList:
    """mmpose's _make_transition_layer: adapt kept branches, grow a new one from the last."""
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(prev):
            layers.append(None if prev[i] == c else _conv_bn(prev[i], c, 3, 1, relu=True))
            continue
        steps = i + 1 - len(prev)
        layers.append(
            nn.Sequential(
                *(
                    _conv_bn(prev[-1], c if k == steps - 1 else prev[-1], 3, 2, relu=True)
                    for k in range(steps)
                )
            )
        )
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """The HRNet backbone of width ``w`` (32 or 48); returns the highest-resolution branch."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(Bottleneck(64, 256), *(Bottleneck(256, 256) for _ in range(3)))
        widths = [width * 2**i for i in range(4)]
        prev = [256]
        for stage, modules in enumerate(STAGE_MODULES, start=2):
            cur = widths[:stage]
            setattr(self, f"transition{stage - 1}", _transition(prev, cur))
            last_multiscale = stage != 4
            hr = [HRModule(cur, m < modules - 1 or last_multiscale) for m in range(modules)]
            setattr(self, f"stage{stage}", nn.Sequential(*hr))
            prev = cur

    def _run_stage(self, stage: int, ys: list[torch.Tensor]) -> list[torch.Tensor]:
        transition: nn.ModuleList = getattr(self, f"transition{stage - 1}")
        xs = [ys[i] if t is None else t(ys[min(i, len(ys) - 1)]) for i, t in enumerate(transition)]
        for module in getattr(self, f"stage{stage}"):
            xs = module(xs)
        return xs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for stage in (2, 3, 4):
            ys = self._run_stage(stage, ys)
        return ys[0]


class HeatmapHead(nn.Module):
    """TopdownHeatmapSimpleHead without deconvs: one 1x1 conv to 17 heatmaps."""

    def __init__(self, in_channels: int, num_keypoints: int = NUM_KEYPOINTS) -> None:
        super().__init__()
        self.final_layer = nn.Conv2d(in_channels, num_keypoints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(x)


class TopDownHRNet(nn.Module):
    """mmpose 0.x ``TopDown`` = ``backbone`` + ``keypoint_head``: image crop -> stride-4 heatmaps."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.backbone = HRNet(width)
        self.keypoint_head = HeatmapHead(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.keypoint_head(self.backbone(x))


def hrnet_w32() -> TopDownHRNet:
    """HRNet-W32 for COCO-17 (mmpose ``hrnet_w32_coco_*`` checkpoints), in eval mode."""
    return TopDownHRNet(32).eval()


def hrnet_w48() -> TopDownHRNet:
    """HRNet-W48 for COCO-17 (mmpose ``hrnet_w48_coco_*`` checkpoints), in eval mode."""
    return TopDownHRNet(48).eval()


_KEY_RENAMES = ((re.compile(r"^module\."), ""), (re.compile(r"^head\."), "keypoint_head."))
_IGNORED_PREFIXES = ("data_preprocessor.",)


def _numpy_safe_globals() -> list[Any]:
    """numpy scalars/arrays that mmpose writes into ``meta`` (e.g. best scores), under both the
    numpy 2 (``numpy._core``) and numpy 1 (``numpy.core``) names, so weights_only loading works."""
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    objs: list[Any] = [multiarray.scalar, multiarray._reconstruct]
    out: list[Any] = [np.ndarray, np.dtype]
    for obj in objs:
        out += [obj, (obj, f"numpy.core.multiarray.{obj.__name__}")]
    for kind in (np.float64, np.float32, np.int64, np.int32, np.bool_):
        out.append(type(np.dtype(kind)))
    return out


def _read_checkpoint(path: Path, allow_pickle: bool) -> Any:
    """torch.load with weights_only unless the caller trusts the file: pickles can run code."""
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    try:
        if allow_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError...
        hint = "" if allow_pickle else " (if you trust the file, retry with allow_pickle=True)"
        raise ModelError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}{hint}") from exc


def normalize_state_dict(ckpt: Any) -> dict[str, torch.Tensor]:
    """mmpose 0.x/1.x checkpoint (or bare state dict) -> keys named as in TopDownHRNet."""
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping):
        raise ModelError(f"checkpoint holds {type(ckpt).__name__}, not a state dict")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for pattern, repl in _KEY_RENAMES:
            key = pattern.sub(repl, key)
        if not key.startswith(_IGNORED_PREFIXES):
            out[key] = value
    return out


def _check_fit(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise ModelError naming every missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    # Checkpoints from torch < 0.4.1 have no num_batches_tracked; eval never reads it.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        problems = {"missing keys": missing, "unexpected keys": unexpected, "shape mismatches": shapes}
        lines = [_key_list(label, keys) for label, keys in problems.items() if keys]
        raise ModelError("\n".join([f"{source} does not fit {type(model).__name__}", *lines]))


def _key_list(label: str, keys: list[str], limit: int = 20) -> str:
    """``label (n): a, b, ...`` with at most ``limit`` names, so a wrong model gives a readable error."""
    more = " ..." if len(keys) > limit else ""
    return f"{label} ({len(keys)}): " + ", ".join(keys[:limit]) + more


def load_mmpose_checkpoint(model: nn.Module, path: str | Path, allow_pickle: bool = False) -> nn.Module:
    """Load an mmpose checkpoint into ``model`` strictly; ModelError lists what does not fit."""
    path = Path(path)
    state = normalize_state_dict(_read_checkpoint(path, allow_pickle))
    _check_fit(model, state, str(path))
    full = dict(model.state_dict())
    full.update(state)
    model.load_state_dict(full, strict=True)
    return model.eval()


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_size: tuple[int, int] = (192, 256),
    opset: int = 17,
    dynamo: bool = False,
) -> Path:
    """Export to ONNX with a dynamic batch axis (``input`` -> ``heatmaps``) so one file serves any crop count.

    ``input_size`` is the crop's (width, height), as everywhere in rtpose.

    The TorchScript exporter is the default: on 2 cores it takes ~4 s for W32 where the
    torch.export-based one (``dynamo=True``) takes ~40 s, and it writes the requested opset
    directly instead of converting down from 18.  The file is written atomically.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    model = model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if dynamo:
                _export_dynamo(model, tmp, input_size, opset)
            else:
                _export_torchscript(model, tmp, input_size, opset)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _export_torchscript(model: nn.Module, out: Path, input_size: tuple[int, int], opset: int) -> None:
    """Legacy exporter: fast, batch made dynamic through ``dynamic_axes``."""
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, input_size[1], input_size[0]),),
        str(out),
        input_names=["input"],
        output_names=["heatmaps"],
        opset_version=opset,
        dynamic_axes={"input": {0: "batch"}, "heatmaps": {0: "batch"}},
        dynamo=False,
    )


def _export_dynamo(model: nn.Module, out: Path, input_size: tuple[int, int], opset: int) -> None:
    """torch.export-based exporter (the torch default since 2.9), batch as a symbolic Dim."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.onnx.export(
        model,
        (torch.zeros(2, 3, input_size[1], input_size[0]),),
        input_names=["input"],
        output_names=["heatmaps"],
        opset_version=opset,
        dynamic_shapes={"x": {0: batch}},
        dynamo=True,
        verbose=False,
    )
    if program is None:
        raise ModelError(f"ONNX export of {type(model).__name__} returned nothing")
    program.save(str(out))

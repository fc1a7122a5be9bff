"""VideoPose3D's temporal convolution: lifts a sequence of 2D skeletons to 3D (Pavllo et al., CVPR 2019).

A stack of dilated 1D convolutions over time. The first convolution has kernel ``w0``; block
``i`` has a dilated convolution of kernel ``w_i`` and dilation ``w0*...*w_(i-1)`` followed by a
1x1 convolution, each with batch norm, ReLU and dropout, and a residual connection that skips
the frames the dilated convolution consumed. The receptive field is the product of the
kernel widths: 3,3,3 -> 27 frames, 3,3,3,3 -> 81, 3,3,3,3,3 -> 243.

Centred (the paper's default) each output frame looks ``(RF - 1) / 2`` frames into the
future, so live video gets its 3D that many frames late; the causal variant (the paper's
``--causal``) shifts every residual slice to the newest frames, so the output for frame t
uses only frames up to t: no look-ahead latency, at some cost in accuracy.

Module names follow the official ``TemporalModel`` (``expand_conv``, ``expand_bn``,
``layers_conv``, ``layers_bn``, ``shrink``), so the published checkpoints
(``pretrained_h36m_detectron_coco.bin``: COCO-17 2D in, Human3.6M-17 3D out, 243 frames;
``pretrained_h36m_cpn.bin``: Human3.6M-17 2D in) load unchanged from their ``model_pos``
entry. No weights can be had on the machines this is developed on: the architecture is tested
against the paper's description with random weights (shapes, receptive field, causal latency,
ONNX export parity). torch is needed only here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rtpose.errors import ModelError
from rtpose.models.hrnet import _check_fit, _read_checkpoint

RECEPTIVE_FIELDS: dict[int, tuple[int, ...]] = {27: (3, 3, 3), 81: (3, 3, 3, 3), 243: (3, 3, 3, 3, 3)}
"""The paper's architectures by receptive field (frames)."""


class TemporalModel(nn.Module):
    """Dilated temporal convolutions: (B, T, J_in, 2) -> (B, T - RF + 1, J_out, 3)."""

    def __init__(self, joints_in: int = 17, joints_out: int = 17, filter_widths: Sequence[int] = (3, 3, 3, 3, 3),
                 causal: bool = False, channels: int = 1024, dropout: float = 0.25) -> None:
        super().__init__()
        if any(w % 2 == 0 for w in filter_widths):
            raise ValueError(f"filter widths must be odd, got {tuple(filter_widths)}")
        self.joints_in, self.joints_out = joints_in, joints_out
        self.filter_widths = tuple(filter_widths)
        self.causal = causal
        self.expand_conv = nn.Conv1d(joints_in * 2, channels, filter_widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        self.relu = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)
        convs, bns = [], []
        self.pads: list[int] = []
        self.shifts: list[int] = []
        dilation = filter_widths[0]
        for width in filter_widths[1:]:
            pad = (width - 1) * dilation // 2
            self.pads.append(pad)
            self.shifts.append(pad if causal else 0)
            convs += [nn.Conv1d(channels, channels, width, dilation=dilation, bias=False),
                      nn.Conv1d(channels, channels, 1, bias=False)]
            bns += [nn.BatchNorm1d(channels, momentum=0.1), nn.BatchNorm1d(channels, momentum=0.1)]
            dilation *= width
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self.shrink = nn.Conv1d(channels, joints_out * 3, 1)

    @property
    def receptive_field(self) -> int:
        return math.prod(self.filter_widths)

    @property
    def latency_frames(self) -> int:
        """Frames of look-ahead: how late live output is (0 when causal)."""
        return 0 if self.causal else (self.receptive_field - 1) // 2

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        b, t = keypoints.shape[:2]
        x = keypoints.reshape(b, t, -1).permute(0, 2, 1)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i, (pad, shift) in enumerate(zip(self.pads, self.shifts)):
            residual = x[:, :, pad + shift: x.shape[2] - pad + shift]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = residual + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        out = self.shrink(x).permute(0, 2, 1)
        return out.reshape(b, -1, self.joints_out, 3)


def temporal_model(receptive_field: int = 243, causal: bool = False, joints_in: int = 17,
                   joints_out: int = 17, channels: int = 1024) -> TemporalModel:
    """The paper's model for a receptive field of 27, 81 or 243 frames."""
    if receptive_field not in RECEPTIVE_FIELDS:
        raise ModelError(f"VideoPose3D receptive field must be one of {sorted(RECEPTIVE_FIELDS)}, "
                         f"got {receptive_field}")
    return TemporalModel(joints_in, joints_out, RECEPTIVE_FIELDS[receptive_field], causal, channels)


def load_checkpoint(model: TemporalModel, path: str | Path, allow_pickle: bool = False) -> TemporalModel:
    """Load an official checkpoint (its ``model_pos`` entry, or a bare state dict) strictly."""
    ckpt = _read_checkpoint(Path(path), allow_pickle)
    state = ckpt.get("model_pos", ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict):
        raise ModelError(f"{path} holds {type(state).__name__}, not a VideoPose3D state dict")
    _check_fit(model, state, str(path))
    model.load_state_dict(state, strict=False)
    return model.eval()


# ------------------------------------------------------------------ pre- and post-processing


def normalize_screen(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels to the network's input: x in [-1, 1], y scaled alike (aspect kept), as the paper's data."""
    out = np.asarray(keypoints, np.float32)[..., :2] / width * 2
    return out - np.array([1.0, height / width], np.float32)


def pad_sequence(sequence: np.ndarray, receptive_field: int, causal: bool) -> np.ndarray:
    """Repeat the edge frames so that every input frame gets an output (the paper's edge padding)."""
    pad = receptive_field - 1
    before, after = (pad, 0) if causal else (pad // 2, pad - pad // 2)
    return np.pad(sequence, ((before, after),) + ((0, 0),) * (sequence.ndim - 1), mode="edge")


def lift(model: TemporalModel, keypoints_2d: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, J, 2+) pixels of one person -> (T, J_out, 3) root-relative 3D, one output per input frame."""
    seq = pad_sequence(normalize_screen(keypoints_2d, width, height), model.receptive_field, model.causal)
    with torch.no_grad():
        out = model(torch.from_numpy(seq)[None])
    return out[0].numpy()


def export_onnx(model: TemporalModel, path: str | Path, opset: int = 17) -> Path:
    """Export with dynamic batch and time axes (``keypoints_2d`` -> ``keypoints_3d``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, model.receptive_field, model.joints_in, 2)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example,), str(path), input_names=["keypoints_2d"],
                          output_names=["keypoints_3d"], opset_version=opset, dynamo=False,
                          dynamic_axes={"keypoints_2d": {0: "batch", 1: "frames"},
                                        "keypoints_3d": {0: "batch", 1: "frames_out"}})
    return path


def coco17_to_h36m17(keypoints: np.ndarray) -> np.ndarray:
    """COCO-17 2D keypoints (..., 17, 3: x, y, score) in Human3.6M-17 order, for lifters trained on
    Human3.6M 2D. Joints COCO lacks are derived: pelvis = mid-hips, thorax = mid-shoulders, spine
    = mid(pelvis, thorax), neck base = the nose, head = mid-eyes pushed away from the thorax by half
    the nose-thorax distance; a derived joint's score is the lowest of its sources."""
    k = np.asarray(keypoints, np.float32)
    out = np.zeros(k.shape[:-2] + (17, k.shape[-1]), np.float32)

    def mid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        m = (a + b) / 2
        m[..., 2:] = np.minimum(a[..., 2:], b[..., 2:])
        return m

    pelvis, thorax = mid(k[..., 11, :], k[..., 12, :]), mid(k[..., 5, :], k[..., 6, :])
    eyes = mid(k[..., 1, :], k[..., 2, :])
    head = eyes.copy()
    head[..., :2] += (k[..., 0, :2] - thorax[..., :2]) * 0.5
    head[..., 2:] = np.minimum(eyes[..., 2:], thorax[..., 2:])
    for h36m, joint in enumerate((pelvis, k[..., 12, :], k[..., 14, :], k[..., 16, :], k[..., 11, :], k[..., 13, :],
                                  k[..., 15, :], mid(pelvis, thorax), thorax, k[..., 0, :], head, k[..., 5, :],
                                  k[..., 7, :], k[..., 9, :], k[..., 6, :], k[..., 8, :], k[..., 10, :])):
        out[..., h36m, :] = joint
    return out

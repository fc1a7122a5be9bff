"""``lift3d``: VideoPose3D's 2D -> 3D lifting per tracked person, for users who bring its weights.

Each track's recent 2D keypoints (COCO-17, as the pose node gives them) go through
VideoPose3D's temporal convolution (:mod:`rtpose.models.videopose3d`), loaded from an
official checkpoint file unchanged (e.g. ``pretrained_h36m_detectron_coco.bin``: COCO-17 in,
Human3.6M-17 out, 243 frames; for checkpoints trained on Human3.6M 2D, ``input_layout:
h36m17`` maps COCO-17 to it first). Output: the poses with ``keypoints_3d`` (17 x [x, y, z],
root-relative, in the checkpoint's units and camera axes) and ``schema_3d: h36m17``.

Latency: ``causal: true`` (for checkpoints trained causally) gives each frame's 3D from that
frame and the ones before it; a centred checkpoint needs ``(receptive_field - 1) / 2`` frames
after a frame, so live its output is that many frames old (``lag_frames`` attribute). Until a
track has a full window, its first frame is repeated (the paper's edge padding). Needs torch.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import Field

from rtpose.api import Image, ModelError, Node, Params, Poses, register_node
from rtpose.schemas import H36M17


class Lift3dParams(Params):
    checkpoint: str = Field(description="VideoPose3D checkpoint file (.bin/.pth with a model_pos entry)")
    receptive_field: Literal[27, 81, 243] = Field(243, description="frames the checkpoint's model sees")
    causal: bool = Field(False, description="the checkpoint was trained causally (no look-ahead)")
    input_layout: Literal["coco17", "h36m17"] = Field(
        "coco17", description="2D joints the checkpoint takes: COCO-17 (detectron models) or Human3.6M-17")
    channels: int = Field(1024, ge=1, description="the checkpoint's width (1024 for the published ones)")
    device: str = Field("cpu", description="cpu or cuda")


@register_node("lift3d")
class Lift3d(Node):
    """Lifts each tracked person's 2D keypoint sequence to a 3D skeleton (VideoPose3D)."""

    inputs = {"image": Image, "poses": Poses}
    outputs = {"poses": Poses}
    input_schemas = {"poses": "coco17"}
    Params = Lift3dParams
    params: Lift3dParams

    def open(self) -> None:
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ModelError(f"node {self.name!r}: lift3d needs torch: pip install 'rtpose[torch]'") from None
        from rtpose.models import videopose3d as vp

        p = self.params
        model = vp.temporal_model(p.receptive_field, p.causal, channels=p.channels)
        self.model = vp.load_checkpoint(model, p.checkpoint).to(p.device)
        self._vp = vp
        self._windows: dict[int, deque[np.ndarray]] = {}
        self._last_seen: dict[int, int] = {}
        self._count = 0

    def reset(self) -> None:
        self._windows.clear()
        self._last_seen.clear()

    def process(self, image: Image, poses: Poses) -> dict:
        import torch

        vp, rf = self._vp, self.model.receptive_field
        keypoints = poses.keypoints if self.params.input_layout == "coco17" else vp.coco17_to_h36m17(poses.keypoints)
        flat = vp.normalize_screen(keypoints, image.width, image.height)
        self._count += 1
        batch = []
        for i, tid in enumerate(poses.track_ids.tolist()):
            window = self._windows.setdefault(tid, deque(maxlen=rf)) if tid >= 0 else deque(maxlen=rf)
            window.append(flat[i])
            self._last_seen[tid] = self._count
            batch.append(vp.pad_sequence(np.stack(window), rf, causal=True)[-rf:])  # newest rf frames, edge-padded
        for tid in [t for t, seen in self._last_seen.items() if self._count - seen > rf]:  # long gone
            self._windows.pop(tid, None)
            del self._last_seen[tid]
        joints = np.zeros((len(poses), 17, 3), np.float32)
        if batch:
            with torch.no_grad():
                out = self.model(torch.from_numpy(np.stack(batch)).to(self.params.device))
            joints = out[:, -1].cpu().numpy().astype(np.float32)
        lag = self.model.latency_frames
        attributes = poses.attributes | {"keypoints_3d": joints, "schema_3d": [H36M17.name] * len(poses),
                                         "lag_frames": [lag] * len(poses)}
        return {"poses": replace(poses, attributes=attributes)}

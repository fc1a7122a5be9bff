"""``pose3d``: metric 3D skeletons (Human3.6M-17, metres) for every tracked person.

A thin node over :mod:`rtpose.models.blazepose`: each person's region is aligned from their 2D
pose (hips centre, hips -> shoulders up), BlazePose GHUM gives 33 world landmarks in metres,
and they are mapped to the 17 Human3.6M joints. Output: the input poses, unchanged in 2D, with
two per-person attributes the keypoint writer exports: ``keypoints_3d`` (17 x [x, y, z],
metres, root-relative: origin at the pelvis; x to the image's right, y down, z away from the
camera) and ``schema_3d`` (``"h36m17"``).

With ``steady_bones`` (default), each track's bone lengths are held at the median of its last
``bone_window`` frames (a person's limbs do not change length); untracked people (id -1, e.g.
photos) are taken as they are. Memory is per track and dropped at every new segment.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pydantic import Field

from rtpose.api import Image, Node, Params, Poses, register_node
from rtpose.models.blazepose import BlazePoseLandmarks, blazepose33_to_h36m17
from rtpose.models.registry import resolve_model
from rtpose.schemas import H36M17
from rtpose.tracking.bones import BoneLengths


class Pose3dParams(Params):
    model: str = Field("blazepose_ghum_full", description=(
        "BlazePose GHUM landmark model with world landmarks: a known name or a .onnx/.tflite path"))
    backend: str = Field("auto", description="auto, onnxruntime, tensorrt or torch")
    device: str = Field("auto", description="auto, cpu or cuda")
    steady_bones: bool = Field(True, description="hold each track's bone lengths at their recent median")
    bone_window: int = Field(60, ge=1, description="frames of a track's bone lengths the median is taken over")


@register_node("pose3d")
class Pose3d(Node):
    """Adds each person's metric 3D skeleton (h36m17, metres, pelvis-centred) to their 2D pose."""

    inputs = {"image": Image, "poses": Poses}
    outputs = {"poses": Poses}
    input_schemas = {"poses": ("coco17", "coco_wholebody133")}
    Params = Pose3dParams
    params: Pose3dParams

    def open(self) -> None:
        p = self.params
        self.landmarks = BlazePoseLandmarks(resolve_model(p.model), backend=p.backend, device=p.device)
        self.bones = BoneLengths(H36M17.skeleton, p.bone_window)

    def reset(self) -> None:
        self.bones.reset()

    def process(self, image: Image, poses: Poses) -> dict:
        body = self.landmarks(image.pixels, poses.keypoints, poses.boxes)
        joints = blazepose33_to_h36m17(body.world)
        joints -= joints[:, :1]  # root-relative: the pelvis at the origin
        if self.params.steady_bones:
            tracked = poses.track_ids.tolist()
            for i, tid in enumerate(tracked):
                if tid >= 0:
                    joints[i] = self.bones.steady(tid, joints[i])
            self.bones.forget_except({t for t in tracked if t >= 0})
        attributes = poses.attributes | {"keypoints_3d": joints.astype(np.float32),
                                         "schema_3d": [H36M17.name] * len(poses)}
        return {"poses": replace(poses, attributes=attributes)}

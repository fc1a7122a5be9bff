"""An example rtpose plugin: the angles of elbows and knees, printed as people move.

Use it from a graph file by path::

    plugins: [examples/joint-angles-plugin/rtpose_joint_angles.py]

or install this folder (``pip install examples/joint-angles-plugin``): its
``pyproject.toml`` declares the entry point ``rtpose.nodes``, so the node type
``joint_angles`` is then available to every graph without a ``plugins:`` line.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from rtpose.api import COCO_KEYPOINTS, Node, Params, Poses, register_node

# (name, a, b, c): the angle at keypoint b between the limbs b->a and b->c
JOINTS = (
    ("left_elbow", "left_shoulder", "left_elbow", "left_wrist"),
    ("right_elbow", "right_shoulder", "right_elbow", "right_wrist"),
    ("left_knee", "left_hip", "left_knee", "left_ankle"),
    ("right_knee", "right_hip", "right_knee", "right_ankle"),
)


def joint_angles(keypoints: np.ndarray, min_score: float = 0.3) -> dict[str, np.ndarray]:
    """Angles in degrees per person (N,) for each joint; NaN where a keypoint is not seen."""
    index = {name: i for i, name in enumerate(COCO_KEYPOINTS)}
    angles = {}
    for joint, a, b, c in JOINTS:
        pa, pb, pc = (keypoints[:, index[k]] for k in (a, b, c))
        u, v = pa[:, :2] - pb[:, :2], pc[:, :2] - pb[:, :2]
        cosine = (u * v).sum(1) / np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1), 1e-6)
        angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
        seen = np.minimum(np.minimum(pa[:, 2], pb[:, 2]), pc[:, 2]) >= min_score
        angles[joint] = np.where(seen, angle, np.nan)
    return angles


@register_node("joint_angles")
class JointAngles(Node):
    """Prints elbow and knee angles of every tracked person; passes the poses on unchanged."""

    inputs = {"poses": Poses}
    outputs = {"poses": Poses}

    class Params(Params):
        every: int = Field(30, ge=1, description="print every N frames")
        min_score: float = Field(0.3, ge=0, le=1, description="hide joints whose keypoints score lower")

    def open(self) -> None:
        self.frames = 0

    def process(self, poses: Poses) -> dict:
        if self.frames % self.params.every == 0:
            angles = joint_angles(poses.keypoints, self.params.min_score)
            for i, track_id in enumerate(poses.track_ids):
                shown = ", ".join(f"{joint} {values[i]:.0f}°" for joint, values in angles.items()
                                  if not np.isnan(values[i]))
                print(f"[{self.name}] frame {self.frames} person {track_id}: {shown or 'no joints seen'}",
                      flush=True)
        self.frames += 1
        return {"poses": poses}

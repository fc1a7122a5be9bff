"""Human3.6M's 17 joints, the usual layout of 3D body pose (mmpose's and VideoPose3D's order)."""

from __future__ import annotations

from rtpose.schemas.base import KeypointSchema, register_schema

H36M17 = KeypointSchema(
    name="h36m17",
    keypoints=(
        "pelvis", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot",
        "spine", "thorax", "neck_base", "head",
        "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
    ),
    skeleton=(
        (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
        (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
    ),
    flip_pairs=((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)),
    groups={"right_leg": (1, 2, 3), "left_leg": (4, 5, 6), "torso": (0, 7, 8), "head": (9, 10),
            "left_arm": (11, 12, 13), "right_arm": (14, 15, 16)},
)
"""Each skeleton pair is (parent, child) in the kinematic tree rooted at the pelvis."""

register_schema(H36M17)

"""COCO body keypoints (17), the schema every body model here outputs."""

from __future__ import annotations

import numpy as np

from rtpose.schemas.base import KeypointSchema, register_schema

COCO17 = KeypointSchema(
    name="coco17",
    keypoints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
        (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    sigmas=np.array([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
                     0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089], np.float32),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
)
"""The 17 COCO body keypoints, in the order every body model here outputs them."""

register_schema(COCO17)

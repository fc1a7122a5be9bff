"""The shared model files of every family, with an input each takes (for the benchmarks and tests
that run every family: backends against each other, torch against ONNX Runtime)."""

from __future__ import annotations

FAMILIES: list[tuple[str, tuple[int, ...], float]] = [  # (file under models/, input shape, input range)
    ("det/yolox_nano_416x416.onnx", (1, 3, 416, 416), 255.0),
    ("pose/simplepose_nano_256x192.onnx", (1, 3, 256, 192), 2.0),  # opset 8, upgraded on the way to torch
    ("hand/hand_landmark_full.onnx", (1, 224, 224, 3), 1.0),
    ("hand/palm_detection_full.onnx", (1, 192, 192, 3), 1.0),
    ("face/face_landmark.onnx", (1, 192, 192, 3), 1.0),
    ("pose3d/pose_landmark_full.onnx", (1, 256, 256, 3), 1.0),
    ("bottomup/openpose_mobilenet_thin_368x432.onnx", (1, 368, 432, 3), 255.0),
    ("bottomup/movenet_multipose.onnx", (1, 256, 320, 3), 255.0),
]

TORCH_FAMILIES = [family for family in FAMILIES if "movenet_multipose" not in family[0]]
"""The families onnx2torch converts (MoveNet MultiPose's SAME_UPPER padding on dynamic sizes it cannot)."""

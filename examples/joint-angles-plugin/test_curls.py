"""The plugin's own test: synthetic arms curling, fed to the node as the runtime would."""

from __future__ import annotations

import numpy as np
from rtpose_curls import CountCurls

from rtpose.api import COCO17, FrameInfo, Poses


def person(left_elbow: float, right_elbow: float = 170.0) -> np.ndarray:
    """COCO keypoints of someone whose elbows bend by the given angles (upper arms hanging down)."""
    kps = np.zeros((17, 3), np.float32)
    kps[:, 2] = 0.9
    for side, angle in (("left", left_elbow), ("right", right_elbow)):
        shoulder, elbow, wrist = (COCO17.index(f"{side}_{part}") for part in ("shoulder", "elbow", "wrist"))
        kps[shoulder, :2] = (100, 100)
        kps[elbow, :2] = (100, 160)  # the upper arm points down; the forearm turns by 180 - angle
        theta = np.radians(angle)
        kps[wrist, :2] = (100 + 50 * np.sin(theta), 160 - 50 * np.cos(theta))
    return kps


def run(node: CountCurls, angles: list[float]) -> Poses:
    for index, angle in enumerate(angles):
        node.frame = FrameInfo(source="test", index=index, captured=0.0)
        poses = Poses(boxes=[[0, 0, 200, 300]], scores=[0.9], class_ids=[0], track_ids=[7],
                      keypoints=person(angle)[None])
        poses = node.process(poses)["poses"]
    return poses


def test_counts_each_full_curl_of_the_left_arm() -> None:
    node = CountCurls("curls", CountCurls.Params())
    node.open()
    curl = list(np.linspace(170, 40, 15)) + list(np.linspace(40, 170, 15))
    half = list(np.linspace(170, 90, 10)) + list(np.linspace(90, 170, 10))  # never bends past 60 degrees
    poses = run(node, curl + half + curl)
    assert poses.attributes["curls"] == [{"left": 2, "right": 0}]
    assert poses.attributes["caption"] == ["curls L2 R0"]
    node.reset()
    assert run(node, [170.0]).attributes["curls"] == [{"left": 0, "right": 0}]

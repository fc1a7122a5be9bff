"""Whole-body accuracy on COCO-WholeBody ground truth: PCK per part (body, feet, face, hands).

Each part is judged against its own scale, so small parts are not flattered by the body's:
body and feet by the person box's longer side, the face by the face box's, each hand by its
hand box's. Only annotated points count (visibility > 0), and a part only where the dataset
marks it valid (``face_valid``, ``foot_valid``, ``lefthand_valid``, ``righthand_valid``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtpose.schemas.wholebody import BODY, FACE, FEET, LEFT_HAND, RIGHT_HAND
from rtpose.types import Image, Tracks

PARTS: dict[str, tuple[slice, ...]] = {"body": (BODY,), "feet": (FEET,), "face": (FACE,),
                                       "hands": (LEFT_HAND, RIGHT_HAND)}


@dataclass
class WholeBodyImage:
    """One annotated image: its file, and per person the xyxy box, 133 gt points and per-slice scales."""

    path: Path
    boxes: np.ndarray  # (N, 4)
    keypoints: np.ndarray  # (N, 133, 3), visibility in the third column
    scales: list[dict[int, float]]  # per person: slice start -> the scale of that part (absent: not valid)


def load_coco_wholebody(annotations: Path) -> list[WholeBodyImage]:
    """The people of a COCO-WholeBody file (those with body keypoints), image by image."""
    data = json.loads(Path(annotations).read_text())
    images = []
    for info in data["images"]:
        people = [a for a in data["annotations"] if a["image_id"] == info["id"] and a["num_keypoints"] > 0]
        boxes, points, scales = [], [], []
        for a in people:
            x, y, w, h = a["bbox"]
            boxes.append([x, y, x + w, y + h])
            points.append(np.concatenate([np.reshape(a[key], (-1, 3)) for key in
                                          ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")]))
            scale = {BODY.start: max(w, h)}
            if a.get("foot_valid"):
                scale[FEET.start] = max(w, h)
            for key, part in (("face", FACE), ("lefthand", LEFT_HAND), ("righthand", RIGHT_HAND)):
                if a.get(f"{key}_valid"):
                    scale[part.start] = max(a[f"{key}_box"][2:])
            scales.append(scale)
        images.append(WholeBodyImage(Path(annotations).parent / Path(info["file_name"]).name,
                                     np.array(boxes, np.float32).reshape(-1, 4),
                                     np.array(points, np.float32).reshape(-1, 133, 3), scales))
    return images


def part_pck(predicted: list[np.ndarray], images: list[WholeBodyImage], alpha: float = 0.1,
             min_score: float = 0.0) -> dict[str, tuple[int, int]]:
    """Per part, (correct, annotated) points: a point is correct when it is predicted (score above
    ``min_score``) within ``alpha`` times its part's scale. ``predicted[i]`` is (N_i, 133, 3) in the
    order of ``images[i].boxes``."""
    counts = {name: [0, 0] for name in PARTS}
    for pred, image in zip(predicted, images):
        for person, scale in enumerate(image.scales):
            for name, slices in PARTS.items():
                for part in slices:
                    if part.start not in scale:
                        continue
                    gt = image.keypoints[person, part]
                    out = pred[person, part]
                    seen = gt[:, 2] > 0
                    close = np.linalg.norm(out[:, :2] - gt[:, :2], axis=1) <= alpha * scale[part.start]
                    counts[name][0] += int((seen & close & (out[:, 2] > min_score)).sum())
                    counts[name][1] += int(seen.sum())
    return {name: (c[0], c[1]) for name, c in counts.items()}


def wholebody_on_images(images: list[WholeBodyImage], pose: Any, face: Any, merge: Any,
                        hands: Any | None = None) -> list[np.ndarray]:
    """The 133 points of every annotated person, the way webcam_wholebody.yaml makes them, but on
    the ground-truth person boxes: opened ``pose``, ``face_landmarks``, ``wholebody`` and (optional)
    ``hand_landmarks`` nodes. People get track ids 0..N-1, as a tracker would give them."""
    predicted = []
    for image in images:
        pixels = cv2.imread(str(image.path))
        if pixels is None:
            raise FileNotFoundError(f"cannot read {image.path}")
        frame = Image(pixels, 0.0, str(image.path))
        people = Tracks(boxes=image.boxes, scores=np.ones(len(image.boxes)), class_ids=np.zeros(len(image.boxes)),
                        track_ids=np.arange(len(image.boxes)))
        body = pose.process(frame, people)["poses"]
        faces = face.process(frame, body)["poses"]
        found_hands = None
        if hands is not None:
            hands.reset()  # every photo is its own segment
            found_hands = hands.process(frame, None, body)["poses"]
        predicted.append(merge.process(body, found_hands, faces)["poses"].keypoints)
    return predicted

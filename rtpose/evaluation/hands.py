"""Hand accuracy against COCO-format hand annotations (FreiHAND, OneHand10K, COCO-WholeBody hands),
and a clip of a moving real hand with exact keypoints.

One implementation for the tests and ``benchmarks/hands_accuracy.py``: PCK@alpha of the hand
box (a keypoint is correct within ``alpha`` x the ground-truth box's longer side) and the share
of hands found. A found hand is the output hand assigned to a ground-truth hand (Hungarian, on
the mean distance of the labelled keypoints) whose keypoints lie on average within half the
box's longer side: on that hand, if not precisely. ``pck`` is over found hands' labelled
keypoints; ``pck_all`` counts a missed hand's keypoints as wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from rtpose.capture import natural_key

FOUND_WITHIN = 0.5
"""An output hand is on a ground-truth hand when its mean keypoint distance is below this share of the box."""


@dataclass
class GroundTruthHands:
    """One image's hands: ``keypoints`` (H, 21, 3) x, y, v and ``boxes`` (H, 4) x1, y1, x2, y2."""

    file_name: str
    keypoints: np.ndarray
    boxes: np.ndarray


def load_coco_hands(annotations: str | Path) -> list[GroundTruthHands]:
    """Every image of a COCO-format hand file, in a folder source's order (natural order of file names)."""
    data = json.loads(Path(annotations).read_text())
    per_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann)
    images = []
    for image in sorted(data["images"], key=lambda im: natural_key(im["file_name"])):
        anns = per_image.get(image["id"], [])
        kps = np.array([a["keypoints"] for a in anns], np.float64).reshape(len(anns), -1, 3)
        xywh = np.array([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
        images.append(GroundTruthHands(image["file_name"], kps, np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)))
    return images


@dataclass
class HandScore:
    """Counts over images, added up with :meth:`add`."""

    hands: int = 0
    found: int = 0
    correct: int = 0
    labelled_found: int = 0
    labelled: int = 0
    per_hand: list[float] = field(default_factory=list)  # PCK of each ground-truth hand (0 when missed)

    def add(self, truth: GroundTruthHands, predicted: np.ndarray, alpha: float = 0.2) -> None:
        """Score one image's output hands ``predicted`` (N, 21, 2+) against its ground truth."""
        gt = truth.keypoints
        k = gt.shape[1] if len(gt) else 21
        pred = np.asarray(predicted, np.float64)[..., :2].reshape(-1, k, 2)
        size = np.maximum(truth.boxes[:, 2] - truth.boxes[:, 0], truth.boxes[:, 3] - truth.boxes[:, 1])
        labelled = gt[..., 2] > 0
        dist = np.linalg.norm(gt[:, None, :, :2] - pred[None, :, :, :2], axis=-1)  # (H, N, 21)
        mean = np.where(labelled[:, None], dist, 0).sum(-1) / np.maximum(labelled.sum(-1), 1)[:, None]
        rows, cols = linear_sum_assignment(mean / size[:, None]) if dist.size else ([], [])
        self.hands += len(gt)
        self.labelled += int(labelled.sum())
        hits = np.zeros(len(gt))
        for r, c in zip(rows, cols):
            if mean[r, c] >= FOUND_WITHIN * size[r]:
                continue
            correct = int(((dist[r, c] <= alpha * size[r]) & labelled[r]).sum())
            self.found += 1
            self.correct += correct
            self.labelled_found += int(labelled[r].sum())
            hits[r] = correct / max(int(labelled[r].sum()), 1)
        self.per_hand.extend(hits.tolist())

    @property
    def pck(self) -> float:
        return self.correct / max(self.labelled_found, 1)

    @property
    def pck_all(self) -> float:
        return self.correct / max(self.labelled, 1)

    @property
    def found_share(self) -> float:
        return self.found / max(self.hands, 1)

    def summary(self) -> dict[str, float]:
        return {"hands": self.hands, "found": self.found, "found_share": round(self.found_share, 3),
                "pck": round(self.pck, 3), "pck_all": round(self.pck_all, 3)}


def moving_hand_clip(onehand10k: Path, out: Path, frames: int = 48) -> list[GroundTruthHands]:
    """A 640x480 mp4 of OneHand10K's 1402.jpg turning +-35 degrees and drifting over a grey frame, with
    each frame's exact keypoints: a real hand that moves, for following hands from frame to frame."""
    truth = next(t for t in load_coco_hands(onehand10k / "test_onehand10k.json") if t.file_name == "1402.jpg")
    photo = cv2.imread(str(onehand10k / truth.file_name))
    h, w = photo.shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
    truths = []
    for t in range(frames):
        phase = 2 * math.pi * t / frames
        turn = math.radians(35) * math.sin(phase)
        centre = (320 + 90 * math.sin(phase), 240 + 30 * math.cos(phase))
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), math.degrees(turn), 1.0)
        matrix[:, 2] += np.array(centre) - np.array([w / 2, h / 2])
        frame = cv2.warpAffine(photo, matrix, (640, 480), borderValue=(128, 128, 128))
        writer.write(frame)
        kps = truth.keypoints.copy()
        kps[..., :2] = kps[..., :2] @ matrix[:, :2].T + matrix[:, 2]
        corners = np.array([[x, y] for x in truth.boxes[0, [0, 2]] for y in truth.boxes[0, [1, 3]]]) @ matrix[:, :2].T \
            + matrix[:, 2]
        truths.append(GroundTruthHands(str(t), kps, np.array([[*corners.min(0), *corners.max(0)]])))
    writer.release()
    return truths

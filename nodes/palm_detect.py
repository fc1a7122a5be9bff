"""palm_detect: palms in close-up hand frames, with MediaPipe's palm detector (.tflite or .onnx).

Output: one pose per palm in the ``palm7`` schema (wrist, four knuckles, the thumb's base and
knuckle; score = the palm's score), its box and score. ``hand_landmarks`` turns each palm into a
hand region. Like MediaPipe Hands, with the optional ``previous`` input wired as a back edge from
the hand landmarks node, the detector runs only while fewer than ``max_hands`` hands are tracked:
tracked hands follow their own landmarks, and the detector is only needed to find new ones.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from rtpose.api import Image, Node, Params, Poses, register_node
from rtpose.models.palm import PALM7, PalmDetector
from rtpose.models.registry import resolve_model


class PalmDetectParams(Params):
    model: str = Field("palm_detection_full", description=(
        "palm_detection_full or _lite (MediaPipe's .tflite: the tflite extra) or a .onnx/.tflite path"))
    backend: str = Field("auto", description="auto, onnxruntime, tflite, tensorrt or torch")
    device: str = Field("auto", description="auto, cpu or cuda")
    min_score: float = Field(0.5, ge=0, le=1, description="palm score to keep a palm (MediaPipe: 0.5)")
    nms_threshold: float = Field(0.3, ge=0, le=1, description="IoU above which palms are merged (weighted)")
    max_hands: int = Field(2, ge=1, description=(
        "with `previous` wired: skip the detector while this many hands are tracked"))
    threads: int | None = Field(None, ge=1, description="inference threads (default: half the cores)")


@register_node("palm_detect")
class PalmDetect(Node):
    """Finds palms: letterbox to 192x192, one inference, SSD decode and weighted NMS."""

    inputs = {"image": Image, "previous": Poses}
    optional_inputs = frozenset({"previous"})
    outputs = {"palms": Poses}
    output_schemas = {"palms": "palm7"}
    Params = PalmDetectParams
    params: PalmDetectParams

    def open(self) -> None:
        p = self.params
        options = {"threads": p.threads} if p.threads else {}
        self.detector = PalmDetector(resolve_model(p.model), backend=p.backend, device=p.device,
                                     min_score=p.min_score, iou_threshold=p.nms_threshold, **options)

    def process(self, image: Image, previous: Poses | None = None) -> dict:
        if previous is not None and len(previous) >= self.params.max_hands:
            return {"palms": Poses(schema=PALM7)}
        palms = self.detector(image.pixels)
        scores = np.repeat(palms.scores[:, None, None], len(PALM7), axis=1)
        keypoints = np.concatenate([palms.keypoints, scores], axis=-1)
        return {"palms": Poses(boxes=palms.boxes, scores=palms.scores, class_ids=np.zeros(len(palms), np.int64),
                               keypoints=keypoints, schema=PALM7)}

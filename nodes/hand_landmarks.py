"""hand_landmarks: 21 hand points per hand (image and metres), handedness and presence, tracked.

A thin node over :class:`rtpose.models.hand_tracker.HandTracker` and MediaPipe's hand landmark
model. Regions come from the previous frame's hands (always), from palms (``palms``, wired to
``palm_detect``) and/or from tracked bodies (``people``: any schema with elbows and wrists, e.g.
coco17): wire at least one of the two, or no hand is ever found.

Output: one pose per hand in the ``hand21`` schema (every point's score is the hand's presence),
its box around the 21 points, its own track id (stable while the hand is followed; a body's hand
keeps one id per body track and side), and per-hand attributes the keypoint writer exports:
``handedness`` (``"left"``/``"right"``: the real hand for an unmirrored camera; set ``mirrored``
for a selfie-mirrored one), ``presence``, ``keypoints_world`` (21 x [x, y, z] metres, x right, y
down, z away from the camera) and ``body_track_id`` (the body it came from, -1 for palms).
Memory of the previous frame's hands is dropped at every new segment.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from rtpose.api import Image, Node, Params, Poses, register_node
from rtpose.models.hand import HandLandmarker
from rtpose.models.hand_tracker import HandTracker, body_candidates, palm_candidates
from rtpose.models.registry import resolve_model
from rtpose.schemas import HAND21


class HandLandmarksParams(Params):
    model: str = Field("hand_landmark_full", description=(
        "hand_landmark_full or _lite (MediaPipe's .tflite: the tflite extra) or a .onnx/.tflite path"))
    backend: str = Field("auto", description="auto, onnxruntime, tflite, tensorrt or torch")
    device: str = Field("auto", description="auto, cpu or cuda")
    min_presence: float = Field(0.5, ge=0, le=1, description=(
        "hand presence to keep a hand; below it the hand is looked for again from palms or bodies"))
    second_pass: bool = Field(True, description=(
        "crop a hand found from a palm or a forearm again around its landmarks (upright) and rerun"))
    mirrored: bool = Field(False, description="the frames are mirrored (selfie view): swap the model's handedness")
    min_body_score: float = Field(0.3, ge=0, le=1, description="elbow and wrist score to look for a body's hand")
    max_hands: int = Field(8, ge=1, description="hands looked for at most per frame")
    threads: int | None = Field(None, ge=1, description="inference threads (default: half the cores)")


@register_node("hand_landmarks")
class HandLandmarks(Node):
    """Finds and follows hands: landmark model on regions from palms, bodies and the previous frame."""

    inputs = {"image": Image, "palms": Poses, "people": Poses}
    optional_inputs = frozenset({"palms", "people"})
    outputs = {"poses": Poses}
    input_schemas = {"palms": "palm7", "people": ("coco17", "coco_wholebody133")}
    output_schemas = {"poses": "hand21"}
    Params = HandLandmarksParams
    params: HandLandmarksParams

    def open(self) -> None:
        p = self.params
        options = {"threads": p.threads} if p.threads else {}
        landmarker = HandLandmarker(resolve_model(p.model), backend=p.backend, device=p.device, **options)
        self.tracker = HandTracker(landmarker, p.min_presence, p.second_pass, p.mirrored, p.max_hands)

    def reset(self) -> None:
        self.tracker.reset()

    def process(self, image: Image, palms: Poses | None = None, people: Poses | None = None) -> dict:
        try:
            bodies = body_candidates(people.keypoints, people.boxes, people.track_ids, people.schema,
                                     self.params.min_body_score) if people is not None else None
        except ValueError as exc:
            raise ValueError(f"node {self.name!r}, input 'people': {exc}") from None
        palm_regions = palm_candidates(palms.boxes, palms.keypoints) if palms is not None else None
        hands = self.tracker(image.pixels, palms=palm_regions, bodies=bodies)
        found = hands.landmarks
        keypoints = np.concatenate([found.image[..., :2], np.repeat(found.presence[:, None, None], len(HAND21),
                                                                    axis=1)], axis=-1)
        attributes = {"handedness": hands.handedness, "presence": found.presence.copy(),
                      "keypoints_world": found.world, "body_track_id": hands.body_track_ids}
        return {"poses": Poses(boxes=hands.boxes(), scores=found.presence, class_ids=np.zeros(len(hands), np.int64),
                               track_ids=hands.track_ids, keypoints=keypoints, schema=HAND21,
                               attributes=attributes)}

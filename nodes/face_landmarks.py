"""face_landmarks: MediaPipe's 468-point face mesh for every person, from their body pose.

A thin node over :class:`rtpose.models.face.FaceLandmarks`. Each person's face region comes
from their body's head points (nose, eyes, ears; the eyes give its roll), so no face detector
runs. Output: one pose per face found in the ``face468`` schema (every point's score is the
face's presence), its box around the mesh, the body's track id, and per-face attributes the
keypoint writer exports: ``body_track_id`` (the body's track id, -1 for untracked bodies),
``body_index`` (the body's position in this frame's input) and ``presence``. Faces whose
presence falls below ``min_presence`` (a turned-away head, a region off the face) are dropped.
:data:`rtpose.schemas.FACE468_TO_FACE68` gives the 68 300W points of a mesh.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from rtpose.api import Image, Node, Params, Poses, register_node
from rtpose.models.face import FaceLandmarks, face_region
from rtpose.models.registry import resolve_model
from rtpose.schemas import FACE468


class FaceLandmarksParams(Params):
    model: str = Field("face_landmark", description="MediaPipe's face landmark model: a known name or a .onnx/.tflite path")
    backend: str = Field("auto", description="auto, onnxruntime, tflite, tensorrt or torch")
    device: str = Field("auto", description="auto, cpu or cuda")
    min_presence: float = Field(0.5, ge=0, le=1, description="face presence to keep a face")
    min_head_score: float = Field(0.3, ge=0, le=1, description="score of a head point (nose, eyes, ears) to use it")
    threads: int | None = Field(None, ge=1, description="inference threads (default: half the cores)")


@register_node("face_landmarks")
class FaceLandmarksNode(Node):
    """A face mesh per person, on the face region their body's head points give."""

    inputs = {"image": Image, "people": Poses}
    outputs = {"poses": Poses}
    input_schemas = {"people": ("coco17", "coco_wholebody133")}
    output_schemas = {"poses": "face468"}
    Params = FaceLandmarksParams
    params: FaceLandmarksParams

    def open(self) -> None:
        p = self.params
        options = {"threads": p.threads} if p.threads else {}
        self.model = FaceLandmarks(resolve_model(p.model), backend=p.backend, device=p.device, **options)

    def process(self, image: Image, people: Poses) -> dict:
        regions = [face_region(kp, self.params.min_head_score) for kp in people.keypoints]
        bodies = [i for i, region in enumerate(regions) if region is not None]
        meshes = self.model(image.pixels, [regions[i] for i in bodies])
        keep = np.flatnonzero(meshes.presence >= self.params.min_presence)
        body_index = np.asarray(bodies, np.int64)[keep]
        points = meshes.points[keep]
        boxes = np.concatenate([points[..., :2].min(axis=1), points[..., :2].max(axis=1)], axis=1)
        track_ids = people.track_ids[body_index]
        attributes = {"body_track_id": track_ids.copy(), "body_index": body_index,
                      "presence": meshes.presence[keep]}
        return {"poses": Poses(boxes=boxes, scores=meshes.presence[keep], class_ids=np.zeros(len(keep), np.int64),
                               track_ids=track_ids, keypoints=points, schema=FACE468, attributes=attributes)}

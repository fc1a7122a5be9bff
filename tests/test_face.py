"""The face mesh on the COCO-WholeBody faces of ../shared: region from head points, the model's
pure stages, the face468 -> face68 map, and the face_landmarks node."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.api import Image, Poses
from rtpose.evaluation.wholebody import WholeBodyImage, load_coco_wholebody
from rtpose.models.face import (
    FACE_WIDTH_PER_EYE_DISTANCE,
    INPUT_SIZE,
    MAX_TURN,
    REGION_SCALE,
    FaceLandmarks,
    face_region,
    postprocess,
    preprocess,
)
from rtpose.plugins import get_node_type
from rtpose.schemas import FACE468, FACE468_TO_FACE68
from rtpose.schemas.wholebody import FACE

FACE_MODEL = "models/face/face_landmark.onnx"


@pytest.fixture(scope="module")
def images(shared: Path) -> list[WholeBodyImage]:
    return load_coco_wholebody(shared / "data/coco/test_coco_wholebody.json")


@pytest.fixture(scope="module")
def model(shared: Path) -> FaceLandmarks:
    return FaceLandmarks(shared / FACE_MODEL, threads=1)


def annotated_faces(images: list[WholeBodyImage]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """(pixels, gt body keypoints as x, y, 0/1, gt 68 face points, face box size) per valid face."""
    faces = []
    for image in images:
        pixels = cv2.imread(str(image.path))
        for person, scales in enumerate(image.scales):
            if FACE.start in scales:
                body = image.keypoints[person, :17].copy()
                body[:, 2] = body[:, 2] > 0
                faces.append((pixels, body, image.keypoints[person, FACE], scales[FACE.start]))
    return faces


def head(nose, right_eye, left_eye, right_ear=None, left_ear=None) -> np.ndarray:
    kp = np.zeros((17, 3), np.float32)
    for index, point in ((0, nose), (1, left_eye), (2, right_eye), (3, left_ear), (4, right_ear)):
        if point is not None:
            kp[index] = (*point, 1.0)
    return kp


def test_region_is_level_with_the_eyes_and_sized_by_the_head() -> None:
    upright = face_region(head((100, 110), (90, 100), (110, 100), (75, 102), (125, 102)))
    assert upright is not None and abs(upright.rotation) < 1e-6
    assert upright.cy > 100  # the face's centre lies below the eyes
    # the same head rolled 30 degrees (counter-clockwise on screen): the region turns with it
    angle = math.radians(30)
    rot = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])

    def turn(p):
        return tuple(rot @ (np.array(p, float) - 100) + 100)

    rolled = face_region(head(turn((100, 110)), turn((90, 100)), turn((110, 100)), turn((75, 102)), turn((125, 102))))
    assert rolled is not None
    assert rolled.rotation == pytest.approx(-angle, abs=1e-4) or rolled.rotation == pytest.approx(angle, abs=1e-4)
    assert rolled.width == pytest.approx(upright.width, rel=1e-4)
    # a misplaced ear does not blow the face up: no wider than a turned head's eyes allow
    wrong_ear = face_region(head((100, 110), (90, 100), (110, 100), (75, 102), (400, 102)))
    assert wrong_ear is not None
    assert wrong_ear.width <= MAX_TURN * FACE_WIDTH_PER_EYE_DISTANCE * 20 * REGION_SCALE + 1e-3 < 400 - 75
    assert face_region(head((100, 110), None, None)) is None  # one head point is not enough


def test_pre_and_post_processing_round_trip_through_the_region() -> None:
    region = face_region(head((100, 110), (90, 100), (110, 100), (75, 102), (125, 102)))
    image = np.zeros((240, 240, 3), np.uint8)
    image[95:105, 85:95] = (0, 0, 255)  # a red patch on the subject's right eye (BGR)
    batch = preprocess(image, [region])
    assert batch.shape == (1, INPUT_SIZE, INPUT_SIZE, 3) and batch.dtype == np.float32 and batch.max() <= 1.0
    ys, xs = np.nonzero(batch[0, :, :, 0] > 0.5)  # red is the first channel once in RGB
    crop_points = np.array([[xs.mean(), ys.mean(), 0.0]] * 468, np.float32).reshape(1, -1)
    meshes = postprocess(crop_points, np.array([[4.0]]), [region])
    assert meshes.points.shape == (1, 468, 3)
    assert np.allclose(meshes.points[0, 0, :2], (89.5, 99.5), atol=1.5)  # back where the patch is
    assert meshes.presence[0] == pytest.approx(1 / (1 + math.exp(-4.0)))


def test_mapped_mesh_lands_on_the_annotated_face_points(images, model) -> None:
    """The face468 -> face68 map, checked with the annotated head points (so the region is right):
    on the clearly seen faces, the 68 mapped points lie within a few percent of the face box."""
    errors = []
    for pixels, body, gt, size in annotated_faces(images):
        meshes = model(pixels, [face_region(body)])
        if meshes.presence[0] < 0.5:
            continue
        mapped = meshes.points[0, list(FACE468_TO_FACE68), :2]
        errors.append(np.linalg.norm(mapped - gt[:, :2], axis=1) / size)
    assert len(errors) >= 3
    errors = np.concatenate(errors)
    assert errors.mean() < 0.07  # measured 0.041 (3 faces, 21-29 px wide)
    assert (errors < 0.1).mean() > 0.8  # measured 0.956
    # a wrong map (the mesh's first 68 vertices) is far off: the check can fail
    pixels, body, gt, size = annotated_faces(images)[0]
    wrong = model(pixels, [face_region(body)]).points[0, :68, :2]
    assert (np.linalg.norm(wrong - gt[:, :2], axis=1) / size).mean() > 0.15


def test_face_landmarks_node_gives_a_mesh_per_visible_face(shared: Path, images) -> None:
    cls = get_node_type("face_landmarks")
    node = cls("face", cls.Params(model=str(shared / FACE_MODEL), threads=1))
    node.open()
    image = images[0]  # one person, face seen
    pixels = cv2.imread(str(image.path))
    body = image.keypoints[:, :17].copy()
    body[..., 2] = body[..., 2] > 0
    no_head = body[0].copy()
    no_head[:5, 2] = 0  # a second person whose head points are not seen
    people = Poses(boxes=np.concatenate([image.boxes, image.boxes]), scores=[0.9, 0.8], class_ids=[0, 0],
                   track_ids=[7, 8], keypoints=np.stack([body[0], no_head]))
    faces = node.process(Image(pixels, 0.0), people)["poses"]
    node.close()
    assert faces.schema == FACE468 and len(faces) == 1
    assert faces.track_ids.tolist() == [7] and faces.attributes["body_track_id"].tolist() == [7]
    assert faces.attributes["body_index"].tolist() == [0] and faces.attributes["presence"][0] > 0.5
    x1, y1, x2, y2 = faces.boxes[0]
    gt_face = image.keypoints[0, FACE, :2]
    assert x1 <= gt_face[:, 0].mean() <= x2 and y1 <= gt_face[:, 1].mean() <= y2


def test_a_model_without_face_mesh_outputs_is_named(shared: Path) -> None:
    """The palm detector takes the same 192x192 crops but gives no face mesh: said, with its outputs."""
    from rtpose.errors import ModelError

    with pytest.raises(ModelError, match=r"palm_detection_full.onnx: no face mesh outputs \(\[1, 1404\] landmarks"):
        FaceLandmarks(shared / "models/hand/palm_detection_full.onnx", threads=1)


def test_a_model_of_another_input_size_is_refused(shared: Path) -> None:
    from rtpose.errors import ModelError

    with pytest.raises(ModelError, match=r"hand_landmark_full.onnx: expected a face landmark model with input "
                                         r"\[N, 192, 192, 3\], got \[1, 224, 224, 3\]"):
        FaceLandmarks(shared / "models/hand/hand_landmark_full.onnx", threads=1)

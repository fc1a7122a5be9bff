"""Faces: the 68 points of 300W (COCO-WholeBody's face) and MediaPipe's 468-point face mesh.

``face68`` follows the 300W / iBUG order: jaw 0-16 (from the subject's right ear to the
left), right brow 17-21, left brow 22-26, nose bridge 27-30, nostrils 31-35, right eye
36-41, left eye 42-47, outer lips 48-59, inner lips 60-67. "Right" is the subject's right
(the image's left for a face looking at the camera). Its OKS sigmas are COCO-WholeBody's.

``face468`` is MediaPipe Face Mesh. Its skeleton is the mesh's contours only (face oval,
eyes, brows, lips, nose bridge), written from the mesh topology MediaPipe documents in its
canonical face model (``canonical_face_model_uv_visualization.png``): drawing all 468
points would hide the face.

:data:`FACE468_TO_FACE68` takes a mesh to the 68 points: for each 300W point the mesh vertex
at the same anatomical place (jaw points along the face oval, brow points along the brows'
middle line, eye and lip corners and lids from the eye and lip contours), read from the same
canonical model. It was checked on the COCO-WholeBody faces in ``../shared/data/coco``
(tests/test_face.py): the mapped mesh points lie 0.041 face-box sizes from the annotated ones
on average (docs/wholebody.md).
"""

from __future__ import annotations

import numpy as np

from rtpose.schemas.base import KeypointSchema, register_schema


def chain(points: tuple[int, ...], closed: bool = False) -> tuple[tuple[int, int], ...]:
    """Consecutive pairs along ``points`` (and back to the start when ``closed``)."""
    ends = points[1:] + (points[:1] if closed else ())
    return tuple(zip(points, ends))


def _names(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}_{i}" for i in range(count))


FACE68_KEYPOINTS: tuple[str, ...] = (
    *_names("jaw", 17), *_names("right_brow", 5), *_names("left_brow", 5), *_names("nose_bridge", 4),
    *_names("nostrils", 5), *_names("right_eye", 6), *_names("left_eye", 6), *_names("outer_lip", 12),
    *_names("inner_lip", 8),
)

FACE68_GROUPS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "lips": tuple(range(48, 68)),
}

FACE68_SKELETON: tuple[tuple[int, int], ...] = (
    *chain(tuple(range(0, 17))), *chain(tuple(range(17, 22))), *chain(tuple(range(22, 27))),
    *chain(tuple(range(27, 31))), *chain(tuple(range(31, 36))), (30, 33),
    *chain(tuple(range(36, 42)), closed=True), *chain(tuple(range(42, 48)), closed=True),
    *chain(tuple(range(48, 60)), closed=True), *chain(tuple(range(60, 68)), closed=True),
)

FACE68_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    *((i, 16 - i) for i in range(8)), *((17 + i, 26 - i) for i in range(5)), (31, 35), (32, 34),
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67),
)

FACE68_SIGMAS = np.array([
    0.042, 0.043, 0.044, 0.043, 0.040, 0.035, 0.031, 0.025, 0.020, 0.023, 0.029, 0.032, 0.037, 0.038,
    0.043, 0.041, 0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011, 0.011, 0.013, 0.015, 0.009,
    0.007, 0.007, 0.007, 0.012, 0.009, 0.008, 0.016, 0.010, 0.017, 0.011, 0.009, 0.011, 0.009, 0.007,
    0.013, 0.008, 0.011, 0.012, 0.010, 0.034, 0.008, 0.008, 0.009, 0.008, 0.008, 0.007, 0.010, 0.008,
    0.009, 0.009, 0.009, 0.007, 0.007, 0.008, 0.011, 0.008, 0.008, 0.008, 0.010, 0.008], np.float32)

FACE68 = KeypointSchema(
    name="face68", keypoints=FACE68_KEYPOINTS, skeleton=FACE68_SKELETON, sigmas=FACE68_SIGMAS,
    flip_pairs=FACE68_FLIP_PAIRS, groups=FACE68_GROUPS,
)
"""The 68 300W face points, as in COCO-WholeBody."""

# Mesh contours (vertex indices of MediaPipe's canonical face model), each walked in order.
MESH_FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                  152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
MESH_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
MESH_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
MESH_RIGHT_BROW = ((46, 53, 52, 65, 55), (70, 63, 105, 66, 107))
MESH_LEFT_BROW = ((276, 283, 282, 295, 285), (300, 293, 334, 296, 336))
MESH_OUTER_LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
MESH_INNER_LIPS = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
MESH_NOSE_BRIDGE = (168, 6, 197, 195, 5, 4, 1)

FACE468_GROUPS: dict[str, tuple[int, ...]] = {
    "face_oval": MESH_FACE_OVAL,
    "eyes": MESH_RIGHT_EYE + MESH_LEFT_EYE,
    "brows": sum(MESH_RIGHT_BROW + MESH_LEFT_BROW, ()),
    "nose": MESH_NOSE_BRIDGE,
    "lips": MESH_OUTER_LIPS + MESH_INNER_LIPS,
}

FACE468_SKELETON: tuple[tuple[int, int], ...] = (
    *chain(MESH_FACE_OVAL, closed=True), *chain(MESH_RIGHT_EYE, closed=True), *chain(MESH_LEFT_EYE, closed=True),
    *(edge for line in MESH_RIGHT_BROW + MESH_LEFT_BROW for edge in chain(line)),
    *chain(MESH_OUTER_LIPS, closed=True), *chain(MESH_INNER_LIPS, closed=True), *chain(MESH_NOSE_BRIDGE),
)

FACE468 = KeypointSchema(
    name="face468", keypoints=_names("mesh", 468), skeleton=FACE468_SKELETON, groups=FACE468_GROUPS,
    default_sigma=0.01,
)
"""MediaPipe Face Mesh: 468 vertices; drawn as its contours."""

FACE468_TO_FACE68: tuple[int, ...] = (
    # jaw, subject's right ear -> chin -> left ear (along the face oval)
    127, 234, 93, 132, 172, 136, 149, 148, 152, 377, 378, 365, 397, 361, 323, 454, 356,
    # right brow (outer -> inner), left brow (inner -> outer): along the brows' middle
    46, 53, 52, 65, 55, 285, 295, 282, 283, 276,
    # nose bridge (top -> tip), nostrils (right -> left)
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    # right eye: outer corner, upper lid x2, inner corner, lower lid x2; left eye: inner corner first
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # outer lips from the right corner over the upper lip, back along the lower lip
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
    # inner lips, the same way round
    78, 81, 13, 311, 308, 402, 14, 178,
)
"""``face68[i] = face468[FACE468_TO_FACE68[i]]``: the 300W points picked from the mesh."""

register_schema(FACE68)
register_schema(FACE468)

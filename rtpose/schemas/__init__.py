"""Keypoint schemas: how many keypoints a pose has, what they are called and how they connect.

A :class:`KeypointSchema` rides on every :class:`~rtpose.types.Poses`. Drawing, export, OKS,
smoothing and validation read it, so a new model family (hands, face, whole-body, 3D) is a
model wrapper, a node and, where needed, a schema module here; nothing else knows a keypoint
count. Each built-in schema lives in its own module and registers itself when imported
below; plugins register theirs with :func:`register_schema`.
"""

from rtpose.schemas.base import KeypointSchema, get_schema, register_schema, schema_names
from rtpose.schemas.blazepose import BLAZEPOSE33
from rtpose.schemas.coco import COCO17
from rtpose.schemas.face import FACE68, FACE468, FACE468_TO_FACE68
from rtpose.schemas.h36m import H36M17
from rtpose.schemas.hand import HAND21
from rtpose.schemas.wholebody import COCO_WHOLEBODY133

__all__ = [
    "BLAZEPOSE33", "COCO17", "COCO_WHOLEBODY133", "FACE468", "FACE468_TO_FACE68", "FACE68", "H36M17", "HAND21",
    "KeypointSchema", "get_schema", "register_schema", "schema_names"]

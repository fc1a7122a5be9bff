"""The public plugin API: everything a node author imports.

    from rtpose.api import Node, Params, register_node, Image, Poses

    @register_node("joint_angles")
    class JointAngles(Node):
        inputs = {"poses": Poses}
        outputs = {"poses": Poses}
        ...
"""

from rtpose.analysis import ANGLES, AngleDef, AngleRepCounter, JumpCounter, RepEvent, cadence, joint_angles
from rtpose.errors import ModelError, ModelNotFound, OutputError, RtposeError, SourceError
from rtpose.node import FrameInfo, Node, NoParams, Params
from rtpose.outputs import check_output
from rtpose.plugins import register_node
from rtpose.schemas import COCO17, KeypointSchema, get_schema, register_schema
from rtpose.types import (
    COCO_FLIP_PAIRS,
    COCO_KEYPOINTS,
    COCO_SIGMAS,
    COCO_SKELETON,
    Detections,
    Image,
    Poses,
    Tracks,
)

__all__ = [
    "ANGLES", "AngleDef", "AngleRepCounter", "JumpCounter", "RepEvent", "cadence", "joint_angles",
    "COCO17", "COCO_FLIP_PAIRS", "COCO_KEYPOINTS", "COCO_SIGMAS", "COCO_SKELETON",
    "Detections", "FrameInfo", "Image", "KeypointSchema", "ModelError", "ModelNotFound", "Node", "NoParams",
    "OutputError", "Params", "Poses", "RtposeError", "SourceError", "Tracks", "check_output", "get_schema",
    "register_node", "register_schema",
]

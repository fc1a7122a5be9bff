"""Analysis of poses over time: named joint angles and repetition counters (jumps, squats, ...).

Pure functions and small stateful counters, no graph or node code: the ``joint_angles`` and
``count_reps`` nodes are thin wrappers, and a plugin can use the same pieces.
"""

from rtpose.analysis.angles import ANGLES, AngleDef, angle_names, joint_angles
from rtpose.analysis.reps import AngleRepCounter, JumpCounter, RepEvent, cadence

__all__ = ["ANGLES", "AngleDef", "AngleRepCounter", "JumpCounter", "RepEvent", "angle_names", "cadence",
           "joint_angles"]

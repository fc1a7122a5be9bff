"""The standard rtpose nodes, written only against :mod:`rtpose.api`.

Installed as the package ``rtpose_nodes`` and found through the ``rtpose.nodes``
entry point, exactly like a third-party plugin. Importing this package registers
every standard node type.
"""

from rtpose_nodes import capture, detect, display, export, pose, record, smooth, track  # noqa: F401
from rtpose_nodes import count_reps, joint_angles  # noqa: F401

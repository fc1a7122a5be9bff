"""rtpose: real-time multi-person pose pipelines as graphs of small nodes.

From Python (see :mod:`rtpose.app`)::

    import rtpose
    for result in rtpose.run("graphs/webcam_body.yaml", source="clip.mp4"):
        print(result.index, len(result.poses))

The names below are imported on first use, so ``import rtpose`` stays cheap for the command line.
"""

from typing import Any

__version__ = "0.1.0"

_APP_NAMES = ("APP", "Estimator", "GraphBuilder", "Pipeline", "Result", "load", "pose_table", "run", "start")

__all__ = ["__version__", *_APP_NAMES]


def __getattr__(name: str) -> Any:
    if name in _APP_NAMES:
        import rtpose.app

        return getattr(rtpose.app, name)
    raise AttributeError(f"module 'rtpose' has no attribute {name!r}")

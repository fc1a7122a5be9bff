"""rtpose from Python: graphs in code, frames in, results out.

- :func:`load` a graph file with a new source and params, or compose one with :class:`GraphBuilder`;
- :func:`start` it in the background (a :class:`Pipeline`, a context manager): ``push`` frames,
  iterate results; or :func:`run` a graph on its own source: ``for result in rtpose.run(...)``;
- :class:`Estimator`: ``poses = est(image)`` for single images, models kept loaded;
- :func:`pose_table`: results as one NumPy table.
"""

from rtpose.app.channels import Result
from rtpose.app.compose import APP, GraphBuilder, load
from rtpose.app.estimator import Estimator
from rtpose.app.pipeline import Pipeline, run, start
from rtpose.app.table import pose_table

__all__ = ["APP", "Estimator", "GraphBuilder", "Pipeline", "Result", "load", "pose_table", "run", "start"]

"""Poses of many frames as one NumPy table (a pandas DataFrame is one call away)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rtpose.app.channels import Result

FIXED_COLUMNS = ("frame", "timestamp", "track_id", "x1", "y1", "x2", "y2", "score")


def pose_table(results: Iterable[Result], output: str = "poses") -> tuple[np.ndarray, list[str]]:
    """One row per person per frame, float64, and the column names.

    Columns: ``frame, timestamp, track_id, x1, y1, x2, y2, score`` (the box in image pixels,
    the detection score), then ``<keypoint>_x, <keypoint>_y, <keypoint>_score`` for each
    keypoint of the poses' schema (COCO-17: ``nose_x, nose_y, nose_score, left_eye_x, ...``).
    Frames without people add no row. All frames must share one schema.

        table, columns = rtpose.pose_table(rtpose.run(graph, source="clip.mp4"))
        df = pandas.DataFrame(table, columns=columns)    # if you use pandas
    """
    rows: list[np.ndarray] = []
    names: tuple[str, ...] | None = None
    for result in results:
        poses = result.outputs[output]
        if names is None:
            names = poses.keypoint_names
        elif poses.keypoint_names != names:
            raise ValueError(f"frame {result.index}: keypoint schema {poses.schema.name!r} differs from the "
                             f"earlier frames'")
        n = len(poses)
        fixed = np.column_stack([np.full(n, result.index), np.full(n, result.timestamp), poses.track_ids,
                                 poses.boxes, poses.scores]).astype(np.float64)
        rows.append(np.hstack([fixed, poses.keypoints.reshape(n, -1)]))
    names = names or ()
    columns = list(FIXED_COLUMNS) + [f"{name}_{part}" for name in names for part in ("x", "y", "score")]
    return (np.vstack(rows) if rows else np.zeros((0, len(columns)))), columns

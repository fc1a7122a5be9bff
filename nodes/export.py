"""The ``export_keypoints`` sink: poses of every frame to a JSON Lines or CSV file.

Frame index: the index the runtime gives the frame at its source (``self.frame``), so
a live source's dropped frames show as gaps; the timestamp comes from the ``image`` input
(joined with ``poses`` by frame).

Formats (floats rounded: 2 decimals for pixel coordinates and sizes, 4 for scores,
6 for timestamps; values that are not finite are written as null / empty):

- JSON Lines, one object per frame, also for frames without people::

    {"frame": 0, "timestamp": 0.0, "people": [{"track_id": 3, "bbox": [x, y, w, h],
     "score": 0.91, "schema": "coco17", "keypoints": [[x, y, score], ... 17]}], "source": "camera"}

  ``source`` is the name of the capture node the frame came from (a graph with several
  cameras writes one stream per export node; docs/multicam.md).

  ``schema`` names the keypoint schema (:mod:`rtpose.schemas`), which gives the number and
  meaning of the keypoints. Each of the poses' per-person ``attributes`` (handedness, 3D
  keypoints, rep counts ...) is one more field of the person, arrays as nested lists.

- CSV, one row per person per frame (frames without people write no row): ``frame,
  timestamp, track_id, bbox_x, bbox_y, bbox_w, bbox_h, score`` then ``<name>_x,
  <name>_y, <name>_score`` for each keypoint of the poses' schema (``poses.schema.keypoints``:
  the 17 COCO names for body models). A CSV has one set of columns, so poses of another
  schema later in the run are an error that names both; JSON Lines names the schema per person.

Boxes are written as ``x, y, w, h`` (converted from the ``x1, y1, x2, y2`` of Poses).

The file is checked (its folder created, writable) at ``open()``, but opened for writing only
when the first frame arrives: a run that fails to start leaves an existing file as it was.
A write that fails (a full disk) is an error naming the file.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from rtpose.api import Image, KeypointSchema, Node, OutputError, Params, Poses, check_output, register_node

FORMAT_BY_SUFFIX: dict[str, str] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class ExportParams(Params):
    path: Path = Field(description="Output file, .jsonl or .csv; its folder is created. An existing file is replaced "
                                   "when the first frame arrives (a run that fails to start leaves it as it was).")
    format: Literal["jsonl", "csv"] | None = Field(
        None, description="File format; default: from the path's extension (.jsonl/.ndjson or .csv).")
    flush_every: int = Field(
        1, ge=1, description="Flush to disk every this many frames (1: a crash or kill loses nothing).")

    @model_validator(mode="after")
    def _known_format(self) -> "ExportParams":
        if self.format is None and self.path.suffix.lower() not in FORMAT_BY_SUFFIX:
            raise ValueError(f"cannot tell the format of {str(self.path)!r} from its extension: use .jsonl or "
                             f".csv, or set format: jsonl|csv")
        return self

    @property
    def resolved_format(self) -> str:
        return self.format or FORMAT_BY_SUFFIX[self.path.suffix.lower()]


def csv_header(names: tuple[str, ...]) -> list[str]:
    """CSV columns: frame, timestamp, track and box, then x, y, score per keypoint (the schema's names)."""
    head = ["frame", "timestamp", "track_id", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "score"]
    return head + [f"{name}_{part}" for name in names for part in ("x", "y", "score")]


def _num(value: Any, digits: int) -> float | None:
    """Round for the file; None for NaN/inf, which JSON cannot hold."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def people_records(poses: Poses) -> list[dict[str, Any]]:
    """Poses as the JSON ``people`` list: xywh boxes, rounded, 17 ``[x, y, score]`` each."""
    people = []
    for i in range(len(poses)):
        x1, y1, x2, y2 = (float(v) for v in poses.boxes[i])
        people.append({
            "track_id": int(poses.track_ids[i]),
            "bbox": [_num(x1, 2), _num(y1, 2), _num(x2 - x1, 2), _num(y2 - y1, 2)],
            "score": _num(poses.scores[i], 4),
            "schema": poses.schema.name,
            "keypoints": [[_num(x, 2), _num(y, 2), _num(s, 4)] for x, y, s in poses.keypoints[i]],
        } | {key: _jsonable(values[i]) for key, values in poses.attributes.items()})
    return people


def _jsonable(value: Any) -> Any:
    """A per-person attribute as JSON: arrays and numpy scalars to lists and numbers (4 decimals)."""
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _num(value, 4)
    return value


def frame_record(frame: int, timestamp: float, poses: Poses) -> dict[str, Any]:
    """One JSON Lines object: the frame, its timestamp and its people."""
    return {"frame": frame, "timestamp": _num(timestamp, 6), "people": people_records(poses)}


def csv_rows(frame: int, timestamp: float, poses: Poses) -> list[list[Any]]:
    """The CSV rows of one frame, one per person (none for an empty frame)."""
    rows = []
    for person in people_records(poses):
        row: list[Any] = [frame, _num(timestamp, 6), person["track_id"], *person["bbox"], person["score"]]
        row += [v for kp in person["keypoints"] for v in kp]
        rows.append(["" if v is None else v for v in row])
    return rows


@register_node("export_keypoints")
class ExportKeypoints(Node):
    """Writes every frame's poses to a JSON Lines or CSV file (frame index, timestamp, boxes, keypoints)."""

    inputs = {"poses": Poses, "image": Image}
    outputs: dict[str, type] = {}
    live_input_queue = ("drop_oldest", 64)  # a slow disk drops (and counts) writes, never stalls the graph
    Params = ExportParams
    params: ExportParams

    def __init__(self, name: str, params: ExportParams) -> None:
        super().__init__(name, params)
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._columns: KeypointSchema | None = None  # the schema the CSV header was written for
        self._last_schema: KeypointSchema | None = None
        self._written = 0

    def open(self) -> None:
        self.params.path = check_output(self.params.path, "export file")
        self._written = 0
        self._columns = None

    def process(self, poses: Poses, image: Image) -> dict[str, Any]:
        assert self.frame is not None, "export_keypoints: run by the runtime, which sets the frame"
        try:
            if self._file is None:
                self._start_file()
            self._last_schema = poses.schema
            if self._csv is not None:
                if len(poses):
                    self._check_columns(poses.schema)
                self._csv.writerows(csv_rows(self.frame.index, image.timestamp, poses))
            else:
                # "source": the capture node the frame came from (several streams in one graph: docs/multicam.md)
                self._file.write(json.dumps(frame_record(self.frame.index, image.timestamp, poses)
                                            | {"source": self.frame.source}) + "\n")
            self._written += 1
            if self._written % self.params.flush_every == 0:
                self._file.flush()
        except OSError as exc:
            raise OutputError(f"cannot write {self.params.path}: {exc.strerror or exc}") from exc
        return {}

    def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            if self._csv is not None and self._columns is None and self._last_schema is not None:
                self._csv.writerow(csv_header(self._last_schema.keypoints))  # nobody in the whole run
            file.close()
        except OSError as exc:
            raise OutputError(f"cannot write {self.params.path}: {exc.strerror or exc}") from exc
        finally:
            self._csv = None

    def _start_file(self) -> None:
        path = self.params.path
        if self.params.resolved_format == "csv":
            self._file = path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._file)
        else:
            self._file = path.open("w", encoding="utf-8")

    def _check_columns(self, schema: KeypointSchema) -> None:
        """Write the header for the first poses' schema; refuse poses of another schema later."""
        if self._columns is None:
            self._columns = schema
            self._csv.writerow(csv_header(schema.keypoints))
        elif schema.keypoints != self._columns.keypoints:
            raise OutputError(
                f"{self.params.path} has the CSV columns of schema {self._columns.name!r} "
                f"({len(self._columns.keypoints)} keypoints), but frame {self.frame.index if self.frame else '?'} "
                f"has poses of schema {schema.name!r} ({len(schema.keypoints)}); export to .jsonl, which names "
                f"the schema of every person, or give each schema its own export node")

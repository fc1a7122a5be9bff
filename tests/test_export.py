"""export_keypoints: JSON Lines and CSV round trips from hand-made Poses."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from rtpose.api import FrameInfo
from rtpose.types import COCO_KEYPOINTS, Image, Poses
from rtpose_nodes.export import ExportKeypoints, ExportParams, csv_header

PIXELS = np.zeros((8, 8, 3), np.uint8)


def two_people() -> Poses:
    keypoints = np.zeros((2, 17, 3), np.float32)
    keypoints[0, :, 0] = np.arange(17) + 10.123
    keypoints[0, :, 1] = np.arange(17) * 2 + 20.456
    keypoints[0, :, 2] = 0.123456
    keypoints[1, :, :2] = 5.0
    keypoints[1, :, 2] = 0.9
    keypoints[1, 3, 2] = np.nan  # a model may give NaN: must stay valid JSON
    return Poses(boxes=[[10.0, 20.0, 110.5, 220.25], [0.0, 0.0, 50.0, 40.0]], scores=[0.987654, 0.5],
                 class_ids=[0, 0], track_ids=[7, 3], keypoints=keypoints)


def run_export(path: Path, frames: list[tuple[Poses, float]], **params: object) -> None:
    node = ExportKeypoints("export", ExportParams(path=path, **params))
    node.open()
    try:
        for index, (poses, ts) in enumerate(frames):
            node.frame = FrameInfo("test", index, ts)  # what the runtime sets before each call
            assert node.process(poses=poses, image=Image(PIXELS, ts, "test")) == {}
    finally:
        node.close()


def test_jsonl_one_object_per_frame_with_exact_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "poses.jsonl"  # parent folders are created
    run_export(path, [(two_people(), 0.0), (Poses(), 0.0333333333), (two_people(), 0.0666666)])
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert [r["timestamp"] for r in records] == [0.0, 0.033333, 0.066667]
    assert records[1]["people"] == []
    first = records[0]
    assert set(first) == {"frame", "timestamp", "people", "source"} and first["source"] == "test"
    person = first["people"][0]
    assert set(person) == {"track_id", "bbox", "score", "schema", "keypoints"}
    assert person["track_id"] == 7
    assert person["bbox"] == [10.0, 20.0, 100.5, 200.25]  # x, y, w, h
    assert person["score"] == 0.9877
    assert len(person["keypoints"]) == 17 and all(len(kp) == 3 for kp in person["keypoints"])
    assert person["keypoints"][0] == [10.12, 20.46, 0.1235]
    assert person["keypoints"][16] == [26.12, 52.46, 0.1235]
    second = first["people"][1]
    assert second["track_id"] == 3 and second["bbox"] == [0.0, 0.0, 50.0, 40.0]
    assert second["keypoints"][3] == [5.0, 5.0, None]


def test_csv_one_row_per_person_with_named_keypoint_columns(tmp_path: Path) -> None:
    path = tmp_path / "poses.csv"
    run_export(path, [(two_people(), 0.0), (Poses(), 0.5), (two_people(), 1.0)])
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[:8] == ["frame", "timestamp", "track_id", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "score"]
    assert header[8:11] == ["nose_x", "nose_y", "nose_score"]
    assert header[-3:] == ["right_ankle_x", "right_ankle_y", "right_ankle_score"]
    assert len(header) == 8 + 3 * 17 == len(csv_header(COCO_KEYPOINTS))
    assert len(body) == 4  # frame 1 has no people: no rows
    assert [r[0] for r in body] == ["0", "0", "2", "2"]
    row = dict(zip(header, body[0]))
    assert row["track_id"] == "7" and row["timestamp"] == "0.0"
    assert [float(row[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")] == [10.0, 20.0, 100.5, 200.25]
    assert float(row["score"]) == 0.9877
    assert float(row["left_eye_x"]) == 11.12 and float(row["left_eye_score"]) == 0.1235
    second = dict(zip(header, body[1]))
    assert second["track_id"] == "3" and second["left_ear_score"] == ""  # NaN -> empty
    for name in COCO_KEYPOINTS:
        assert float(second[f"{name}_x"]) == 5.0


def test_format_param_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "poses.txt"
    run_export(path, [(two_people(), 0.0)], format="csv")
    assert path.read_text().startswith("frame,timestamp,track_id")


def test_unknown_extension_is_a_params_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="poses.txt"):
        ExportParams(path=tmp_path / "poses.txt")


def test_flush_every_writes_to_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "poses.jsonl"
    node = ExportKeypoints("export", ExportParams(path=path, flush_every=2))
    node.open()
    try:
        node.frame = FrameInfo("test", 0, 0.0)
        node.process(poses=two_people(), image=Image(PIXELS, 0.0))
        assert path.read_text() == ""
        node.frame = FrameInfo("test", 1, 0.1)
        node.process(poses=Poses(), image=Image(PIXELS, 0.1))
        assert len(path.read_text().splitlines()) == 2
    finally:
        node.close()


def test_each_person_names_its_schema_and_carries_its_attributes() -> None:
    from rtpose_nodes.export import frame_record

    kps = np.zeros((2, 17, 3), np.float32)
    poses = Poses(boxes=[[0, 0, 10, 20], [5, 5, 15, 25]], scores=[0.9, 0.8], class_ids=[0, 0], track_ids=[1, 2],
                  keypoints=kps, attributes={"reps": [{"jump": 3}, {"jump": np.int64(5)}],
                                             "keypoints_3d": np.full((2, 17, 3), 0.123456, np.float32)})
    people = frame_record(0, 0.0, poses)["people"]
    assert [p["schema"] for p in people] == ["coco17", "coco17"]
    assert people[1]["reps"] == {"jump": 5}
    assert people[0]["keypoints_3d"][16] == [0.1235, 0.1235, 0.1235]
    json.dumps(people)


def test_csv_columns_follow_the_poses_schema_and_a_change_is_an_error(tmp_path: Path) -> None:
    from rtpose.api import OutputError
    from rtpose.schemas import H36M17

    def h36m_person() -> Poses:
        kps = np.tile(np.arange(len(H36M17), dtype=np.float32)[:, None], (1, 3))[None]
        return Poses(boxes=[[0, 0, 10, 20]], scores=[0.9], class_ids=[0], track_ids=[4], keypoints=kps, schema=H36M17)

    path = tmp_path / "h36m.csv"
    node = ExportKeypoints("export", ExportParams(path=path))
    node.open()
    try:
        for index, poses in enumerate([Poses(), h36m_person(), h36m_person()]):  # an empty frame says nothing
            node.frame = FrameInfo("test", index, float(index))
            node.process(poses=poses, image=Image(PIXELS, float(index), "test"))
        node.frame = FrameInfo("test", 3, 3.0)
        with pytest.raises(OutputError, match=r"h36m.csv has the CSV columns of schema 'h36m17' .* frame 3 has "
                                              r"poses of schema 'coco17'"):
            node.process(poses=two_people(), image=Image(PIXELS, 3.0, "test"))
    finally:
        node.close()
    rows = list(csv.reader(path.open()))
    assert rows[0] == csv_header(H36M17.keypoints) and len(rows[0]) == 8 + 3 * len(H36M17)
    assert [row[0] for row in rows[1:]] == ["1", "2"]
    assert rows[1][rows[0].index(f"{H36M17.keypoints[5]}_x")] == "5.0"


def test_a_run_that_never_writes_a_frame_leaves_an_existing_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "keep.jsonl"
    path.write_text("earlier run\n")
    node = ExportKeypoints("export", ExportParams(path=path))
    node.open()  # the graph then fails before any frame
    node.close()
    assert path.read_text() == "earlier run\n"

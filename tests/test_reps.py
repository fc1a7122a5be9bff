"""Joint angles and rep counters (rtpose.analysis) on synthetic keypoints and angle sequences,
and the joint_angles / count_reps nodes and the overlay's caption on top of them."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from rtpose.analysis import AngleRepCounter, JumpCounter, cadence, joint_angles
from rtpose.api import COCO17, KeypointSchema, Poses
from rtpose.node import FrameInfo
from rtpose.viz.overlay import draw_poses
from rtpose_nodes.count_reps import CountReps, caption
from rtpose_nodes.joint_angles import JointAngles

FPS = 30.0
# A person standing upright, feet at y = 0 (image y points down), torso 80 px (x, y per COCO keypoint).
STANDING = np.array([
    (0, -190), (5, -195), (-5, -195), (10, -192), (-10, -192),
    (25, -160), (-25, -160), (35, -120), (-35, -120), (40, -85), (-40, -85),
    (15, -80), (-15, -80), (15, -40), (-15, -40), (15, 0), (-15, 0),
], np.float64)


def person_at(x: float, ground: float, lift: float = 0.0, legs_lift: float | None = None,
              score: float = 0.9) -> np.ndarray:
    """(17, 3) keypoints of STANDING at (x, ground), the body lifted by ``lift`` px (the legs by ``legs_lift``)."""
    kps = np.zeros((17, 3))
    kps[:, 0] = STANDING[:, 0] + x
    kps[:, 1] = STANDING[:, 1] + ground - lift
    kps[13:, 1] += lift - (lift if legs_lift is None else legs_lift)
    kps[:, 2] = score
    return kps


def hops(frames: int, starts: list[int], length: int = 11, height: float = 40.0) -> np.ndarray:
    """Lift per frame: a half-sine of ``length`` frames at each start (like make_clip's jumps)."""
    lift = np.zeros(frames)
    for s in starts:
        lift[s:s + length] = height * np.sin(np.pi * (np.arange(length) + 0.5) / length)
    return lift


def feed(counter: JumpCounter, lifts: np.ndarray, seed: int = 0, noise: float = 1.0, x_speed: float = 0.0,
         legs: np.ndarray | None = None) -> list[int]:
    rng = np.random.default_rng(seed)
    counted = []
    for f, lift in enumerate(lifts):
        kps = person_at(400 + x_speed * f, 600, lift, None if legs is None else legs[f])
        kps[:, :2] += rng.normal(0, noise, (17, 2))
        event = counter.update(kps, f / FPS, f)
        if event is not None:
            counted.append(event.frame)
    return counted


def test_each_hop_counted_once_at_landing_with_rests() -> None:
    starts = [10, 25, 40, 55, 130, 144, 160, 176, 250]  # two rests of more than 2 s
    counter = JumpCounter(COCO17)
    counted = feed(counter, hops(300, starts))
    assert counter.count == len(starts)
    landings = [s + 11 for s in starts]
    assert all(-3 <= c - l <= 2 for c, l in zip(counted, landings)), (counted, landings)
    event = counter.events[0]
    assert event.rep == 1 and 0.25 <= event.duration <= 0.45 and 0.4 <= event.peak <= 0.55  # 40 px / 80 px torso


def test_quick_hops_that_a_smoother_rounds_still_count() -> None:
    lifts = hops(200, list(range(10, 180, 14)))  # 3 frames on the ground between hops
    lifts = np.convolve(lifts, np.ones(3) / 3, mode="same")  # a pose smoother's rounding
    counter = JumpCounter(COCO17)
    feed(counter, lifts)
    assert counter.count == len(range(10, 180, 14))


def test_standing_still_walking_and_squatting_count_nothing() -> None:
    still = JumpCounter(COCO17)
    feed(still, np.zeros(300), noise=2.0)
    walking = JumpCounter(COCO17)
    bob = 8 * np.abs(np.sin(np.pi * np.arange(300) / 12))  # hips bob 0.1 torso at each step
    feed(walking, bob, x_speed=3.0)
    walking_big_bob = JumpCounter(COCO17)
    feed(walking_big_bob, hops(300, list(range(10, 280, 14)), height=20), x_speed=3.0)  # bobs like hops, but travels
    squat = JumpCounter(COCO17)  # hips drop and rise again, the feet stay on the ground
    depth = -40 * np.clip(np.sin(np.pi * np.arange(300) / 45), 0, None)
    feed(squat, depth + 40, legs=np.zeros(300))
    assert (still.count, walking.count, walking_big_bob.count, squat.count) == (0, 0, 0, 0)


def test_one_frame_glitch_and_slow_rise_are_not_hops() -> None:
    glitch = np.zeros(100)
    glitch[50] = 40.0
    step = np.clip((np.arange(100) - 40) * 1.0, 0, 40)  # climbs 40 px over 40 frames and stays
    counters = [JumpCounter(COCO17), JumpCounter(COCO17)]
    feed(counters[0], glitch)
    feed(counters[1], np.concatenate([step, step[::-1]]))
    assert [c.count for c in counters] == [0, 0]


def test_a_gap_keeps_the_count_and_learns_the_motion_again() -> None:
    counter = JumpCounter(COCO17)
    feed(counter, hops(60, [10, 30]))
    for f, lift in enumerate(hops(60, [10, 30]), start=200):  # back 140 frames later, 100 px to the right
        counter.update(person_at(500, 650, lift), f / FPS, f)
    assert counter.count == 4


def test_ankles_must_rise_with_the_hips_where_they_are_seen() -> None:
    lifts = hops(100, [10, 30, 50])
    grounded = JumpCounter(COCO17)
    feed(grounded, lifts, legs=np.zeros(100))  # hips go up, feet stay: not a hop
    unseen = JumpCounter(COCO17)
    for f, lift in enumerate(lifts):  # legs cut off by the frame: hips alone decide
        kps = person_at(400, 600, lift)
        kps[13:, 2] = 0.0
        unseen.update(kps, f / FPS, f)
    assert (grounded.count, unseen.count) == (0, 3)


def test_angle_counter_hysteresis_depth_and_duration() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(400) / FPS
    knee = 125 + 50 * np.cos(2 * np.pi * t / 2.5) + rng.normal(0, 3, len(t))  # 175 -> 75 -> 175 every 2.5 s
    counter = AngleRepCounter(low=100, high=150)
    events = [e for f, a in enumerate(knee) if (e := counter.update(float(a), t[f], f))]
    assert counter.count == 5  # 13.3 s: reps complete at 2.5, 5.0, 7.5, 10.0, 12.5 s
    assert all(63 <= e.peak <= 80 for e in events)  # the bottom, 75, give or take the noise
    assert all(1.5 <= e.duration <= 1.85 for e in events)  # above 150 degrees again 1.67 s after leaving it
    assert abs(counter.cadence(t[-1]) - 24.0) < 1.5


def test_angle_counter_ignores_noise_at_one_threshold_and_half_reps() -> None:
    rng = np.random.default_rng(2)
    counter = AngleRepCounter(low=100, high=150)
    for f, a in enumerate(150 + rng.normal(0, 8, 300)):  # hovering at the top, crossing `high` often
        counter.update(float(a), f / FPS, f)
    half = [170, 140, 120, 110, 130, 160, 170]  # bends, never reaches `low`
    for f, a in enumerate(half, start=300):
        counter.update(a, f / FPS, f)
    assert counter.count == 0


def test_angle_counter_extend_phase_and_unseen_frames() -> None:
    counter = AngleRepCounter(low=30, high=80, phase="extend")  # a lateral raise: shoulder 20 -> 90 -> 20
    sequence = [20, 50, math.nan, 85, 90, math.nan, 60, 20, 25, 85, 20]
    events = [e for f, a in enumerate(sequence) if (e := counter.update(a, f / FPS, f))]
    assert [e.frame for e in events] == [7, 10] and events[0].peak == 90
    with pytest.raises(ValueError, match="low < high"):
        AngleRepCounter(low=120, high=90)


def test_cadence_from_recent_reps() -> None:
    times = [0.5 * i for i in range(10)]
    assert cadence(times, now=4.6) == pytest.approx(120.0)
    assert cadence(times, now=20.0) == 0.0  # stopped
    assert cadence(times[:1], now=0.6) == 0.0
    with_rest = [0, 0.5, 1.0, 6.0, 6.5, 7.0]  # one long pause among the last intervals
    assert cadence(with_rest, now=7.1) == pytest.approx(120.0)


def test_joint_angles_by_name_with_validity() -> None:
    kps = person_at(100, 300)[None].repeat(2, axis=0)
    # person 0: left arm bent at a right angle (shoulder (125, 140) -> elbow (125, 180) -> wrist (165, 180))
    kps[0, 7, :2] = (125, 180)
    kps[0, 9, :2] = (165, 180)
    kps[1, 13, 2] = 0.1  # person 1: left knee not confident
    names, degrees, valid = joint_angles(kps, COCO17)
    col = {n: i for i, n in enumerate(names)}
    assert "left_ankle" not in col  # COCO-17 has no toes
    assert degrees[0, col["left_elbow"]] == pytest.approx(90.0)
    assert degrees[0, col["left_knee"]] == pytest.approx(180.0)
    assert not valid[1, col["left_knee"]] and np.isnan(degrees[1, col["left_knee"]])
    assert valid[1, col["right_knee"]] and valid[1, col["left_hip"]] is np.False_
    assert degrees[0, col["trunk_lean"]] == pytest.approx(0.0)
    lean = kps[:1].copy()
    lean[0, 5:7, 0] += 80  # shoulders 80 px right of the hips, 80 px above: 45 degrees to the right
    assert joint_angles(lean, COCO17)[1][0, col["trunk_lean"]] == pytest.approx(45.0)


def test_joint_angles_of_a_schema_with_toes() -> None:
    names = (*COCO17.keypoints, "left_big_toe", "right_big_toe")
    schema = KeypointSchema("test_body_feet", names)
    kps = np.zeros((1, len(names), 3))
    kps[0, :17] = person_at(0, 0)
    kps[0, 17] = (45, 0, 0.9)  # left toe 30 px in front of the ankle: a right angle at the ankle
    kps[0, 18] = (-15, 30, 0.9)  # right toe straight below: 180
    names, degrees, _ = joint_angles(kps, schema)
    deg = dict(zip(names, degrees[0]))
    assert deg["left_ankle"] == pytest.approx(90.0) and deg["right_ankle"] == pytest.approx(180.0)


def poses_of(people: list[tuple[int, np.ndarray]]) -> Poses:
    kps = np.array([k for _, k in people], np.float32).reshape(-1, 17, 3)
    boxes = [[k[:, 0].min(), k[:, 1].min(), k[:, 0].max(), k[:, 1].max()] for _, k in people]
    return Poses(boxes=np.array(boxes, np.float32).reshape(-1, 4), scores=np.ones(len(people)),
                 class_ids=np.zeros(len(people)), track_ids=[t for t, _ in people], keypoints=kps)


def make_node(tmp_path: Path | None = None, **params: object) -> CountReps:
    node = CountReps("reps", CountReps.Params(**params))
    node.open()
    return node


def run(node: CountReps, frames: list[Poses], start: int = 0) -> list[Poses]:
    out = []
    for f, poses in enumerate(frames, start=start):
        node.frame = FrameInfo("clip", f, 0.0)
        out.append(node.process(poses)["poses"])
    return out


def test_count_reps_jump_per_person_attributes_and_events_csv(tmp_path: Path) -> None:
    events = tmp_path / "out" / "events.csv"
    node = make_node(exercise="jump", events_csv=events)
    a, b = hops(200, [10, 30, 50]), hops(200, [20, 40])
    frames = [poses_of([(1, person_at(300, 600, a[f])), (2, person_at(700, 600, b[f])), (-1, person_at(900, 600))])
              for f in range(200)]
    out = run(node, frames)
    node.close()
    last = out[-1].attributes
    assert last["reps"] == [{"jump": 3}, {"jump": 2}, {"jump": 0}]
    assert out[12].attributes["reps"][0] == {"jump": 0} and out[23].attributes["reps"][0] == {"jump": 1}
    assert out[61].attributes["caption"][0] == "3 jumps 90/min"  # a hop every 20 frames at 30 fps
    assert last["caption"] == ["3 jumps", "2 jumps", ""] and last["cadence"][0] == 0.0  # stopped for 4.6 s
    landed = [o.attributes["rep_event"][0] for o in out if o.attributes["rep_event"][0] is not None]
    assert [e["rep"] for e in landed] == [1, 2, 3]
    assert 19 <= landed[0]["frame"] <= 21 and 0.25 < landed[0]["duration"] < 0.45  # the hop of frames 10-21
    assert all(o.attributes["rep_event"][2] is None for o in out)
    rows = list(csv.DictReader(events.open()))
    assert [(r["track_id"], r["rep"]) for r in rows] == [("1", "1"), ("2", "1"), ("1", "2"), ("2", "2"), ("1", "3")]
    assert rows[0]["exercise"] == "jump" and 0.4 <= float(rows[0]["peak"]) <= 0.55


def test_count_reps_keeps_a_count_across_a_lost_track_and_resets_per_segment() -> None:
    node = make_node(exercise="jump")
    lifts = hops(60, [10, 30])
    run(node, [poses_of([(5, person_at(300, 600, h))]) for h in lifts])
    run(node, [poses_of([]) for _ in range(40)], start=60)  # lost for 40 frames
    out = run(node, [poses_of([(5, person_at(320, 600, h))]) for h in lifts], start=100)
    assert out[-1].attributes["reps"] == [{"jump": 4}]
    node.reset()  # a new segment: a photo, a looped video
    out = run(node, [poses_of([(5, person_at(320, 600))])], start=0)
    assert out[0].attributes["reps"] == [{"jump": 0}]


def squatting(knee_angle: float) -> np.ndarray:
    """Keypoints with both knees at ``knee_angle`` degrees (shins vertical)."""
    kps = person_at(400, 600)
    for hip, knee, ankle in ((11, 13, 15), (12, 14, 16)):
        theta = np.radians(knee_angle)
        kps[hip, :2] = kps[knee, :2] + 40 * np.array([np.sin(theta), np.cos(theta)])
    return kps


def test_count_reps_squat_and_custom_angle() -> None:
    angles = np.concatenate([np.linspace(175, 80, 30), np.linspace(80, 175, 30)] * 3)
    squat = make_node(exercise="squat")
    out = run(squat, [poses_of([(1, squatting(a))]) for a in angles])
    assert out[-1].attributes["reps"] == [{"squat": 3}] and out[-1].attributes["caption"][0].startswith("3 squats")
    custom = make_node(exercise="custom", angle="left_knee", low=90, high=160)
    assert run(custom, [poses_of([(1, squatting(a))]) for a in angles])[-1].attributes["reps"] == [{"custom": 3}]
    strict = make_node(exercise="custom", angle="left_knee", low=60, high=160)  # never bends that far
    assert run(strict, [poses_of([(1, squatting(a))]) for a in angles])[-1].attributes["reps"] == [{"custom": 0}]


def test_count_reps_params_are_checked() -> None:
    with pytest.raises(ValidationError, match="needs `angle`, `low` and `high`"):
        CountReps.Params(exercise="custom", angle="left_knee")
    with pytest.raises(ValidationError, match="unknown angle 'left_knuckle'"):
        CountReps.Params(exercise="custom", angle="left_knuckle", low=10, high=20)
    with pytest.raises(ValidationError, match="low .* must be below high"):
        CountReps.Params(exercise="squat", low=160, high=100)
    with pytest.raises(ValidationError, match="exercise"):
        CountReps.Params(exercise="burpee")
    feet = make_node(exercise="custom", angle="left_ankle", low=80, high=100)
    with pytest.raises(ValueError, match="schema 'coco17' has no angle left_ankle"):
        run(feet, [poses_of([(1, person_at(0, 0))])])
    hands = KeypointSchema("test_hand", ("wrist", "thumb_tip"))
    one_hand = Poses(boxes=[[0, 0, 9, 9]], scores=[1], class_ids=[0], track_ids=[1], keypoints=np.ones((1, 2, 3)),
                     schema=hands)
    with pytest.raises(ValueError, match="'reps': exercise jump needs .*'test_hand' has no keypoint 'left_hip'"):
        run(make_node(exercise="jump"), [one_hand])


def test_caption_text() -> None:
    assert caption("jump", 1, 0.0) == "1 jump" and caption("pushup", 12, 95.6) == "12 push-ups 96/min"


def test_joint_angles_node_adds_angles_with_none_where_not_seen() -> None:
    node = JointAngles("angles", JointAngles.Params())
    kps = person_at(100, 300)
    kps[13, 2] = 0.0
    out = node.process(poses_of([(1, kps)]))["poses"]
    angles = out.attributes["angles"][0]
    assert angles["left_knee"] is None and angles["right_knee"] == 180.0 and angles["trunk_lean"] == 0.0


def test_overlay_draws_the_caption_in_the_id_tag() -> None:
    canvas = np.full((480, 640, 3), 40, np.uint8)
    poses = poses_of([(3, person_at(320, 440))])
    plain = draw_poses(canvas, poses, draw_boxes=False)
    poses.attributes["caption"] = ["12 jumps 96/min"]
    captioned = draw_poses(canvas, poses, draw_boxes=False)
    x2 = int(poses.boxes[0, 0])
    changed = np.flatnonzero((plain != captioned).any(axis=2).any(axis=0))
    assert changed.min() >= x2 - 1 and changed.max() - x2 > 100  # a wider tag from the box's left edge

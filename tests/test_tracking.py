"""ByteTracker: identity keeping, lifecycle, and a ground-truth clip with detector-like noise."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from rtpose.tracking.bytetrack import ByteTracker
from rtpose.tracking.guided import DetectionSchedule, boxes_from_keypoints, confident_pose_boxes
from rtpose.evaluation.tracking import id_metrics
from rtpose.tracking.oks import iou_matrix, oks_matrix
from rtpose.types import Detections, Poses, Tracks
from helpers import body, make_clip


def dets(boxes: list[list[float]] | np.ndarray, scores: list[float] | np.ndarray | None = None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9) if scores is None else scores
    return Detections(boxes=boxes, scores=scores, class_ids=np.zeros(len(boxes)))


def box_at(cx: float, cy: float, w: float = 60, h: float = 160) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def ids_by_x(tracks: Tracks) -> list[int]:
    """Track ids ordered left to right (to follow who is who)."""
    return [int(t) for t in tracks.track_ids[np.argsort(tracks.boxes[:, 0])]]


# ---------------------------------------------------------------- unit tests
def test_iou_and_oks_matrices() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    iou = iou_matrix(a, np.array([[5, 0, 15, 10]], np.float32))
    assert iou.shape == (2, 1) and iou[0, 0] == pytest.approx(1 / 3) and iou[1, 0] == 0
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)
    kps = np.random.default_rng(0).uniform(0, 100, (2, 17, 3)).astype(np.float32)
    kps[..., 2] = 1
    oks = oks_matrix(kps, kps, np.array([5000.0, 5000.0]))
    assert np.allclose(np.diag(oks), 1) and oks[0, 1] < 0.5
    kps[1, :, 2] = 0  # no confident keypoint: no pose evidence
    assert np.isnan(oks_matrix(kps, kps, np.array([5000.0, 5000.0]))[1]).all()


def test_two_crossing_people_keep_their_ids() -> None:
    rng = np.random.default_rng(1)
    tracker = ByteTracker()
    first = None
    for f in range(60):  # A walks right, B walks left; they overlap fully around frame 30
        xa, xb = 100 + 6 * f, 460 - 6 * f
        boxes = np.array([box_at(xa, 200), box_at(xb, 205)]) + rng.normal(0, 2, (2, 4))
        out = tracker.update(dets(boxes[rng.permutation(2)]))
        assert len(out) == 2
        order = np.argsort(np.abs(out.boxes[:, 0] - (xa - 30)))  # who is A: nearest to A's true box
        ids = (int(out.track_ids[order[0]]), int(out.track_ids[order[1]]))
        if abs(xa - xb) < 12:  # the frames where both are at the same place are ambiguous by box alone
            continue
        first = first or ids
        assert ids == first, f"frame {f}: ids {ids}, expected {first}"


def test_short_disappearance_keeps_id_long_one_does_not() -> None:
    tracker = ByteTracker(track_buffer=10)
    for f in range(5):
        (tid,) = tracker.update(dets([box_at(100 + 5 * f, 200)])).track_ids
    for f in range(5, 13):  # 8 frames unseen (< track_buffer): predicted while lost
        assert len(tracker.update(dets([]))) == 0
    assert tracker.num_tracks["lost"] == 1
    back = tracker.update(dets([box_at(100 + 5 * 13, 200)]))
    assert back.track_ids.tolist() == [tid]
    for _ in range(12):  # longer than track_buffer: removed
        tracker.update(dets([]))
    assert tracker.num_tracks == {"tentative": 0, "confirmed": 0, "lost": 0}
    tracker.update(dets([box_at(100 + 5 * 26, 200)]))
    again = tracker.update(dets([box_at(100 + 5 * 27, 200)]))
    assert len(again) == 1 and again.track_ids[0] > tid


def test_ids_are_never_reused() -> None:
    tracker = ByteTracker(track_buffer=2)
    seen: list[int] = []
    for person in range(5):  # one person after another, each far from the last
        for f in range(4):
            out = tracker.update(dets([box_at(100 + 200 * person, 200)]))
        seen.append(int(out.track_ids[0]))
        for _ in range(4):
            tracker.update(dets([]))
    tracker.reset()
    for _ in range(3):
        out = tracker.update(dets([box_at(100, 200)]))
    seen.append(int(out.track_ids[0]))
    assert len(set(seen)) == len(seen) and seen == sorted(seen)


def test_low_score_detections_keep_a_track_alive() -> None:
    def run(low_thresh: float) -> list[int]:
        tracker = ByteTracker(low_thresh=low_thresh, track_buffer=3)
        ids = []
        for f in range(20):
            score = 0.9 if f < 5 or f >= 15 else 0.3  # half occluded for 10 frames: low detector score
            out = tracker.update(dets([box_at(100 + 4 * f, 200)], [score]))
            ids.extend(out.track_ids.tolist())
        return ids

    with_byte = run(0.1)
    assert len(with_byte) == 20 and len(set(with_byte)) == 1  # tracked through, also reported
    without = run(0.5)  # low boxes ignored: lost for 10 > track_buffer frames, then a new id
    assert len(set(without)) == 2 and len(without) < 20


def test_coasting_reports_a_missed_person_at_the_predicted_box() -> None:
    tracker = ByteTracker(coast_frames=2)
    for f in range(10):
        tracker.update(dets([box_at(100 + 10 * f, 200)]))
    for f in range(10, 14):
        out = tracker.update(dets([]))
        assert len(out) == (1 if f < 12 else 0)
        if len(out):
            assert (out.boxes[0, 0] + out.boxes[0, 2]) / 2 == pytest.approx(100 + 10 * f, abs=3)
            assert tracker.last_detection_indices.tolist() == [-1]


def test_empty_frames_and_lifecycle() -> None:
    tracker = ByteTracker(min_hits=3)
    # the people of the first frame are confirmed at once (as in ByteTrack: no earlier frame to confirm them on)
    assert len(tracker.update(dets([box_at(100, 200)]))) == 1
    # afterwards a new person needs min_hits consecutive detections
    counts = [len(tracker.update(dets([box_at(100, 200), box_at(400, 200)]))) for _ in range(3)]
    assert counts == [1, 1, 2]
    late = ByteTracker(min_hits=3)
    empty = late.update(dets([]))
    assert isinstance(empty, Tracks) and len(empty) == 0 and empty.boxes.shape == (0, 4)
    assert [len(late.update(dets([box_at(100, 200)]))) for _ in range(3)] == [0, 0, 1]  # not the first frame
    # a detection below new_track_thresh never starts a track
    for _ in range(5):
        out = tracker.update(dets([box_at(100, 200), box_at(400, 200), box_at(700, 200)], [0.9, 0.9, 0.55]))
    assert len(out) == 2


def test_pose_similarity_separates_people_with_the_same_box() -> None:
    """Two people in the same place (one in front of the other): only their poses tell them apart."""
    rng = np.random.default_rng(3)
    pose_a = np.concatenate([rng.uniform([70, 120], [130, 280], (17, 2)), np.ones((17, 1))], 1)
    pose_b = np.concatenate([rng.uniform([70, 120], [130, 280], (17, 2)), np.ones((17, 1))], 1)
    box = box_at(100, 200)
    tracker = ByteTracker(pose_weight=0.8)
    for f in range(10):
        swap = f % 2 == 1
        boxes = np.array([box, box]) + rng.normal(0, 1, (2, 4))
        kps = np.stack([pose_b, pose_a] if swap else [pose_a, pose_b]) + np.r_[rng.normal(0, 1, 2), 0]
        out = tracker.update(dets(boxes), kps.astype(np.float32))
        det_of = dict(zip(out.track_ids.tolist(), tracker.last_detection_indices.tolist()))
        who = {tid: ("b" if (det == 0) == swap else "a") for tid, det in det_of.items()}
        if f == 0:
            first = who
        assert who == first, f


def test_boxes_from_keypoints() -> None:
    kps = np.zeros((2, 17, 3), np.float32)
    kps[0, :, 0] = np.linspace(100, 140, 17)
    kps[0, :, 1] = np.linspace(100, 300, 17)
    kps[0, :, 2] = 0.9
    kps[1, :2] = [[10, 10, 0.9], [20, 20, 0.9]]  # too few confident keypoints
    boxes = boxes_from_keypoints(kps, min_score=0.3, padding=0.25)
    assert boxes.shape == (2, 4) and np.isnan(boxes[1]).all()
    x1, y1, x2, y2 = boxes[0]
    assert y1 == pytest.approx(50) and y2 == pytest.approx(350)  # 200 tall, + 25% each side
    assert x2 - x1 == pytest.approx(200 / 3 * 1.5, rel=1e-4)  # thin pose widened to h/3, then padded
    assert (x1 + x2) / 2 == pytest.approx(120)


def posed(tracks: Tracks, people: list[np.ndarray]) -> Poses:
    """The pose stage's output for ``tracks``: ``people[i]`` is the pose of the i-th track."""
    kps = np.stack(people).astype(np.float32) if people else np.zeros((0, 17, 3), np.float32)
    return Poses(boxes=tracks.boxes, scores=tracks.scores, class_ids=tracks.class_ids, track_ids=tracks.track_ids,
                 keypoints=kps)


def test_confident_pose_boxes() -> None:
    few = body(300, 200)
    few[:10, 2] = 0.1  # 7 confident keypoints
    boxes, confidence, ok = confident_pose_boxes(posed(tracks(*[box_at(0, 0)] * 4), [
        body(100, 200), body(200, 200, score=0.4), few, body(400, 200, score=0.1)]))
    assert ok.tolist() == [True, False, False, False]
    assert confidence[:2] == pytest.approx([0.9, 0.4])
    x1, y1, x2, y2 = boxes[0]
    assert (x1 + x2) / 2 == pytest.approx(100, abs=1) and y2 - y1 == pytest.approx(160 * 1.2, rel=1e-3)
    assert np.isnan(boxes[3]).all()


def test_a_missed_person_continues_from_their_pose() -> None:
    """The detector misses B for 10 frames (hidden, or a skipped frame): B keeps its id from its pose box."""
    tracker = ByteTracker(track_buffer=3)
    previous = None
    for f in range(20):
        a, b = box_at(100 + 5 * f, 200), box_at(400 - 5 * f, 200)
        out = tracker.update(dets([a, b] if f < 5 or f >= 15 else [a]), previous=previous)
        assert len(out) == 2, f
        if f == 0:
            ids = ids_by_x(out)
        assert ids_by_x(out) == ids, f
        if 5 <= f < 15:  # B: continued from the pose (no detection), at the pose's box moved by its velocity
            b_row = int(np.argmax(out.boxes[:, 0]))
            assert tracker.last_detection_indices[b_row] == -1 and out.scores[b_row] == pytest.approx(0.9)
            assert (out.boxes[b_row, 0] + out.boxes[b_row, 2]) / 2 == pytest.approx(400 - 5 * f, abs=3)
        # the pose stage finds each person where they are (centre of their box)
        centres = (out.boxes[:, :2] + out.boxes[:, 2:]) / 2
        truth = np.array([[100 + 5 * f, 200], [400 - 5 * f, 200]])
        people = [body(*truth[np.argmin(np.abs(truth[:, 0] - cx))]) for cx, _ in centres]
        previous = posed(out, people)


def test_a_weak_pose_does_not_continue_its_track() -> None:
    tracker = ByteTracker(track_buffer=30)
    previous = None
    for f in range(5):
        out = tracker.update(dets([box_at(100, 200), box_at(400, 200)]), previous=previous)
        weak = body(400, 200, score=0.35)  # mean score 0.35 < pose_min_score
        previous = posed(out, [body(100, 200), weak])
    out = tracker.update(dets([]), previous=previous)
    assert out.track_ids.tolist() == [1]  # only A, from its confident pose
    assert tracker.num_tracks["lost"] == 1


def test_a_pose_on_someone_else_does_not_continue_its_track() -> None:
    """B's crop latched onto A (the same pose twice): only A's track goes on."""
    tracker = ByteTracker()
    previous = None
    for f in range(5):
        out = tracker.update(dets([box_at(100, 200), box_at(140, 200)]), previous=previous)
        previous = posed(out, [body(100, 200), body(140, 200)])
    previous = posed(out, [body(100, 200), body(101, 200)])
    out = tracker.update(dets([box_at(100, 200)]), previous=previous)
    assert out.track_ids.tolist() == [1]


def test_pose_nms_hides_a_duplicate_pose_and_gives_its_id_back() -> None:
    """B's crop latched onto A (its pose is A's): with pose NMS, B is hidden on the next frame even though
    a detection is there for it, and comes back with its own id once its pose is its own again."""
    def run(pose_nms_oks: float) -> list[list[int]]:
        tracker = ByteTracker(pose_nms_oks=pose_nms_oks)
        shown = []
        for f in range(5):
            out = tracker.update(dets([box_at(100, 200), box_at(300, 200)]),
                                 previous=None if f == 0 else posed(out, (latched if f == 3 else own)[:len(out)]))
            own = [body(100, 200), body(300, 200)]
            latched = [body(100, 200), body(102, 200)]
            shown.append(out.track_ids.tolist())
        return shown

    assert run(1.0) == [[1, 2]] * 5  # off: both shown all along
    assert run(0.5) == [[1, 2], [1, 2], [1, 2], [1], [1, 2]]


def test_first_frame_people_continue_from_their_poses() -> None:
    """The detector runs on frame 0 and then skips: the people of frame 0 keep their ids from their poses
    (they used to be tentative, die on the first skipped frame and come back with new ids)."""
    tracker = ByteTracker(min_hits=2)
    out = tracker.update(dets([box_at(100, 200), box_at(400, 200)]))
    for f in range(1, 4):
        out = tracker.update(dets([]), previous=posed(out, [body(100 + 2 * f, 200), body(400, 200)]))
        assert out.track_ids.tolist() == [1, 2], f


def person_frame(people: dict[tuple[int, int, int], float], width: int = 640, height: int = 360) -> np.ndarray:
    """A grey frame with one person-sized block per ``{(b, g, r) clothing colour: centre x}``: their box
    is :func:`box_at` (centre y 200), the top half in the colour, the bottom half dark (trousers)."""
    frame = np.full((height, width, 3), 128, np.uint8)
    rng = np.random.default_rng(0)
    for colour, cx in people.items():
        x1, y1, x2, y2 = (int(v) for v in box_at(cx, 200))
        frame[y1:(y1 + y2) // 2, x1:x2] = colour
        frame[(y1 + y2) // 2:y2, x1:x2] = (40, 40, 40)
    return np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)


RED, BLUE = (30, 30, 200), (200, 60, 30)


def test_a_pose_that_latched_onto_someone_else_is_refused_by_its_colours() -> None:
    """A (red) walks up to B (blue), who stands still; then A's pose crop jumps onto B (both poses on B).
    By colours (the frame given) A's track refuses that box; without the frame A's id takes B over."""
    def run(with_image: bool) -> tuple[list[int], int]:
        tracker = ByteTracker()
        out, previous = None, None
        for f in range(20):
            xa = 100 + 5 * f
            image = person_frame({RED: xa, BLUE: 300})
            out = tracker.update(dets([box_at(xa, 200), box_at(300, 200)]) if f == 0 else dets([]),
                                 previous=previous, image=image if with_image else None)
            previous = posed(out, [body(xa, 200), body(300, 200)])
        image = person_frame({RED: 200, BLUE: 300})
        latched = posed(out, [body(300, 200), body(300, 200)])  # A's crop now shows B
        out = tracker.update(dets([]), previous=latched, image=image if with_image else None)
        return out.track_ids.tolist(), tracker.num_tracks["lost"]

    assert run(with_image=True) == ([2], 1)  # A is lost (its box shows B's colours), B goes on
    assert run(with_image=False) == ([1], 1)  # without colours A's id takes B over, B's own track is lost


def test_a_person_back_after_a_long_occlusion_gets_their_id_again() -> None:
    """A (red) is hidden for 60 frames (twice track_buffer) and comes back elsewhere: same id by colours,
    a new id without the frame; a newcomer in other colours gets a new id either way."""
    def run(with_image: bool, back_in: tuple[int, int, int]) -> list[int]:
        tracker = ByteTracker(track_buffer=30)
        for f in range(10):
            image = person_frame({RED: 100, BLUE: 400})
            tracker.update(dets([box_at(100, 200), box_at(400, 200)]), image=image if with_image else None)
        for f in range(60):
            image = person_frame({BLUE: 400})
            tracker.update(dets([box_at(400, 200)]), image=image if with_image else None)
        for f in range(3):
            image = person_frame({back_in: 250, BLUE: 400})
            out = tracker.update(dets([box_at(250, 200), box_at(400, 200)]), image=image if with_image else None)
        return ids_by_x(out)

    assert run(True, RED) == [1, 2]
    assert run(False, RED) == [3, 2]
    assert run(True, (40, 200, 40)) == [3, 2]  # green: someone else


def tracks(*boxes: list[float], ids: list[int] | None = None) -> Tracks:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    return Tracks(boxes=b, scores=np.full(len(b), 0.9), class_ids=np.zeros(len(b)),
                  track_ids=ids if ids is not None else list(range(1, len(b) + 1)))


W, H = 1280, 720


def test_schedule_every_one_or_without_previous_always_runs() -> None:
    one = DetectionSchedule(every=1)
    assert all(one.decide(tracks(box_at(300, 300)), W, H).run for _ in range(10))
    five = DetectionSchedule(every=5)
    assert all(five.decide(None, W, H).run for _ in range(10))


def test_schedule_periodic_and_triggers() -> None:
    s = DetectionSchedule(every=3)
    good = tracks(box_at(300, 300), box_at(700, 300))
    runs = [s.decide(good, W, H).run for _ in range(9)]
    assert runs == [True, False, False] * 3  # at least every 3rd frame, counted from the last run
    assert s.runs == 3 and s.reasons == {"periodic": 3, "skipped": 6}
    s.decide(good, W, H)  # a run: restart the count
    assert s.decide(tracks(), W, H).reason == "nobody tracked"
    s.decide(good, W, H)
    assert s.decide(tracks(box_at(300, 300)), W, H).reason == "track lost"  # id 2 is gone
    assert s.decide(tracks(box_at(300, 300), box_at(32, 300)), W, H).reason == "at the border"
    assert s.decide(tracks(box_at(300, 300), box_at(320, 300)), W, H).reason == "people overlap"
    s.detected(Detections(boxes=[box_at(900, 300)], scores=[0.9], class_ids=[0]))
    assert s.decide(good, W, H).reason == "untracked detection"  # found last run, no track covers it yet
    s.detected(Detections(boxes=good.boxes, scores=[0.9, 0.9], class_ids=[0, 0]))
    assert s.decide(good, W, H).reason == "skipped"
    s.detected(Detections(boxes=[box_at(900, 300)], scores=[0.5], class_ids=[0]))  # too weak to start a track
    assert s.decide(good, W, H).reason == "skipped"
    # a person found right beside a tracked one overlaps that track, but a track covers one person only
    assert s.decide(good, W, H).reason == "periodic"
    s.detected(Detections(boxes=[box_at(300, 300), box_at(330, 300), box_at(700, 300)], scores=[0.9] * 3,
                          class_ids=[0] * 3))
    assert s.decide(good, W, H).reason == "untracked detection"


def test_schedule_detects_the_first_frame_of_every_segment() -> None:
    s = DetectionSchedule(every=5)
    good = tracks(box_at(300, 300), box_at(700, 300))
    assert [s.decide(good, W, H).run for _ in range(3)] == [True, False, False]
    s.detected(Detections(boxes=[box_at(1000, 300)], scores=[0.9], class_ids=[0]))  # someone untracked
    s.reset()  # a photo, a loop, a reconnect: what the tracks of the last segment say no longer counts
    assert s.decide(None, W, H).reason == "new segment"
    assert s.decide(good, W, H).reason == "skipped"  # the untracked box of the last segment is forgotten
    assert s.runs == 2 and s.frames == 5  # counters add up over the whole run


def test_a_segment_starts_with_every_detection_and_fresh_ids() -> None:
    """On a segment's first frame the detector's word is all there is: weak detections start tracks
    too (a photo gets what a detector-only graph gets); later, they only keep tracks alive."""
    tracker = ByteTracker(min_hits=2)
    out = tracker.update(dets([box_at(100, 200), box_at(400, 200)], scores=[0.9, 0.35]))
    assert out.track_ids.tolist() == [1, 2]
    out = tracker.update(dets([box_at(100, 200), box_at(400, 200), box_at(700, 200)], scores=[0.9, 0.35, 0.4]))
    assert out.track_ids.tolist() == [1, 2]  # the weak newcomer starts nothing
    tracker.reset()
    out = tracker.update(dets([box_at(100, 200), box_at(700, 200)], scores=[0.9, 0.4]))
    assert out.track_ids.tolist() == [3, 4]  # nobody carried over, ids never reused


def test_detect_node_runs_and_skips_without_model() -> None:
    """The node: `every: 1` or no `previous` always detects; otherwise no detections on skipped frames."""
    from rtpose.api import Image
    from rtpose.plugins import get_node_type
    import rtpose_nodes.detect  # noqa: F401

    cls = get_node_type("detect")
    assert "previous" in cls.optional_inputs and cls.inputs["previous"] is Tracks
    calls = []

    def fake(pixels: np.ndarray) -> Detections:
        calls.append(1)
        return Detections(boxes=[box_at(300, 300)], scores=[0.9], class_ids=[0])

    image = Image(np.zeros((H, W, 3), np.uint8), 0.0)
    for every, wired, expected in ((1, True, 6), (3, False, 6), (3, True, 2)):
        node = cls("detector", cls.Params(every=every))
        node.detector, node.schedule = fake, DetectionSchedule(every=every)  # what open() makes, minus the model
        calls.clear()
        sizes = [len(node.process(image=image, previous=tracks(box_at(300, 300)) if wired else None)["detections"])
                 for _ in range(6)]
        assert len(calls) == expected and sum(sizes) == expected, (every, wired)


def test_track_node_params_are_the_tracker_settings() -> None:
    """One place for the tracker's settings: the node's params reach ByteTracker as they are."""
    from rtpose.plugins import get_node_type
    from rtpose.tracking.bytetrack import TrackerSettings
    import rtpose_nodes.track  # noqa: F401  registers "track"

    cls = get_node_type("track")
    assert cls.Params is TrackerSettings
    node = cls("track", cls.Params(track_buffer=7, high_thresh=0.6, reid_buffer=40))
    node.open()
    assert (node.tracker.track_buffer, node.tracker.reid_buffer) == (7, 40)
    assert node.tracker.new_track_thresh == pytest.approx(0.7)  # its default follows high_thresh
    assert ByteTracker().track_buffer == TrackerSettings().track_buffer == 30
    with pytest.raises(ValueError, match="low_thresh <= high_thresh"):
        cls.Params(low_thresh=0.6, high_thresh=0.5)
    with pytest.raises(ValueError, match="track_bufer"):
        ByteTracker(track_bufer=3)  # a misspelt setting is refused, not ignored


def test_track_node() -> None:
    from rtpose.api import Detections as ApiDetections
    from rtpose.plugins import get_node_type
    import rtpose_nodes.track  # noqa: F401  registers "track"

    cls = get_node_type("track")
    node = cls("track", cls.Params(min_hits=1, track_buffer=5))
    node.open()
    out = node.process(detections=ApiDetections(boxes=[box_at(100, 200)], scores=[0.9], class_ids=[0]))
    assert set(out) == {"tracks"} and out["tracks"].track_ids.tolist() == [1]
    assert {"previous", "image"} <= cls.optional_inputs
    previous = posed(out["tracks"], [body(100, 200)])
    out = node.process(detections=ApiDetections(), previous=previous)  # no detection: continued from the pose
    assert out["tracks"].track_ids.tolist() == [1]
    assert "description" in cls.Params.model_json_schema()["properties"]["track_buffer"]
    node.close()


# ---------------------------------------------------------------- ground-truth clip
@pytest.fixture(scope="session")
def walk_clip(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> dict:
    """make_clip's 'walk' clip (5 people crossing), made once per test session."""
    out = make_clip(tmp_path_factory.mktemp("walk_clip"), frames=300, people=5)
    return json.loads((out / "gt.json").read_text())


def noisy_detections(people: list[dict], rng: np.random.Generator, width: int, height: int,
                     miss_rate: float = 0.05, box_noise: float = 0.02) -> Detections:
    """A detector's view of the ground truth: jittered boxes (``box_noise`` of the size per side),
    scores falling with the share of the person hidden behind others, random misses (more likely
    for hidden people), and occasional false positives."""
    boxes, scores = [], []
    for p in people:
        v = np.array([k[2] for k in p["keypoints"]])
        hidden = (v == 1).sum() / max((v > 0).sum(), 1)
        if rng.random() < miss_rate + 0.3 * hidden:
            continue
        x, y, w, h = p["bbox"]
        boxes.append(np.array([x, y, x + w, y + h]) + rng.normal(0, box_noise, 4) * [w, h, w, h])
        scores.append(rng.uniform(0.6, 0.95) * (1 - 0.8 * hidden))
    if rng.random() < 0.05:
        x, y = rng.uniform(0, width - 100), rng.uniform(0, height - 200)
        boxes.append([x, y, x + rng.uniform(40, 100), y + rng.uniform(100, 200)])
        scores.append(rng.uniform(0.1, 0.6))
    return dets(np.array(boxes).reshape(-1, 4), np.array(scores))


def test_ground_truth_walk_clip(walk_clip: dict) -> None:
    rng = np.random.default_rng(0)
    tracker = ByteTracker(coast_frames=2)  # bridge single misses: coverage counts every frame
    frames = walk_clip["frames"]
    outputs, elapsed = [], 0.0
    for frame in frames:
        d = noisy_detections(frame["people"], rng, walk_clip["width"], walk_clip["height"])
        t0 = time.perf_counter()
        outputs.append(tracker.update(d))
        elapsed += time.perf_counter() - t0
    switches, coverage = id_metrics(frames, outputs, tracker.track_buffer)
    print(f"\nwalk clip: {switches} id switches, coverage {({k: round(v, 3) for k, v in coverage.items()})}, "
          f"{1e3 * elapsed / len(frames):.2f} ms/frame")
    assert switches <= 2
    assert min(coverage.values()) >= 0.9, coverage

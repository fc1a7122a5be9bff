"""PoseSmoother: jitter, lag, gaps, jumps, speed, and make_clip's 'still' ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rtpose.tracking.smoothing import PoseSmoother, one_euro_step
from rtpose.types import Poses
from helpers import make_clip

SIZE = 300.0  # person height in pixels
BOX = np.array([0, 0, 120, SIZE], np.float32)
FPS = 30.0


def pose(kps: np.ndarray, track_id: int = 1) -> Poses:
    kps = np.asarray(kps, np.float32).reshape(-1, 17, 3)
    n = len(kps)
    return Poses(boxes=np.tile(BOX, (n, 1)), scores=np.ones(n), class_ids=np.zeros(n),
                 track_ids=np.arange(track_id, track_id + n), keypoints=kps)


def run(smoother: PoseSmoother, frames: np.ndarray) -> np.ndarray:
    """Feed (T, 17, 3) keypoints of one person at 30 FPS; return the smoothed (T, 17, 3)."""
    return np.stack([smoother.update(pose(k), t / FPS).keypoints[0] for t, k in enumerate(frames)])


def jitter(seq: np.ndarray) -> float:
    """Mean frame-to-frame displacement: on a still person, all of it is jitter."""
    return float(np.linalg.norm(np.diff(seq[..., :2], axis=0), axis=-1).mean())


def still_signal(rng: np.random.Generator, frames: int = 300, noise: float = 0.01 * SIZE) -> tuple[np.ndarray, np.ndarray]:
    base = rng.uniform(0, SIZE, (17, 2))
    kps = np.zeros((frames, 17, 3))
    kps[..., :2] = base + rng.normal(0, noise, (frames, 17, 2))
    kps[..., 2] = 0.9
    return kps, base


def moving_signal(rng: np.random.Generator, speed: float, frames: int = 200, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints moving right at ``speed`` px/frame: (noisy input, truth)."""
    truth = rng.uniform(0, SIZE, (17, 2)) + np.arange(frames)[:, None, None] * np.array([speed, 0.0])
    kps = np.zeros((frames, 17, 3))
    kps[..., :2] = truth + rng.normal(0, noise, truth.shape)
    kps[..., 2] = 0.9
    return kps, truth


SETTINGS = [dict(method="kalman", model="cv"), dict(method="kalman", model="ca"), dict(method="one_euro")]


@pytest.mark.parametrize("kwargs", [SETTINGS[0], SETTINGS[2]], ids=["kalman-cv", "one-euro"])
def test_jitter_on_a_still_noisy_signal_drops(kwargs: dict) -> None:
    kps, base = still_signal(np.random.default_rng(0))
    out = run(PoseSmoother(**kwargs), kps)
    reduction = 1 - jitter(out[30:]) / jitter(kps[30:])
    assert reduction > 0.6, reduction
    assert np.abs(out[30:, :, :2] - base).mean() < np.abs(kps[30:, :, :2] - base).mean()


@pytest.mark.parametrize("kwargs", SETTINGS, ids=["kalman-cv", "kalman-ca", "one-euro"])
@pytest.mark.parametrize("speed", [2.0, 8.0])
def test_a_moving_point_lags_at_most_one_frame(kwargs: dict, speed: float) -> None:
    kps, truth = moving_signal(np.random.default_rng(1), speed, noise=0.005 * SIZE)
    out = run(PoseSmoother(**kwargs), kps)
    lag_frames = float(np.mean(truth[60:, :, 0] - out[60:, :, 0])) / speed
    assert abs(lag_frames) <= 1.0, lag_frames


def test_a_low_score_keypoint_is_predicted_then_dropped() -> None:
    kps, truth = moving_signal(np.random.default_rng(2), speed=4.0, frames=60)
    kps[40:, 9, 2] = 0.05  # the left wrist disappears from frame 40 on
    kps[40:, 9, :2] = 0.0  # and the model puts it anywhere
    out = run(PoseSmoother(max_missing=5, min_score=0.3), kps)
    predicted = out[40:45, 9]
    # carried along its motion (slowing down, by design: an unseen joint should not fly off)
    assert (np.diff(predicted[:, 0]) > 0).all()
    held = np.abs(truth[40:45, 9, 0] - truth[39, 9, 0])  # the error of freezing it at its last position
    assert (np.abs(predicted[:, 0] - truth[40:45, 9, 0]) < 0.5 * held).all()
    assert (np.diff(predicted[:, 2]) < 0).all() and predicted[-1, 2] > 0  # fading, still reported
    assert (out[46:, 9, 2] == 0).all()  # after max_missing frames: score 0
    assert np.abs(out[40:, 5, :2] - truth[40:, 5]).max() < 2.0  # other keypoints unaffected


def test_a_jump_resets_the_state() -> None:
    kps, base = still_signal(np.random.default_rng(3), frames=60, noise=0.0)
    kps[30:, :, 0] += 0.5 * SIZE  # a different person under the same id, half a body to the right
    out = run(PoseSmoother(), kps)
    assert np.abs(out[30, :, :2] - kps[30, :, :2]).max() < 1e-3  # restarted at the measurement
    assert np.abs(out[31:, :, :2] - kps[31:, :, :2]).max() < 1.0  # and no ringing afterwards


def test_tracks_are_independent_and_forgotten() -> None:
    rng = np.random.default_rng(4)
    smoother = PoseSmoother(forget_after=5)
    a, _ = still_signal(rng, frames=10)
    b, _ = still_signal(rng, frames=10)
    for t in range(10):
        out = smoother.update(Poses(boxes=np.tile(BOX, (3, 1)), scores=np.ones(3), class_ids=np.zeros(3),
                                    track_ids=[7, 9, -1], keypoints=np.stack([a[t], b[t], b[t]])), t / FPS)
    assert np.abs(out.keypoints[0, :, :2] - a[:, :, :2].mean(0)).mean() < 3  # no mixing
    assert np.array_equal(out.keypoints[2], b[9].astype(np.float32))  # untracked: passed through
    assert out.track_ids.tolist() == [7, 9, -1] and smoother.num_tracks == 2
    for t in range(10, 16):
        smoother.update(pose(a[0], track_id=7), t / FPS)
    assert smoother.num_tracks == 1
    assert len(smoother.update(Poses(), 1.0)) == 0


def test_one_euro_step_on_plain_arrays() -> None:
    rng = np.random.default_rng(5)
    noisy = 5 + rng.normal(0, 1, (200, 3))
    x, dx, out = noisy[0], np.zeros(3), [noisy[0]]
    for sample in noisy[1:]:
        x, dx = one_euro_step(x, dx, sample, 1 / FPS, min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
        out.append(x)
    out = np.stack(out)
    assert out.shape == (200, 3) and np.std(np.diff(out[20:], axis=0)) < 0.3 * np.std(np.diff(noisy[20:], axis=0))


def test_smooth_node() -> None:
    from rtpose.plugins import get_node_type
    import rtpose_nodes.smooth  # noqa: F401  registers "smooth"

    cls = get_node_type("smooth")
    node = cls("smooth", cls.Params(method="one_euro", fps=25))
    node.open()
    kps, _ = still_signal(np.random.default_rng(7), frames=3)
    outs = [node.process(poses=pose(k))["poses"] for k in kps]
    assert isinstance(outs[-1], Poses) and outs[-1].keypoints.shape == (1, 17, 3)
    assert jitter(np.stack([o.keypoints[0] for o in outs])) < jitter(kps)
    assert "description" in cls.Params.model_json_schema()["properties"]["max_missing"]
    with pytest.raises(ValueError):
        cls.Params(method="median")
    node.close()


# ---------------------------------------------------------------- ground-truth clip
@pytest.fixture(scope="session")
def still_clip(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> dict:
    """make_clip's 'still' clip (5 people who don't move), made once per test session."""
    out = tmp_path_factory.mktemp("still_clip")
    make_clip(out, frames=150, people=5, mode="still")
    return json.loads((out / "gt.json").read_text())


def clip_poses(frame: dict, rng: np.random.Generator, noise: float) -> Poses:
    """Ground-truth people with keypoint noise of ``noise`` times their height; scores from visibility."""
    people = frame["people"]
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (p["bbox"] for p in people)], np.float32)
    kps = np.array([p["keypoints"] for p in people], np.float32).reshape(-1, 17, 3)
    heights = (boxes[:, 3] - boxes[:, 1])[:, None, None]
    kps[..., :2] += rng.normal(0, 1, kps[..., :2].shape) * noise * heights
    kps[..., 2] = np.select([kps[..., 2] == 2, kps[..., 2] == 1], [0.9, 0.5], 0.0)
    return Poses(boxes=boxes, scores=np.ones(len(people)), class_ids=np.zeros(len(people)),
                 track_ids=[p["track_id"] for p in people], keypoints=kps)


@pytest.mark.parametrize("method", ["kalman", "one_euro"])
def test_ground_truth_still_clip(still_clip: dict, method: str) -> None:
    rng = np.random.default_rng(0)
    smoother = PoseSmoother(method=method)
    raw, smooth = {}, {}
    for f, frame in enumerate(still_clip["frames"]):
        poses = clip_poses(frame, rng, noise=0.01)
        out = smoother.update(poses, f / still_clip["fps"])
        for i, tid in enumerate(poses.track_ids.tolist()):
            raw.setdefault(tid, []).append(poses.keypoints[i])
            smooth.setdefault(tid, []).append(out.keypoints[i])
    visible = {tid: np.stack(seq)[0, :, 2] >= 0.9 for tid, seq in raw.items()}
    jit_raw = np.mean([jitter(np.stack(raw[t])[10:, visible[t]]) for t in raw])
    jit_out = np.mean([jitter(np.stack(smooth[t])[10:, visible[t]]) for t in raw])
    reduction = 1 - jit_out / jit_raw
    print(f"\nstill clip ({method}): jitter {jit_raw:.2f} -> {jit_out:.2f} px/frame, reduction {reduction:.0%}")
    assert reduction >= 0.6

"""OKS with per-schema sigmas: hands and whole-body poses are compared with their own constants."""

from __future__ import annotations

import numpy as np
import pytest

from rtpose.schemas import COCO17, COCO_WHOLEBODY133, HAND21
from rtpose.tracking.oks import oks_matrix, sigmas_for


def pose(k: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(k)
    kps = np.concatenate([rng.uniform(0, 100, (k, 2)) + shift, np.full((k, 1), 0.9)], axis=1)
    return kps[None].astype(np.float32)


def test_default_sigmas_follow_the_number_of_keypoints() -> None:
    assert np.allclose(sigmas_for(17), COCO17.oks_sigmas())
    assert np.allclose(sigmas_for(21), HAND21.oks_sigmas())
    assert np.allclose(sigmas_for(133), COCO_WHOLEBODY133.oks_sigmas())
    assert len(sigmas_for(5)) == 5  # no schema of that size: the flat default


def test_oks_uses_the_schemas_sigmas() -> None:
    a, b = pose(21), pose(21, shift=3.0)
    area = np.array([100.0 * 100.0])
    hand = oks_matrix(a, b, area, HAND21)
    assert 0 < hand[0, 0] < 1
    assert np.allclose(hand, oks_matrix(a, b, area))  # by size: the same as the hand schema's
    # tight hand sigmas (0.017-0.047) punish a 3 px shift more than a flat 0.1 would
    assert hand[0, 0] < oks_matrix(a, b, area, np.full(21, 0.1))[0, 0]
    assert oks_matrix(a, a, area, HAND21)[0, 0] == 1.0
    whole = oks_matrix(pose(133), pose(133, shift=3.0), area, COCO_WHOLEBODY133)
    assert 0 < whole[0, 0] < 1


def test_sigmas_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="21 and 21 keypoints with 17 sigmas"):
        oks_matrix(pose(21), pose(21), np.array([1e4]), COCO17)

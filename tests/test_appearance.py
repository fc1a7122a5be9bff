"""Torso colour histograms tell real people apart (COCO photos from ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtpose.tracking.appearance import appearance_distance, torso_histograms


def test_distance_is_zero_for_the_same_colours_and_one_for_disjoint_ones() -> None:
    red = np.zeros((100, 60, 3), np.uint8)
    red[:] = (30, 30, 200)
    blue = red[..., ::-1].copy()
    box = np.array([[0, 0, 60, 100]], np.float32)
    h_red, h_blue = torso_histograms(red, box), torso_histograms(blue, box)
    assert appearance_distance(h_red, h_red)[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert appearance_distance(h_red, h_blue)[0, 0] == pytest.approx(1.0, abs=1e-6)
    outside = torso_histograms(red, np.array([[500, 500, 600, 700]], np.float32))
    assert not outside.any() and appearance_distance(h_red, outside)[0, 0] == pytest.approx(1.0)


def test_real_people_look_like_themselves_and_unlike_others(shared: Path) -> None:
    """Every annotated COCO person, against the same person with the box shifted by 5 % (a tracker's box
    from one frame to the next) and against the other people of the set."""
    coco = json.loads((shared / "data" / "coco" / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    hists, shifted = [], []
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        if h < 100:
            continue
        image = cv2.imread(str(shared / "data" / "coco" / Path(files[ann["image_id"]]).name))
        box = np.array([[x, y, x + w, y + h]], np.float32)
        hists.append(torso_histograms(image, box)[0])
        shifted.append(torso_histograms(image, box + np.array([0.05 * w, 0.05 * h] * 2, np.float32))[0])
    assert len(hists) >= 6
    d = appearance_distance(np.array(hists), np.array(shifted))
    same = np.diag(d)
    others = appearance_distance(np.array(hists), np.array(hists))[~np.eye(len(hists), dtype=bool)]
    print(f"\nself (box shifted 5 %): median {np.median(same):.2f}, max {same.max():.2f}; "
          f"other people: median {np.median(others):.2f}, min {others.min():.2f}")
    assert np.median(same) < 0.3 and np.median(others) > 0.5
    # each person is nearest to their own shifted self
    assert (d.argmin(axis=1) == np.arange(len(hists))).mean() >= 0.8

"""Rotated regions: crop and map back are inverse, rotation makes a limb point up."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rtpose.models.region import Region, normalize_angle, upright_rotation


def test_crop_then_map_back_returns_the_same_image_points() -> None:
    region = Region(120.0, 80.0, 60.0, 40.0, rotation=0.7)
    pts = np.array([[100.0, 70.0], [130.0, 90.0], [120.0, 80.0]])
    back = region.points_to_image(region.points_to_crop(pts, 224, 224), 224, 224)
    np.testing.assert_allclose(back, pts, atol=1e-6)
    np.testing.assert_allclose(region.points_to_crop(pts[2:], 224, 224), [[112.0, 112.0]], atol=1e-6)


def test_upright_rotation_turns_a_limb_to_point_up_in_the_crop() -> None:
    wrist, finger = np.array([50.0, 50.0]), np.array([90.0, 50.0])  # the hand points right on screen
    rotation = upright_rotation(wrist, finger)
    assert rotation == pytest.approx(math.pi / 2)
    region = Region(70.0, 50.0, 80.0, 80.0, rotation)
    w, f = region.points_to_crop(np.stack([wrist, finger]), 100, 100)
    assert f[1] < w[1] and f[0] == pytest.approx(w[0], abs=1e-6)  # in the crop the finger is above the wrist


def test_crop_samples_the_rotated_pixels() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[20:30, 60:80] = 255  # a bright patch right of the centre
    crop = Region(50.0, 50.0, 100.0, 100.0, rotation=math.pi / 2).crop(image, 100, 100)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    # rotated a quarter turn counter-clockwise, the region's "up" is the image's right: the patch is above
    assert ys.mean() < 50


def test_bounding_box_and_helpers() -> None:
    region = Region.from_box(np.array([10, 20, 30, 60]))
    assert (region.cx, region.cy, region.width, region.height) == (20, 40, 20, 40)
    assert region.squared().width == 40 and region.scaled(2).height == 80
    np.testing.assert_allclose(region.bounding_box(), [10, 20, 30, 60])
    np.testing.assert_allclose(Region(0, 0, 10, 10, math.pi / 4).bounding_box(), [-7.0710, -7.0710, 7.0710, 7.0710],
                               atol=1e-3)
    assert region.shifted(0, -0.5).cy == pytest.approx(20)
    assert normalize_angle(3 * math.pi) == pytest.approx(-math.pi)

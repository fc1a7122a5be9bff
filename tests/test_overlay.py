"""The overlay renderer: what is drawn, what is hidden, colours per limb and per person."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtpose.schemas import COCO17
from rtpose.types import COCO_SKELETON, Poses
from rtpose.viz import colors
from rtpose.viz.overlay import Style, draw_hud, draw_poses

H, W = 480, 640
LEFT_WRIST, LEFT_ELBOW, LEFT_KNEE, LEFT_ANKLE = 9, 7, 13, 15

# A standing person in a 640x480 frame (x, y) per COCO keypoint.
FIGURE = np.array([
    (320, 80), (330, 70), (310, 70), (345, 75), (295, 75),
    (370, 140), (270, 140), (420, 200), (220, 200), (460, 260), (180, 260),
    (350, 280), (290, 280), (360, 360), (280, 360), (360, 440), (280, 440),
], np.float32)


def person(track_id: int = 1, score: float = 0.9, hidden: tuple[int, ...] = (), offset: float = 0.0) -> Poses:
    kpts = np.concatenate([FIGURE + offset, np.full((17, 1), score, np.float32)], axis=1)
    for k in hidden:
        kpts[k, 2] = 0.1
    return Poses(boxes=[[160 + offset, 50 + offset, 480 + offset, 460 + offset]], scores=[0.9], class_ids=[0],
                 track_ids=[track_id], keypoints=kpts[None])


def blank() -> np.ndarray:
    return np.full((H, W, 3), 40, np.uint8)


def near(img: np.ndarray, x: float, y: float, color: tuple[int, int, int], r: int = 1, tol: int = 12) -> bool:
    """Whether some pixel within ``r`` of (x, y) has ``color`` (anti-aliasing blurs exact positions)."""
    patch = img[int(y) - r:int(y) + r + 1, int(x) - r:int(x) + r + 1].astype(int)
    return bool((np.abs(patch - np.array(color)).max(axis=2) <= tol).any())


def test_hidden_keypoint_and_its_limbs_leave_pixels_unchanged() -> None:
    img = blank()
    out = draw_poses(img, person(hidden=(LEFT_WRIST,)), draw_boxes=False, draw_ids=False)
    x, y = FIGURE[LEFT_WRIST]
    assert np.array_equal(out[int(y) - 8:int(y) + 9, int(x) - 8:int(x) + 9], img[int(y) - 8:int(y) + 9, int(x) - 8:int(x) + 9])
    mx, my = (FIGURE[LEFT_WRIST] + FIGURE[LEFT_ELBOW]) / 2  # the forearm is not drawn either
    assert np.array_equal(out[int(my) - 4:int(my) + 5, int(mx) - 4:int(mx) + 5], img[int(my) - 4:int(my) + 5, int(mx) - 4:int(mx) + 5])
    assert near(out, *FIGURE[LEFT_ELBOW], colors.LEFT)  # the elbow itself is still there


def test_visible_limb_colour_along_the_segment() -> None:
    out = draw_poses(blank(), person(), draw_boxes=False, draw_ids=False)
    limb = COCO_SKELETON.index((LEFT_ANKLE, LEFT_KNEE))
    assert colors.schema_paint(COCO17).limb_colors[limb] == colors.LEFT
    a, b = FIGURE[LEFT_KNEE], FIGURE[LEFT_ANKLE]
    for t in (0.25, 0.5, 0.75):
        assert near(out, *(a + t * (b - a)), colors.LEFT)
    right_knee, right_ankle = FIGURE[14], FIGURE[16]
    assert near(out, *((right_knee + right_ankle) / 2), colors.RIGHT)
    assert near(out, *((FIGURE[5] + FIGURE[6]) / 2), colors.CENTRE)  # shoulders: centre colour


def test_all_joints_below_threshold_draw_no_skeleton() -> None:
    img = blank()
    out = draw_poses(img, person(score=0.2), kpt_threshold=0.3, draw_boxes=False, draw_ids=False)
    assert np.array_equal(out, img)
    assert not np.array_equal(draw_poses(img, person(score=0.2), kpt_threshold=0.1), img)


def test_same_id_same_colour_and_different_ids_differ() -> None:
    def box_colour(track_id: int) -> tuple[int, ...]:
        out = draw_poses(blank(), person(track_id), draw_ids=False)
        return tuple(int(c) for c in out[300, 160])  # on the box's left edge, away from the skeleton

    assert box_colour(7) == box_colour(7) == colors.track_color(7)
    assert box_colour(7) != box_colour(8)
    n = len(colors.TRACK_PALETTE)
    assert n >= 8 and len(set(colors.TRACK_PALETTE)) == n  # ids less than a palette apart never share a colour
    assert all(len({colors.track_color(i + k) for k in range(n)}) == n for i in range(50))
    assert colors.track_color(-1) == colors.UNTRACKED


def lab_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """CIE76 colour difference of two BGR colours (about 2.3 is just noticeable)."""
    lab = cv2.cvtColor(np.array([[a, b]], np.uint8), cv2.COLOR_BGR2LAB)[0].astype(float)
    lab[:, 0] *= 100 / 255
    return float(np.linalg.norm(lab[0] - lab[1]))


def test_person_colours_never_look_like_limb_colours() -> None:
    """A box or tag must not read as a limb: ids 2 and 7 used to come out the left-limb green."""
    limbs = (colors.LEFT, colors.RIGHT, colors.CENTRE, colors.UNTRACKED)
    for track_id in range(40):
        colour = colors.track_color(track_id)
        assert min(lab_distance(colour, limb) for limb in limbs) >= 40, (track_id, colour)
        for step in (1, 2):  # a tracker counts up: neighbours must differ clearly too
            assert lab_distance(colour, colors.track_color(track_id + step)) >= 50, (track_id, step)


def test_id_label_drawn_in_track_colour() -> None:
    out = draw_poses(blank(), person(track_id=4))
    tag = out[20:50, 160:200].reshape(-1, 3)
    assert (np.abs(tag.astype(int) - np.array(colors.track_color(4))).max(axis=1) <= 2).sum() > 50


def tag_pixels(out: np.ndarray, track_id: int) -> np.ndarray:
    """(y, x) of every pixel in the exact colour of ``track_id``'s tag."""
    return np.argwhere((out == np.array(colors.track_color(track_id), np.uint8)).all(axis=2))


def test_id_tag_keeps_out_of_a_covered_area_and_stays_on_its_box() -> None:
    usual = draw_poses(blank(), person(track_id=4), draw_boxes=False)
    ys, xs = tag_pixels(usual, 4).T
    assert ys.max() <= 50 and xs.min() >= 160 and xs.max() < 220  # above the box's top-left corner
    panel = (0, 0, 260, 120)  # like the window's stats panel over the top-left corner
    out = draw_poses(blank(), person(track_id=4), draw_boxes=False, keep_out=[panel])
    ys, xs = tag_pixels(out, 4).T
    assert len(ys) > 50
    assert not ((xs < panel[2]) & (ys < panel[3])).any(), "the tag is under the panel"
    assert ys.min() >= 20 and ys.max() <= 80 and xs.min() > 260 and xs.max() < 480  # along the box's top edge
    tall = (0, 0, 600, 120)  # no room right of it on the top edge: down the left edge, inside the box
    ys, xs = tag_pixels(draw_poses(blank(), person(track_id=4), draw_boxes=False, keep_out=[tall]), 4).T
    assert ys.min() > 120 and xs.min() >= 160 and xs.max() < 230


def test_id_tags_avoid_each_other() -> None:
    both = Poses(boxes=[[160, 50, 480, 460], [165, 52, 470, 450]], scores=[0.9, 0.9], class_ids=[0, 0],
                 track_ids=[1, 2], keypoints=np.concatenate([person().keypoints] * 2))
    out = draw_poses(blank(), both, draw_boxes=False)
    a, b = tag_pixels(out, 1), tag_pixels(out, 2)
    assert len(a) > 50 and len(b) > 50  # the first tag is not painted over by the second


def test_input_not_mutated_with_copy_and_drawn_in_place_without() -> None:
    img = blank()
    before = img.copy()
    out = draw_poses(img, person())
    assert np.array_equal(img, before) and out is not img
    same = draw_poses(img, person(), copy=False)
    assert same is img and not np.array_equal(img, before)


def test_empty_poses_and_non_finite_keypoints() -> None:
    img = blank()
    assert np.array_equal(draw_poses(img, Poses()), img)
    broken = person()
    broken.keypoints[0, 3:6, :2] = np.nan
    broken.keypoints[0, 0, :2] = 1e12  # far off screen: must not overflow OpenCV's fixed point
    draw_poses(img, broken)


def test_rejects_non_bgr_images() -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        draw_poses(np.zeros((10, 10), np.uint8), Poses())


def test_line_width_scales_with_image_size() -> None:
    small, large = Style.for_shape(240, 320), Style.for_shape(2160, 3840)
    assert large.line > small.line and large.radius > small.radius and large.font_scale > small.font_scale


def test_hud_darkens_a_corner_and_writes_text() -> None:
    img = np.full((H, W, 3), 200, np.uint8)
    out = draw_hud(img, ["fps 30.0", "people 2"], copy=True)
    corner = out[10:40, 10:100]
    assert corner.min() < 100 and corner.max() > 230  # dark panel, white text
    assert np.array_equal(out[300:, 300:], img[300:, 300:])
    assert np.array_equal(img, np.full((H, W, 3), 200, np.uint8))


def hand_pose(score: float = 0.9) -> Poses:
    """An open right hand, fingers up, wrist at (320, 400): each finger a straight vertical line."""
    from rtpose.schemas import HAND21

    kps = np.zeros((21, 3), np.float32)
    kps[0] = (320, 400, score)
    for f in range(5):
        for j in range(4):
            kps[1 + 4 * f + j] = (240 + 40 * f, 330 - 40 * j, score)
    return Poses(boxes=[[230, 150, 410, 410]], scores=[0.9], class_ids=[0], track_ids=[1], keypoints=kps[None],
                 schema=HAND21)


def test_hand_fingers_are_coloured_one_colour_each() -> None:
    out = draw_poses(blank(), hand_pose(), draw_boxes=False, draw_ids=False)
    for f, finger in enumerate(colors.FINGER_COLORS):
        x = 240 + 40 * f
        assert near(out, x, 330 - 60, colors.FINGER_COLORS[finger]), finger  # between joints 2 and 3
    assert len(set(colors.FINGER_COLORS.values())) == 5
    assert near(out, (280 + 320) / 2, 330, colors.PALM)  # index to middle knuckle: palm-coloured


def test_face_is_drawn_as_thin_contour_lines_without_dots() -> None:
    from rtpose.schemas import FACE68

    kps = np.zeros((68, 3), np.float32)
    kps[:17] = [(200 + 15 * i, 300 + (8 - abs(i - 8)) * 6, 0.9) for i in range(17)]  # a V-shaped jaw
    kps[17:, 2] = 0.0  # the rest unseen
    face = Poses(boxes=[[190, 290, 450, 360]], scores=[0.9], class_ids=[0], track_ids=[1], keypoints=kps[None],
                 schema=FACE68)
    out = draw_poses(blank(), face, draw_boxes=False, draw_ids=False)
    style = Style.for_shape(H, W)
    drawn = np.abs(out.astype(int) - blank().astype(int)).max(axis=2) > 60
    assert near(out, 207.5, 303, colors.FACE, tol=60)  # the jaw line between points 0 and 1
    column = drawn[:, 260]  # a vertical cut through the jaw line: thinner than a body limb
    assert 0 < column.sum() <= max(1, style.line // 2) + 2
    assert column.sum() < 2 * style.radius  # and no joint dot


def test_wholebody_person_draws_body_hands_and_face() -> None:
    from rtpose.schemas import COCO_WHOLEBODY133

    kps = np.zeros((133, 3), np.float32)
    kps[:17, :2], kps[:17, 2] = FIGURE, 0.9
    hand = hand_pose().keypoints[0]
    kps[91:112] = hand  # a left hand at a third of the size, its wrist on the body's left wrist
    kps[91:112, :2] = (hand[:, :2] - hand[0, :2]) * 0.3 + FIGURE[LEFT_WRIST]
    whole = Poses(boxes=[[160, 50, 480, 460]], scores=[0.9], class_ids=[0], track_ids=[1], keypoints=kps[None],
                  schema=COCO_WHOLEBODY133)
    out = draw_poses(blank(), whole, draw_boxes=False, draw_ids=False)
    assert near(out, *((FIGURE[LEFT_KNEE] + FIGURE[LEFT_ANKLE]) / 2), colors.LEFT)  # body as COCO-17
    thumb = (kps[92, :2] + kps[93, :2]) / 2
    assert near(out, *thumb, colors.FINGER_COLORS["thumb"], r=2)

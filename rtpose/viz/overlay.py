"""The one overlay renderer: skeletons, boxes and ids drawn onto a BGR frame.

The window, its snapshots and recordings, and the ``record`` node all call
:func:`draw_poses`, so what a user sees live is exactly what lands in a file.
Pure OpenCV + numpy (no Qt), so it runs on any worker thread and releases the GIL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from pydantic import Field

from rtpose.node import Params
from rtpose.schemas import KeypointSchema
from rtpose.types import Poses
from rtpose.viz import colors

_SHIFT = 4
"""Fixed-point bits for OpenCV drawing: sub-pixel positions keep anti-aliased lines smooth."""
_SCALE = 1 << _SHIFT
_COORD_LIMIT = 1 << 20
"""Coordinates are clipped to this before the fixed-point cast (far-off keypoints must not overflow)."""


@dataclass(frozen=True)
class Style:
    """Sizes derived from the frame size, so a 4K frame does not get hairlines and a
    thumbnail does not get blobs."""

    line: int
    radius: int
    box: int
    font_scale: float
    font_thickness: int

    @staticmethod
    def for_shape(height: int, width: int) -> Style:
        short = max(1, min(height, width))
        # 2 px at least: a 1-px limb on a small frame washes out in a lossy recording
        # (mp4v's 4:2:0 chroma leaves a pale grey-green line of a bright green limb).
        line = max(2, round(short / 300))
        font_scale = max(0.4, short / 1000)
        return Style(line=line, radius=max(2, round(line * 1.5)), box=max(1, round(short / 480)),
                     font_scale=font_scale, font_thickness=max(1, round(font_scale * 1.6)))


Rect = tuple[float, float, float, float]
"""An axis-aligned rectangle ``x1, y1, x2, y2`` in frame pixels."""


class DrawingSettings(Params):
    """How poses are drawn: the params every drawing node shares (annotate, record, display)."""

    kpt_threshold: float = Field(0.3, ge=0.0, le=1.0, description="hide joints scoring below this")
    draw_boxes: bool = Field(True, description="draw each person's box")
    draw_ids: bool = Field(True, description="tag tracked people with their id (untracked people have none)")


def draw_poses(image_bgr: np.ndarray, poses: Poses, kpt_threshold: float = 0.3, draw_boxes: bool = True,
               draw_ids: bool = True, copy: bool = True, keep_out: Sequence[Rect] = ()) -> np.ndarray:
    """Draw every person of ``poses`` onto ``image_bgr`` (HxWx3 uint8) and return the result.

    Joints scoring below ``kpt_threshold`` (or with non-finite coordinates) are hidden
    together with every limb that touches them, so a guessed joint never draws a limb.
    With ``copy=False`` the frame is drawn on in place (saves a copy when the caller owns it).

    ``keep_out``: areas where ``#id`` tags must not go, e.g. where the window lays its stats
    panel over the frame. A tag that would fall there slides along its box's top edge
    (right of the area) or down its left edge (below it); tags also avoid each other.

    A person's ``poses.attributes["caption"]`` (a short string, e.g. a rep count) is drawn in
    their id tag, after the id.
    """
    canvas = _canvas(image_bgr, copy)
    style = Style.for_shape(canvas.shape[0], canvas.shape[1])
    for i in range(len(poses)):
        color = colors.track_color(int(poses.track_ids[i]))
        if draw_boxes:
            _draw_box(canvas, poses.boxes[i], color, style)
        if i < len(poses.keypoints):
            _draw_skeleton(canvas, poses.keypoints[i], poses.schema, kpt_threshold, style)
    if draw_ids:
        taken: list[Rect] = [tuple(map(float, r)) for r in keep_out]  # type: ignore[misc]
        captions = poses.attributes.get("caption")
        for i in range(len(poses)):
            caption = str(captions[i]) if captions is not None and captions[i] else ""
            _draw_id(canvas, poses.boxes[i], int(poses.track_ids[i]), style, taken, caption)
    return canvas


def _canvas(image: np.ndarray, copy: bool) -> np.ndarray:
    """A contiguous uint8 BGR array to draw on (OpenCV refuses non-contiguous views)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"draw_poses needs an HxWx3 uint8 BGR image, got shape {image.shape} {image.dtype}")
    if copy:
        return np.array(image, order="C", copy=True)
    return image if image.flags.c_contiguous and image.flags.writeable else np.ascontiguousarray(image).copy()


def _fixed_points(xy: np.ndarray) -> list[tuple[int, int]]:
    """All joints to fixed point in one numpy pass (per-point Python math dominated drawing)."""
    pts = (np.clip(np.nan_to_num(xy), -_COORD_LIMIT, _COORD_LIMIT) * _SCALE).astype(np.int64)
    return [(int(x), int(y)) for x, y in pts.tolist()]


def _visible(keypoints: np.ndarray, threshold: float) -> list[bool]:
    """Which joints to draw: score at or above the threshold and finite coordinates."""
    finite = np.isfinite(keypoints).all(axis=1)
    return (finite & (np.nan_to_num(keypoints[:, 2], nan=-1.0) >= threshold)).tolist()


def _draw_skeleton(canvas: np.ndarray, keypoints: np.ndarray, schema: KeypointSchema, threshold: float,
                   style: Style) -> None:
    """Limbs first, joints on top, so joint dots stay readable where limbs meet.

    Limbs and colours come from the schema (:func:`colors.schema_paint`). Hands get smaller
    dots than the body; faces are contour lines, thinner and without dots, so a whole-body
    person stays readable at 720p.
    """
    paint = colors.schema_paint(schema)
    visible = _visible(keypoints, threshold)
    pts = _fixed_points(keypoints[:, :2])
    n = len(pts)
    widths = {"body": style.line, "hand": style.line, "face": max(1, style.line // 2)}
    for (a, b), color, part in zip(schema.skeleton, paint.limb_colors, paint.limb_parts):
        if a < n and b < n and visible[a] and visible[b]:
            cv2.line(canvas, pts[a], pts[b], color, widths[part], cv2.LINE_AA, _SHIFT)
    radii = {"body": style.radius * _SCALE, "hand": max(1, style.radius * 2 // 3) * _SCALE, "face": 0}
    for k in range(n):
        radius = radii[paint.keypoint_parts[k]]
        if visible[k] and radius:
            cv2.circle(canvas, pts[k], radius, paint.keypoint_colors[k], -1, cv2.LINE_AA, _SHIFT)


def _draw_box(canvas: np.ndarray, box: np.ndarray, color: colors.BGR, style: Style) -> None:
    if not np.isfinite(box).all():
        return
    lim = _COORD_LIMIT
    x1, y1, x2, y2 = (round(min(max(v, -lim), lim)) for v in box.tolist())
    # Axis-aligned: whole pixels without anti-aliasing give a crisp edge in the exact person colour.
    cv2.rectangle(canvas, (x1, y1), (x2, y2), color, style.box, cv2.LINE_8)


def _draw_id(canvas: np.ndarray, box: np.ndarray, track_id: int, style: Style, taken: list[Rect],
             caption: str = "") -> None:
    """A filled tag ``#id`` (and ``caption`` after it) in the person's colour, above the box's
    top-left corner (inside it at the frame's top edge), moved along the box's edge when that
    spot is in ``taken``.

    The tag's rectangle is appended to ``taken``, so later tags avoid it.
    """
    if track_id < 0 or not np.isfinite(box).all():
        return
    color = colors.track_color(track_id)
    # OpenCV's Hershey fonts have ASCII only: other characters become "?" here rather than garbage
    text = f"#{track_id} {caption.encode('ascii', 'replace').decode()}" if caption else f"#{track_id}"
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, style.font_scale, style.font_thickness)
    pad = max(2, th // 4)
    x, y = _place_tag(box, tw + 2 * pad, th + base + 2 * pad, canvas.shape[1], canvas.shape[0], taken)
    taken.append((x, y, x + tw + 2 * pad, y + th + base + 2 * pad))
    cv2.rectangle(canvas, (x, y), (x + tw + 2 * pad, y + th + base + 2 * pad), color, -1)
    cv2.putText(canvas, text, (x + pad, y + pad + th), font, style.font_scale, colors.text_color_on(color),
                style.font_thickness, cv2.LINE_AA)


def _place_tag(box: np.ndarray, w: int, h: int, frame_w: int, frame_h: int, taken: Sequence[Rect]) -> tuple[int, int]:
    """Top-left corner of a ``w`` x ``h`` tag for ``box``: the first free spot along the box's edge.

    In order: above the top-left corner (the usual place), inside it, then right of each
    taken area along the top edge (above, inside), then below it along the left edge
    (inside the box). A spot must lie in the frame and overlap nothing in ``taken``;
    when none is free the tag goes to the usual place anyway.
    """
    lim = _COORD_LIMIT
    x1, y1, x2, y2 = (int(min(max(v, -lim), lim)) for v in box.tolist())
    max_x, max_y = max(0, frame_w - w), max(0, frame_h - h)

    def clamp_x(x: float) -> int:
        return int(min(max(x, 0), max_x))

    usual = (clamp_x(x1), y1 - h if y1 - h >= 0 else int(min(max(y1, 0), max_y)))
    candidates = [usual, (clamp_x(x1), int(min(max(y1, 0), max_y)))]
    for ax1, ay1, ax2, ay2 in taken:
        right = max(int(np.ceil(ax2)) + 1, x1)
        if right + w <= x2:  # still on the box's top edge
            candidates += [(right, y1 - h), (right, y1)]
        below = max(int(np.ceil(ay2)) + 1, y1)
        if below + h <= y2:  # still on the box's left edge
            candidates.append((clamp_x(x1), below))
    for x, y in candidates:
        if 0 <= x <= max_x and 0 <= y <= max_y and not any(_overlaps((x, y, x + w, y + h), r) for r in taken):
            return x, y
    return usual


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_hud(image: np.ndarray, lines: Sequence[str], copy: bool = False, origin: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Burn a few lines of text into the top-left corner on a translucent dark panel.

    For recordings, where there is no live panel: the stats travel with the video.
    Draws in place by default (the recorder owns its annotated frame).
    """
    canvas = _canvas(image, copy)
    if not lines:
        return canvas
    style = Style.for_shape(canvas.shape[0], canvas.shape[1])
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, style.font_scale * 0.9, style.font_thickness
    sizes = [cv2.getTextSize(line, font, scale, thick) for line in lines]
    line_h = max(h + b for (_, h), b in sizes) + max(2, round(4 * scale))
    width = max(w for (w, _), _ in sizes)
    pad = max(4, round(8 * scale))
    x0, y0 = origin
    x1 = min(canvas.shape[1], x0 + width + 2 * pad)
    y1 = min(canvas.shape[0], y0 + line_h * len(lines) + 2 * pad)
    if x1 > x0 and y1 > y0:
        roi = canvas[y0:y1, x0:x1]
        roi[:] = (roi.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken to 40 %: text reads on any frame
    for i, line in enumerate(lines):
        baseline_y = y0 + pad + (i + 1) * line_h - max(2, round(4 * scale)) - sizes[i][1]
        cv2.putText(canvas, line, (x0 + pad, baseline_y), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return canvas

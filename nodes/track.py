"""``track``: give every detected person an id that stays theirs from frame to frame.

A thin node over :class:`rtpose.tracking.bytetrack.ByteTracker` (ByteTrack: Kalman
boxes, confident detections matched first, low-score ones only keep people alive).
With the optional ``previous`` input wired as a back edge from the pose output, a
person no detection matched (the detector skipped the frame, or missed them) continues
from their confident pose on the previous frame. With the optional ``image`` wired, each
track learns its person's clothing colours: a continued box showing someone else's colours
is refused, and a person back after an occlusion gets their old id again.
At a new segment (a photo, a loop, a reconnect) ``reset()`` forgets every track: the people of
the segment's first frame get new ids and are reported at once (as on the very first frame).
"""

from __future__ import annotations

from typing import Any

from rtpose.api import Detections, Image, Node, Poses, Tracks, register_node
from rtpose.tracking.bytetrack import ByteTracker, TrackerSettings


@register_node("track")
class Track(Node):
    """Multi-person tracking: detections in, detections with stable track ids out."""

    inputs = {"detections": Detections, "previous": Poses, "image": Image}
    optional_inputs = frozenset({"previous", "image"})
    outputs = {"tracks": Tracks}

    Params = TrackerSettings

    def open(self) -> None:
        assert isinstance(self.params, TrackerSettings)
        self.tracker = ByteTracker(self.params)

    def reset(self) -> None:
        self.tracker.reset()

    def process(self, detections: Detections, previous: Poses | None = None,
                image: Image | None = None) -> dict[str, Any]:
        pixels = None if image is None else image.pixels
        return {"tracks": self.tracker.update(detections, previous=previous, image=pixels)}

"""Test nodes: a synthetic source, a transform and a recording sink.

Loaded by graphs under tests/graphs through ``plugins:``; they exercise the runtime
with frames whose index is readable from the data (``Image.timestamp`` = frame
number, ``Detections.scores[0]`` = the frame number the transform saw).
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
from pydantic import Field

from rtpose.api import Detections, Image, Node, Params, Poses, register_node


@register_node("synthetic_source")
class SyntheticSource(Node):
    """Numbered 8x8 frames; ``live`` imitates a camera that produces at ``interval_s``."""

    outputs = {"image": Image}

    class Params(Params):
        frames: int = Field(10, description="frames before end of stream (0 = endless)")
        live: bool = False
        interval_s: float = Field(0.0, description="time one read takes (a camera's frame period)")
        fail_at: int | None = None

    def open(self) -> None:
        self.live = self.params.live
        self.count = 0

    def process(self) -> dict | None:
        if self.params.frames and self.count >= self.params.frames:
            return None
        if self.params.fail_at is not None and self.count == self.params.fail_at:
            raise RuntimeError(f"synthetic failure at frame {self.count}")
        if self.params.interval_s:
            time.sleep(self.params.interval_s)
        pixels = np.full((8, 8, 3), self.count % 256, np.uint8)
        image = Image(pixels=pixels, timestamp=float(self.count), source=self.name)
        self.count += 1
        return {"image": image}


@register_node("synthetic_work")
class SyntheticWork(Node):
    """Turns a frame into one detection whose score is the frame number; takes ``work_s``."""

    inputs = {"image": Image}
    outputs = {"detections": Detections}

    class Params(Params):
        work_s: float = 0.0
        fail_at: int | None = None

    def process(self, image: Image) -> dict:
        frame = int(image.timestamp)
        if self.params.fail_at is not None and frame >= self.params.fail_at:  # live sources skip frames
            raise ValueError(f"cannot process frame {frame}")
        if self.params.work_s:
            time.sleep(self.params.work_s)
        return {"detections": Detections(boxes=[[0, 0, 1, 1]], scores=[frame], class_ids=[0])}


@register_node("synthetic_sink")
class SyntheticSink(Node):
    """Records the frame numbers it receives (in ``SyntheticSink.seen[name]``) and checks they are
    the runtime's frame indices (``self.frame``)."""

    inputs = {"detections": Detections}
    seen: ClassVar[dict[str, list[int]]] = {}

    class Params(Params):
        work_s: float = 0.0

    def open(self) -> None:
        SyntheticSink.seen[self.name] = []

    def process(self, detections: Detections) -> dict:
        if self.params.work_s:
            time.sleep(self.params.work_s)
        frame = int(detections.scores[0])
        if self.frame is not None and self.frame.index != frame:
            raise AssertionError(f"runtime says frame {self.frame.index}, the data is frame {frame}")
        SyntheticSink.seen[self.name].append(frame)
        return {}


@register_node("synthetic_pair_sink")
class SyntheticPairSink(Node):
    """Checks that joined inputs belong to the same frame; records (image frame, detection frame)."""

    inputs = {"image": Image, "detections": Detections}
    seen: ClassVar[dict[str, list[tuple[int, int]]]] = {}

    def open(self) -> None:
        SyntheticPairSink.seen[self.name] = []

    def process(self, image: Image, detections: Detections) -> dict:
        SyntheticPairSink.seen[self.name].append((int(image.timestamp), int(detections.scores[0])))
        return {}


@register_node("synthetic_relay")
class SyntheticRelay(Node):
    """Passes detections through (used to build loops and chains in tests)."""

    inputs = {"detections": Detections}
    outputs = {"detections": Detections}

    def process(self, detections: Detections) -> dict:
        return {"detections": detections}


@register_node("synthetic_feedback")
class SyntheticFeedback(Node):
    """Records (frame, frame of the fed-back value) to check back edges deliver the previous frame."""

    inputs = {"image": Image, "previous": Detections}
    outputs = {"image": Image}
    seen: ClassVar[dict[str, list[tuple[int, int | None]]]] = {}

    def open(self) -> None:
        SyntheticFeedback.seen[self.name] = []

    def process(self, image: Image, previous: Detections | None) -> dict:
        fed_back = int(previous.scores[0]) if previous is not None else None
        SyntheticFeedback.seen[self.name].append((int(image.timestamp), fed_back))
        return {"image": image}


@register_node("synthetic_poses")
class SyntheticPoses(Node):
    """One fixed person per frame, so windows and writers can run without models."""

    inputs = {"image": Image}
    outputs = {"poses": Poses}

    def process(self, image: Image) -> dict:
        h, w = image.height, image.width
        keypoints = np.zeros((1, 17, 3), np.float32)
        keypoints[0, :, 0] = np.linspace(0.4, 0.6, 17) * w
        keypoints[0, :, 1] = np.linspace(0.2, 0.9, 17) * h
        keypoints[0, :, 2] = 0.9
        box = [[0.35 * w, 0.15 * h, 0.65 * w, 0.95 * h]]
        return {"poses": Poses(boxes=box, scores=[0.9], class_ids=[0], track_ids=[1], keypoints=keypoints)}


@register_node("synthetic_optional")
class SyntheticOptional(Node):
    """Has an optional feedback input; records whether it was given a value."""

    inputs = {"image": Image, "hint": Detections}
    optional_inputs = frozenset({"hint"})
    outputs = {"image": Image}
    seen: ClassVar[dict[str, list[bool]]] = {}

    def open(self) -> None:
        SyntheticOptional.seen[self.name] = []

    def process(self, image: Image, hint: Detections | None) -> dict:
        SyntheticOptional.seen[self.name].append(hint is not None)
        return {"image": image}


@register_node("synthetic_memory")
class SyntheticMemory(Node):
    """Counts the frames since its last ``reset()``; records (segment, count, fed back?) per frame."""

    inputs = {"image": Image, "previous": Image}
    optional_inputs = frozenset({"previous"})
    outputs = {"image": Image}
    seen: ClassVar[dict[str, list[tuple[int, int, bool]]]] = {}

    def open(self) -> None:
        SyntheticMemory.seen[self.name] = []
        self.count = 0

    def reset(self) -> None:
        self.count = 0

    def process(self, image: Image, previous: Image | None) -> dict:
        self.count += 1
        SyntheticMemory.seen[self.name].append((image.segment, self.count, previous is not None))
        return {"image": image}


@register_node("synthetic_counting")
class SyntheticCounting(Node):
    """Passes images on and reports how many it saw as its own figure (``Node.stats``)."""

    inputs = {"image": Image}
    outputs = {"image": Image}

    def open(self) -> None:
        self.count = 0

    def process(self, image: Image) -> dict:
        self.count += 1
        return {"image": image}

    def stats(self) -> dict[str, float]:
        return {"seen": float(self.count)}

"""Single images in, poses out, with the models kept loaded between calls."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from rtpose.app.compose import APP, GraphBuilder, load
from rtpose.app.pipeline import Pipeline
from rtpose.graph.build import Graph
from rtpose.types import Poses


class Estimator:
    """Pose of the people in single images: ``poses = est(image)``.

        est = rtpose.Estimator(detector="yolox_nano", pose="hrnet_w32_coco_256x192")
        poses = est(cv2.imread("photo.jpg"))        # rtpose.types.Poses
        est.close()

    A graph runs in the background, fed by pushed frames (lossless), so the models load once.
    Each image is a segment of its own: nothing carries over from one photo to the next. The
    default graph is ``app_source -> detect -> pose``; ``graph`` may instead name a graph file
    (its capture node is replaced), e.g. one with a 3D or hands stage. ``params`` are
    ``"node.param"`` overrides (nodes of the default graph: ``image``, ``detector``, ``pose``).
    """

    def __init__(self, graph: str | os.PathLike[str] | Graph | None = None, *, detector: str = "yolox_nano",
                 pose: str = "hrnet_w32_coco_256x192", output: str = "poses", **params: Any) -> None:
        if graph is None:
            graph = _stills_graph(detector, pose, params)
        elif not isinstance(graph, Graph):
            graph = load(graph, source=APP, **params)
        self.output = output
        self._pipeline = Pipeline(graph, live=False).start()
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray, *, rgb: bool = False) -> Poses:
        """The poses in ``image`` (HxWx3 uint8, BGR unless ``rgb``); raises a node's failure."""
        with self._lock:
            index = self._pipeline.push(image, 0.0, rgb=rgb, new_segment=True)
            result = self._pipeline.get()
        assert result is not None and result.index == index, "lossless: one result per image, in order"
        return result.outputs[self.output]

    def map(self, images: Iterable[np.ndarray], *, rgb: bool = False) -> Iterator[Poses]:
        """Poses of many images, in order, with the graph's stages working on several at once."""
        with self._lock:
            pending = 0
            try:
                for image in images:
                    self._pipeline.push(image, 0.0, rgb=rgb, new_segment=True)
                    pending += 1
                    while (ready := self._pipeline.results.get(0)) is not None:
                        pending -= 1
                        yield ready.outputs[self.output]
                while pending:
                    result = self._pipeline.get()
                    assert result is not None
                    pending -= 1
                    yield result.outputs[self.output]
            finally:  # a loop left early: take its results, so the next call gets its own
                for _ in range(pending):
                    self._pipeline.get()

    def close(self) -> None:
        """Stop the graph and release the models."""
        self._pipeline.close()

    def __enter__(self) -> Estimator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _stills_graph(detector: str, pose: str, params: dict[str, Any]) -> Graph:
    """``image -> detector -> pose`` with ``"node.param"`` overrides, built where the user called."""
    per_node: dict[str, dict[str, Any]] = {"image": {}, "detector": {"model": detector}, "pose": {"model": pose}}
    for key, value in params.items():
        node, _, param = key.partition(".")
        per_node.setdefault(node, {})[param] = value  # an unknown node or param fails in build()
    builder = GraphBuilder("stills")
    builder.add("image", "app_source", params=per_node.pop("image"))
    builder.add("detector", "detect", inputs={"image": "image.image"}, params=per_node.pop("detector"))
    builder.add("pose", "pose", inputs={"image": "image.image", "people": "detector.detections"},
                params=per_node.pop("pose"))
    if per_node:
        raise TypeError(f"Estimator: no node {next(iter(per_node))!r} in the default graph (image, detector, pose)")
    return builder.build()

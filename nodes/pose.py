"""pose: keypoints per person with a top-down heatmap model (HRNet or the same contract).

The keypoint count is the model's (its heatmap output's channels); ``schema`` names what
those keypoints are (``coco17`` by default) and must have that many, so a hand or whole-body
heatmap model works the same way with ``schema: hand21`` or ``schema: coco_wholebody133``.
"""

from __future__ import annotations

import warnings

from pydantic import Field

from rtpose.api import Detections, Image, ModelError, Node, Params, Poses, Tracks, get_schema, register_node
from rtpose.backends.batching import join_batch_group
from rtpose.models.heatmap import IMAGENET_MEAN, IMAGENET_STD, TopDownPoseEstimator
from rtpose.models.registry import get_spec, node_model


# `schema` is the param's name users write; pydantic warns that it shadows BaseModel's deprecated
# `schema()` classmethod, which the field replaces on instances as intended.
warnings.filterwarnings("ignore", message='Field name "schema" in "PoseParams" shadows', category=UserWarning)


class PoseParams(Params):
    model: str = Field("hrnet_w32_coco_256x192",
                       description="a known model name (`rtpose models list`) or a .onnx/.engine path")
    schema: str = Field("coco17", description="keypoint schema of the model's output (its K must match the heatmaps)")
    heatmap_output: int | str = Field(0, description=(
        "which model output holds the heatmaps, by index or name (multi-stage CPM-style models: the last stage)"))
    backend: str = Field("auto", description="auto, onnxruntime, tensorrt, torch, or triton (a model served "
                                             "by `rtpose serve` elsewhere; set url)")
    url: str | None = Field(None, description="backend triton: the server's host:port (gRPC), e.g. gpu-box:8001")
    reconnect: int = Field(0, ge=0, description="backend triton: attempts to reach a server that stopped "
                                               "answering before failing (0: fail at once)")
    device: str = Field("auto", description="auto, cpu or cuda")
    rgb: bool | None = Field(None, description="feed RGB (default: from the known model, else RGB)")
    mean: list[float] | None = Field(None, description="per-channel mean on 0..255 (default: ImageNet)")
    std: list[float] | None = Field(None, description="per-channel std on 0..255 (default: ImageNet)")
    padding: float = Field(1.25, gt=1, description="box enlargement before cropping")
    dark: bool = Field(True, description="sub-pixel refinement of heatmap peaks (DARK)")
    max_batch: int | None = Field(None, ge=1, description="largest batch of crops per inference")
    threads: int | None = Field(None, ge=1, description="ONNX Runtime threads (default: half the cores)")
    batch_group: str | None = Field(None, description=(
        "Nodes naming the same group (one per stream) share one model that runs the crops of their waiting "
        "frames as one batch (docs/multicam.md)"))
    batch_wait_ms: float = Field(5.0, ge=0, description="batch_group: the longest a frame waits for other streams")


@register_node("pose")
class Pose(Node):
    """Crops every person of a frame, runs all crops as one batch, decodes heatmaps to keypoints."""

    inputs = {"image": Image, "people": Detections}
    outputs = {"poses": Poses}
    Params = PoseParams

    @classmethod
    def output_schemas(cls, params: PoseParams) -> dict[str, str]:
        return {"poses": params.schema}

    def open(self) -> None:
        p = self.params
        rgb, mean, std = True, IMAGENET_MEAN, IMAGENET_STD
        try:
            contract = get_spec(p.model).preprocess
            rgb, mean, std = contract.color == "RGB", contract.mean, contract.std
        except ModelError:  # a path, not a known name: the params or ImageNet RGB apply
            pass
        options = {"threads": p.threads} if p.threads else {}
        options |= {"reconnect_attempts": p.reconnect} if p.backend == "triton" else {}
        path = node_model(p.model, p.backend, p.url, self.name)
        try:
            self.schema = get_schema(p.schema)
            model = (join_batch_group(p.batch_group, path, p.backend, p.device, p.batch_wait_ms, **options)
                     if p.batch_group else path)
            self.estimator = TopDownPoseEstimator(
                model, backend=p.backend, device=p.device,
                mean=p.mean or mean, std=p.std or std, rgb=rgb if p.rgb is None else p.rgb,
                padding=p.padding, dark=p.dark, max_batch=p.max_batch, heatmap_output=p.heatmap_output, **options)
            k = self.estimator.probe_keypoints()
        except KeyError as exc:
            raise ModelError(f"pose model {path}: {exc.args[0]}") from None
        except ModelError as exc:
            raise ModelError(f"pose model {path}: {exc}") from None
        if k != len(self.schema):
            raise ModelError(f"pose model {path} gives {k} heatmaps, but schema {self.schema.name!r} has "
                             f"{len(self.schema)} keypoints; set 'schema' to one with {k} (known: "
                             f"{_schemas_of_size(k)}) or 'heatmap_output' to the heatmap output")

    def process(self, image: Image, people: Detections) -> dict:
        keypoints = self.estimator(image.pixels, people.boxes)
        track_ids = people.track_ids if isinstance(people, Tracks) else None
        poses = Poses(boxes=people.boxes, scores=people.scores, class_ids=people.class_ids,
                      track_ids=track_ids if track_ids is not None else [], keypoints=keypoints,
                      schema=self.schema)
        return {"poses": poses}

    def close(self) -> None:
        if self.params.batch_group:  # leave the group; its last member closes the shared model
            self.estimator.backend.close()


def _schemas_of_size(k: int) -> str:
    from rtpose.schemas import schema_names

    return ", ".join(n for n in schema_names() if len(get_schema(n)) == k) or "none; register one"

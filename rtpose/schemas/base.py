"""The keypoint schema type and the registry of schemas by name.

A :class:`KeypointSchema` rides on every :class:`~rtpose.types.Poses`. Drawing, export, OKS,
smoothing and validation read it, so a new model family (hands, face, whole-body, 3D) is a
model wrapper, a node and, where needed, a schema registered here; nothing else knows a
keypoint count. Plugins register their own with :func:`register_schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class KeypointSchema:
    """The meaning of a keypoint array's second axis.

    ``skeleton`` pairs keypoint indices into limbs; ``sigmas`` are the per-keypoint OKS
    constants (None where a dataset defines none: OKS then uses ``default_sigma``);
    ``flip_pairs`` swap under a horizontal flip; ``groups`` name sets of keypoints that
    are drawn in one colour (a finger, the face contour).
    """

    name: str
    keypoints: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    sigmas: np.ndarray | None = None
    flip_pairs: tuple[tuple[int, int], ...] = ()
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)
    default_sigma: float = 0.05

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if len(set(self.keypoints)) != k:
            raise ValueError(f"schema {self.name!r}: keypoint names repeat")
        for a, b in (*self.skeleton, *self.flip_pairs):
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"schema {self.name!r}: pair ({a}, {b}) is outside 0..{k - 1}")
        if self.sigmas is not None and len(self.sigmas) != k:
            raise ValueError(f"schema {self.name!r}: {len(self.sigmas)} sigmas for {k} keypoints")

    def __len__(self) -> int:
        return len(self.keypoints)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeypointSchema) and other.name == self.name and other.keypoints == self.keypoints

    def __hash__(self) -> int:
        return hash((self.name, self.keypoints))

    def __repr__(self) -> str:
        return f"KeypointSchema({self.name!r}, {len(self)} keypoints)"

    def index(self, name: str) -> int:
        """The position of a keypoint by name (a clear error naming the schema otherwise)."""
        try:
            return self.keypoints.index(name)
        except ValueError:
            raise KeyError(f"schema {self.name!r} has no keypoint {name!r}") from None

    def oks_sigmas(self) -> np.ndarray:
        """Per-keypoint OKS sigmas, falling back to ``default_sigma`` where the schema has none."""
        if self.sigmas is not None:
            return np.asarray(self.sigmas, np.float32)
        return np.full(len(self), self.default_sigma, np.float32)


_SCHEMAS: dict[str, KeypointSchema] = {}


def register_schema(schema: KeypointSchema) -> KeypointSchema:
    """Make a schema known by name (graphs and exports refer to schemas by name)."""
    known = _SCHEMAS.get(schema.name)
    if known is not None and known != schema:
        raise ValueError(f"a different keypoint schema is already registered as {schema.name!r}")
    _SCHEMAS[schema.name] = schema
    return schema


def get_schema(name: str) -> KeypointSchema:
    """A registered schema by name."""
    try:
        return _SCHEMAS[name]
    except KeyError:
        raise KeyError(f"unknown keypoint schema {name!r}; known: {', '.join(sorted(_SCHEMAS))}") from None


def schema_names() -> list[str]:
    return sorted(_SCHEMAS)


"""What MediaPipe's landmark models (BlazePose GHUM, hands, face mesh) share: one square NHWC crop
per person in, flat outputs per person out, from a file that often pins batch 1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.backends.base import Backend, open_backend
from rtpose.errors import ModelError


def open_landmark_model(model: str | Path | Backend, backend: str, device: str, options: Mapping[str, Any],
                        size: int | None = None, what: str = "landmark") -> tuple[Backend, str]:
    """The model opened (or the backend given), and the name errors should use for it; with ``size``,
    a model whose input is not [N, size, size, 3] is refused."""
    opened, path = (model, model.name) if isinstance(model, Backend) else \
        (open_backend(model, backend, device, **options), str(model))
    shape = opened.input_shapes[0]
    if size is not None and tuple(shape[1:]) != (size, size, 3):
        raise ModelError(f"{path}: expected a {what} model with input [N, {size}, {size}, 3], got {list(shape)}")
    return opened, path


def outputs_by_size(backend: Backend, size: int, wanted: Mapping[str, int], path: str,
                    what: str) -> dict[str, str]:
    """The output name of each role in ``wanted`` (role -> values per person), told apart by size
    after one run on a blank crop: output names differ between the tflite and converted files."""
    names = list(backend.output_names)
    probe = backend.run(np.zeros((1, size, size, 3), np.float32))
    sizes = {name: int(out[0].size) for name, out in zip(names, probe)}
    found = {role: next((n for n in names if sizes[n] == count), None) for role, count in wanted.items()}
    if None in found.values():
        shapes = ", ".join(f"[1, {count}] {role}" for role, count in wanted.items())
        raise ModelError(f"{path}: no {what} outputs ({shapes}) among {names} (sizes {list(sizes.values())})")
    return {role: name for role, name in found.items() if name is not None}


def run_crops(backend: Backend, batch: np.ndarray, batched: bool, names: Sequence[str]) -> list[np.ndarray]:
    """The outputs ``names``, each as (N, values), of a batch of crops: run whole, or one crop at a
    time where the model needs batch 1."""
    runs = [batch] if batched else [batch[i:i + 1] for i in range(len(batch))]
    outs = [dict(zip(backend.output_names, backend.run(chunk))) for chunk in runs]
    return [np.concatenate([o[name].reshape(len(o[name]), -1) for o in outs]) for name in names]

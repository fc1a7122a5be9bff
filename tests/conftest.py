"""Shared fixtures: where ../shared is, and skips that say why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared weights and data: $RTPOSE_SHARED, else ../shared beside the checkout."""
    env = os.environ.get("RTPOSE_SHARED")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "models").is_dir():
        pytest.fail(f"shared data not found at {path}: set RTPOSE_SHARED to the folder with models/ and data/")
    return path

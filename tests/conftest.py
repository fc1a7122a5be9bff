"""Shared fixtures: where ../shared is, and skips that say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import shared_dir


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "models").is_dir():
        pytest.fail(f"shared data not found at {path}: set RTPOSE_SHARED to the folder with models/ and data/")
    return path

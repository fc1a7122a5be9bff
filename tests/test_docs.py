"""The API reference builds from the docstrings with warnings as errors (mkdocs --strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_api_reference_builds_strict(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (tmp_path / "app" / "index.html").read_text(encoding="utf-8")
    for documented in ("rtpose.app.pipeline.Pipeline.push", "rtpose.app.compose.GraphBuilder",
                       "rtpose.app.estimator.Estimator", "rtpose.app.table.pose_table"):
        assert f'id="{documented}"' in page, f"{documented} missing from the API reference"

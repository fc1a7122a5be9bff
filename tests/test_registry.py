"""Model registry and ``rtpose models`` CLI, all offline: downloads come from file:// URLs or an
http.server on 127.0.0.1, and every spec under test points at one of those."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtpose.errors import ModelError, ModelNotFound
from rtpose.models import registry
from rtpose.cli.models import app
from rtpose.models.registry import KNOWN_MODELS, ModelSpec

PAYLOAD = b"not really an onnx file, but bytes to fetch and hash\n" * 1000


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache."""
    monkeypatch.setenv("RTPOSE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def closed_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: fails fast, never leaves the machine."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/yolox_nano.onnx"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """An http.server on 127.0.0.1 serving PAYLOAD as /yolox_nano.onnx; yields its URL."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "yolox_nano.onnx").write_bytes(PAYLOAD)
    handler = partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/yolox_nano.onnx"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _yolox(url: str, **changes: object) -> dict[str, ModelSpec]:
    """The real yolox_nano entry, pointed at a local URL."""
    return {"yolox_nano": replace(KNOWN_MODELS["yolox_nano"], url=url, **changes)}


def _leftovers(home: Path) -> list[Path]:
    return list((home / "models").glob("*.part")) if (home / "models").exists() else []


def test_existing_path_is_returned_as_is(tmp_path: Path) -> None:
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"x")
    assert registry.resolve_model(model) == model
    assert registry.resolve_model(str(model)) == model


def test_cache_hit_needs_no_download(home: Path, closed_url: str) -> None:
    models = _yolox(closed_url)
    cached = home / "models" / "yolox_nano.onnx"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"cached")
    assert registry.cached("yolox_nano", models) == cached
    assert registry.resolve_model("yolox_nano", models) == cached
    assert cached.read_bytes() == b"cached"


def test_download_checks_sha256(home: Path, served: str) -> None:
    models = _yolox(served, sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert registry.cached("yolox_nano", models) is None
    path = registry.resolve_model("yolox_nano", models)
    assert path == home / "models" / "yolox_nano.onnx"
    assert path.read_bytes() == PAYLOAD
    assert registry.cached("yolox_nano", models) == path
    assert _leftovers(home) == []


@pytest.mark.parametrize("check", [{"sha256": "0" * 64}, {"sha256_prefix": "deadbeef"}])
def test_wrong_checksum_leaves_nothing(home: Path, tmp_path: Path, check: dict[str, str]) -> None:
    src = tmp_path / "yolox_nano.onnx"
    src.write_bytes(PAYLOAD)
    models = _yolox(src.as_uri(), **check)
    dest = home / "models" / "yolox_nano.onnx"
    with pytest.raises(ModelNotFound) as err:
        registry.pull("yolox_nano", models)
    text = str(err.value)
    assert "checksum mismatch" in text and hashlib.sha256(PAYLOAD).hexdigest() in text
    assert src.as_uri() in text and str(dest) in text
    assert not dest.exists()
    assert _leftovers(home) == []


def test_unreachable_url_says_where_to_put_the_file(home: Path, closed_url: str) -> None:
    with pytest.raises(ModelNotFound) as err:
        registry.resolve_model("yolox_nano", _yolox(closed_url))
    text = str(err.value)
    assert "could not be downloaded" in text
    assert f"download it by hand from: {closed_url}" in text
    assert f"and put it at: {home / 'models' / 'yolox_nano.onnx'}" in text
    assert _leftovers(home) == []


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(ModelError) as err:
        registry.resolve_model("hrnet_w23_coco_256x192")
    text = str(err.value)
    assert not isinstance(err.value, ModelNotFound)
    assert "did you mean 'hrnet_w32_coco_256x192'" in text
    listed = text.split("known models: ")[1].split(", ")
    assert listed == sorted(listed) and {"hrnet_w32_coco_256x192", "hrnet_w48_coco_256x192", "yolox_nano"} <= set(listed)


def test_home_defaults_to_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RTPOSE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert registry.models_dir() == tmp_path / ".cache" / "rtpose" / "models"


def test_known_specs_are_consistent() -> None:
    for name, spec in registry.known_models().items():
        assert spec.name == name and spec.url.startswith("https://")
        assert spec.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        if spec.format == "pth":
            # mmpose's publish_model names files <name>-<sha256[:8]>_<date>.pth
            assert re.search(rf"-{spec.sha256_prefix}_\d{{8}}\.pth$", spec.filename)
            assert spec.converter is not None and spec.onnx_filename.endswith(".onnx")
    assert KNOWN_MODELS["hrnet_w32_coco_256x192"].preprocess.color == "RGB"
    assert KNOWN_MODELS["yolox_nano"].preprocess.color == "BGR"


def test_pth_is_converted_once_and_cached(home: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from rtpose.models import hrnet

    src = tmp_path / "hrnet_w32_coco_256x192-00000000_20200708.pth"
    torch.save({"state_dict": hrnet.hrnet_w32().state_dict(), "meta": {}}, src)
    calls: list[Path] = []

    def converter(pth: Path, onnx_path: Path, size: tuple[int, int]) -> None:
        calls.append(pth)
        registry.convert_mmpose_hrnet(32, pth, onnx_path, size)

    spec = replace(
        KNOWN_MODELS["hrnet_w32_coco_256x192"],
        url=src.as_uri(),
        sha256_prefix=hashlib.sha256(src.read_bytes()).hexdigest()[:8],
        converter=converter,
    )
    models = {spec.name: spec}
    first = registry.resolve_model(spec.name, models)
    assert first == home / "models" / "hrnet_w32_coco_256x192-00000000_20200708.onnx"
    stamp = first.stat().st_mtime_ns
    assert registry.resolve_model(spec.name, models) == first
    assert registry.cached(spec.name, models) == first
    assert len(calls) == 1 and first.stat().st_mtime_ns == stamp
    sess = ort.InferenceSession(str(first), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == spec.input_name
    assert sess.get_outputs()[0].shape[1:] == [17, 64, 48]


def test_rtpose_imports_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import rtpose, rtpose.models.registry, rtpose.cli.models\n"
        "assert 'rtpose.models.hrnet' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_list_shows_cache_state(home: Path) -> None:
    onnx = home / "models" / "yolox_nano.onnx"
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"x")
    pth = home / "models" / KNOWN_MODELS["hrnet_w48_coco_256x192"].filename
    pth.write_bytes(b"x")
    assert registry.cached("hrnet_w48_coco_256x192") is None  # downloaded, not yet runnable
    result = CliRunner().invoke(app, ["list"], env={"RTPOSE_HOME": str(home), "COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") == 6}
    assert set(rows) == set(KNOWN_MODELS)
    assert "yes" in rows["yolox_nano"] and str(onnx) in rows["yolox_nano"]
    assert " no " in rows["yolox_s"] and str(home / "models" / "yolox_s.onnx") in rows["yolox_s"]
    hr = rows["hrnet_w32_coco_256x192"]
    assert "pose" in hr and "pth" in hr and "hrnet_w32_coco_256x192-c78dce93_20200708.onnx" in hr
    assert "pth only" in rows["hrnet_w48_coco_256x192"] and str(pth) in rows["hrnet_w48_coco_256x192"]


def test_a_shared_suffix_is_no_suggestion() -> None:
    with pytest.raises(ModelError) as err:
        registry.resolve_model("simplepose_nano")
    text = str(err.value)
    assert "did you mean" not in text and "Give the path to a model file" in text
    with pytest.raises(ModelError, match="did you mean 'hrnet_w32_coco_256x192'"):
        registry.resolve_model("hrnet_w32")


def test_cli_pull_unknown_name_fails_cleanly() -> None:
    result = CliRunner().invoke(app, ["pull", "yolox_nan"])
    assert result.exit_code == 2
    assert "did you mean 'yolox_nano'" in result.output


def test_a_download_of_another_size_is_refused_and_not_cached(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "yolox_nano.onnx"
    src.write_bytes(PAYLOAD + b"tampered")
    models = _yolox(src.as_uri(), size=len(PAYLOAD))
    with pytest.raises(ModelNotFound, match=f"size mismatch: {len(PAYLOAD) + 8} bytes, expected {len(PAYLOAD)}"):
        registry.pull("yolox_nano", models)
    assert registry.cached("yolox_nano", models) is None and _leftovers(home) == []
    src.write_bytes(PAYLOAD)
    assert registry.pull("yolox_nano", models).read_bytes() == PAYLOAD


def test_a_download_without_any_check_is_logged(home: Path, tmp_path: Path, caplog) -> None:
    src = tmp_path / "yolox_nano.onnx"
    src.write_bytes(PAYLOAD)
    models = _yolox(src.as_uri(), sha256=None, sha256_prefix=None, size=None)
    with caplog.at_level("WARNING", logger="rtpose.models.registry"):
        registry.pull("yolox_nano", models)
    assert "no checksum" in caplog.text and hashlib.sha256(PAYLOAD).hexdigest() in caplog.text

"""Known models by name: where to download them, how to check them, and what they expect.

Files are cached under ``$RTPOSE_HOME/models`` (default ``~/.cache/rtpose/models``).  A name
resolves to a ready-to-run ONNX file: downloaded once (with a progress bar), checked, and for
mmpose ``.pth`` checkpoints converted to ONNX once through :mod:`rtpose.models.hrnet` (torch is
imported only then).

Checksums: a download is refused, and not cached, when it differs from any of the entry's
``sha256`` (computed from the file where it was at hand), ``sha256_prefix`` or ``size`` (bytes,
recorded where only the size was known). The mmpose checkpoints carry the first 8 hex digits
of their sha256 in their file name (mmpose's ``publish_model`` appends ``sha256[:8]``), checked as
``sha256_prefix``. The YOLOX release assets could be had neither as files nor with their sizes
when this was written, so they carry no check yet: their download logs a warning saying so (none is
invented; add ``sha256=`` once the file is at hand).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import tempfile
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO, Literal

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from rtpose.errors import ModelError, ModelNotFound

log = logging.getLogger(__name__)

Converter = Callable[[Path, Path, tuple[int, int]], None]
DOWNLOAD_TIMEOUT_S = 30.0
CHUNK = 1 << 20


@dataclass(frozen=True)
class Preprocess:
    """What the network expects as input, so nodes feed it correctly."""

    color: Literal["BGR", "RGB"]
    mean: tuple[float, float, float]  # subtracted from 0..255 pixel values
    std: tuple[float, float, float]  # then divided by
    resize: str  # how a frame or crop is brought to input_size


IMAGENET_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
"""ImageNet channel means in 0..255, RGB order (the one definition; the pose models' pre-processing)."""
IMAGENET_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)

YOLOX_PRE = Preprocess("BGR", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "letterbox top-left, pad 114")
IMAGENET_RGB = Preprocess(
    "RGB", IMAGENET_MEAN, IMAGENET_STD, "affine crop of the box (aspect 3:4, x1.25)"
)


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model: source, integrity check, and the contract a node must honour."""

    name: str
    url: str
    kind: str  # detector, pose, hand_landmarks, palm_detector, face_landmarks, bottomup, pose3d, ...
    format: Literal["onnx", "pth", "tflite"]  # tflite runs as is, on the tflite backend
    input_size: tuple[int, int]  # (width, height), as everywhere in rtpose (OpenCV's order)
    preprocess: Preprocess
    input_name: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    size: int | None = None  # bytes: the check where only the size is known
    converter: Converter | None = field(default=None, compare=False)
    licence: str = ""

    @property
    def filename(self) -> str:
        """The downloaded file's name: the last part of the URL."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def onnx_filename(self) -> str:
        """The file a pose/detector node loads (the conversion target for .pth)."""
        return self.filename if self.format in ("onnx", "tflite") else Path(self.filename).stem + ".onnx"


def convert_mmpose_hrnet(width: int, src: Path, dst: Path, input_size: tuple[int, int]) -> None:
    """mmpose HRNet checkpoint -> ONNX (needs torch: the ``rtpose[torch]`` extra)."""
    try:
        from rtpose.models import hrnet
    except ImportError as exc:
        raise ModelError(
            f"converting {src.name} to ONNX needs torch ({exc}): pip install 'rtpose[torch]', "
            f"or export it yourself and put the ONNX file at {dst}"
        ) from exc
    model = hrnet.TopDownHRNet(width)
    hrnet.load_mmpose_checkpoint(model, src)
    hrnet.export_onnx(model, dst, input_size=input_size)


_YOLOX = "https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/"
_MMPOSE = "https://download.openmmlab.com/mmpose/top_down/hrnet/"

KNOWN_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("yolox_nano", _YOLOX + "yolox_nano.onnx", "detector", "onnx", (416, 416), YOLOX_PRE,
                  "images", licence="Apache-2.0"),
        ModelSpec("yolox_s", _YOLOX + "yolox_s.onnx", "detector", "onnx", (640, 640), YOLOX_PRE,
                  "images", licence="Apache-2.0"),
        ModelSpec("hrnet_w32_coco_256x192", _MMPOSE + "hrnet_w32_coco_256x192-c78dce93_20200708.pth",
                  "pose", "pth", (192, 256), IMAGENET_RGB, "input", sha256_prefix="c78dce93",
                  converter=partial(convert_mmpose_hrnet, 32), licence="Apache-2.0"),
        ModelSpec("hrnet_w48_coco_256x192", _MMPOSE + "hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth",
                  "pose", "pth", (192, 256), IMAGENET_RGB, "input", sha256_prefix="b9e0b3ab",
                  converter=partial(convert_mmpose_hrnet, 48), licence="Apache-2.0"),
    )
}

# MediaPipe Hands, as Google publishes them (.tflite, run by the tflite backend: the `tflite` extra).
# rtpose.models.palm / rtpose.models.hand also run the ONNX conversions of the same networks.
_MEDIAPIPE = "https://storage.googleapis.com/mediapipe-assets/"
MEDIAPIPE_RGB01 = Preprocess("RGB", (0.0, 0.0, 0.0), (255.0, 255.0, 255.0), "rotated square region, NHWC")
KNOWN_MODELS.update({
    spec.name: spec
    for spec in (
        ModelSpec("hand_landmark_full", _MEDIAPIPE + "hand_landmark_full.tflite", "hand_landmarks", "tflite",
                  (224, 224), MEDIAPIPE_RGB01, "input_1", licence="Apache-2.0"),
        ModelSpec("hand_landmark_lite", _MEDIAPIPE + "hand_landmark_lite.tflite", "hand_landmarks", "tflite",
                  (224, 224), MEDIAPIPE_RGB01, "input_1", licence="Apache-2.0"),
        ModelSpec("palm_detection_full", _MEDIAPIPE + "palm_detection_full.tflite", "palm_detector", "tflite",
                  (192, 192), MEDIAPIPE_RGB01, "input_1", licence="Apache-2.0"),
        ModelSpec("palm_detection_lite", _MEDIAPIPE + "palm_detection_lite.tflite", "palm_detector", "tflite",
                  (192, 192), MEDIAPIPE_RGB01, "input_1", licence="Apache-2.0"),
        # BlazePose GHUM with metric world landmarks (the pose3d node): MediaPipe Pose's landmark model
        ModelSpec("blazepose_ghum_full", _MEDIAPIPE + "pose_landmark_full.tflite", "pose3d", "tflite",
                  (256, 256), MEDIAPIPE_RGB01, "input_1", licence="Apache-2.0"),
        # MediaPipe Face Mesh (468 points; rtpose.models.face)
        ModelSpec("face_landmark", _MEDIAPIPE + "face_landmark.tflite", "face_landmarks", "tflite",
                  (192, 192), MEDIAPIPE_RGB01, "input_1", licence="Apache-2.0"),
    )
})


def rtpose_home() -> Path:
    """``$RTPOSE_HOME`` or ``~/.cache/rtpose``: read on each call so tests and users can redirect it."""
    env = os.environ.get("RTPOSE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rtpose"


def models_dir() -> Path:
    """Where downloaded and converted models live."""
    return rtpose_home() / "models"


def known_models(models: Mapping[str, ModelSpec] | None = None) -> dict[str, ModelSpec]:
    """All known model specs by name (a copy: callers cannot change the registry by accident)."""
    return dict(KNOWN_MODELS if models is None else models)


def get_spec(name: str, models: Mapping[str, ModelSpec] | None = None) -> ModelSpec:
    """The spec for ``name``; ModelError with close names and the full list when unknown."""
    table = KNOWN_MODELS if models is None else models
    if name in table:
        return table[name]
    close = close_names(name, list(table))
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
    raise ModelError(
        f"model {name!r} is neither a file nor a known model name{hint} Give the path to a model file "
        f"(.onnx, .engine, .tflite, .pt) or a known name; known models: {', '.join(sorted(table))}"
    )


def close_names(name: str, names: list[str]) -> list[str]:
    """Names a user may have meant: those that extend what was typed (``hrnet_w32`` ->
    ``hrnet_w32_coco_256x192``), else near-identical spellings. A shared suffix alone is no hint
    (``simplepose_nano`` is not ``yolox_nano``)."""
    extended = sorted(n for n in names if n.startswith(name))
    return extended[:3] or difflib.get_close_matches(name, names, n=2, cutoff=0.75)


def cached(name: str, models: Mapping[str, ModelSpec] | None = None) -> Path | None:
    """The cached runnable ONNX of ``name`` (what resolve_model returns with no work), or None.

    A downloaded but not yet converted ``.pth`` does not count: callers (e.g. engine builders)
    need an ONNX file.
    """
    path = models_dir() / get_spec(name, models).onnx_filename
    return path if path.is_file() else None


def resolve_model(name_or_path: str | Path, models: Mapping[str, ModelSpec] | None = None) -> Path:
    """An existing file as is; a known name -> its cached ONNX, downloading/converting it first if needed."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    return _ensure_onnx(get_spec(str(name_or_path), models))


def served_name(model: str) -> str:
    """The name a Triton server (``rtpose serve``) gives a model: its registry name, or its file's stem.
    Named after the model, not the node, so the streams of a multi-camera graph share one served model."""
    return model if model in KNOWN_MODELS else Path(model).stem


def node_model(model: str, backend: str, url: str | None, node: str) -> str | Path:
    """What a model node opens: with ``backend: triton`` its model as the server at ``url`` serves it
    (:func:`served_name`); otherwise its model file (:func:`resolve_model`)."""
    if backend == "triton":
        if not url:
            raise ModelError(f"node {node!r}: backend triton needs url, the host:port of the server "
                             f"(`rtpose serve` prints it), e.g. --set {node}.url=gpu-box:8001")
        return f"triton://{url}/{served_name(model)}"
    return resolve_model(model)


def pull(name: str, models: Mapping[str, ModelSpec] | None = None) -> Path:
    """Download (and convert) a known model now, e.g. before going offline."""
    return _ensure_onnx(get_spec(name, models))


def _ensure_onnx(spec: ModelSpec) -> Path:
    """The runnable ONNX of ``spec``: download once, convert once, both written atomically."""
    onnx_path = models_dir() / spec.onnx_filename
    if onnx_path.is_file():
        return onnx_path
    source = models_dir() / spec.filename
    if not source.is_file():
        download(spec, source)
    if spec.format in ("onnx", "tflite"):
        return source
    if spec.converter is None:
        raise ModelError(f"model {spec.name!r} is a .{spec.format} file and has no converter to ONNX")
    spec.converter(source, onnx_path, spec.input_size)
    return onnx_path


def _not_found(spec: ModelSpec, dest: Path, reason: str) -> ModelNotFound:
    """The error a user can act on: what failed, where to get the file, where to put it."""
    text = (
        f"model {spec.name!r} is not cached and could not be downloaded: {reason}\n"
        f"  download it by hand from: {spec.url}\n"
        f"  and put it at: {dest}"
    )
    if spec.format != "onnx":
        text += f"\n  (it is converted on first use; or put your own ONNX export at {dest.parent / spec.onnx_filename})"
    return ModelNotFound(text)


def download(spec: ModelSpec, dest: Path) -> Path:
    """Fetch ``spec.url`` to ``dest`` with a progress bar; check its hash; never leave a partial file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                digest = _fetch(spec.url, out, spec.name)
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, bad URLs
            raise _not_found(spec, dest, f"{type(exc).__name__}: {exc}") from exc
        _check_download(spec, digest, tmp.stat().st_size, dest)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _fetch(url: str, out: BinaryIO, label: str) -> str:
    """Stream ``url`` into ``out`` with a progress bar on stderr; returns the sha256 hex digest."""
    hasher = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        columns = ("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(f"downloading {label}", total=total)
            while chunk := resp.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                progress.update(task, advance=len(chunk))
    return hasher.hexdigest()


def _check_download(spec: ModelSpec, digest: str, size: int, dest: Path) -> None:
    """Reject a file whose sha256, published sha256 prefix or size differs from the registry's."""
    if spec.sha256 and digest != spec.sha256.lower():
        raise _not_found(spec, dest, f"checksum mismatch: sha256 {digest}, expected {spec.sha256}")
    if spec.sha256_prefix and not digest.startswith(spec.sha256_prefix.lower()):
        raise _not_found(
            spec, dest, f"checksum mismatch: sha256 {digest} does not start with {spec.sha256_prefix}"
        )
    if spec.size is not None and size != spec.size:
        raise _not_found(spec, dest, f"size mismatch: {size} bytes, expected {spec.size} (sha256 {digest})")
    if not (spec.sha256 or spec.sha256_prefix or spec.size):
        log.warning("model %s has no checksum in the registry; downloaded file sha256 %s, %d bytes",
                    spec.name, digest, size)

"""Engine specs, cache keys, sidecars and rebuild decisions: pure logic, tested without TensorRT or a GPU."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rtpose import engines
from rtpose.backends.base import Backend
from rtpose.engines import tensorrt_available
from rtpose.backends.switching import EngineSwitchingBackend
from rtpose.engines import EngineSpec, Platform
from rtpose.models.calibration import PREPROCESS
from rtpose.errors import ModelError

REPO = Path(__file__).resolve().parents[1]
NO_TRT = not tensorrt_available()
PLATFORM = Platform("10.8.0.43", "NVIDIA GeForce RTX 4090", "8.9")


def _spec(tmp_path: Path, text: str, name: str = "model") -> EngineSpec:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return engines.load_spec(path)


def _pose_spec(tmp_path: Path, precision: str = "fp16", max_batch: int = 32) -> EngineSpec:
    return _spec(tmp_path, f"""
onnx: model.onnx
inputs:
  input: {{min: [1, 3, 256, 192], opt: [8, 3, 256, 192], max: [{max_batch}, 3, 256, 192]}}
precision: {precision}
""")


def _fingerprint(tmp_path: Path, onnx_bytes: bytes = b"onnx v1", platform: Platform = PLATFORM,
                 **spec_kw) -> engines.Fingerprint:
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(onnx_bytes)
    return engines.make_fingerprint(_pose_spec(tmp_path, **spec_kw), engines.file_sha256(onnx), platform)


# ---------------------------------------------------------------- specs

def test_the_repository_specs_are_valid() -> None:
    specs = engines.list_specs(REPO / "engines")
    assert {"yolox_nano", "hrnet_w32_256x192", "simplepose_nano"} <= set(specs)
    hrnet = specs["hrnet_w32_256x192"].inputs["input"]
    assert (hrnet.min[0], hrnet.opt[0], hrnet.max[0]) == (1, 8, 32)
    assert specs["yolox_nano"].inputs["images"].min == specs["yolox_nano"].inputs["images"].max


def test_a_plain_list_is_a_static_profile(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "onnx: m.onnx\ninputs:\n  images: [1, 3, 416, 416]\n")
    profile = spec.inputs["images"]
    assert profile.min == profile.opt == profile.max == [1, 3, 416, 416]
    assert spec.precision == "fp16" and spec.name == "model"


@pytest.mark.parametrize("body, words", [
    ("onnx: m.onnx\ninputs: {x: [1, 3, 4, 4]}\nprecision: fp8\n", "precision"),
    ("onnx: m.onnx\ninputs: {x: {min: [4, 3], opt: [2, 3], max: [8, 3]}}\n", "min <= opt <= max"),
    ("onnx: m.onnx\ninputs: {x: {min: [1, 3], opt: [2, 3, 1], max: [8, 3]}}\n", "same rank"),
    ("onnx: m.onnx\ninputs: {x: [1, 3, 4, 4]}\nprecision: int8\n", "calibration"),
    ("onnx: m.onnx\ninputs: {}\n", "at least one input"),
    ("onnx: m.onnx\ninputs: {x: [1, 3]}\nbatch: 4\n", "batch"),
])
def test_invalid_specs_say_what_is_wrong(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(ModelError, match="invalid engine spec") as info:
        _spec(tmp_path, body)
    assert words in str(info.value)


def test_onnx_paths_are_relative_to_the_spec(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.onnx").write_bytes(b"x")
    spec = _spec(tmp_path, "onnx: sub/net.onnx\ninputs: {x: [1, 3]}\n")
    assert engines.resolve_onnx(spec) == (tmp_path / "sub" / "net.onnx").resolve()
    missing = _spec(tmp_path, "onnx: gone.onnx\ninputs: {x: [1, 3]}\n", "missing")
    assert engines.resolve_onnx(missing, download=False) is None
    with pytest.raises(ModelError, match="not found"):
        engines.resolve_onnx(missing)


def test_a_known_model_name_resolves_through_the_registry(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RTPOSE_HOME", str(tmp_path / "home"))
    spec = _spec(tmp_path, "onnx: yolox_nano\ninputs: {images: [1, 3, 416, 416]}\n")
    assert engines.resolve_onnx(spec, download=False) is None  # not cached: no download attempted
    cached = tmp_path / "home" / "models" / "yolox_nano.onnx"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"onnx")
    assert engines.resolve_onnx(spec) == cached


def test_spec_for_a_bare_onnx_file_makes_the_batch_axis_dynamic(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 256, 192])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3, 256, 192])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["input"], ["out"])], "g", [x], [y]))
    onnx.save(model, tmp_path / "net.onnx")
    spec = engines.spec_for_onnx(tmp_path / "net.onnx", "fp16", max_batch=16)
    profile = spec.inputs["input"]
    assert (profile.min[0], profile.opt[0], profile.max[0]) == (1, 8, 16)
    assert profile.max[1:] == [3, 256, 192]


# ---------------------------------------------------------------- cache keys

def test_same_inputs_give_the_same_key(tmp_path: Path) -> None:
    assert engines.cache_key(_fingerprint(tmp_path)) == engines.cache_key(_fingerprint(tmp_path))
    assert len(engines.cache_key(_fingerprint(tmp_path))) == 16


def test_changed_onnx_bytes_give_a_new_key(tmp_path: Path) -> None:
    before = engines.cache_key(_fingerprint(tmp_path, b"onnx v1"))
    assert engines.cache_key(_fingerprint(tmp_path, b"onnx v2")) != before


@pytest.mark.parametrize("change", [
    {"gpu_name": "NVIDIA A100-SXM4-80GB"},
    {"compute_capability": "9.0"},
    {"tensorrt_version": "10.9.0.34"},
])
def test_a_changed_gpu_or_tensorrt_gives_a_new_key(tmp_path: Path, change: dict) -> None:
    before = engines.cache_key(_fingerprint(tmp_path))
    after = engines.cache_key(_fingerprint(tmp_path, platform=dataclasses.replace(PLATFORM, **change)))
    assert after != before


def test_a_changed_profile_or_precision_gives_a_new_key(tmp_path: Path) -> None:
    before = engines.cache_key(_fingerprint(tmp_path))
    assert engines.cache_key(_fingerprint(tmp_path, max_batch=64)) != before
    assert engines.cache_key(_fingerprint(tmp_path, precision="fp32")) != before


# ---------------------------------------------------------------- sidecars and rebuild decisions

def _cached(tmp_path: Path, fingerprint: engines.Fingerprint) -> tuple[Path, Path]:
    engine, sidecar = engines.engine_paths(tmp_path / "cache", "model", engines.cache_key(fingerprint))
    engine.parent.mkdir(parents=True, exist_ok=True)
    engine.write_bytes(b"serialized engine")
    engines.write_sidecar(sidecar, fingerprint, engine.stat().st_size, {"name": "model"})
    return engine, sidecar


def test_sidecar_round_trip_and_an_unchanged_engine_is_reused(tmp_path: Path) -> None:
    fp = _fingerprint(tmp_path)
    engine, sidecar = _cached(tmp_path, fp)
    record = engines.read_sidecar(sidecar)
    assert record is not None and record["key"] == engines.cache_key(fp) and record["name"] == "model"
    assert record["fingerprint"]["gpu_name"] == PLATFORM.gpu_name
    assert engines.needs_rebuild(engine, sidecar, fp) is None


def test_missing_engine_needs_a_build(tmp_path: Path) -> None:
    fp = _fingerprint(tmp_path)
    engine, sidecar = engines.engine_paths(tmp_path, "model", engines.cache_key(fp))
    assert engines.needs_rebuild(engine, sidecar, fp) == "no cached engine"


@pytest.mark.parametrize("content", ["{not json", "[]", '{"version": 1}', ""])
def test_a_corrupt_sidecar_means_rebuild(tmp_path: Path, content: str) -> None:
    fp = _fingerprint(tmp_path)
    engine, sidecar = _cached(tmp_path, fp)
    sidecar.write_text(content)
    assert engines.read_sidecar(sidecar) is None
    assert engines.needs_rebuild(engine, sidecar, fp) == "sidecar missing or corrupt"


def test_a_sidecar_for_another_gpu_means_rebuild_and_names_the_change(tmp_path: Path) -> None:
    fp = _fingerprint(tmp_path)
    engine, sidecar = _cached(tmp_path, fp)
    other = dataclasses.replace(fp, gpu_name="NVIDIA A100-SXM4-80GB")
    reason = engines.needs_rebuild(engine, sidecar, other)
    assert reason is not None and "gpu_name" in reason


def test_a_truncated_engine_means_rebuild(tmp_path: Path) -> None:
    fp = _fingerprint(tmp_path)
    engine, sidecar = _cached(tmp_path, fp)
    engine.write_bytes(b"half")
    assert "size" in (engines.needs_rebuild(engine, sidecar, fp) or "")


def test_cached_engines_lists_engines_with_their_sidecars(tmp_path: Path) -> None:
    engine, sidecar = _cached(tmp_path, _fingerprint(tmp_path))
    (tmp_path / "cache" / "orphan-0123.engine").write_bytes(b"x")
    listed = dict(engines.cached_engines(tmp_path / "cache"))
    assert listed[engine] is not None and listed[tmp_path / "cache" / "orphan-0123.engine"] is None


# ---------------------------------------------------------------- calibration batches

def test_calibration_batches_use_the_models_preprocessing(shared: Path, tmp_path: Path) -> None:
    coco = shared / "data" / "coco"
    topdown = engines.Calibration(images=str(coco), count=4, preprocess="topdown")
    batches = list(engines.calibration_batches(topdown, tmp_path, [2, 3, 256, 192], PREPROCESS["topdown"]))
    assert len(batches) == 2 and batches[0].shape == (2, 3, 256, 192) and batches[0].dtype == np.float32
    assert -3 < batches[0].mean() < 3  # ImageNet-normalised, not 0..255
    yolox = engines.Calibration(images=str(coco), count=3, preprocess="yolox")
    batches = list(engines.calibration_batches(yolox, tmp_path, [1, 3, 416, 416], PREPROCESS["yolox"]))
    assert len(batches) == 3 and batches[0].max() > 100  # BGR 0..255, as YOLOX expects


def test_calibration_without_images_is_a_clear_error(tmp_path: Path) -> None:
    cal = engines.Calibration(images="nowhere", count=4, preprocess="yolox")
    with pytest.raises(ModelError, match="calibration folder not found"):
        list(engines.calibration_batches(cal, tmp_path, [1, 3, 416, 416], PREPROCESS["yolox"]))


def test_compare_outputs_reports_max_abs_difference() -> None:
    a = [np.zeros((2, 3), np.float32), np.ones(4, np.float32)]
    b = [np.full((2, 3), 0.25, np.float32), np.ones(4, np.float16)]
    assert engines.compare_outputs(a, b) == [0.25, 0.0]
    with pytest.raises(ModelError, match="shapes differ"):
        engines.compare_outputs(a, [np.zeros((3, 2)), b[1]])


# ---------------------------------------------------------------- switching from ORT to TensorRT

class _Scale(Backend):
    """A numpy backend standing in for ONNX Runtime / TensorRT: tests the switching, not the engines."""

    device = "cpu"
    input_names = ["input"]
    output_names = ["out"]
    input_shapes = [(None, 3)]

    def __init__(self, name: str, factor: float) -> None:
        self.name, self.factor, self.closed = name, factor, False

    def run(self, inputs):
        return [self.feed(inputs)["input"] * self.factor]

    def close(self) -> None:
        self.closed = True


def test_switching_backend_serves_the_fallback_until_the_build_is_done() -> None:
    fallback, engine = _Scale("onnxruntime", 1.0), _Scale("tensorrt", 2.0)
    pending: concurrent.futures.Future = concurrent.futures.Future()
    backend = EngineSwitchingBackend(fallback, pending, load=lambda path: engine)
    x = np.ones((1, 3), np.float32)
    assert backend.run(x)[0][0, 0] == 1.0 and backend.name == "onnxruntime" and not backend.switched
    pending.set_result("/cache/model-0123.engine")
    assert backend.run(x)[0][0, 0] == 2.0 and backend.name == "tensorrt" and backend.switched
    assert fallback.closed


def test_switching_backend_keeps_serving_when_the_build_fails() -> None:
    fallback = _Scale("onnxruntime", 1.0)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: (_ for _ in ()).throw(ModelError("TensorRT failed to build")))
        concurrent.futures.wait([future])
    backend = EngineSwitchingBackend(fallback, future, load=lambda path: _Scale("tensorrt", 2.0))
    assert backend.run(np.ones((1, 3)))[0][0, 0] == 1.0
    assert isinstance(backend.error, ModelError) and not backend.switched and not fallback.closed


# ---------------------------------------------------------------- without TensorRT

@pytest.mark.skipif(not NO_TRT, reason="checks the messages given when TensorRT is absent")
def test_cli_without_tensorrt(tmp_path: Path) -> None:
    from rtpose.cli.engines import app

    runner = CliRunner()
    listed = runner.invoke(app, ["list", "--dir", str(REPO / "engines")])
    assert listed.exit_code == 0, listed.output
    assert "TensorRT not installed" in listed.output and "simplepose_nano" in listed.output
    built = runner.invoke(app, ["build", "simplepose_nano", "--dir", str(REPO / "engines")])
    assert built.exit_code == 2 and "TensorRT is not installed" in built.output
    unknown = runner.invoke(app, ["verify", "nope", "--dir", str(REPO / "engines")])
    assert unknown.exit_code == 2 and "no engine spec 'nope'" in unknown.output


@pytest.mark.skipif(not NO_TRT, reason="checks the messages given when TensorRT is absent")
def test_tensorrt_backend_imports_lazily_and_explains_itself(tmp_path: Path) -> None:
    from rtpose.backends.tensorrt import TensorRTBackend  # importable without tensorrt

    engine = tmp_path / "model.engine"
    engine.write_bytes(b"x")
    with pytest.raises(ModelError, match="TensorRT is not installed"):
        TensorRTBackend(engine)


@pytest.mark.skipif(not NO_TRT, reason="checks the failure path of a build without TensorRT")
def test_background_build_runs_in_a_process_and_reports_failure(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not really onnx")
    future = engines.start_background_build(_pose_spec(tmp_path), tmp_path / "cache")
    with pytest.raises(ModelError, match="TensorRT is not installed"):
        future.result(timeout=120)
    backend = EngineSwitchingBackend(_Scale("onnxruntime", 1.0), future)
    assert backend.run(np.ones((1, 3)))[0][0, 0] == 1.0 and isinstance(backend.error, ModelError)


# ---------------------------------------------------------------- one resolution from a node's model to an engine

def _specs() -> dict[str, EngineSpec]:
    return engines.list_specs(REPO / "engines")


def test_choose_spec_by_spec_name_registry_name_or_file_hash() -> None:
    specs = _specs()
    hashes = {"yolox_nano": "a" * 64, "simplepose_nano": "b" * 64, "hrnet_w32_256x192": None}
    assert engines.choose_spec("hrnet_w32_256x192", specs, hashes, None).name == "hrnet_w32_256x192"
    assert engines.choose_spec("hrnet_w32_coco_256x192", specs, hashes, None).name == "hrnet_w32_256x192"
    assert engines.choose_spec("/any/where/pose.onnx", specs, hashes, "b" * 64).name == "simplepose_nano"
    assert engines.choose_spec("/any/where/other.onnx", specs, hashes, "c" * 64) is None
    assert engines.choose_spec("/any/where/other.onnx", specs, hashes, None) is None


def test_a_graphs_model_file_gets_the_engine_the_cli_builds(shared: Path, tmp_path: Path, monkeypatch) -> None:
    """The node opens the ONNX file; `rtpose engines build simplepose_nano` builds the spec: both
    come to the same spec, hence the same cache key and the same file in the same cache."""
    monkeypatch.setenv("RTPOSE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # the cache does not depend on the current folder
    model = shared / "models/pose/simplepose_nano_256x192.onnx"
    from_graph = engines.engine_spec_for_file(model, REPO / "engines", lambda p: engines.spec_for_onnx(p))
    from_cli = engines.find_spec("simplepose_nano", REPO / "engines")
    assert from_graph.name == "simplepose_nano"
    digest = engines.file_sha256(model)
    key = engines.cache_key(engines.make_fingerprint(from_graph, digest, PLATFORM))
    assert key == engines.cache_key(engines.make_fingerprint(from_cli, digest, PLATFORM))
    assert engines.engine_cache_dir() == tmp_path / "home" / "engines"
    engine, _ = engines.engine_paths(engines.engine_cache_dir(), from_graph.name, key)
    assert engine.parent == tmp_path / "home" / "engines" and engine.name.startswith("simplepose_nano-")


def test_a_registry_model_file_finds_the_spec_that_names_it(shared: Path, tmp_path: Path, monkeypatch) -> None:
    """`onnx: yolox_nano` in engines/yolox_nano.yaml, and a node with `model: yolox_nano`, whose
    file the registry cached: same spec."""
    monkeypatch.setenv("RTPOSE_HOME", str(tmp_path / "home"))
    cached = tmp_path / "home" / "models" / "yolox_nano.onnx"
    cached.parent.mkdir(parents=True)
    cached.write_bytes((shared / "models/det/yolox_nano_416x416.onnx").read_bytes())
    spec = engines.engine_spec_for_file(cached, REPO / "engines", lambda p: engines.spec_for_onnx(p))
    assert spec.name == "yolox_nano" and spec.inputs["images"].max == [1, 3, 416, 416]


def test_a_file_no_spec_builds_gets_a_spec_from_its_own_shapes(shared: Path, tmp_path: Path) -> None:
    model = shared / "models/hand/hand_landmark_full.onnx"
    spec = engines.engine_spec_for_file(model, REPO / "engines", lambda p: engines.spec_for_onnx(p, "fp16", 8))
    assert spec.name == "hand_landmark_full" and spec.inputs["input_1"].min == [1, 224, 224, 3]
    assert engines.engine_spec_for_file(model, tmp_path / "no-specs-here",
                                        lambda p: engines.spec_for_onnx(p)).name == "hand_landmark_full"


def test_the_default_spec_folder_is_found_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(engines.ENGINES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert engines.engines_dir() == REPO / "engines"
    (tmp_path / "engines").mkdir()
    assert engines.engines_dir() == Path("engines")


@pytest.mark.skipif(not NO_TRT, reason="simulates a GPU machine whose TensorRT build fails (no TensorRT here)")
def test_auto_on_a_gpu_with_tensorrt_starts_at_once_and_builds_the_specs_engine_in_the_background(
        shared: Path, tmp_path: Path, monkeypatch, caplog) -> None:
    """What a graph's `backend: auto` reaches on an NVIDIA machine with TensorRT: open_backend resolves
    the file to engines/simplepose_nano.yaml, serves at once from the start backend (ONNX Runtime here,
    as if onnx2torch were absent), and builds in a background process. Here the machine is simulated
    (no GPU) and the build really runs and fails for want of TensorRT: the model keeps serving."""
    import logging

    from rtpose.backends import plan
    from rtpose.backends.base import open_backend
    from rtpose.models.heatmap import TopDownPoseEstimator

    monkeypatch.setenv("RTPOSE_HOME", str(tmp_path))
    monkeypatch.setattr(plan, "probe_machine",
                        lambda: plan.Machine(cuda=True, tensorrt=True, onnx2torch=False, ort_cuda=False))
    monkeypatch.setattr(engines, "cache_status", lambda spec, cache: "needs build (no cached engine)")
    model = shared / "models/pose/simplepose_nano_256x192.onnx"
    with caplog.at_level(logging.WARNING, logger="rtpose.backends.switching"):
        backend = open_backend(model, threads=1)
    assert isinstance(backend, EngineSwitchingBackend) and backend.current.name == "onnxruntime"
    assert "building the TensorRT engine simplepose_nano in the background" in caplog.text
    image = np.random.default_rng(0).integers(0, 255, (360, 640, 3), np.uint8)
    boxes = np.array([[100, 50, 220, 330], [300, 40, 420, 350]], np.float32)
    reference = TopDownPoseEstimator(model, backend="onnxruntime", threads=1)(image, boxes)
    concurrent.futures.wait([backend._build], timeout=120)
    np.testing.assert_allclose(TopDownPoseEstimator(backend)(image, boxes), reference, atol=1e-4)
    assert isinstance(backend.error, ModelError) and "TensorRT is not installed" in str(backend.error)
    assert backend.name == "onnxruntime" and not backend.switched

"""TensorRT engines: build specs, a cache keyed on everything that makes an engine valid, build, verify.

An engine is only valid for the exact ONNX file, TensorRT version, GPU model (compute capability)
and input profile/precision it was built for, and a build takes minutes. So:

* a build spec (``engines/<name>.yaml``) says what to build: the ONNX file (a path relative to
  the spec, or a model name known to :mod:`rtpose.models.registry`), a ``{min, opt, max}`` shape
  profile per input, the precision and, for int8, the calibration images;
* the cache (``$RTPOSE_HOME/engines``, default ``~/.cache/rtpose/engines``) stores ``<name>-<key>.engine`` next to a JSON
  *sidecar* that records the :class:`Fingerprint` the key was hashed from. The sidecar is written
  last, so it doubles as the "build finished" marker;
* whether to rebuild is decided by pure functions (:func:`cache_key`, :func:`needs_rebuild`,
  :func:`read_sidecar`) that are tested without TensorRT or a GPU;
* which spec a node's model file is built with is decided by :func:`choose_spec` (by spec name,
  registry name or the ONNX file's sha256), so the CLI and graphs share one cache entry.

Layering: this package builds engines and imports neither :mod:`rtpose.backends` (which run
them) nor the model code (which uses the backends); the model files it builds from come from
:mod:`rtpose.models.registry`, which sits below all three.

Everything that needs TensorRT, torch or a GPU is imported inside the function that uses it, so
this package (and ``rtpose engines list``) works on a machine with none of them.
"""

from __future__ import annotations

from rtpose.engines.spec import (  # noqa: F401
    Profile, Calibration, EngineSpec, engines_dir, engine_cache_dir, load_spec, list_specs, find_spec, resolve_onnx, ENGINES_ENV,
)
from rtpose.engines.cache import (  # noqa: F401
    Platform, Fingerprint, file_sha256, make_fingerprint, cache_key, engine_paths, write_sidecar, read_sidecar, needs_rebuild, cached_engines, SIDECAR_VERSION,
)
from rtpose.engines.calibration import (  # noqa: F401
    calibration_images, calibration_batches, Preprocess, IMAGE_SUFFIXES,
)
from rtpose.engines.build import (  # noqa: F401
    tensorrt_available, import_tensorrt, current_platform, trt_logger, build_serialized, ensure_engine, cache_status, spec_for_onnx, sample_input, compare_outputs,
    start_background_build,
)
from rtpose.engines.resolve import (  # noqa: F401
    choose_spec, spec_hashes, sha256_of, engine_spec_for_file,
)

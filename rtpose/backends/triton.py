"""Triton backend: a model served by a Triton Inference Server, behind the same :class:`Backend` interface.

A node with ``backend: triton`` and ``url: host:8001`` sends its batches to the server's model
named after its own model (``rtpose serve`` names them so: registry name or file stem) over gRPC (or HTTP for port 8000 / an
``http://`` URL) instead of running a local file. The server batches the requests of many
camera boxes together (dynamic batching). ``tritonclient`` is imported only here.

A server that stops answering raises a :class:`ModelError` naming it, at once, or after
``reconnect_attempts`` tries spaced by a doubling back-off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from rtpose.backends.base import Backend
from rtpose.errors import ModelError

log = logging.getLogger("rtpose.backends.triton")
TIMEOUT_S = 10.0
MAX_BACKOFF_S = 5.0


def _client_module(protocol: str) -> Any:
    try:
        if protocol == "http":
            import tritonclient.http as client
        else:
            import tritonclient.grpc as client
    except ImportError:
        raise ModelError("the triton backend needs tritonclient: pip install 'rtpose[triton]'") from None
    return client


def split_url(url: str) -> tuple[str, str]:
    """(protocol, host:port) of a server address: ``http://h:8000`` -> http; ``h:8001`` or ``grpc://`` -> grpc."""
    if "://" in url:
        scheme, address = url.split("://", 1)
        if scheme not in ("grpc", "http"):
            raise ModelError(f"Triton URL {url!r}: use host:port, grpc://host:port or http://host:port")
        return scheme, address.rstrip("/")
    return ("http" if url.rstrip("/").endswith(":8000") else "grpc"), url.rstrip("/")


class TritonBackend(Backend):
    """Runs batches on a Triton server's model; shapes and names come from the server's metadata."""

    name = "triton"
    device = "remote"
    OPTIONS = ("timeout_s", "reconnect_attempts", "reconnect_backoff")

    def __init__(self, url: str, model: str, timeout_s: float = TIMEOUT_S, reconnect_attempts: int = 0,
                 reconnect_backoff: float = 0.5) -> None:
        self.url, self.model = url, model
        self.protocol, self.address = split_url(url)
        self.timeout_s = timeout_s
        self.reconnect_attempts, self.reconnect_backoff = reconnect_attempts, reconnect_backoff
        self._mod = _client_module(self.protocol)
        self._client = self._connect()
        meta, config = self._describe()
        self.input_names = [i["name"] for i in meta["inputs"]]
        self.output_names = [o["name"] for o in meta["outputs"]]
        self._datatypes = {i["name"]: i["datatype"] for i in meta["inputs"]}
        self.max_batch = int(config.get("max_batch_size", 0) or 0)
        shapes = [tuple(None if int(d) < 0 else int(d) for d in i["shape"]) for i in meta["inputs"]]
        # a model served without batching (max_batch_size 0) states no batch axis: it takes one item a request
        self.input_shapes = shapes if self.max_batch else [(1, *s) for s in shapes]

    def _where(self) -> str:
        return f"Triton server at {self.address} (model {self.model!r})"

    def _connect(self) -> Any:
        try:
            client = self._mod.InferenceServerClient(self.address)
            if not client.is_server_live():
                raise ModelError(f"{self._where()} is not live")
            if not client.is_model_ready(self.model):
                raise ModelError(f"{self._where()}: the server has no ready model of that name; "
                                 f"serve it with `rtpose serve GRAPH` (models are named after their registry name or "
                                 f"file stem)")
            return client
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - tritonclient raises its own and socket errors
            raise ModelError(f"{self._where()} is not reachable ({_short(exc)}): start it with "
                             f"`rtpose serve GRAPH` on that machine, or check the address") from None

    def _describe(self) -> tuple[dict, dict]:
        if self.protocol == "http":
            return self._client.get_model_metadata(self.model), self._client.get_model_config(self.model)
        meta = self._client.get_model_metadata(self.model, as_json=True)
        config = self._client.get_model_config(self.model, as_json=True).get("config", {})
        return meta, {"max_batch_size": config.get("max_batch_size", 0)}

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        feed = self.feed(inputs)
        n = len(next(iter(feed.values())))
        if not self.max_batch:
            parts = [self._infer({k: v[i] for k, v in feed.items()}) for i in range(n)]
            return [np.stack(outs) for outs in zip(*parts)]
        if n <= self.max_batch:
            return self._infer(feed)
        parts = [self._infer({k: v[i:i + self.max_batch] for k, v in feed.items()})
                 for i in range(0, n, self.max_batch)]
        return [np.concatenate(outs) for outs in zip(*parts)]

    def _infer(self, feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        requests = []
        for name, array in feed.items():
            array = np.ascontiguousarray(array, dtype=self._mod.triton_to_np_dtype(self._datatypes[name]))
            request = self._mod.InferInput(name, list(array.shape), self._datatypes[name])
            request.set_data_from_numpy(array)
            requests.append(request)
        outputs = [self._mod.InferRequestedOutput(name) for name in self.output_names]
        for attempt in range(self.reconnect_attempts + 1):
            try:
                kwargs = {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}
                result = self._client.infer(self.model, requests, outputs=outputs, **kwargs)
                return [result.as_numpy(name) for name in self.output_names]
            except Exception as exc:  # noqa: BLE001
                if attempt == self.reconnect_attempts:
                    hint = "" if self.reconnect_attempts else " (set reconnect_attempts to retry)"
                    raise ModelError(f"{self._where()} stopped answering: {_short(exc)}{hint}") from None
                wait = min(self.reconnect_backoff * 2 ** attempt, MAX_BACKOFF_S)
                log.warning("%s did not answer (%s); retrying in %.1f s", self._where(), _short(exc), wait)
                time.sleep(wait)
                try:
                    self._client = self._mod.InferenceServerClient(self.address)
                except Exception:  # noqa: BLE001 - the next attempt reports it
                    pass
        raise AssertionError("unreachable")

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]

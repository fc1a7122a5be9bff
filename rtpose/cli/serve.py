"""``rtpose serve``: host a graph's models on a Triton Inference Server (see :mod:`rtpose.serve`)."""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path

import typer

from rtpose.console import fail, out
from rtpose.errors import RtposeError


def serve(
    graph_file: Path = typer.Argument(..., help="The graph whose models to serve, e.g. graphs/webcam_body.yaml."),
    set_: list[str] = typer.Option([], "--set", help="Override a parameter: NODE.PARAM=VALUE (e.g. pose.model=...)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    grpc_port: int = typer.Option(8001, "--grpc-port", help="gRPC port (what clients' url= names)."),
    http_port: int = typer.Option(8000, "--http-port", help="HTTP port (metrics on HTTP port + 2)."),
    max_batch: int = typer.Option(16, "--max-batch", min=1, help="Largest batch the server forms."),
    queue_delay_ms: float = typer.Option(2.0, "--queue-delay-ms", min=0, help="How long a request may wait for others "
                                         "to join its batch."),
    no_dynamic_batching: bool = typer.Option(False, "--no-dynamic-batching", help="Run each request on its own."),
) -> None:
    """Serve the graph's models (named after the model: its registry name or file stem) until Ctrl-C or SIGTERM."""
    from rtpose.graph.build import load_graph
    from rtpose.serve import start

    log_file = Path(tempfile.gettempdir()) / f"rtpose-triton-{grpc_port}.log"
    try:
        graph = load_graph(graph_file, set_)
        triton, served = start(graph, grpc_port, http_port, max_batch, queue_delay_ms, not no_dynamic_batching, host,
                               log_file)
    except RtposeError as exc:
        fail(exc, code=2)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        batching = "off" if no_dynamic_batching else f"up to {max_batch}, {queue_delay_ms:g} ms queue delay"
        out.print(f"serving {len(served)} model(s) of {graph.name!r} on grpc://{host}:{grpc_port} "
                  f"(http://{host}:{http_port}); dynamic batching {batching}; server log {log_file}", soft_wrap=True)
        for model in served:
            shapes = ", ".join(f"{n} {list(s)}" for n, _, s in model.inputs)
            sets = " ".join(f"--set {node}.backend=triton --set {node}.url={host}:{grpc_port}" for node in model.nodes)
            out.print(f"  {model.name} ({model.path.name} on {model.backend.name}; {shapes}) for "
                      f"{', '.join(model.nodes)}:  {sets}", soft_wrap=True)
        _check_ready(f"{host}:{grpc_port}", [m.name for m in served])
        out.print("ready (Ctrl-C stops)", highlight=False)
        stop.wait()
    finally:
        triton.stop()


def _check_ready(address: str, names: list[str]) -> None:
    """Ask the running server, as a client would, that every model is ready."""
    import tritonclient.grpc as client

    with client.InferenceServerClient(address) as server:
        missing = [name for name in names if not server.is_model_ready(name)]
    if missing:
        raise RtposeError(f"the server at {address} started, but these models are not ready: {', '.join(missing)}")

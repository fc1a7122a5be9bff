"""One exception type per kind of user-facing mistake; each message says what, where and what to do."""

from __future__ import annotations


class RtposeError(Exception):
    """Base of every error rtpose reports to a user without a traceback."""


class GraphError(RtposeError):
    """A graph file is invalid. ``str()`` gives ``file:line: node 'x': problem`` lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PluginError(RtposeError):
    """A node type or plugin cannot be found or loaded."""


class SourceError(RtposeError):
    """A camera, file, stream or folder cannot be opened or read."""


class ModelError(RtposeError):
    """A model file is missing, corrupt, or does not fit the node that uses it."""


class ModelNotFound(ModelError):
    """A model is not cached and cannot be downloaded; the message says where to put it."""


class NodeFailed(RtposeError):
    """A node raised while the graph ran; carries the node name and its traceback."""

    def __init__(self, node: str, traceback_text: str, exc: BaseException) -> None:
        self.node = node
        self.traceback_text = traceback_text
        self.exc = exc
        super().__init__(f"node {node!r} failed: {type(exc).__name__}: {exc}")


class OutputError(RtposeError):
    """An output file (export, recording, metrics, trace) cannot be written; the message names it."""

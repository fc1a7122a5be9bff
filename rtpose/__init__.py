"""rtpose: real-time multi-person pose pipelines as graphs of small nodes."""

__version__ = "0.1.0"

"""The runtime: a thread per node, bounded queues, flow limiting, metrics and shutdown."""

"""Model wrappers: pre-processing, inference and post-processing as separate functions; the model registry."""

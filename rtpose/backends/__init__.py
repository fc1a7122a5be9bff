"""Inference backends behind one interface: ONNX Runtime, torch, TensorRT."""

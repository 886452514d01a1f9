"""ONNX backend: onnxruntime predictions and the torch gradient twin."""

"""Deployment tools: ONNX export, simplification, quantization, TensorRT engines (installed as fer_edge.engines)."""

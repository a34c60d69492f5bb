"""The ONNX Runtime side: runs from the artifact alone, never imports torch."""

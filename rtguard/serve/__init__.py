"""The real-time scoring service: Open Inference Protocol v2 over HTTP, micro-batched, hot-reloadable.

Runs from signed ONNX artifacts alone, on ONNX Runtime or OpenVINO (rtguard.backends.serving,
verified and validated through rtguard.runtime), and never imports torch or the training code.
`serve()` is what `rtguard serve` runs; `create_app()` builds the ASGI app.
"""

from rtguard.serve.app import create_app
from rtguard.serve.server import serve

__all__ = ["create_app", "serve"]

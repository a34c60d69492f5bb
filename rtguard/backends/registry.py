"""Which backends exist, and the artifact backend of a name (imported only when asked for: each needs its own package)."""

from __future__ import annotations

import importlib

from rtguard.backends.base import Backend, BackendUnavailable

# name: (module, class, how to install its package)
_ARTIFACT = {
    "onnxruntime": ("rtguard.backends.ort", "OnnxRuntimeBackend", "pip install onnxruntime"),
    "openvino": ("rtguard.backends.ov", "OpenVinoBackend", "pip install openvino (pinned in pyproject.toml)"),
    "tensorrt": ("rtguard.backends.trt", "TensorRtBackend", "needs an NVIDIA GPU, onnxruntime-gpu and the tensorrt package"),
}
ARTIFACT_BACKENDS = tuple(_ARTIFACT)
REFERENCE_BACKENDS = ("torch-eager", "torch-compile")
SERVING_BACKENDS = ("onnxruntime", "openvino")  # those that can stop an overrunning call (serving deadlines)


def artifact_backend(name: str) -> Backend:
    """The backend, or BackendUnavailable saying what is missing on this machine."""
    if name not in _ARTIFACT:
        raise BackendUnavailable(f"unknown backend {name!r}: choose from {', '.join(ARTIFACT_BACKENDS)}")
    module, cls, install = _ARTIFACT[name]
    try:
        return getattr(importlib.import_module(module), cls)()
    except ImportError as exc:
        raise BackendUnavailable(f"{name} is not available: package {exc.name or 'unknown'!r} cannot be imported ({install})") from None

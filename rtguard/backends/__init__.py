"""Inference backends side by side: one small interface, several engines, the same validated artifact.

    backend = artifact_backend("openvino")          # BackendUnavailable: package or device missing
    model = backend.load(path, threads, runtime)    # validates first; NotSupported: cannot compile it
    probabilities = model.run(rows)                 # model.settings: version, threads, every setting

Artifact backends (onnxruntime, openvino, tensorrt) run the ONNX file of a variant and load
it only after rtguard.runtime.validation passed it; serving reaches them through
rtguard.backends.serving, which verifies the signature first (the same entry point as
ONNX Runtime's). The PyTorch backends (torch-eager, torch-compile) run the reference weights,
for comparison only; they live in rtguard.backends.pytorch so that importing this package
never imports torch.
"""

from __future__ import annotations

import importlib

from rtguard.backends.base import Backend, BackendUnavailable, LoadedModel, NotSupported

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


def reference_backend(name: str):
    """torch-eager or torch-compile (imports torch: evaluate only)."""
    from rtguard.backends.pytorch import TorchBackend

    if name not in REFERENCE_BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}: choose from {', '.join(REFERENCE_BACKENDS)}")
    return TorchBackend(compiled=name == "torch-compile")


__all__ = ["ARTIFACT_BACKENDS", "REFERENCE_BACKENDS", "SERVING_BACKENDS", "Backend", "BackendUnavailable", "LoadedModel",
           "NotSupported", "artifact_backend", "reference_backend"]

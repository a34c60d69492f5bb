"""Inference backends side by side: one small interface, several engines, the same validated artifact.

    backend = artifact_backend("openvino")          # BackendUnavailable: package or device missing
    model = backend.load(path, threads, runtime)    # validates first; NotSupported: cannot compile it
    probabilities = model.run(rows)                 # model.settings: version, threads, every setting

Artifact backends (onnxruntime, openvino, tensorrt) run the ONNX file of a variant and load
it only after rtguard.runtime.validation passed it; serving reaches them through
rtguard.backends.serving, which verifies the signature first (the same entry point as
ONNX Runtime's). The PyTorch backends (torch-eager, torch-compile) run the reference weights,
for comparison only; they live in rtguard.backends.pytorch (reference_backend), which this package
does not re-export: importing it must never import torch.
"""

from rtguard.backends.base import Backend, BackendUnavailable, LoadedModel, NotSupported
from rtguard.backends.registry import ARTIFACT_BACKENDS, REFERENCE_BACKENDS, SERVING_BACKENDS, artifact_backend

__all__ = ["ARTIFACT_BACKENDS", "REFERENCE_BACKENDS", "SERVING_BACKENDS", "Backend", "BackendUnavailable", "LoadedModel",
           "NotSupported", "artifact_backend"]

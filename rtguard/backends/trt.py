"""TensorRT through ONNX Runtime's TensorRT execution provider: only where a GPU build and the package are present.

Skipped everywhere else with the reason; on the CPU machines rtguard is developed on it
is never loaded (its load path has not run here).
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime
import tensorrt

from rtguard.backends.base import BackendUnavailable, LoadedModel, NotSupported
from rtguard.config import RuntimeConfig
from rtguard.runtime.session import INPUT_NAME, ORT_ERRORS, OUTPUT_NAME
from rtguard.runtime.validation import validate_model

PROVIDER = "TensorrtExecutionProvider"


class TensorRtBackend:
    name = "tensorrt"

    def __init__(self):
        if PROVIDER not in onnxruntime.get_available_providers():
            raise BackendUnavailable(f"tensorrt {tensorrt.__version__} is installed, but this onnxruntime build has no {PROVIDER} "
                                     "(it needs onnxruntime-gpu and a CUDA device)")

    def load(self, model_path: Path, threads: int, runtime: RuntimeConfig) -> LoadedModel:
        validate_model(model_path, runtime)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.load_model_format", "ONNX")
        provider_options = {"trt_fp16_enable": False, "trt_int8_enable": False}  # the artifact's own precision
        try:
            session = onnxruntime.InferenceSession(str(model_path), options, providers=[(PROVIDER, provider_options)])
        except ORT_ERRORS as exc:
            raise NotSupported(f"TensorRT cannot build {model_path.parent.name}: {str(exc).splitlines()[0]}") from None

        def run(rows):
            return session.run([OUTPUT_NAME], {INPUT_NAME: rows})[0]

        return LoadedModel(self.name, run, {"version": tensorrt.__version__, "provider": PROVIDER, "threads": threads,
                                            **provider_options, "validated": True})

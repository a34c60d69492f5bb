"""ONNX Runtime (CPU): the hardened session of rtguard.runtime, the backend every artifact is built for."""

from __future__ import annotations

from pathlib import Path

import onnxruntime

from rtguard.backends.base import LoadedModel
from rtguard.config import RuntimeConfig
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME, create_session, session_settings


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def load(self, model_path: Path, threads: int, runtime: RuntimeConfig) -> LoadedModel:
        """create_session validates the model first and fixes every session setting."""
        settings = runtime.model_copy(update={"threads": threads})
        session = create_session(model_path, settings)

        def run(rows):
            return session.run([OUTPUT_NAME], {INPUT_NAME: rows})[0]

        return LoadedModel(self.name, run, {"version": onnxruntime.__version__, **session_settings(settings)})

"""One place where ONNX Runtime sessions are created, with every setting explicit."""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

# The artifact's contract: raw feature rows in, class probabilities out.
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"


def session_settings(threads: int | None) -> dict:
    """The settings a session is created with, as recorded beside its measurements."""
    return {
        "provider": "CPUExecutionProvider",
        "intra_op_threads": threads or os.cpu_count() or 1,
        "inter_op_threads": 1,
        "execution_mode": "sequential",
        "graph_optimization_level": "all",
        # Idle threads sleep instead of spinning: on a shared CPU (or beside other engines
        # in one process) spinning threads steal the cores the next call needs.
        "allow_spinning": False,
    }


def create_session(model_path: Path, threads: int | None = None) -> ort.InferenceSession:
    settings = session_settings(threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings["intra_op_threads"]
    options.inter_op_num_threads = settings["inter_op_threads"]
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings["allow_spinning"] else "0")
    options.log_severity_level = 3  # errors only: warnings about unused initializers are noise here
    return ort.InferenceSession(str(model_path), options, providers=[settings["provider"]])

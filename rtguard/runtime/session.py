"""The one place ONNX Runtime sessions are created: validated first, every setting explicit.

`create_session` is for artifacts a run built itself (evaluate); a serving process
goes through `open_session`, which verifies the signature before calling it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from rtguard.artifact import INPUT_NAME, OUTPUT_NAME
from rtguard.compute import default_threads
from rtguard.config import RuntimeConfig
from rtguard.runtime.errors import ModelRejected
from rtguard.runtime.validation import validate_model

PROVIDER = "CPUExecutionProvider"

# Every exception type ONNX Runtime's Python binding raises (none share a base but Exception).
ORT_ERRORS = tuple(
    getattr(ort_state, name) for name in (
        "Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError", "RuntimeException",
        "InvalidProtobuf", "ModelLoaded", "NotImplemented", "InvalidGraph", "EPFail",
    ) if hasattr(ort_state, name)
)

_GRAPH_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_LOG_LEVELS = {"verbose": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4}
_arena = {"limit": None, "lock": threading.Lock()}


def session_settings(settings: RuntimeConfig) -> dict:
    """The settings a session is created with, as recorded beside its measurements."""
    return {
        "provider": PROVIDER,
        "intra_op_threads": default_threads(settings.threads),
        "inter_op_threads": 1,
        "execution_mode": "sequential",
        "graph_optimization_level": settings.graph_optimization,
        # Idle threads sleep instead of spinning: on a shared CPU (or beside other engines
        # in one process) spinning threads steal the cores the next call needs.
        "allow_spinning": False,
        "memory_limit_mib": settings.memory_limit_mib,
        "validated": True,
    }


def create_session(model_path: Path, settings: RuntimeConfig) -> ort.InferenceSession:
    """Validate the model file, then load it into a session with capped memory and explicit threads."""
    validate_model(model_path, settings)
    recorded = session_settings(settings)
    options = ort.SessionOptions()
    options.intra_op_num_threads = recorded["intra_op_threads"]
    options.inter_op_num_threads = recorded["inter_op_threads"]
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = _GRAPH_LEVELS[settings.graph_optimization]
    options.log_severity_level = _LOG_LEVELS[settings.log_level]
    for key, value in {
        "session.intra_op.allow_spinning": "0",
        "session.inter_op.allow_spinning": "0",
        "session.load_model_format": "ONNX",  # never ORT's flatbuffer format, which bypasses the checks above
        "session.use_env_allocators": "1",  # allocate from the capped arena registered below
        # Constant folding allocates outside the arena; a folded constant may weigh no more
        # than a model file may (ORT's own bound is 1 GiB).
        "optimization.constant_folding_max_output_size_in_bytes": str(settings.max_model_mib << 20),
    }.items():
        options.add_session_config_entry(key, value)
    _cap_arena(settings.memory_limit_mib << 20)
    try:
        session = ort.InferenceSession(str(model_path), options, providers=[PROVIDER])
    except ORT_ERRORS as exc:
        raise ModelRejected(f"ONNX Runtime refused {model_path}: {exc}") from None
    _check_contract(model_path, session)
    return session


def _cap_arena(limit: int) -> None:
    """Register the process's shared CPU arena with a hard size (OrtArenaCfg max_mem).

    The arena belongs to the process: sessions created after a change of limit use the
    new arena, sessions created before keep theirs.
    """
    with _arena["lock"]:
        if _arena["limit"] == limit:
            return
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        # arena_extend_strategy 1 (kSameAsRequested): grow by what is asked, not to the next power of two.
        ort.create_and_register_allocator(memory, ort.OrtArenaCfg({"max_mem": limit, "arena_extend_strategy": 1}))
        _arena["limit"] = limit


def _check_contract(model_path: Path, session: ort.InferenceSession) -> None:
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name for node in session.get_outputs()}
    if set(inputs) != {INPUT_NAME} or OUTPUT_NAME not in outputs:
        raise ModelRejected(
            f"{model_path} takes {sorted(inputs)} and gives {sorted(outputs)}: rtguard artifacts take "
            f"{INPUT_NAME!r} [batch, features] and give {OUTPUT_NAME!r} [batch, classes]"
        )
    if inputs[INPUT_NAME].type != "tensor(float)" or len(inputs[INPUT_NAME].shape) != 2:
        raise ModelRejected(f"{model_path}: input {INPUT_NAME!r} is {inputs[INPUT_NAME].type} {inputs[INPUT_NAME].shape}, not float [batch, features]")

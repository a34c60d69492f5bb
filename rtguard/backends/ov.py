"""OpenVINO runtime (CPU), reading the same validated ONNX file ONNX Runtime reads.

Every setting that changes speed or answers is explicit: threads, one stream (a call at a
time, like the ONNX Runtime session), and f32 inference precision, so a CPU with bf16
units does not quietly compute in lower precision than the artifact says.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import numpy as np
import openvino

from rtguard.backends.base import LoadedModel, NotSupported
from rtguard.config import RuntimeConfig
from rtguard.runtime.errors import DeadlineExceeded, ModelRejected, RunFailed
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME
from rtguard.runtime.validation import validate_model

DEVICE = "CPU"


@cache
def _core() -> openvino.Core:
    return openvino.Core()


class OpenVinoBackend:
    name = "openvino"

    def load(self, model_path: Path, threads: int, runtime: RuntimeConfig) -> LoadedModel:
        validate_model(model_path, runtime)
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "f32"}
        try:
            compiled = _core().compile_model(_core().read_model(str(model_path)), DEVICE, config)
        except Exception as exc:
            raise NotSupported(f"OpenVINO cannot compile {model_path.parent.name}: {_first_line(exc)}") from None
        output = _check_contract(model_path, compiled)
        request, lock = compiled.create_infer_request(), threading.Lock()

        def run(rows: np.ndarray) -> np.ndarray:
            with lock:
                return request.infer({INPUT_NAME: rows}, share_inputs=True)[output]

        def run_within(rows: np.ndarray, seconds: float) -> np.ndarray:
            """The call is cancelled when it overruns: OpenVINO's async request can be stopped, a sync one cannot."""
            with lock:
                try:
                    request.start_async({INPUT_NAME: rows}, share_inputs=True)
                    if not request.wait_for(max(1, int(seconds * 1000))):
                        request.cancel()
                        raise DeadlineExceeded(f"{model_path.parent.name}: the call ran past its {seconds * 1000:g} ms deadline "
                                               "and was cancelled (runtime.deadline_ms)")
                except RuntimeError as exc:
                    raise RunFailed(f"{model_path.parent.name}: OpenVINO failed: {_first_line(exc)}") from None
                return request.get_tensor(output).data.copy()

        settings = {"version": openvino.get_version(), "device": DEVICE, "threads": threads,
                    **{key: str(value) for key, value in config.items() if key != "INFERENCE_NUM_THREADS"}, "validated": True}
        return LoadedModel(self.name, run, settings, run_within)


def _check_contract(model_path: Path, compiled) -> object:
    """The output port of the probabilities; ModelRejected unless the artifact keeps rtguard's contract."""
    inputs = compiled.inputs
    if len(inputs) != 1 or INPUT_NAME not in inputs[0].get_names() or inputs[0].get_partial_shape().rank.get_length() != 2:
        raise ModelRejected(f"{model_path} does not take one {INPUT_NAME!r} [batch, features] input")
    for port in compiled.outputs:
        if OUTPUT_NAME in port.get_names():
            return port
    raise ModelRejected(f"{model_path} gives no {OUTPUT_NAME!r} output")


def _first_line(exc: Exception) -> str:
    """OpenVINO's messages open with source locations; the line naming what failed is further down."""
    lines = [line.strip(" -") for line in str(exc).splitlines() if line.strip(" -")]
    named = [line for line in lines if any(words in line.lower() for words in ("is failed for", "no conversion rule", "not supported"))]
    plain = [line for line in lines if not line.startswith(("Exception from", "Check "))]
    return (named or plain or lines or [type(exc).__name__])[0]

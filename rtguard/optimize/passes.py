"""Optimization passes: each a typed config and one `run` that hands the work to ONNX Runtime.

A pass reads one ONNX file and writes another; `run` returns what it chose and why,
which goes into variant.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from pydantic import BaseModel, ConfigDict, Field

from rtguard.runtime.session import INPUT_NAME

# Only the dense layers are quantized: the preprocessing ops (log, standardization,
# one-hot) stay in float, where INT8 would only add error.
QUANTIZED_OPS = ["MatMul", "Gemm"]


@dataclass
class PassContext:
    calibration: np.ndarray  # raw training rows for static calibration
    machine: dict  # rtguard.machine.machine_info()


class Pass(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ClassVar[str]

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        raise NotImplementedError


class GraphOptimization(Pass):
    """ORT's graph rewrites (constant folding, redundant-node removal) saved offline.

    Only the portable "basic" level is saved: ORT documents the extended and layout
    levels as possibly hardware-specific when serialized; sessions apply them at load.
    """

    name: ClassVar[str] = "ort-graph-optimization"
    level: Literal["basic"] = Field("basic", description="Offline level; higher levels run at session load.")

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(target)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        return {"level": self.level}


def int8_settings(machine: dict) -> dict:
    """Follow ONNX Runtime's CPU guidance, from the CPU's instruction sets.

    On x86 without VNNI, the U8S8 kernels use VPMADDUBSW, which can saturate: ORT
    advises 7-bit weights (reduce_range), and per-channel only together with it.
    With VNNI (or AMX) there is no saturation, so full-range per-channel weights.
    S8S8 QDQ is ORT's recommended default format for static quantization.
    """
    if machine["vnni"]:
        return {"per_channel": True, "reduce_range": False,
                "reason": "CPU has VNNI/AMX int8 dot products: no saturation risk, full 8-bit per-channel weights"}
    if machine["arch"] in ("x86_64", "AMD64"):
        return {"per_channel": False, "reduce_range": True,
                "reason": "x86 CPU without VNNI: U8S8 kernels may saturate, so 7-bit weights (reduce_range), per-tensor"}
    return {"per_channel": True, "reduce_range": False,
            "reason": "non-x86 CPU: no VPMADDUBSW saturation issue, full 8-bit per-channel weights"}


class DynamicInt8(Pass):
    """INT8 weights; activations quantized on the fly per batch (uint8, U8S8 kernels)."""

    name: ClassVar[str] = "int8-dynamic"

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        settings = int8_settings(context.machine)
        prepared = _quantization_ready(source, target)
        quantize_dynamic(
            prepared, target, op_types_to_quantize=QUANTIZED_OPS, weight_type=QuantType.QInt8,
            per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
        )
        prepared.unlink()
        return {**settings, "weight_type": "QInt8", "activation_type": "QUInt8 (dynamic)", "ops": QUANTIZED_OPS}


class StaticInt8(Pass):
    """QDQ INT8 with activation ranges calibrated on training rows."""

    name: ClassVar[str] = "int8-static"
    calibration_method: Literal["MinMax", "Entropy", "Percentile"] = Field("MinMax", description="How activation ranges are chosen.")
    batch_size: int = Field(256, ge=1, description="Rows per calibration batch.")

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        prepared = _quantization_ready(source, target)
        settings = int8_settings(context.machine)
        quantize_static(
            prepared, target, _CalibrationReader(context.calibration, self.batch_size),
            quant_format=QuantFormat.QDQ, op_types_to_quantize=QUANTIZED_OPS,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
            calibrate_method=getattr(CalibrationMethod, self.calibration_method),
        )
        prepared.unlink()
        return {**settings, "format": "QDQ", "activation_type": "QInt8", "weight_type": "QInt8",
                "calibration_method": self.calibration_method, "calibration_rows": int(len(context.calibration)),
                "ops": QUANTIZED_OPS}


def _quantization_ready(source: Path, target: Path) -> Path:
    """ORT's quantization pre-processing (shape inference, folding), as its docs advise."""
    prepared = target.with_name(target.stem + ".preprocessed.onnx")
    quant_pre_process(str(source), str(prepared))
    return prepared


class _CalibrationReader(CalibrationDataReader):
    """Feeds calibration rows to ORT's calibrator batch by batch."""

    def __init__(self, rows: np.ndarray, batch_size: int):
        self._batches = iter([{INPUT_NAME: rows[i : i + batch_size]} for i in range(0, len(rows), batch_size)])

    def get_next(self):
        return next(self._batches, None)

"""INT8 with ONNX Runtime's quantization tools: dynamic, and static QDQ with calibration."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from pydantic import Field

from rtguard.errors import RtguardError
from rtguard.optimize.passes import OnnxPass, PassContext
from rtguard.optimize.regions import preprocessing_nodes
from rtguard.runtime.session import INPUT_NAME

# Dense and convolution layers, and (static only) residual adds; the preprocessing ops
# (log, standardization, one-hot) stay in float, where INT8 would only add error.
QUANTIZED_OPS = ["MatMul", "Gemm", "Conv"]
STATIC_OPS = [*QUANTIZED_OPS, "Add"]
Calibration = Literal["MinMax", "Entropy", "Percentile"]


def int8_settings(machine: dict) -> dict:
    """Follow ONNX Runtime's CPU guidance, from the CPU's instruction sets.

    On x86 without VNNI, the U8S8 kernels use VPMADDUBSW, which can saturate: ORT
    advises 7-bit weights (reduce_range), and per-channel only together with it.
    With VNNI (or AMX) there is no saturation, so full-range per-channel weights.
    """
    if machine["vnni"]:
        return {"per_channel": True, "reduce_range": False,
                "reason": "CPU has VNNI/AMX int8 dot products: no saturation risk, full 8-bit per-channel weights"}
    if machine["arch"] in ("x86_64", "AMD64"):
        return {"per_channel": False, "reduce_range": True,
                "reason": "x86 CPU without VNNI: U8S8 kernels may saturate, so 7-bit weights (reduce_range), per-tensor"}
    return {"per_channel": True, "reduce_range": False,
            "reason": "non-x86 CPU: no VPMADDUBSW saturation issue, full 8-bit per-channel weights"}


class DynamicInt8(OnnxPass):
    """INT8 weights; activations quantized on the fly per batch (uint8, U8S8 kernels)."""

    name: ClassVar[str] = "int8-dynamic"

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        settings = int8_settings(context.machine)
        prepared = quantization_ready(source, target)
        quantize_dynamic(
            prepared, target, op_types_to_quantize=QUANTIZED_OPS, weight_type=QuantType.QInt8,
            per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
        )
        prepared.unlink()
        return {**settings, "weight_type": "QInt8", "activation_type": "QUInt8 (dynamic)", "ops": QUANTIZED_OPS}


class StaticInt8(OnnxPass):
    """QDQ INT8 with activation ranges calibrated on training rows."""

    name: ClassVar[str] = "int8-static"
    calibration_method: Calibration = Field("MinMax", description="How activation ranges are chosen from the calibration rows.")
    percentile: float = Field(99.999, gt=50, le=100, description="Percentile: share of each activation's values the range keeps.")
    batch_size: int = Field(256, ge=1, description="Rows per calibration batch.")

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        prepared = quantization_ready(source, target)
        chosen = quantize_qdq(prepared, target, context, self.calibration_method, self.percentile, self.batch_size)
        prepared.unlink()
        return chosen


def quantize_qdq(prepared: Path, target: Path, context: PassContext, method: Calibration, percentile: float = 99.999,
                 batch_size: int = 256, exclude: tuple[str, ...] = ()) -> dict:
    """Static U8S8 QDQ quantization of a pre-processed model, leaving preprocessing and the `exclude` nodes in float.

    uint8 activations with int8 weights: with int8 activations (S8S8), ONNX Runtime 1.32's
    CPU provider left the convolutions whose input also feeds a residual shortcut as
    float Conv on dequantized weights; with U8S8 every Conv and Gemm became an integer
    kernel (measured with rtguard.optimize.kernels). Residual adds are quantized too, so
    a convolution feeding one has a quantized output to fuse with.
    """
    check_calibration(context)
    settings = int8_settings(context.machine)
    if method != "MinMax":  # ORT's histogram collectors reject batches of unequal size (onnxruntime#18792)
        batch_size = len(context.calibration)
    with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print their progress
        quantize_static(
            prepared, target, _CalibrationReader(context.calibration, batch_size),
            quant_format=QuantFormat.QDQ, op_types_to_quantize=STATIC_OPS,
            nodes_to_exclude=[*preprocessing_nodes(onnx.load(str(prepared)).graph), *exclude],
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
            calibrate_method=getattr(CalibrationMethod, method),
            extra_options={"CalibPercentile": percentile} if method == "Percentile" else {},
        )
    return {**settings, "format": "QDQ", "activation_type": "QUInt8", "weight_type": "QInt8",
            "calibration_method": method, "calibration_rows": int(len(context.calibration)), "ops": STATIC_OPS,
            **({"percentile": percentile} if method == "Percentile" else {})}


def check_calibration(context: PassContext) -> None:
    """Ranges fitted on no rows, or on one class only, would clip the activations of the traffic that matters."""
    if len(context.calibration) == 0:
        raise RtguardError("the calibration set is empty: static INT8 needs training rows to choose activation ranges "
                           "(optimize.calibration_samples)")
    present = np.unique(context.calibration_labels)
    if len(present) < 2:
        only = context.schema.classes[int(present[0])]
        raise RtguardError(f"the calibration set holds only class {only!r} ({len(context.calibration)} rows): ranges fitted "
                           "on one class clip the others' activations; it needs rows of at least two classes "
                           "(optimize.calibration_samples, drawn from the training split)")


def quantization_ready(source: Path, target: Path) -> Path:
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

"""Mixed-precision INT8: static QDQ with the most quantization-sensitive layers kept in float."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import onnxruntime as ort

from rtguard.config import MixedPrecisionConfig
from rtguard.evaluate.quality import quality_metrics
from rtguard.optimize.passes import OnnxPass, PassContext
from rtguard.optimize.quantize import QUANTIZED_OPS, check_calibration, quantization_ready, quantize_qdq
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME


class MixedInt8(MixedPrecisionConfig, OnnxPass):
    """Measure each dense layer's sensitivity (only it quantized, residual adds too), then keep layers in
    float, most sensitive first, until the validation metric is within `tolerance` of FP32 (ORT's nodes_to_exclude)."""

    name: ClassVar[str] = "mixed-int8"

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        check_calibration(context)
        prepared = quantization_ready(source, target)
        layers = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type in QUANTIZED_OPS]
        x_val, y_val = context.splits.x_val, context.splits.y_val
        reference = _predict(source, x_val)

        def score(predicted: np.ndarray) -> float:
            if self.metric == "agreement":
                return float((predicted == reference).mean())
            return quality_metrics(y_val, predicted, context.schema.classes, context.schema.benign_index)[self.metric]

        def drop(excluded: list[str]) -> tuple[float, dict]:
            """Quantize all layers but `excluded` into `target`; the metric's drop vs FP32 and what was chosen."""
            chosen = quantize_qdq(prepared, target, context, "MinMax", exclude=tuple(excluded))
            return score(reference) - score(_predict(target, x_val)), chosen

        sensitivity = {layer: drop([other for other in layers if other != layer])[0] for layer in layers}
        excluded, steps = [], []
        current, chosen = drop([])
        steps.append({"excluded": [], "drop": current})
        for layer in sorted(layers, key=lambda name: -sensitivity[name]):
            if current <= self.tolerance:
                break
            excluded.append(layer)
            current, chosen = drop(excluded)
            steps.append({"excluded": list(excluded), "drop": current})
        prepared.unlink()
        return {
            **chosen, "metric": self.metric, "tolerance": self.tolerance, "validation_rows": int(len(y_val)),
            "sensitivity": sensitivity, "excluded": [{"node": n, "sensitivity": sensitivity[n]} for n in excluded],
            "steps": steps, "final_drop": current,
            "reason": f"kept {len(excluded)} of {len(layers)} layers in float, most sensitive first, until the validation "
                      f"{self.metric} drop ({current:+.4f}) was within {self.tolerance}"
                      + ("" if current <= self.tolerance else ": not reached even with every layer excluded")
                      + f"; {chosen['reason']}",
        }


def _predict(path: Path, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: rows})[0].argmax(axis=1)

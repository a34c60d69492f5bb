"""Graph optimization: ONNX Runtime's portable rewrites, saved offline."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import onnxruntime as ort
from pydantic import Field

from rtguard.optimize.passes import OnnxPass, PassContext


class GraphOptimization(OnnxPass):
    """ORT's graph rewrites (constant folding, redundant-node removal) saved offline.

    Only the portable "basic" level is saved: ORT documents the extended and layout
    levels as possibly hardware-specific when serialized; sessions apply them at load.
    Constant folding also turns a QDQ export's quantized weights into int8 initializers.
    """

    name: ClassVar[str] = "ort-graph-optimization"
    level: Literal["basic"] = Field("basic", description="Offline level; higher levels run at session load.")

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(target)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        return {"level": self.level}

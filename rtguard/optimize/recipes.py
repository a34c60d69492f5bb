"""Named recipes: a recipe is a list of passes applied to the exported FP32 model."""

from __future__ import annotations

from rtguard.optimize.passes import DynamicInt8, GraphOptimization, Pass, StaticInt8

RECIPES: dict[str, list[Pass]] = {
    "onnx-fp32": [GraphOptimization()],
    "int8-dynamic": [DynamicInt8()],
    "int8-static": [StaticInt8()],
}

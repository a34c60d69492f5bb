"""Which dense kernels ONNX Runtime actually runs for a model on this machine.

A graph's declared precision says little: ORT fuses QDQ pairs into integer kernels
only where it has them, and runs float16 layers in float32 where the CPU provider has
no float16 kernel. Loading the model as a session does (all optimizations) and reading
the optimized graph back shows what will run.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import onnx
import onnxruntime as ort

from rtguard.optimize.regions import is_dense

TREE_KERNELS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"}  # ai.onnx.ml: float32 thresholds
INTEGER_KERNELS = {"QGemm", "QLinearMatMul", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
                   "QLinearConv", "ConvInteger"}

def dense_kernels(path: Path) -> dict:
    """{"ops": {op type: count}, "precision": {"int8" | "float16" | "float32": count}} for the dense layers
    (a tree model's ensembles count as its compute kernels)."""
    with tempfile.TemporaryDirectory() as scratch:
        optimized = Path(scratch) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(optimized)
        options.log_severity_level = 3  # it warns that the saved graph is machine-specific: that is the point here
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(str(optimized)).graph
    weights = {init.name: init.data_type for init in graph.initializer}
    dense = [node for node in graph.node if is_dense(node) or node.op_type in TREE_KERNELS]
    precision = Counter(_precision(node, weights) for node in dense)
    return {"ops": dict(Counter(node.op_type for node in dense)), "precision": dict(precision)}


def _precision(node: onnx.NodeProto, weights: dict[str, int]) -> str:
    if node.op_type in INTEGER_KERNELS:
        return "int8"
    if any(weights.get(name) == onnx.TensorProto.FLOAT16 for name in node.input):
        return "float16"
    return "float32"

"""A hand-made tiny classifier artifact: 3 features in, probabilities over 2 classes out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WEIGHTS = np.array([[1.0, -1.0], [0.5, 0.25], [-2.0, 2.0]], dtype=np.float32)


def classifier(path: Path, extra_nodes: tuple = ()) -> Path:
    """probabilities = softmax(features @ WEIGHTS), plus any extra nodes feeding a second output."""
    nodes = [helper.make_node("MatMul", ["features", "weights"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1), *extra_nodes]
    outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])]
    outputs += [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, ["batch", 3]) for node in extra_nodes]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 3])],
                              outputs, [numpy_helper.from_array(WEIGHTS, "weights")])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def expected(rows: np.ndarray) -> np.ndarray:
    logits = rows @ WEIGHTS
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)

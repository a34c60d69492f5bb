"""Where the in-graph preprocessing ends and the model (a network, or a tree reference's trees) begins, in an ONNX graph.

Preprocessing (log scaling, standardization, one-hot codes) must stay float32: raw
byte counts overflow float16, and INT8 would only add error to it. Everything
downstream of the first dense layer (MatMul, Gemm, Conv) is the network.
"""

from __future__ import annotations

import onnx
from onnx.utils import Extractor

from rtguard.artifact import INPUT_NAME
from rtguard.errors import RtguardError

DENSE = ("MatMul", "Gemm", "Conv")
TREES = "TreeEnsemble"  # ai.onnx.ml TreeEnsembleClassifier/Regressor and the newer TreeEnsemble: a tree model's first node


def is_dense(node: onnx.NodeProto) -> bool:
    """Dense layers, also in ORT's fused forms (FusedGemm, QLinearConv, ...)."""
    return any(kind in node.op_type for kind in DENSE)


def network_outputs(graph: onnx.GraphProto) -> set[str]:
    """Tensors computed by the model after preprocessing (a network or trees): its first nodes and everything downstream."""
    downstream: set[str] = set()
    for node in graph.node:  # ONNX graphs are stored in topological order
        if is_dense(node) or TREES in node.op_type or any(name in downstream for name in node.input):
            downstream.update(node.output)
    return downstream


def preprocessing_nodes(graph: onnx.GraphProto) -> list[str]:
    network = network_outputs(graph)
    return [node.name for node in graph.node if not any(name in network for name in node.output)]


def network_inputs(graph: onnx.GraphProto) -> list[str]:
    """Tensors crossing from preprocessing into the network."""
    network = network_outputs(graph)
    constants = {init.name for init in graph.initializer}
    return sorted({name for node in graph.node if any(out in network for out in node.output) for name in node.input
                   if name and name not in network and name not in constants})


def preprocessing_graph(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """The sub-graph from the raw input to the preprocessed features, and the name of that tensor."""
    boundary = network_inputs(model.graph)
    if len(boundary) != 1:
        raise RtguardError(f"expected one tensor between preprocessing and network in the reference export, found {boundary}")
    extracted = Extractor(model).extract_model([INPUT_NAME], boundary)
    return extracted, boundary[0]

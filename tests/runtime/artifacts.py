"""Handmade artifacts for the runtime tests: tiny ONNX graphs that keep the artifact contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import convert_model_to_external_data

from rtguard.data.schema import FeatureSchema, FeatureSpec

SCHEMA = FeatureSchema(
    features=[
        FeatureSpec("protocol", "categorical", 0, 2, vocabulary=["tcp", "udp"]),
        FeatureSpec("bytes", "count", 0, 1000),
        FeatureSpec("rate", "rate", 0, 1),
    ],
    classes=["benign", "attack"],
    benign_class="benign",
)
WEIGHTS = np.array([[0.5, -0.5], [0.01, -0.01], [2.0, -2.0]], dtype=np.float32)


def contract_model(nodes, initializers=(), n_features=3, opset=20, ir_version=10) -> onnx.ModelProto:
    """features [batch, n_features] -> (nodes) -> probabilities [batch, 2]."""
    graph = helper.make_graph(
        nodes, "handmade",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def linear_model() -> onnx.ModelProto:
    """softmax(features @ WEIGHTS): a two-class detector small enough to check by hand."""
    return contract_model(
        [helper.make_node("MatMul", ["features", "weights"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
        [numpy_helper.from_array(WEIGHTS, "weights")],
    )


def expected(rows: np.ndarray) -> np.ndarray:
    logits = rows.astype(np.float64) @ WEIGHTS
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


HUGE = 2**31  # float32 elements: 8 GiB


def allocating_model(constant_shape: bool) -> onnx.ModelProto:
    """A tiny model that asks for `features[0, 0]` floats at once (or HUGE, fixed in the graph)."""
    constants = [numpy_helper.from_array(np.array(v, dtype=np.int64), name) for name, v in
                 (("zero", [0]), ("one", [1]), ("two", [2]), ("flat", [1]))]
    if constant_shape:
        sizing = []
        constants.append(numpy_helper.from_array(np.array([HUGE], dtype=np.int64), "size"))
    else:
        sizing = [helper.make_node("Slice", ["features", "zero", "one", "one"], ["first_column"]),
                  helper.make_node("Reshape", ["first_column", "flat"], ["requested"]),
                  helper.make_node("Cast", ["requested"], ["size"], to=onnx.TensorProto.INT64)]
    return contract_model(sizing + [
        helper.make_node("ConstantOfShape", ["size"], ["block"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        helper.make_node("ReduceSum", ["block"], ["total"], keepdims=0),
        helper.make_node("Slice", ["features", "zero", "two", "one"], ["pair"]),
        helper.make_node("Add", ["pair", "total"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ], constants, n_features=2)


ALLOCATION_SCHEMA = FeatureSchema([FeatureSpec("size", "count", 0, 2 * HUGE), FeatureSpec("other", "rate", 0, 1)], ["a", "b"], "a")


def slow_model(width: int = 1024, depth: int = 60) -> onnx.ModelProto:
    """A chain of width x width MatMuls: seconds of work for a batch of `width` rows."""
    square = numpy_helper.from_array(np.full((width, width), 1e-3, np.float32), "square")
    widen = numpy_helper.from_array(np.ones((3, width), np.float32), "widen")
    ends = [numpy_helper.from_array(np.array([v], np.int64), name) for name, v in (("zero", 0), ("two", 2), ("one", 1))]
    chain = [helper.make_node("MatMul", ["features", "widen"], ["h0"])]
    chain += [helper.make_node("MatMul", [f"h{i}", "square"], [f"h{i + 1}"]) for i in range(depth)]
    chain += [helper.make_node("Slice", [f"h{depth}", "zero", "two", "one"], ["logits"]),
              helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    return contract_model(chain, [square, widen, *ends])


def write_variant(folder: Path, model: onnx.ModelProto, schema: FeatureSchema = SCHEMA) -> Path:
    """A variant folder as optimize + evaluate leave it, plus the schema signing binds."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    schema.save(folder / "schema.json")
    (folder / "variant.json").write_text(json.dumps({"name": folder.name, "recipe": []}))
    (folder / "metrics.json").write_text(json.dumps({"accuracy": 1.0}))
    return folder


def save_external(model: onnx.ModelProto, folder, location: str) -> None:
    """Save with the weights in an external file, then point the model at `location`."""
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save(model, str(folder / "model.onnx"))
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, str(folder / "model.onnx"))

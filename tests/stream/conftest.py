"""Fixtures for the streaming tests: a signed copy of the shared tiny run, a handmade anomaly run, flow files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from flowfiles import VARIANT, anomaly_weights
from onnx import TensorProto, helper, numpy_helper

from rtguard.data.schema import FeatureSchema
from rtguard.integrity import generate_keypair, sign_all
from rtguard.stream.flows import records_from_rows


@pytest.fixture(scope="session")
def stream_keys(tmp_path_factory) -> tuple[Path, Path]:
    return generate_keypair(tmp_path_factory.mktemp("stream-keys") / "rtguard.key")


@pytest.fixture(scope="session")
def stream_run(tiny_run, stream_keys, tmp_path_factory) -> Path:
    """A copy of the tiny run whose onnx-fp32 variant is signed (the others are not)."""
    run = Path(shutil.copytree(tiny_run[0], tmp_path_factory.mktemp("stream") / "run"))
    sign_all(run / "variants" / VARIANT, stream_keys[0])
    return run


@pytest.fixture(scope="session")
def anomaly_run(stream_run, stream_keys, tmp_path_factory) -> Path:
    """A signed one-variant run whose artifact keeps the classifier contract and adds anomaly_score.

    Handmade so the expected outputs are known: probabilities = softmax(features @ W) over
    ["benign", "anomaly"], anomaly_score = the sum of the raw features.
    """
    features = FeatureSchema.load(stream_run / "schema.json").features
    run = tmp_path_factory.mktemp("anomaly") / "run"
    variant = run / "variants" / "handmade"
    variant.mkdir(parents=True)
    FeatureSchema(features, ["benign", "anomaly"], "benign").save(run / "schema.json")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "weights"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
         helper.make_node("ReduceSum", ["features", "axes"], ["anomaly_score"], keepdims=0)],
        "handmade-anomaly",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", len(features)])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2]),
         helper.make_tensor_value_info("anomaly_score", TensorProto.FLOAT, ["batch"])],
        initializer=[numpy_helper.from_array(anomaly_weights(len(features)), "weights"),
                     numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    onnx.save(model, variant / "model.onnx")
    for name in ("variant.json", "metrics.json"):
        (variant / name).write_text(json.dumps({}))
    sign_all(variant, stream_keys[0])
    return run


@pytest.fixture(scope="session")
def schema(stream_run) -> FeatureSchema:
    return FeatureSchema.load(stream_run / "schema.json")


@pytest.fixture(scope="session")
def test_rows(stream_run) -> np.ndarray:
    return np.load(stream_run / "data" / "splits.npz")["x_test"][:300]


@pytest.fixture(scope="session")
def records(test_rows, schema) -> list[dict]:
    return records_from_rows(test_rows, schema)

"""The variant x backend evaluation on the tiny run: missing packages are skipped, wrong answers are flagged and never ship."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import rtguard.evaluate.backends as matrix
import rtguard.evaluate.predictors as predictors
from rtguard.backends import LoadedModel, artifact_backend
from rtguard.compute import in_chunks
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.models import load_model
from rtguard.policy import Policy
from rtguard.runfolder import RunFolder
from rtguard.select import select

VARIANT = "onnx-fp32"


class WrongBackend:
    """ONNX Runtime with the class columns reversed: a backend that changes the answer."""

    name = "wrong"

    def load(self, model_path, threads, runtime) -> LoadedModel:
        right = artifact_backend("onnxruntime").load(model_path, threads, runtime)
        return LoadedModel(self.name, lambda rows: right.run(rows)[:, ::-1].copy(), {"version": "0", "threads": threads})


def measure(run: RunFolder, backends: list[str]) -> dict:
    config = run.load_config()
    schema, splits = FeatureSchema.load(run.schema), Splits.load(run.splits)
    settings = config.evaluate.model_copy(update={"backends": backends, "backend_latency_calls": 10, "backend_throughput_seconds": 0.01})
    reference = predictors.torch_predictor(lambda: load_model(schema, config.model, run.weights), run.weights, 1)
    on_ort = predictors.onnx_predictor(VARIANT, run.variant(VARIANT) / "model.onnx", 1, config.runtime)
    probabilities = {"torch-fp32": in_chunks(reference.predict, splits.x_test),
                     VARIANT: in_chunks(on_ort.predict, splits.x_test)}
    return matrix.measure_backends({VARIANT: run.variant(VARIANT) / "model.onnx"}, "torch-fp32", lambda: load_model(schema, config.model, run.weights),
                                   run.weights, splits.x_test, splits.y_test, schema, probabilities, settings, config.runtime, 1)


@pytest.fixture
def with_wrong_backend(monkeypatch):
    real = matrix.artifact_backend

    def lookup(name):
        return WrongBackend() if name == "wrong" else real(name)

    monkeypatch.setattr(matrix, "ARTIFACT_BACKENDS", (*matrix.ARTIFACT_BACKENDS, "wrong"))
    monkeypatch.setattr(matrix, "artifact_backend", lookup)
    monkeypatch.setattr(predictors, "artifact_backend", lookup)


def test_every_pair_follows_the_contract(tiny_run):
    results = measure(RunFolder(tiny_run[0]), ["onnxruntime", "openvino", "tensorrt", "torch-eager"])
    assert set(results) == {"torch-fp32", VARIANT} and set(results["torch-fp32"]) == {"torch-eager"}
    for backend in ("onnxruntime", "openvino"):
        pair = results[VARIANT][backend]
        assert pair["status"] == "measured" and pair["backend"] == backend
        assert pair["latency_threads"] == 1 and pair["latency_calls"] == 10 and pair["throughput_per_s"] > 0
        assert pair["agreement_with_artifact"] >= 0.999 and 0 <= pair["macro_f1"] <= 1
        assert pair["settings"]["single_thread"]["version"] and pair["settings"]["all_cores"]["version"]
    assert results[VARIANT]["tensorrt"]["status"] in ("unavailable", "measured")


def test_a_missing_package_is_recorded_and_the_other_backends_are_measured(tiny_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.delitem(sys.modules, "rtguard.backends.ov", raising=False)
    results = measure(RunFolder(tiny_run[0]), ["onnxruntime", "openvino"])
    assert results[VARIANT]["openvino"]["status"] == "unavailable"
    assert "package 'openvino' cannot be imported" in results[VARIANT]["openvino"]["reason"]
    assert results[VARIANT]["onnxruntime"]["status"] == "measured"


def test_a_backend_that_changes_the_answer_is_flagged_and_never_selected(tiny_run, with_wrong_backend):
    run = RunFolder(tiny_run[0])
    results = measure(run, ["onnxruntime", "wrong"])
    wrong = results[VARIANT]["wrong"]
    assert wrong["status"] == "mismatch" and "differently from the same model on ONNX Runtime" in wrong["reason"]
    assert wrong["agreement_with_artifact"] < 0.5
    wrong["latency_p99_ms"], wrong["latency_p50_ms"] = 0.0, 0.0  # the fastest pair there is: still not shipped
    variants = [{"name": "torch-fp32", "artifact": None, "recipe": [], "metrics": run.read_json(run.baseline_metrics)},
                {"name": VARIANT, "artifact": "model.onnx", "recipe": [],
                 "metrics": run.read_json(run.variant(VARIANT) / "metrics.json") | {"backends": results[VARIANT]}}]
    selection = select(variants, Policy())
    pairs = {p["name"]: p for p in selection["pairs"]}
    assert not pairs[f"{VARIANT}@wrong"]["passed"] and "backend" in pairs[f"{VARIANT}@wrong"]["blocking"]
    assert selection["chosen"] == VARIANT and selection["backend"] == "onnxruntime"
    assert np.isfinite(results[VARIANT]["onnxruntime"]["latency_p50_ms"])

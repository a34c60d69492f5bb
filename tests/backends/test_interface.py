"""Every backend installed here behind the one interface: load a validated artifact, run a batch, say what ran it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from onnx import helper
from tiny_classifier import classifier, expected

from rtguard.backends import ARTIFACT_BACKENDS, BackendUnavailable, NotSupported, artifact_backend
from rtguard.backends.pytorch import reference_backend
from rtguard.config import RuntimeConfig
from rtguard.runtime.errors import DeadlineExceeded, ModelRejected


def installed() -> list[str]:
    found = []
    for name in ARTIFACT_BACKENDS:
        try:
            artifact_backend(name)
            found.append(name)
        except BackendUnavailable:
            pass
    return found


@pytest.mark.parametrize("name", installed())
def test_each_artifact_backend_runs_a_batch_and_records_version_and_threads(name, tiny_artifact, rows):
    model = artifact_backend(name).load(tiny_artifact, 1, RuntimeConfig())
    assert model.backend == name
    np.testing.assert_allclose(model.run(rows), expected(rows), rtol=1e-5, atol=1e-6)
    assert model.settings["version"] and model.settings.get("threads", model.settings.get("intra_op_threads")) == 1
    assert model.settings["validated"] is True


def test_openvino_and_onnxruntime_are_both_installed_by_the_project():
    assert {"onnxruntime", "openvino"} <= set(installed())


@pytest.mark.parametrize("name", installed())
def test_a_model_that_fails_validation_never_reaches_the_backend(name, tmp_path):
    path = tmp_path / "bad" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelRejected, match="not a valid ONNX"):
        artifact_backend(name).load(path, 1, RuntimeConfig())


def test_extra_outputs_are_tolerated_and_probabilities_are_found_by_name(tmp_path, rows):
    path = classifier(tmp_path / "extra" / "model.onnx", (helper.make_node("Relu", ["features"], ["anomaly_score"]),))
    for name in installed():
        np.testing.assert_allclose(artifact_backend(name).load(path, 1, RuntimeConfig()).run(rows), expected(rows), rtol=1e-5, atol=1e-6)


def test_a_variant_openvino_cannot_compile_is_not_supported_with_the_reason(tmp_path):
    # Bernoulli: a valid ONNX op (allowed here through runtime.extra_ops) that ONNX Runtime runs
    # and OpenVINO's ONNX frontend cannot convert.
    path = classifier(tmp_path / "random" / "model.onnx", (helper.make_node("Bernoulli", ["features"], ["noise"]),))
    settings = RuntimeConfig(extra_ops=["Bernoulli"])
    artifact_backend("onnxruntime").load(path, 1, settings)
    with pytest.raises(NotSupported, match="OpenVINO cannot compile random: .*(Bernoulli|RandomUniformLike)"):
        artifact_backend("openvino").load(path, 1, settings)


def test_openvino_stops_a_call_that_overruns_its_deadline(tiny_artifact, rows):
    model = artifact_backend("openvino").load(tiny_artifact, 1, RuntimeConfig())
    np.testing.assert_allclose(model.run_within(rows, 1.0), expected(rows), rtol=1e-5, atol=1e-6)
    big = np.tile(rows, (200_000 // len(rows), 1))
    with pytest.raises(DeadlineExceeded, match="deadline"):
        for _ in range(50):  # one millisecond is far below what 200,000 rows take; repeated in case one call is quick
            model.run_within(big, 0.0001)


def test_a_missing_package_is_a_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what an uninstalled package looks like to import
    monkeypatch.delitem(sys.modules, "rtguard.backends.ov", raising=False)
    with pytest.raises(BackendUnavailable, match="openvino is not available: package 'openvino' cannot be imported"):
        artifact_backend("openvino")


def test_tensorrt_is_skipped_cleanly_without_a_gpu():
    if "tensorrt" in installed():
        pytest.skip("TensorRT is usable on this machine")
    with pytest.raises(BackendUnavailable, match="tensorrt"):
        artifact_backend("tensorrt")


@pytest.mark.parametrize("name", ["torch-eager", "torch-compile"])
def test_torch_backends_run_the_reference_weights(name, rows):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).eval()
    loaded = reference_backend(name).load_reference(model, 1, rows)
    with torch.inference_mode():
        reference = torch.softmax(model(torch.from_numpy(rows)), dim=1).numpy()
    np.testing.assert_allclose(loaded.run(rows), reference, rtol=1e-5, atol=1e-6)
    assert loaded.settings["threads"] == 1 and loaded.settings["version"] == torch.__version__


def test_the_backends_package_and_the_serving_loader_never_import_torch():
    code = "import sys, rtguard.backends, rtguard.backends.serving, rtguard.backends.ov; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"

"""`rtguard export triton`: a model repository Triton's own config schema accepts, holding only verified bytes."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtguard.cli import app
from rtguard.config import validate_config
from rtguard.data.schema import FeatureSchema
from rtguard.errors import RtguardError
from rtguard.export import export_triton
from rtguard.integrity import SignatureError, generate_keypair, sign_all, verify_variant
from rtguard.runtime import Trust

VARIANT = "int8-dynamic"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_keypair(tmp_path_factory.mktemp("export-keys") / "rtguard.key")


@pytest.fixture(scope="module")
def run(tiny_run, keys, tmp_path_factory) -> Path:
    run = Path(shutil.copytree(tiny_run[0], tmp_path_factory.mktemp("export") / "run"))
    sign_all(run / "variants" / VARIANT, keys[0])
    return run


def triton_model_config():
    """Triton's ModelConfig message, from the model_config_pb2 that tritonclient ships (protobuf only, no grpc)."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None:
        pytest.skip("tritonclient is not installed")
    path = Path(spec.submodule_search_locations[0]) / "grpc" / "model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.ModelConfig


def test_repository_layout_and_a_config_triton_parses(run, keys, tmp_path):
    from google.protobuf import text_format

    config = validate_config({"runtime": {"threads": 2, "max_batch": 4096}, "serve": {"model_name": "detector", "batch_window_ms": 0.5}})
    target = export_triton(run / "variants" / VARIANT, tmp_path, Trust(keys[1]), config, instances=2)
    assert target == tmp_path / "detector" / "1"
    verify_variant(target, keys[1], 1 << 28)  # the version folder is the signed variant, signature included
    schema = FeatureSchema.load(run / "schema.json")
    assert (tmp_path / "detector" / "labels.txt").read_text().split() == schema.classes
    parsed = text_format.Parse((tmp_path / "detector" / "config.pbtxt").read_text(), triton_model_config()())
    assert (parsed.name, parsed.backend, parsed.max_batch_size, parsed.default_model_filename) == ("detector", "onnxruntime", 4096, "model.onnx")
    assert [(i.name, list(i.dims)) for i in parsed.input] == [("features", [len(schema.features)])]
    assert [(o.name, list(o.dims), o.label_filename) for o in parsed.output] == [("probabilities", [len(schema.classes)], "labels.txt")]
    assert parsed.dynamic_batching.max_queue_delay_microseconds == 500
    assert parsed.instance_group[0].count == 2
    assert {key: value.string_value for key, value in parsed.parameters.items()} == {
        "intra_op_thread_count": "2", "inter_op_thread_count": "1", "execution_mode": "0"}


def test_versions_count_up_and_are_never_overwritten_silently(run, keys, tmp_path):
    config = validate_config({})
    variant = run / "variants" / VARIANT
    assert export_triton(variant, tmp_path, Trust(keys[1]), config).name == "1"
    assert export_triton(variant, tmp_path, Trust(keys[1]), config).name == "2"
    with pytest.raises(RtguardError, match="exists: pass --version N"):
        export_triton(variant, tmp_path, Trust(keys[1]), config, version=2)
    assert export_triton(variant, tmp_path, Trust(keys[1]), config, version=2, replace=True).name == "2"
    assert sorted(path.name for path in (tmp_path / "rtguard").iterdir()) == ["1", "2", "config.pbtxt", "labels.txt"]


def test_unverified_variants_are_not_exported(run, keys, tmp_path):
    tampered = Path(shutil.copytree(run / "variants" / VARIANT, tmp_path / "variants" / "tampered"))
    with (tampered / "model.onnx").open("ab") as model:
        model.write(b"\0")
    with pytest.raises(SignatureError, match="model.onnx was modified"):
        export_triton(tampered, tmp_path / "out", Trust(keys[1]), validate_config({}))
    unsigned = run / "variants" / "onnx-fp32"
    with pytest.raises(RtguardError, match="no public key to verify it with"):
        export_triton(unsigned, tmp_path / "out", Trust(None), validate_config({}))
    assert not (tmp_path / "out" / "rtguard" / "1").exists()


def test_command_line(run, keys, tmp_path):
    result = CliRunner().invoke(app, ["export", "triton", str(run), "--variant", VARIANT, "--out", str(tmp_path), "--pub", str(keys[1])])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rtguard" / "1" / "model.onnx").is_file() and (tmp_path / "rtguard" / "config.pbtxt").is_file()
    refused = CliRunner().invoke(app, ["export", "triton", str(run), "--variant", "onnx-fp32", "--out", str(tmp_path), "--pub", str(keys[1])])
    assert refused.exit_code == 2 and "is not signed" in " ".join(refused.output.split())

"""keygen, sign and verify on the command line, and `rtguard run` signing every variant by itself."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from rtguard.cli import app
from rtguard.config import dump_config, validate_config

runner = CliRunner()
SIGNED_RUN = {
    "data": {"n_flows": 3000, "seed": 7},
    "model": {"hidden": [16]},
    "train": {"epochs": 1, "batch_size": 256},
    "optimize": {"variants": ["onnx-fp32", "int8-dynamic"]},
    "evaluate": {"latency_calls": 10, "warmup_calls": 1, "throughput_batch": 64, "throughput_seconds": 0.02, "threads": 1},
}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def said(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory):
    """`rtguard run` with [signing] key set: keygen first, then the whole pipeline."""
    folder = tmp_path_factory.mktemp("signed")
    assert invoke("keygen", folder / "rtguard.key").exit_code == 0
    config = folder / "signed.toml"
    config.write_text(dump_config(validate_config({**SIGNED_RUN, "signing": {"key": str(folder / "rtguard.key")}})))
    result = invoke("run", "-c", config, "--out", folder / "run", "-q")
    assert result.exit_code in (0, 3), result.output  # 3: the ship policy chose no variant; signing is done either way
    return folder / "run", folder / "rtguard.key.pub"


def test_run_signs_every_variant_after_evaluating_it(signed_run):
    run, public = signed_run
    for name in SIGNED_RUN["optimize"]["variants"]:
        variant = run / "variants" / name
        assert (variant / "model.sig").is_file() and (variant / "metrics.json").is_file()
        assert json.loads((variant / "schema.json").read_text()) == json.loads((run / "schema.json").read_text())
    result = invoke("verify", run, "--pub", public)
    assert result.exit_code == 0, result.output
    assert said(result).count("verified") == 3 and "loads (21 features -> 5 classes)" in said(result)
    assert "selection.json: signed for this run; it chooses" in said(result)  # rtguard run signs its decision too


def test_verify_fails_with_exit_2_and_names_the_change(signed_run, tmp_path):
    run = shutil.copytree(signed_run[0], tmp_path / "run")
    (run / "variants" / "int8-dynamic" / "metrics.json").write_text("{}")
    result = invoke("verify", run, "--pub", signed_run[1])
    assert result.exit_code == 2
    assert "verified" in said(result) and "metrics.json was modified" in said(result)
    assert "1 of 2 variants failed verification" in said(result) and "Traceback" not in said(result)
    (run / "selection.json").write_text((run / "selection.json").read_text().replace('"chosen": ', '"chosen": "x", "was": '))
    edited = invoke("verify", run, "--pub", signed_run[1])
    assert edited.exit_code == 2 and "selection.json was modified since it was signed" in said(edited)
    assert "; so did the run's selection.json" in said(edited)


def test_sign_then_verify_one_variant(signed_run, tmp_path):
    variant = shutil.copytree(signed_run[0] / "variants" / "onnx-fp32", tmp_path / "onnx-fp32")
    assert invoke("keygen", tmp_path / "other.key").exit_code == 0
    result = invoke("sign", variant, "--key", tmp_path / "other.key")
    assert result.exit_code == 0 and "signed" in said(result)
    assert invoke("verify", variant, "--pub", tmp_path / "other.key.pub").exit_code == 0
    result = invoke("verify", variant, "--pub", signed_run[1])
    assert result.exit_code == 2 and "it was signed with a different key" in said(result)


@pytest.mark.parametrize("args, message", [
    (["sign", "{tmp}/nowhere", "--key", "{tmp}/k"], "is neither a variant folder"),
    (["verify", "{tmp}", "--pub", "{tmp}/k.pub"], "is neither a variant folder"),
    (["keygen", "{tmp}/k", "--curve", "p999"], "Invalid value for '--curve'"),
])
def test_bad_command_lines_exit_2_without_a_traceback(tmp_path, args, message):
    result = invoke(*[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2 and message in said(result) and "Traceback" not in said(result)


def test_keygen_refuses_to_overwrite(tmp_path):
    assert invoke("keygen", tmp_path / "k").exit_code == 0
    result = invoke("keygen", tmp_path / "k")
    assert result.exit_code == 2 and "pass --force" in said(result)

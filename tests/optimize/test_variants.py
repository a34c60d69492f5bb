import json
import shutil
import tomllib
from pathlib import Path

import pytest

from rtguard.config import NAMED_VARIANTS, dump_config, load_config, validate_config
from rtguard.errors import ConfigError
from rtguard.optimize import optimize_run
from rtguard.runfolder import RunFolder


def test_every_variant_records_its_cost_and_parameters(tiny_run):
    run = RunFolder(tiny_run[0])
    for name in run.variant_names():
        record = json.loads((run.variant(name) / "variant.json").read_text())
        cost = record["cost"]
        assert cost["produce_seconds"] == pytest.approx(cost["train_seconds"] + cost["convert_seconds"])
        assert record["params"] >= record["nonzero_params"] > 0
        assert sum(record["kernels"]["precision"].values()) > 0


def test_a_failing_variant_is_recorded_and_the_others_are_built(tiny_run, tmp_path):
    run = RunFolder(tmp_path / "run")
    shutil.copytree(tiny_run[0], run.root)
    config = run.load_config()
    config.optimize.variants = ["pruned-99", "onnx-fp32", "distilled-small"]
    config.optimize.distillation.student_hidden = [64, 64]
    run.save_config(config)
    records = optimize_run(run)
    assert list(records) == ["onnx-fp32"] and run.variant_names() == ["onnx-fp32"]
    failed = {entry["variant"]: entry["error"] for entry in json.loads(run.failed_variants.read_text())["failed"]}
    assert "would delete layer" in failed["pruned-99"] and "student_hidden" in failed["distilled-small"]
    assert not (run.variant("pruned-99")).exists() and not (run.variant("distilled-small")).exists()


@pytest.mark.parametrize("names", [["pruned-0"], ["pruned-100"], ["pruned-50-round12"], ["int8"], ["fp16", "fp16"]])
def test_unknown_or_repeated_variant_names_are_config_errors(names):
    with pytest.raises(ConfigError, match=r"optimize\.variants"):
        validate_config({"optimize": {"variants": names}})


def test_every_named_and_pruned_variant_is_accepted_and_settings_survive_the_run_folder():
    names = [*NAMED_VARIANTS, "pruned-30", "pruned-30-round8", "pruned-30-round16", "pruned-50-unstructured"]
    config = validate_config({"optimize": {"variants": names, "distillation": {"temperature": 2.0}, "mixed_precision": {"tolerance": 0.01}}})
    assert validate_config(tomllib.loads(dump_config(config))) == config


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_example_configs_are_valid(path):
    assert load_config(path).optimize.variants

"""The ship policy file: defaults, the example files, and every bad file a user can write."""

import tomllib
from pathlib import Path

import pytest

from rtguard.errors import PolicyError
from rtguard.policy import METRIC_KEYS, Policy, dump_policy, load_policy
from rtguard.select import CHECKS, OBJECTIVES

POLICIES = Path(__file__).resolve().parents[1] / "policies"


def test_default_file_is_the_built_in_default():
    assert load_policy(POLICIES / "default.toml") == Policy() == load_policy(None)


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_policy_loads(path):
    assert load_policy(path).name == path.stem


def test_every_metric_read_is_documented():
    read = {check.metric for check in CHECKS} | {metric for metric, _ in OBJECTIVES}
    assert read <= METRIC_KEYS.keys()
    assert {check.key for check in CHECKS} | {"name", "reference", "prefer", "operating_point", "target_fpr"} == Policy.model_fields.keys()


def test_dump_reads_back_as_the_same_policy():
    policy = Policy(name="ünïcode \"quoted\"", max_latency_p99_ms=1e-5, max_file_bytes=1024, require_signature=True,
                    execution_provider="CUDAExecutionProvider", prefer="throughput_per_s", max_macro_f1_loss=0.5)
    assert Policy.model_validate(tomllib.loads(dump_policy(policy))) == policy


@pytest.mark.parametrize("text, message", [
    ("max_latency_p99_msec = 1.0", "max_latency_p99_msec: Extra inputs are not permitted"),
    ("max_latency_p99_ms = -1", "max_latency_p99_ms: Input should be greater than 0"),
    ("min_detection_rate = 1.5", "min_detection_rate"),
    ('prefer = "accuracy"', "prefer"),
    ("max_latency_p99_ms = ", "is not valid TOML"),
])
def test_bad_policy_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "nowhere.toml")

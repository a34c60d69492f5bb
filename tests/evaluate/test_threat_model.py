"""The threat model: which features an attacker may change, and that every projected row is a valid flow."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rtguard.config import validate_config
from rtguard.data import nsl_kdd, synthetic
from rtguard.data.schema import FeatureSchema, FeatureSpec
from rtguard.errors import ConfigError
from rtguard.evaluate.threat_model import DEFAULT_MUTABLE, threat_model

SCHEMA = FeatureSchema(
    features=[
        FeatureSpec("protocol", "categorical", 0, 3, vocabulary=["tcp", "udp", "icmp"]),
        FeatureSpec("src_bytes", "count", 0, 1e6, log_scale=True, center=6.0, scale=2.5),
        FeatureSpec("duration", "continuous", 0, 100, log_scale=True, center=1.0, scale=1.2),
        FeatureSpec("syn_rate", "rate", 0, 1, center=0.3, scale=0.2),
        FeatureSpec("conns", "count", 1, 50, center=5, scale=3),
        FeatureSpec("offset", "continuous", -5, 5, center=0, scale=2),
    ],
    classes=["benign", "attack"],
    benign_class="benign",
)
# Originals reach past the training ranges (drifted test flows); perturbations are in standardized units.
ORIGINALS = st.tuples(
    st.integers(0, 3), st.integers(0, 2_000_000), st.floats(0, 200), st.floats(0, 1), st.integers(0, 60), st.floats(-6, 6),
)
STEPS = arrays(np.float64, 6, elements=st.floats(-6, 6))


def test_the_generic_rule_frees_only_non_negative_continuous_and_count_features():
    threat = threat_model(SCHEMA, "csv", None)
    assert threat.mutable_names == ["src_bytes", "duration", "conns"]
    assert threat.source.startswith("generic rule")


def test_known_data_sets_default_to_features_their_loaders_have():
    for dataset, features in (("synthetic", synthetic.FEATURES), ("nsl-kdd", nsl_kdd.FEATURES)):
        categorical = set(synthetic.CATEGORICAL if dataset == "synthetic" else nsl_kdd.CATEGORICAL)
        assert set(DEFAULT_MUTABLE[dataset]) <= set(features) - categorical
    # the defender's aggregates and the responder's side are never the attacker's
    assert not {"conns_in_window", "serror_rate", "dst_bytes", "failed_logins"} & set(DEFAULT_MUTABLE["synthetic"])
    assert not {"count", "srv_count", "dst_host_count", "num_failed_logins"} & set(DEFAULT_MUTABLE["nsl-kdd"])


def test_an_unknown_feature_name_is_an_error_naming_it():
    with pytest.raises(ConfigError, match="src_byte.*its features: protocol, src_bytes"):
        threat_model(SCHEMA, "csv", ["src_byte"])


def test_categoricals_and_empty_threat_models_are_refused():
    with pytest.raises(ConfigError, match="categorical features protocol"):
        threat_model(SCHEMA, "csv", ["protocol", "duration"])
    rates_only = FeatureSchema([FeatureSpec("syn_rate", "rate", 0, 1)], ["benign", "attack"], "benign")
    with pytest.raises(ConfigError, match="no feature to change"):
        threat_model(rates_only, "csv", None)


@pytest.mark.parametrize("section, problem", [
    ({"mutable": []}, "mutable"),
    ({"epsilons": [0.5, -1.0]}, "epsilons"),
    ({"noise_sigmas": []}, "noise_sigmas"),
    ({"blackbox_flow": 3}, "blackbox_flow"),
])
def test_bad_robustness_settings_are_errors_naming_the_key(section, problem):
    with pytest.raises(ConfigError, match=f"evaluate.robustness.{problem}"):
        validate_config({"evaluate": {"robustness": section}})


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(original=ORIGINALS, step=STEPS)
def test_projection_yields_valid_flows_never_farther_than_asked(original, step):
    threat = threat_model(SCHEMA, "csv", ["src_bytes", "duration", "syn_rate"])
    row = np.array(original, dtype=np.float32)[None]
    candidate = threat.from_space(threat.to_space(row) + step)
    projected = threat.project(row, candidate)

    assert projected.dtype == np.float32
    assert np.array_equal(projected[:, ~threat.mutable], row[:, ~threat.mutable])  # categoricals and immutables untouched
    low, high = threat.bounds(row.astype(np.float64))
    assert np.all(projected >= np.float32(low)) and np.all(projected <= np.float32(high))
    assert np.all(projected[:, threat.integral] == np.round(projected[:, threat.integral]))
    moved = np.abs(threat.to_space(projected) - threat.to_space(row))
    asked = np.abs(threat.to_space(candidate) - threat.to_space(row))
    assert np.all(moved <= asked + 1e-4)  # + float32 slack


def test_the_standardized_space_is_the_exported_preprocessing():
    threat = threat_model(SCHEMA, "csv", None)
    row = np.array([[1, 1000, 3.5, 0.2, 7, -1.0]])
    assert np.allclose(threat.to_space(row)[0, 1], (np.log1p(1000) - 6.0) / 2.5)
    assert np.allclose(threat.from_space(threat.to_space(row)), row)
    assert threat.distance(row, row) == 0


def test_rtguard_run_refuses_an_impossible_threat_model_before_training(tmp_path, tiny_config, monkeypatch):
    import rtguard.pipeline

    def train_run(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(rtguard.pipeline, "train_run", train_run)
    config = tiny_config.model_copy(deep=True)
    config.evaluate.robustness.mutable = ["src_bytes", "payload_bytes"]
    with pytest.raises(ConfigError, match="payload_bytes"):
        rtguard.pipeline.run_pipeline(config, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()

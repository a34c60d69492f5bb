"""The embedded synthetic data set: deterministic, well-formed, imbalanced, drifted, and accepted by prepare."""

import numpy as np
import pandas as pd
import pytest

from rtguard.config import DataConfig
from rtguard.data.prepare import prepare
from rtguard.data.synthetic import generate

N_FLOWS = 3000


@pytest.fixture(scope="module")
def frames():
    return generate(n_flows=N_FLOWS, seed=0)


def numeric_of_kind(frames, kind):
    return [name for name, k in frames.kinds.items() if k == kind]


def test_same_seed_gives_identical_frames(frames):
    again = generate(n_flows=N_FLOWS, seed=0)
    pd.testing.assert_frame_equal(frames.train, again.train, check_exact=True)
    pd.testing.assert_frame_equal(frames.test, again.test, check_exact=True)
    pd.testing.assert_series_equal(frames.train_labels, again.train_labels)
    pd.testing.assert_series_equal(frames.test_labels, again.test_labels)


def test_different_seed_gives_different_data(frames):
    other = generate(n_flows=N_FLOWS, seed=1)
    assert not frames.train.equals(other.train)
    assert not frames.test.equals(other.test)


def test_splits_and_source():
    frames = generate(n_flows=1000, seed=3)
    assert (len(frames.train), len(frames.test)) == (750, 250)
    assert frames.source == "synthetic(n_flows=1000, seed=3)"
    assert list(frames.test.columns) == list(frames.train.columns)


def test_features_of_every_kind(frames):
    columns = list(frames.train.columns)
    assert len(columns) >= 20
    assert set(frames.categorical) | set(frames.kinds) == set(columns)
    assert not set(frames.categorical) & set(frames.kinds)
    assert {"continuous", "rate", "count"} <= set(frames.kinds.values())
    for name in frames.categorical:
        assert all(isinstance(v, str) for v in frames.train[name])
    assert set(frames.train["protocol"]) == {"tcp", "udp", "icmp"}
    assert {"http", "https", "ssh", "dns"} <= set(frames.train["service"])
    assert {"SF", "S0", "REJ"} <= set(frames.train["conn_state"])


def test_classes_are_imbalanced_with_benign_first(frames):
    assert frames.classes[0] == frames.benign == "benign"
    assert len(frames.classes) >= 5
    shares = frames.train_labels.value_counts(normalize=True)
    assert 0.75 <= shares["benign"] <= 0.85
    for attack in frames.classes[1:]:
        assert 0.02 <= shares[attack] <= 0.08


def test_every_class_in_both_splits(frames):
    assert set(frames.train_labels) == set(frames.classes)
    assert set(frames.test_labels) == set(frames.classes)


@pytest.mark.parametrize("split", ["train", "test"])
def test_values_respect_their_kind(frames, split):
    frame = getattr(frames, split)
    numeric = frame[list(frames.kinds)].to_numpy(dtype=np.float64)
    assert np.isfinite(numeric).all()
    assert (numeric >= 0).all()
    rates = frame[numeric_of_kind(frames, "rate")].to_numpy()
    assert ((rates >= 0) & (rates <= 1)).all()
    counts = frame[numeric_of_kind(frames, "count")].to_numpy(dtype=np.float64)
    assert (counts == np.round(counts)).all()


def test_heavy_tailed_columns_span_decades(frames):
    for name in ("duration", "src_bytes", "dst_bytes", "mean_iat_ms"):
        values = frames.train[name]
        assert values.max() > 100 * values[values > 0].median(), name


def test_test_split_attacks_drift_while_benign_stays(frames):
    def ratio(label, column):
        train = frames.train.loc[frames.train_labels == label, column].mean()
        test = frames.test.loc[frames.test_labels == label, column].mean()
        return test / train

    for attack in ("dos", "portscan", "bruteforce"):
        assert ratio(attack, "conns_in_window") < 0.8, attack
    assert ratio("exfiltration", "src_bytes") < 0.8
    assert 0.85 < ratio("benign", "conns_in_window") < 1.15


@pytest.mark.parametrize("labels", ["multiclass", "binary"])
def test_prepare_accepts_the_frames(frames, labels):
    schema, splits, summary = prepare(frames, DataConfig(n_flows=N_FLOWS, labels=labels))
    assert schema.names == list(frames.train.columns)
    assert {spec.name: spec.kind for spec in schema.features if spec.kind != "categorical"} == frames.kinds
    assert schema.benign_class == "benign"
    assert sum(summary.rows.values()) == N_FLOWS
    assert not summary.out_of_vocabulary and not summary.non_finite_imputed
    for x in (splits.x_train, splits.x_val, splits.x_test):
        assert x.shape[1] == len(schema.features) and np.isfinite(x).all()


def test_smallest_configurable_data_set_is_usable():
    frames = generate(n_flows=100, seed=0)  # DataConfig's minimum n_flows
    prepare(frames, DataConfig(n_flows=100))

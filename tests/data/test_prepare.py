import numpy as np
import pandas as pd
import pytest

from rtguard.config import DataConfig
from rtguard.data.frames import LabelledFrames
from rtguard.data.prepare import Splits, prepare
from rtguard.data.schema import FeatureSchema
from rtguard.errors import DataError


def frames(n=60, test=None, labels=None, bytes_column=None):
    rng = np.random.default_rng(0)
    train = pd.DataFrame({
        "proto": rng.choice(["tcp", "udp"], n),
        "bytes": bytes_column if bytes_column is not None else rng.lognormal(6, 3, n),
        "rate": rng.random(n),
    })
    train_labels = pd.Series(labels if labels is not None else ["benign"] * (n - 20) + ["dos"] * 10 + ["scan"] * 10)
    return LabelledFrames(
        train=train, train_labels=train_labels,
        test=None if test is None else test[0], test_labels=None if test is None else test[1],
        categorical=["proto"], classes=["benign", "dos", "scan"], benign="benign", source="unit",
    )


def test_schema_round_trip_and_kinds():
    schema, _, _ = prepare(frames(), DataConfig())
    again = FeatureSchema.from_json(schema.to_json())
    assert again == schema
    kinds = {f.name: f.kind for f in schema.features}
    assert kinds == {"proto": "categorical", "bytes": "continuous", "rate": "rate"}
    assert schema.features[1].log_scale and not schema.features[2].log_scale
    assert schema.benign_index == 0


def test_splits_are_stratified_and_round_trip(tmp_path):
    schema, splits, summary = prepare(frames(), DataConfig(seed=3))
    for split in ("train", "val", "test"):
        assert all(count > 0 for count in summary.class_counts[split].values())
    assert sum(summary.rows.values()) == 60
    splits.save(tmp_path / "s.npz")
    loaded = Splits.load(tmp_path / "s.npz")
    assert np.array_equal(loaded.x_test, splits.x_test) and loaded.x_train.dtype == np.float32


def test_unknown_categories_go_to_the_oov_code_and_are_counted():
    test = pd.DataFrame({"proto": ["tcp", "sctp", "gre"], "bytes": [1.0, 2.0, 3.0], "rate": [0.1, 0.2, 0.3]})
    schema, splits, summary = prepare(frames(test=(test, pd.Series(["benign", "dos", "scan"]))), DataConfig())
    oov = schema.features[0].oov_code
    assert splits.x_test[:, 0].tolist() == [schema.features[0].vocabulary.index("tcp"), oov, oov]
    assert summary.out_of_vocabulary == {"proto": 2}


def test_non_finite_values_are_imputed_and_counted_or_rejected():
    column = np.full(60, 100.0)
    column[[3, 7]] = [np.nan, np.inf]
    _, splits, summary = prepare(frames(bytes_column=column), DataConfig())
    assert sum(summary.non_finite_imputed.values()) == 2
    assert np.isfinite(splits.x_train).all() and np.isfinite(splits.x_test).all()
    with pytest.raises(DataError, match="'bytes' has .* NaN/inf"):
        prepare(frames(bytes_column=column), DataConfig(non_finite="reject"))


def test_class_without_samples_is_rejected():
    labels = ["benign"] * 50 + ["dos"] * 10
    with pytest.raises(DataError, match="class 'scan' has 0 training samples"):
        prepare(frames(labels=labels), DataConfig())


def test_empty_data_set_is_rejected():
    empty = frames()
    empty.train, empty.train_labels = empty.train.iloc[:0], empty.train_labels.iloc[:0]
    with pytest.raises(DataError, match="empty"):
        prepare(empty, DataConfig())


def test_binary_labels_fold_attack_families():
    schema, splits, summary = prepare(frames(), DataConfig(labels="binary"))
    assert schema.classes == ["benign", "attack"]
    assert summary.class_counts["train"]["attack"] > 0
    assert set(np.unique(splits.y_train)) == {0, 1}


def test_non_numeric_value_in_numeric_column_names_the_column():
    column = np.array(["1.5"] * 59 + ["lots"], dtype=object)
    with pytest.raises(DataError, match="'bytes'.*'lots'"):
        prepare(frames(bytes_column=column), DataConfig())

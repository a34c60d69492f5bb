"""The anomaly data stage: benign-only training rows, two classes, the attack classes and types kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from rtguard.config import DataConfig
from rtguard.data.anomaly import CLASSES, to_anomaly
from rtguard.data.nsl_kdd import load_nsl_kdd
from rtguard.data.prepare import prepare
from rtguard.data.synthetic import generate

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "nsl_kdd"


def copy_fixture(folder: Path) -> Path:
    """The hand-written rows under the names the loader looks for."""
    shutil.copy(SAMPLES / "train-sample.txt", folder / "KDDTrain+.txt")
    shutil.copy(SAMPLES / "test-sample.txt", folder / "KDDTest+.txt")
    return folder


def test_training_keeps_benign_rows_only_and_the_schema_has_two_classes():
    frames = generate(n_flows=2000, seed=3)
    schema, splits, _ = prepare(frames, DataConfig(n_flows=2000, seed=3))
    anomaly_schema, anomaly_splits, labels, dropped = to_anomaly(frames, schema, splits)
    assert anomaly_schema.classes == CLASSES and anomaly_schema.benign_index == 0
    assert len(anomaly_splits.x_train) == (splits.y_train == schema.benign_index).sum() and dropped > 0
    assert not anomaly_splits.y_train.any()
    assert np.array_equal(anomaly_splits.y_test, (splits.y_test != schema.benign_index).astype(int))
    assert np.array_equal(labels.test_class, splits.y_test) and labels.classes == schema.classes


def test_nsl_kdd_attack_names_mark_the_types_only_the_test_file_has(tmp_path):
    frames = load_nsl_kdd(copy_fixture(tmp_path))
    schema, splits, _ = prepare(frames, DataConfig(dataset="nsl-kdd", path=tmp_path))
    _, _, labels, _ = to_anomaly(frames, schema, splits)
    test_types = {labels.types[code] for code in labels.test_type}
    unseen = test_types - set(labels.types_in_training)
    assert {"mscan", "apache2", "snmpguess", "xterm"} <= unseen and "neptune" not in unseen
    assert labels.types[0] == "normal" and len(labels.test_type) == len(splits.x_test)
    names = frames.test_types.tolist()
    assert [labels.types[code] for code in labels.test_type] == names

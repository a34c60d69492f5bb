"""Batch dependence as a measured property: a verdict that depends on its batch neighbours is counted."""

from __future__ import annotations

import numpy as np

from rtguard.data.schema import FeatureSchema, FeatureSpec
from rtguard.evaluate.batch_dependence import NEIGHBOURS, classifier_dependence, neighbour_rows

SCHEMA = FeatureSchema([FeatureSpec("proto", "categorical", 0, 2, vocabulary=["tcp", "udp"]), FeatureSpec("bytes", "count", 0, 100)],
                       ["benign", "attack"], "benign")


def _probabilities(attack: np.ndarray) -> np.ndarray:
    return np.stack([1 - attack, attack], axis=1).astype(np.float32)


def independent(rows: np.ndarray) -> np.ndarray:
    return _probabilities(rows[:, 1] / 100)


def per_batch_scale(rows: np.ndarray) -> np.ndarray:
    """As dynamic INT8 does: a scale computed over the whole batch, here rounding each value to 1/16 of the batch maximum."""
    step = rows[:, 1].max() / 16
    return _probabilities(np.round(rows[:, 1] / step) * step / 100)


def test_neighbours_sit_at_the_training_maximum_or_inside_the_range():
    extreme, uniform = neighbour_rows(SCHEMA, NEIGHBOURS, seed=0)
    assert extreme.tolist() == [[2.0, 100.0]] * NEIGHBOURS
    assert ((uniform >= 0) & (uniform <= [2, 100])).all() and np.array_equal(uniform[:, 0], np.floor(uniform[:, 0]))


def test_only_a_batch_dependent_model_changes_verdicts():
    rows = np.stack([np.zeros(200), np.linspace(40, 60, 200)], axis=1).astype(np.float32)
    threshold = 0.5
    steady = classifier_dependence(independent, rows, independent(rows), SCHEMA, threshold)
    assert steady["batch_dependence"] == 0.0 and steady["batch_dependence_detail"]["rows"] == 200
    shifting = classifier_dependence(per_batch_scale, rows, per_batch_scale(rows), SCHEMA, threshold)
    detail = shifting["batch_dependence_detail"]
    assert shifting["batch_dependence"] > 0 and detail["changed_adversarial"] > 0 and detail["changed"] == round(shifting["batch_dependence"] * 200)

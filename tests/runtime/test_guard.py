"""Every malformed call is refused whole with a readable error; repairable values are repaired and counted."""

from __future__ import annotations

import numpy as np
import pytest
from artifacts import SCHEMA, expected

from rtguard.config import RuntimeConfig
from rtguard.runtime import InputRejected, Trust, load_session

UNSIGNED = Trust(allow_unsigned=True)


@pytest.fixture
def session(variant):
    with load_session(variant, UNSIGNED, RuntimeConfig(threads=1, max_batch=100)) as loaded:
        yield loaded


@pytest.mark.parametrize("inputs, message", [
    ({"features": np.array([[0, np.nan, 0.5]], np.float32)},
     r"1 non-finite values \(NaN or infinity\) where training imputed none \(data.non_finite = \"reject\"\); the first is row 0, feature 'bytes'"),
    ({"features": np.array([[0, 1, 0.5], [0, 1, np.inf]], np.float32)}, r"non-finite.*row 1, feature 'rate'"),
    ({"features": np.array([[0, -np.inf, 0.5]], np.float32)}, r"non-finite.*feature 'bytes'"),
    ({"features": np.array([[0, 1, 0.5]], np.float64)}, r"dtype float64; the model takes float32 \(convert with .astype\(np.float32\)\)"),
    ({"features": np.array([[0, 1, 0.5]], np.int32)}, r"dtype int32; the model takes float32"),
    ({"features": np.zeros((2, 4), np.float32)}, r"shape \(2, 4\); the model takes \(batch, 3\)"),
    ({"features": np.zeros(3, np.float32)}, r"shape \(3,\); the model takes \(batch, 3\)"),
    ({"features": np.zeros((101, 3), np.float32)}, r"batch of 101 rows; a call carries 1 to 100 \(runtime.max_batch\)"),
    ({"features": np.zeros((0, 3), np.float32)}, r"batch of 0 rows"),
    ({}, r"input 'features' is missing \(got \[\]\)"),
    ({"rows": np.zeros((1, 3), np.float32)}, r"input 'features' is missing \(got \['rows'\]\)"),
    ({"features": np.zeros((1, 3), np.float32), "extra": np.zeros(1)}, r"unexpected inputs \['extra'\]"),
    ({"features": [[0.0, 1.0, 0.5]]}, r"must be a numpy array, not list"),
    (np.zeros((1, 3), np.float32), r"inputs must be a mapping \{'features': array\}, not ndarray"),
])
def test_a_bad_call_is_refused_and_the_next_good_one_is_served(session, rows, inputs, message):
    with pytest.raises(InputRejected, match=message):
        session.run(inputs)
    assert session.counts == {"rejected": 1}
    np.testing.assert_allclose(session.run({"features": rows}), expected(rows), rtol=1e-5)


def test_rows_inside_the_schema_pass_untouched(session, rows):
    before = rows.copy()
    np.testing.assert_allclose(session.run({"features": rows}), expected(rows), rtol=1e-5)
    assert session.counts == {} and np.array_equal(rows, before)


def test_out_of_range_values_are_clipped_and_counted(session, rows):
    wild = rows.copy()
    wild[0, 1], wild[1, 2], wild[2, 2] = 5000, -3, 7  # bytes max 1000, rate in [0, 1]
    clipped = wild.copy()
    clipped[0, 1], clipped[1, 2], clipped[2, 2] = 1000, 0, 1
    np.testing.assert_allclose(session.run({"features": wild}), expected(clipped), rtol=1e-5)
    assert session.counts == {"clipped": 3}
    assert wild[0, 1] == 5000  # the caller's array is not modified


def test_unknown_categorical_codes_become_the_out_of_vocabulary_code(session, rows):
    odd = rows.copy()
    odd[0, 0], odd[1, 0] = 7, -1  # vocabulary has codes 0, 1; 2 is out of vocabulary
    repaired = odd.copy()
    repaired[0, 0] = repaired[1, 0] = 2
    np.testing.assert_allclose(session.run({"features": odd}), expected(repaired), rtol=1e-5)
    assert session.counts == {"out_of_vocabulary": 2}


def test_reject_mode_refuses_out_of_range_values(variant, rows):
    with load_session(variant, UNSIGNED, RuntimeConfig(threads=1, out_of_range="reject")) as session:
        wild = rows.copy()
        wild[2, 1] = 1e6
        with pytest.raises(InputRejected, match=r"1 values outside the training range.*row 2, feature 'bytes' = 1e\+06, training range \[0, 1000\]"):
            session.run({"features": wild})
        wild[2, 1], wild[2, 0] = 5, 9  # an unknown code is still repaired, not refused
        assert session.run({"features": wild}).shape == (3, 2)
        assert session.counts == {"rejected": 1, "out_of_vocabulary": 1}


def test_non_finite_values_are_imputed_where_training_imputed_them():
    """The training rule (data.non_finite = "impute"): the schema's training median, counted, and the rows flagged."""
    from dataclasses import replace

    from rtguard.runtime.guard import InputGuard

    schema = replace(SCHEMA, features=[replace(f, fill=250.0) if f.name == "bytes" else f for f in SCHEMA.features])
    guard = InputGuard(schema, RuntimeConfig())
    rows = np.array([[0, np.inf, 0.5], [1, 5000, 0.2], [0, 10, 0.1]], np.float32)
    checked, repaired, touched = guard.check({"features": rows})
    np.testing.assert_array_equal(checked[:, 1], [250, 1000, 10])
    assert repaired == {"imputed": 1, "clipped": 1}
    assert touched["imputed"].tolist() == [True, False, False] and touched["clipped"].tolist() == [False, True, False]
    with pytest.raises(InputRejected, match="where training imputed none"):  # 'rate' carries no median
        guard.check({"features": np.array([[0, 1, np.nan]], np.float32)})

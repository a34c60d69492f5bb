"""Every variant the pipeline builds signs, verifies, passes validation and scores as evaluated."""

from __future__ import annotations

import shutil

import numpy as np

from rtguard.config import RuntimeConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.integrity import sign_all
from rtguard.runtime import INPUT_NAME, OUTPUT_NAME, Trust, create_session, open_session


def test_every_built_variant_opens_verified_and_matches_its_raw_session(tiny_run, keys, tmp_path):
    run = shutil.copytree(tiny_run[0], tmp_path / "run")
    signatures = [signature for signature in sign_all(run, keys[0]) if signature.name == "model.sig"]  # less selection.sig
    rows = Splits.load(run / "data" / "splits.npz").x_test[:512]
    inside = _inside_training_range(FeatureSchema.load(run / "schema.json"), rows)
    assert len(signatures) >= 3 and inside.mean() > 0.9
    settings = RuntimeConfig(threads=1)
    for signature in signatures:
        with open_session(signature.parent, Trust(keys[1]), settings) as session:
            raw = create_session(signature.parent / "model.onnx", settings)
            guarded = session.run({INPUT_NAME: rows[inside]})
            np.testing.assert_array_equal(guarded, raw.run([OUTPUT_NAME], {INPUT_NAME: rows[inside]})[0])
            assert session.counts == {}


def _inside_training_range(schema, rows: np.ndarray) -> np.ndarray:
    """Rows the guard passes untouched: codes within 0..oov, numbers within the training range."""
    low = np.array([0 if f.kind == "categorical" else f.minimum for f in schema.features])
    high = np.array([f.oov_code if f.kind == "categorical" else f.maximum for f in schema.features])
    return ((low <= rows) & (rows <= high)).all(axis=1)

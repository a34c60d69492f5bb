"""rtguard.open_run: the run's chosen variant as a predictor over a DataFrame of raw flows, through the verified load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rtguard
from rtguard.artifact import ALERT
from rtguard.config import RuntimeConfig
from rtguard.data.schema import FeatureSchema
from rtguard.errors import DataError, RtguardError
from rtguard.integrity import sign_all
from rtguard.runtime import Trust, load_session
from rtguard.stream.flows import records_from_rows


@pytest.fixture(scope="module")
def encoded(api_run) -> np.ndarray:
    return np.load(api_run / "data" / "splits.npz")["x_test"][:300]


@pytest.fixture(scope="module")
def flows(api_run, encoded) -> pd.DataFrame:
    """Raw flows as a notebook holds them: categoricals as strings, an id column the model does not take, a string index."""
    frame = pd.DataFrame(records_from_rows(encoded, FeatureSchema.load(api_run / "schema.json")))
    frame.insert(0, "flow_id", [f"f{i}" for i in range(len(frame))])
    frame.index = [f"row-{i}" for i in range(len(frame))]
    return frame


def test_open_run_predicts_what_the_graph_decides(api_run, api_keys, flows, encoded):
    chosen = json.loads((api_run / "selection.json").read_text())["chosen"]
    with rtguard.open_run(api_run, public_key=api_keys[1]) as detector:
        assert detector.variant == chosen and detector.features == FeatureSchema.load(api_run / "schema.json").names
        verdicts = detector.predict(flows)
        probabilities = detector.predict_proba(flows)
        threshold = detector.alert_threshold
    with load_session(api_run / "variants" / chosen, Trust(api_keys[1]), RuntimeConfig()) as session:
        assert threshold == session.alert_threshold
        checked, _ = session.check({"features": encoded})
        expected, graph_alerts = session.run_checked_outputs(checked, ["probabilities", ALERT])
    assert list(verdicts.index) == list(flows.index)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(verdicts[[f"score_{c}" for c in detector.classes]].to_numpy(), expected, atol=1e-6)
    assert verdicts["alert"].tolist() == graph_alerts.tolist()  # the artifact's own operating point, as serve and score apply it
    assert verdicts["class"].tolist() == [detector.classes[i] for i in expected.argmax(axis=1)]
    assert "attack_score" in verdicts and verdicts["out_of_vocabulary"].map(len).sum() == 0


def test_a_named_variant_unknown_values_and_missing_columns(api_run, api_keys, flows):
    with rtguard.open_run(api_run, api_keys[1], variant="int8-dynamic") as detector:
        assert detector.variant == "int8-dynamic" and "int8-dynamic" in repr(detector)
        categorical = next(f.name for f in detector.schema.features if f.kind == "categorical")
        odd = flows.head(3).copy()
        odd[categorical] = "never-seen-protocol"
        assert detector.predict(odd)["out_of_vocabulary"].tolist() == [[categorical]] * 3
        assert len(detector.predict(flows.head(0))) == 0
        with pytest.raises(DataError, match="lack 2 feature column"):
            detector.predict(flows.drop(columns=detector.features[:2]))
        with pytest.raises(DataError, match="row-1"):
            numeric = next(f.name for f in detector.schema.features if f.kind != "categorical")
            bad = flows.head(2).astype({numeric: object})
            bad.iloc[1, bad.columns.get_loc(numeric)] = "many"
            detector.predict(bad)


def test_refuses_without_a_key_or_with_a_tampered_variant(api_run, api_keys, tmp_path):
    with pytest.raises(RtguardError, match="no public key"):
        rtguard.open_run(api_run, variant="onnx-fp32")
    with pytest.raises(RtguardError):
        rtguard.open_run(api_run, api_keys[1], variant="../variants")
    other = rtguard.integrity.generate_keypair(tmp_path / "other.key")[1]
    with pytest.raises(RtguardError):
        rtguard.open_run(api_run, other, variant="onnx-fp32")


def test_open_run_is_torch_free(api_run, api_keys, flows, tmp_path):
    path = tmp_path / "flows.csv"
    flows.head(5).to_csv(path)
    code = (f"import sys, pandas, rtguard\n"
            f"d = rtguard.open_run({str(api_run)!r}, {str(api_keys[1])!r})\n"
            f"print(int(d.predict(pandas.read_csv({str(path)!r}, index_col=0))['alert'].sum() >= 0))\n"
            f"assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_repairs_are_flagged_and_unimputable_flows_alert_as_suspicious(api_run, api_keys, flows, tmp_path):
    """NaN/infinity follow training's rule as in `rtguard score`: imputed and flagged, or, where training imputed
    none, the flow is alerted as suspicious instead of scored; a value beyond the training range is clipped and flagged."""
    schema = FeatureSchema.load(api_run / "schema.json")
    numeric = next(f for f in schema.features if f.kind != "categorical" and f.fill is not None)
    odd = flows.head(4).copy()
    odd.loc[odd.index[1], numeric.name] = float("nan")
    odd.loc[odd.index[2], numeric.name] = numeric.maximum * 1000 + 1e6
    with rtguard.open_run(api_run, api_keys[1], variant="onnx-fp32") as detector:
        verdicts = detector.predict(odd)
    assert verdicts["imputed"].tolist() == [False, True, False, False]
    assert verdicts["clipped"].tolist() == [False, False, True, False]
    assert verdicts["suspicious"].isna().all() and verdicts["class"].notna().all()

    strict = Path(shutil.copytree(api_run, tmp_path / "run"))  # the same run, had training refused non-finite values
    schema.features[[f.name for f in schema.features].index(numeric.name)].fill = None
    schema.save(strict / "schema.json")
    sign_all(strict, api_keys[0])
    with rtguard.open_run(strict, api_keys[1], variant="onnx-fp32") as detector:
        verdicts = detector.predict(odd)
    assert verdicts["alert"].iloc[1] and verdicts["class"].iloc[1] is None and "non-finite" in verdicts["suspicious"].iloc[1]
    assert np.isnan(verdicts.filter(like="score_").iloc[1]).all()
    assert verdicts["suspicious"].drop(odd.index[1]).isna().all() and verdicts["class"].drop(odd.index[1]).notna().all()

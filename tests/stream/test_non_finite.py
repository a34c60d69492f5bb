"""NaN and infinity in scored flows follow training's rule, never a silent drop (adversarial finding:
CIC-IDS2017's `Flow Bytes/s = Infinity` rows, often DoS or scans, were skipped by the scorer)."""

from __future__ import annotations

import json
import shutil

import orjson
from flowfiles import VARIANT, csv_line
from typer.testing import CliRunner

from rtguard.cli import app
from rtguard.integrity import sign_all


def _score(run, source, pub):
    out = source.with_suffix(".out")
    result = CliRunner().invoke(app, ["score", str(run), str(source), "--variant", VARIANT, "-o", str(out), "--pub", str(pub)])
    return result.exit_code, [orjson.loads(line) for line in out.read_bytes().splitlines()], result.stderr.splitlines()


def _flows(schema, records, tmp_path, values):
    """A CSV of the first record repeated, its first numeric feature set to each of `values`."""
    numeric = next(f for f in schema.features if f.kind != "categorical")
    lines = [",".join(schema.names)]
    for value in values:
        fields = csv_line(schema, records[0]).split(",")
        fields[schema.names.index(numeric.name)] = value
        lines.append(",".join(fields))
    path = tmp_path / "flows.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, numeric


def test_nan_and_infinity_are_imputed_with_the_training_median_and_flagged(stream_run, stream_keys, schema, records, tmp_path):
    numeric = next(f for f in schema.features if f.kind != "categorical")
    assert numeric.fill is not None  # schema.json carries training's medians, signed with the variant
    source, _ = _flows(schema, records, tmp_path, ["Infinity", "nan", "-inf", repr(numeric.fill)])
    status, lines, stderr = _score(stream_run, source, stream_keys[1])
    assert status == 0, stderr
    assert [line["line"] for line in lines] == [2, 3, 4, 5]
    assert all(line["imputed"] is True for line in lines[:3]) and "imputed" not in lines[3]
    for line in lines[:3]:  # scored exactly as the flow with the median in place
        assert line["scores"] == lines[3]["scores"] and line["alert"] == lines[3]["alert"]
    assert "0 skipped" in stderr[-1] and "3 imputed, 0 suspicious" in stderr[-1]


def test_where_training_imputed_none_the_flow_is_alerted_as_suspicious(stream_run, stream_keys, schema, records, tmp_path):
    run = shutil.copytree(stream_run, tmp_path / "run", ignore=shutil.ignore_patterns("data"))
    document = json.loads((run / "schema.json").read_text())
    for feature in document["features"]:
        feature["fill"] = None  # as data.non_finite = "reject" writes it
    (run / "schema.json").write_text(json.dumps(document))
    sign_all(run / "variants" / VARIANT, stream_keys[0])
    source, numeric = _flows(schema, records, tmp_path, ["Infinity", "1"])
    status, lines, stderr = _score(run, source, stream_keys[1])
    assert status == 0, stderr
    assert lines[0] == {"line": 2, "alert": True, "suspicious": lines[0]["suspicious"]}
    assert "non-finite values (NaN or infinity) where training imputed none" in lines[0]["suspicious"]
    assert lines[1]["line"] == 3 and "scores" in lines[1]
    assert any(text.startswith("line 2: alerted as suspicious, not scored") for text in stderr)
    assert "1 suspicious" in stderr[-1] and "0 skipped" in stderr[-1]

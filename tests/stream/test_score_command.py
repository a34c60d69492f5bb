"""`rtguard score`: the server's verdicts, line numbers, malformed lines skipped, stdin, exit statuses."""

from __future__ import annotations

import gzip
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from flowfiles import VARIANT, anomaly_weights, csv_line, write_csv, write_jsonl
from typer.testing import CliRunner

from rtguard.artifact import ALERT, OUTPUT_NAME
from rtguard.cli import app
from rtguard.config import RuntimeConfig, dump_config, validate_config
from rtguard.runtime import INPUT_NAME, Trust, load_session
from rtguard.serve.records import verdicts


def _score(run: Path, source: Path, *options: str, pub: Path | None = None, variant: str = VARIANT):
    """(exit status, output lines as dicts, stderr lines) of an in-process `rtguard score`."""
    out = source.with_suffix(".out")
    out.unlink(missing_ok=True)
    arguments = ["score", str(run), str(source), "--variant", variant, "-o", str(out), *options]
    result = CliRunner().invoke(app, arguments + (["--pub", str(pub)] if pub else []))
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
    return result.exit_code, lines, result.stderr.splitlines()


@pytest.fixture(scope="module")
def expected(stream_run, test_rows, schema):
    """What the server's /score would answer for the test rows: session probabilities through verdicts() at the
    artifact's own operating point, which is exactly the graph's `alert` output."""
    with load_session(stream_run / "variants" / VARIANT, Trust(allow_unsigned=True), RuntimeConfig()) as session:
        checked, _ = session.check({INPUT_NAME: test_rows})
        probabilities, graph_alerts = session.run_checked_outputs(checked, [OUTPUT_NAME, ALERT])
        threshold = session.alert_threshold
    answers = verdicts(probabilities, schema, threshold, [[] for _ in test_rows])
    assert [answer["alert"] for answer in answers] == graph_alerts.tolist()
    return answers


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_every_flow_gets_the_servers_verdict_with_its_line_number(stream_run, stream_keys, schema, records, expected, tmp_path, suffix):
    source = write_csv(tmp_path / "flows.csv", schema, records) if suffix == ".csv" else write_jsonl(tmp_path / "flows.jsonl", records)
    status, lines, stderr = _score(stream_run, source, pub=stream_keys[1])
    assert status == 0, stderr
    first = 2 if suffix == ".csv" else 1  # the CSV header is line 1
    assert [line["line"] for line in lines] == list(range(first, first + len(records)))
    for line, verdict in zip(lines, expected):
        assert line["class"] == verdict["class"] and line["alert"] == verdict["alert"]
        np.testing.assert_allclose([line["scores"][c] for c in schema.classes], [verdict["scores"][c] for c in schema.classes], atol=1e-6)
    alerts = sum(verdict["alert"] for verdict in expected)
    assert stderr[-1].startswith(f"{first - 1 + len(records)} lines read, {len(records)} flows scored, 0 skipped, {alerts} alerts")


def test_malformed_lines_are_reported_with_their_number_and_skipped(stream_run, stream_keys, schema, records, tmp_path):
    numeric = next(f.name for f in schema.features if f.kind != "categorical")
    good = csv_line(schema, records[0])
    cap = max(len(good), len(",".join(schema.names))) + 10
    first_numeric = schema.names.index(numeric)

    def with_value(value: str) -> str:
        fields = good.split(",")
        fields[first_numeric] = value
        return ",".join(fields)

    bad_lines = {
        good + ",surplus": f"expected {len(schema.names)} fields as the header names, found {len(schema.names) + 1}",
        with_value("many"): f"feature {numeric!r}: 'many' is not a number",
        with_value(""): f"feature {numeric!r}: '' is not a number",
        "x" * (cap + 1): f"longer than {cap} bytes",
    }
    body = [",".join(schema.names), good]
    for line in bad_lines:
        body += [line, good]  # each bad line between good ones
    source = tmp_path / "mixed.csv"
    source.write_text("\n".join(body) + "\n")
    status, lines, stderr = _score(stream_run, source, "--max-line-bytes", str(cap), pub=stream_keys[1])
    assert status == 0, stderr
    assert [line["line"] for line in lines] == list(range(2, len(body) + 1, 2))
    for number, reason in zip(range(3, len(body) + 1, 2), bad_lines.values()):
        message = next(text for text in stderr if text.startswith(f"line {number}: "))
        assert reason in message, message
    assert f"{len(body)} lines read, {len(lines)} flows scored, {len(bad_lines)} skipped" in stderr[-1]


def test_malformed_json_lines_are_reported_and_skipped(stream_run, stream_keys, schema, records, tmp_path):
    numeric = next(f.name for f in schema.features if f.kind != "categorical")
    categorical = next(f.name for f in schema.features if f.kind == "categorical")
    good = orjson.dumps(records[0]).decode()
    bad_lines = {
        '{"protocol": ': "invalid JSON",
        "[1, 2, 3]": "expected a JSON object of feature values, found list",
        orjson.dumps({k: v for k, v in records[0].items() if k != numeric}).decode(): f"feature {numeric!r} is missing",
        orjson.dumps({k: v for k, v in records[0].items() if k not in (numeric, categorical)}).decode():
            f"2 features are missing: {', '.join(repr(name) for name in schema.names if name in (numeric, categorical))}",
        orjson.dumps({**records[0], numeric: "many"}).decode(): f"feature {numeric!r} takes a number, not str",
        orjson.dumps({**records[0], categorical: 1.5}).decode(): f"categorical feature {categorical!r} takes a string, not float",
        good.replace("{", '{"x": NaN, ', 1): "invalid JSON",
        orjson.dumps({**records[0], numeric: None}).decode(): f"feature {numeric!r} takes a number, not NoneType",
    }
    body = [good]
    for line in bad_lines:
        body += [line, good]
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join(body) + "\n")
    status, lines, stderr = _score(stream_run, source, pub=stream_keys[1])
    assert status == 0, stderr
    assert [line["line"] for line in lines] == list(range(1, len(body) + 1, 2))
    for number, reason in zip(range(2, len(body) + 1, 2), bad_lines.values()):
        message = next(text for text in stderr if text.startswith(f"line {number}: "))
        assert reason in message, message


def test_unknown_categories_out_of_range_values_ids_and_alerts_only(stream_run, stream_keys, schema, records, expected, tmp_path):
    categorical = next(f.name for f in schema.features if f.kind == "categorical")
    numeric = next(f for f in schema.features if f.kind != "categorical")
    flows = [{**records[0], categorical: "protocol-from-the-future"}, {**records[1], numeric.name: numeric.maximum * 1000 + 1}, *records[2:20]]
    source = write_csv(tmp_path / "flows.csv", schema, flows, {"flow_id": [f"f{index}" for index in range(20)], "label": ["?"] * 20})
    status, lines, stderr = _score(stream_run, source, "--id", "flow_id", pub=stream_keys[1])
    assert status == 0, stderr
    assert lines[0]["out_of_vocabulary"] == [categorical] and [line["id"] for line in lines] == [f"f{index}" for index in range(20)]
    assert "(1 out-of-vocabulary values, 1 clipped, 0 imputed, 0 suspicious)" in stderr[-1]
    assert lines[1]["clipped"] is True and "clipped" not in lines[0]  # the verdict says its flow was not scored as sent
    status, alerts, _ = _score(stream_run, source, "--id", "flow_id", "--alerts-only", pub=stream_keys[1])
    assert alerts == [line for line in lines if line["alert"]] and all(line["alert"] for line in alerts)


def test_out_of_range_values_are_skipped_when_the_runtime_rejects_them(stream_run, stream_keys, schema, records, tmp_path):
    numeric = next(f for f in schema.features if f.kind != "categorical")
    config = tmp_path / "reject.toml"
    config.write_text(dump_config(validate_config({"runtime": {"out_of_range": "reject"}})))
    source = write_csv(tmp_path / "flows.csv", schema, [records[0], {**records[1], numeric.name: numeric.maximum * 1000 + 1}, records[2]])
    status, lines, stderr = _score(stream_run, source, "--config", str(config), pub=stream_keys[1])
    assert status == 0 and [line["line"] for line in lines] == [2, 4]
    assert stderr[0].startswith("line 3: 1 values outside the training range") and "row 0" not in stderr[0]


def test_anomaly_runs_add_the_anomaly_score(anomaly_run, stream_keys, schema, records, test_rows, tmp_path):
    source = write_jsonl(tmp_path / "flows.jsonl", records[:50])
    status, lines, stderr = _score(anomaly_run, source, variant="handmade", pub=stream_keys[1])
    assert status == 0, stderr
    logits = test_rows[:50].astype(np.float64) @ anomaly_weights(len(schema.features))
    anomaly = 1 / (1 + np.exp(logits[:, 0] - logits[:, 1]))
    np.testing.assert_allclose([line["scores"]["anomaly"] for line in lines], anomaly, atol=1e-5)
    assert [line["alert"] for line in lines] == list(anomaly >= 0.5)
    np.testing.assert_allclose([line["anomaly_score"] for line in lines], test_rows[:50].sum(axis=1), rtol=1e-5)


def test_the_input_or_the_model_unusable_is_exit_status_2(stream_run, stream_keys, schema, records, tmp_path):
    source = write_csv(tmp_path / "flows.csv", schema, records[:5])
    assert _score(stream_run, tmp_path / "absent.csv", pub=stream_keys[1])[0] == 2
    header = tmp_path / "header.csv"
    header.write_text(",".join(schema.names[2:]) + "\ntcp,1\n")
    status, _, stderr = _score(stream_run, header, pub=stream_keys[1])
    assert status == 2 and _error(stderr) == f"the CSV header (its first line) lacks the columns {schema.names[:2]}; the model " \
                                             "takes the features its schema.json names"
    not_csv = tmp_path / "not-csv.csv"
    not_csv.write_bytes(b'a"b,c\rd,e\n' + csv_line(schema, records[0]).encode() + b"\n")
    status, _, stderr = _score(stream_run, not_csv, pub=stream_keys[1])
    assert status == 2 and _error(stderr).startswith("the CSV header (its first line) is not a CSV record: ")
    status, _, stderr = _score(stream_run, source, variant="int8-dynamic", pub=stream_keys[1])  # never signed
    assert status == 2 and "is not signed" in _error(stderr)
    status, _, stderr = _score(stream_run, source)  # no key, no allow_unsigned
    assert status == 2 and "no public key to verify it with" in _error(stderr)


def _error(stderr: list[str]) -> str:
    """The one error line, which ends the output; what follows `error: `."""
    assert stderr[-1].startswith("error: ") and not any(line.startswith("error: ") for line in stderr[:-1]), stderr
    return stderr[-1].removeprefix("error: ")


def test_a_stream_in_which_no_flow_could_be_scored_exits_with_status_4(stream_run, stream_keys, schema, records, tmp_path):
    source = tmp_path / "unscorable.csv"
    source.write_text(",".join(schema.names) + "\n" + "not,a,flow\n" * 200)
    status, lines, stderr = _score(stream_run, source, pub=stream_keys[1])
    assert status == 4 and lines == []
    assert stderr[-2].startswith("201 lines read, 0 flows scored, 200 skipped")
    assert _error(stderr) == "no flow could be scored: all 200 flow lines were skipped (the reasons are above)"
    header_only = tmp_path / "header-only.csv"
    header_only.write_text(",".join(schema.names) + "\n\n")
    assert _score(stream_run, header_only, pub=stream_keys[1])[0] == 0  # no flow is not a failure to score one
    some = tmp_path / "some.csv"
    some.write_text(",".join(schema.names) + "\nnot,a,flow\n" + csv_line(schema, records[0]) + "\n")
    assert _score(stream_run, some, pub=stream_keys[1])[0] == 0


def _subprocess(run: Path, pub: Path, source: str, *options: str) -> subprocess.Popen:
    """`rtguard score RUN SOURCE` in a process of its own, on pipes; prints whether torch was imported, on stderr, at the end."""
    code = ("import sys\nfrom rtguard.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit as end:\n"
            "    print('torch imported:', 'torch' in sys.modules, file=sys.stderr)\n    raise")
    return subprocess.Popen([sys.executable, "-c", code, "score", str(run), source, "--variant", VARIANT, "--pub", str(pub), *options],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_stdin_is_scored_as_lines_arrive_and_never_imports_torch(stream_run, stream_keys, schema, records):
    process = _subprocess(stream_run, stream_keys[1], "-", "--format", "csv", "--wait-ms", "1")
    try:
        process.stdin.write((",".join(schema.names) + "\n" + csv_line(schema, records[0]) + "\n").encode())
        process.stdin.flush()
        # The pipe stays open: the lone flow's verdict must come out anyway.
        assert select.select([process.stdout], [], [], 60)[0], "no verdict for a lone line before the input ended"
        assert orjson.loads(process.stdout.readline())["line"] == 2
        process.stdin.write(("not,a,flow\n" + csv_line(schema, records[1]) + "\n").encode())
    finally:
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert [orjson.loads(line)["line"] for line in out.splitlines()] == [4]
    stderr = err.decode().splitlines()
    assert stderr[0].startswith("line 3: expected")
    assert stderr[-2].startswith("4 lines read, 2 flows scored, 1 skipped") and stderr[-1] == "torch imported: False"


def test_a_closed_output_ends_the_stream_quietly(stream_run, stream_keys, schema, records, tmp_path):
    source = write_csv(tmp_path / "many.csv", schema, records * 40)  # far more verdicts than a pipe buffers
    process = _subprocess(stream_run, stream_keys[1], str(source), "--batch", "16")
    process.stdin.close()
    assert orjson.loads(process.stdout.readline())["line"] == 2
    process.stdout.close()  # as `rtguard score ... | head -1` does
    stderr = process.stderr.read().decode()
    assert process.wait(60) == 0 and "Traceback" not in stderr, stderr
    assert "(stopped: the output was closed)" in stderr


def test_the_format_follows_the_content_when_the_name_does_not_say(stream_run, stream_keys, schema, records, tmp_path):
    as_json = write_jsonl(tmp_path / "flows.txt", records[:3])
    as_csv = write_csv(tmp_path / "flows.log", schema, records[:3])
    assert [line["line"] for line in _score(stream_run, as_json, pub=stream_keys[1])[1]] == [1, 2, 3]
    assert [line["line"] for line in _score(stream_run, as_csv, pub=stream_keys[1])[1]] == [2, 3, 4]
    status, lines, stderr = _score(stream_run, as_json, "--format", "csv", pub=stream_keys[1])
    assert status == 2 and lines == [] and _error(stderr).startswith("the CSV header (its first line) lacks the columns")


def test_quoted_csv_fields_are_read_as_the_csv_module_reads_them(stream_run, stream_keys, schema, records, tmp_path):
    quoted = ",".join(f'"{records[0][name]}"' for name in schema.names)
    source = tmp_path / "quoted.csv"
    source.write_text(",".join(schema.names) + "\n" + quoted + "\n" + csv_line(schema, records[0]) + "\n")
    status, lines, stderr = _score(stream_run, source, pub=stream_keys[1])
    assert status == 0 and [line["line"] for line in lines] == [2, 3], stderr
    assert lines[0]["scores"] == lines[1]["scores"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_gzip_file_is_read_decompressed(stream_run, stream_keys, schema, records, tmp_path, suffix):
    plain = write_csv(tmp_path / "flows.csv", schema, records) if suffix == ".csv" else write_jsonl(tmp_path / "flows.jsonl", records)
    packed = tmp_path / f"packed{suffix}.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    status, lines, stderr = _score(stream_run, packed, pub=stream_keys[1])
    assert status == 0 and lines == _score(stream_run, plain, pub=stream_keys[1])[1] and len(lines) == len(records)
    cut_short = tmp_path / "cut.csv.gz"
    cut_short.write_bytes(packed.read_bytes()[:-20])
    status, _, stderr = _score(stream_run, cut_short, pub=stream_keys[1])
    assert status == 2 and _error(stderr).startswith(f"cannot decompress {cut_short}: ")
    not_gzip = tmp_path / "not.csv.gz"
    not_gzip.write_bytes(plain.read_bytes())
    status, _, stderr = _score(stream_run, not_gzip, pub=stream_keys[1])
    assert status == 2 and _error(stderr).startswith(f"cannot decompress {not_gzip}: ")

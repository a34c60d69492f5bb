"""The columnar reader and the batch writer give exactly what the line reader and a dict per flow give, or step aside."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.data.schema import FeatureSchema
from rtguard.serve.errors import BadRequest
from rtguard.serve.records import RecordEncoder, verdicts
from rtguard.stream import columnar
from rtguard.stream.columnar import ColumnarFlows
from rtguard.stream.file_blocks import Block
from rtguard.stream.flows import CsvFlows, JsonFlows, MalformedLine
from rtguard.stream.verdict_lines import VerdictLines

FUZZED = settings(derandomize=True, database=None, max_examples=120, deadline=None)


@pytest.fixture(autouse=True)
def columnar_for_any_batch(monkeypatch):
    """The fuzzed batches are a few lines long: let the columnar path take them, as it takes long ones."""
    monkeypatch.setattr(columnar, "MIN_LINES", 1)


def _line_reader(flows, schema, lines, rows):
    encoder, kept = RecordEncoder(schema, max_records=1), []
    for number, line in lines:
        try:
            record, flow_id = flows.record(line)
            kept.append((number, flow_id, encoder.encode(record, rows[len(kept)])))
        except (MalformedLine, BadRequest):
            pass
    return kept


def _same_as_line_reader(flows, schema, lines):
    fast, slow = (np.zeros((len(lines), len(schema.features)), dtype=np.float32) for _ in range(2))
    kept = ColumnarFlows(schema, flows).encode(lines, fast)
    expected = _line_reader(flows, schema, lines, slow)
    if kept is None:  # stepped aside: fine, the line reader takes the batch
        return False
    assert kept == expected
    np.testing.assert_array_equal(fast[: len(kept)], slow[: len(kept)])
    return True


def _csv_value(feature, record) -> st.SearchStrategy[str]:
    value = record[feature.name]
    plain = st.just(str(value))
    if feature.kind == "categorical":
        return st.one_of(plain, st.sampled_from([" tcp ", "never", "", "é", "0", "a b"]), st.just(f" {value}"))
    return st.one_of(plain, st.sampled_from(["nan", "inf", "-Infinity", " 1", "1 ", "1_0", "", "x", "1e999", "1e-400", "00001", "+2",
                                             "0x10", "٣", "9" * 30, '"1"', "1\r"]),
                     st.floats(allow_nan=True).map(repr), st.integers(-2**60, 2**60).map(str))


def _drawn_csv(data, schema, records) -> tuple[CsvFlows, list[list[str]]]:
    """CSV flows with a flow_id column after the features, and the cells of a few drawn records (fuzzed values, an id)."""
    flows = CsvFlows(schema, "flow_id")
    flows.read_header((",".join(schema.names) + ",flow_id").encode())
    picked = data.draw(st.lists(st.sampled_from(records[:20]), min_size=1, max_size=6))
    return flows, [[data.draw(_csv_value(feature, record)) for feature in schema.features] + [f"f{index}"]
                   for index, record in enumerate(picked)]


def test_csv_batches(schema, records):
    @FUZZED
    @given(data=st.data())
    def check(data):
        flows, drawn = _drawn_csv(data, schema, records)
        lines = []
        for index, cells in enumerate(drawn):
            if data.draw(st.integers(0, 9)) == 0:
                cells = cells[:-1] if data.draw(st.booleans()) else [*cells, "extra"]
            lines.append((index + 2, ",".join(cells).encode()))
        _same_as_line_reader(flows, schema, lines)

    check()


def test_csv_blocks(schema, records):
    """A file's block parsed whole (encode_block) gives the line reader's rows for its lines, carriage returns anywhere
    (line ends, lone, at the block's end) included, or steps aside."""
    ends = st.sampled_from([b"\n", b"\r\n", b"\r\r\n", b"\n\n"])

    @FUZZED
    @given(data=st.data())
    def check(data):
        flows, drawn = _drawn_csv(data, schema, records)
        text = b""
        for cells in drawn:
            if data.draw(st.integers(0, 9)) == 0:
                at = data.draw(st.integers(0, len(cells) - 1))
                cells[at] = cells[at][:1] + "\r" + cells[at][1:]  # a lone carriage return inside a line
            text += ",".join(cells).encode() + data.draw(ends)
        if data.draw(st.booleans()):
            text = text.rstrip(b"\n")  # the file's last line without its newline
        block = Block(2, text, 4096)
        encoded = ColumnarFlows(schema, flows).encode_block(block)
        slow = np.zeros((block.count, len(schema.features)), dtype=np.float32)
        expected = _line_reader(flows, schema, block.lines(), slow)
        if encoded is not None:
            rows, ids, unknown = encoded
            assert expected == [(block.first + index, flow_id, names) for index, (flow_id, names) in enumerate(zip(ids, unknown))]
            np.testing.assert_array_equal(rows, slow)

    check()


def test_clean_csv_and_json_batches_go_columnar(schema, records):
    flows = CsvFlows(schema, None)
    flows.read_header(",".join(schema.names).encode())
    lines = [(n + 2, ",".join(str(r[name]) for name in schema.names).encode()) for n, r in enumerate(records)]
    assert _same_as_line_reader(flows, schema, lines)
    numeric = next(f.name for f in schema.features if f.kind != "categorical")
    as_id = CsvFlows(schema, numeric)  # the id column is also a feature: the id stays the text as written
    as_id.read_header(",".join(schema.names).encode())
    assert _same_as_line_reader(as_id, schema, lines)
    json_lines = [(n + 1, orjson.dumps({**r, "id": n})) for n, r in enumerate(records)]
    assert _same_as_line_reader(JsonFlows(schema, "id"), schema, json_lines)


def test_a_short_batch_goes_line_by_line(schema, records, monkeypatch):
    """A trickle on a quiet pipe: pyarrow's per-call setup would cost more than the line reader."""
    monkeypatch.setattr(columnar, "MIN_LINES", 128)
    flows = CsvFlows(schema, None)
    flows.read_header(",".join(schema.names).encode())
    lines = [(n + 2, ",".join(str(r[name]) for name in schema.names).encode()) for n, r in enumerate(records[:130])]
    rows = np.zeros((130, len(schema.features)), dtype=np.float32)
    assert ColumnarFlows(schema, flows).encode(lines[:127], rows) is None
    assert ColumnarFlows(schema, flows).encode(lines, rows) is not None


def _json_value(feature, record):
    value = record[feature.name]
    common = [None, True, "1", [1], {"a": 1}, 2**60, -(2**70), 1e308]
    if feature.kind == "categorical":
        return st.one_of(st.just(value), st.sampled_from([*common, 6, "never", " tcp"]))
    return st.one_of(st.just(value), st.sampled_from(common), st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**54, 2**54))


def test_json_batches(schema, records):
    @FUZZED
    @given(data=st.data())
    def check(data):
        picked = data.draw(st.lists(st.sampled_from(records[:20]), min_size=1, max_size=6))
        lines = []
        for index, record in enumerate(picked):
            fields = {feature.name: data.draw(_json_value(feature, record)) for feature in schema.features}
            if data.draw(st.integers(0, 9)) == 0:
                fields.pop(schema.names[0])
            text = json.dumps(fields).encode() if data.draw(st.integers(0, 9)) else data.draw(st.sampled_from([b"[1]", b"{", b"null"]))
            lines.append((index + 1, text))
        _same_as_line_reader(JsonFlows(schema, "id"), schema, lines)

    check()


def test_json_blocks(schema, records):
    """A JSON-lines file's block read whole (encode_block) gives the line reader's rows for its lines, or steps aside:
    blank lines, carriage returns and a last line without its newline included."""
    ends = st.sampled_from([b"\n"] * 8 + [b"\r\n", b" \r\n", b"\n\n", b"\n \n"])  # a blank line now and then
    categorical = [feature for feature in schema.features if feature.kind == "categorical"]
    whole = []

    @settings(FUZZED, max_examples=400)
    @given(data=st.data())
    def check(data):
        picked = data.draw(st.lists(st.sampled_from(records[:20]), min_size=1, max_size=6))
        text, odd_line = b"", data.draw(st.integers(0, len(picked)))
        for index, record in enumerate(picked):
            fields = dict(record)
            if index == odd_line:  # one odd value in most blocks, the other lines clean: whole blocks are read
                feature = data.draw(st.sampled_from(categorical) | st.sampled_from(schema.features))  # the few categorical ones often
                if feature.kind == "categorical":
                    odd = st.sampled_from([True, None, 1.5, 6, "never", " tcp"])
                else:
                    odd = st.sampled_from([True, None, "1", [1], 2**60, -(2**70), 2**53 + 2**29 + 1, 3.5e38, -0.0, 5e-324])
                fields[feature.name] = data.draw(odd | _json_value(feature, record))
            text += json.dumps({**fields, "id": index}).encode() + data.draw(ends)
        if data.draw(st.booleans()):
            text = text.rstrip(b"\n")
        flows, block = JsonFlows(schema, "id"), Block(7, text, 4096)
        encoded = ColumnarFlows(schema, flows).encode_block(block)
        slow = np.zeros((block.count, len(schema.features)), dtype=np.float32)
        expected = _line_reader(flows, schema, [(number, line) for number, line in block.lines() if line.strip()], slow)
        whole.append(encoded is not None)
        if encoded is not None:
            rows, ids, unknown = encoded
            assert expected == [(block.first + index, flow_id, names) for index, (flow_id, names) in enumerate(zip(ids, unknown))]
            np.testing.assert_array_equal(rows, slow)

    check()
    assert 0.1 < sum(whole) / len(whole) < 0.9  # both: blocks read whole, and blocks left to the line reader


@pytest.mark.parametrize("alerts_only", [False, True])
@pytest.mark.parametrize("with_ids", [False, True])
@pytest.mark.parametrize("with_extra", [False, True])
def test_batch_lines_are_the_per_flow_dicts(alerts_only, with_ids, with_extra):
    schema = FeatureSchema([], ["benign", "dos", "alert", "50%"], "benign")
    rng = np.random.default_rng(7)
    probabilities = rng.dirichlet(np.ones(4), 200).astype(np.float32)
    probabilities[3] = [0.25, 0.25, 0.25, 0.25]  # a tie: the first class wins in both
    unknown = [["proto", "service"] if index % 17 == 0 else [] for index in range(200)]
    numbers, ids = list(range(2, 202)), ([f"id-{index}" for index in range(199)] + [{"nested": [1, "x"]}]) if with_ids else None
    extra = {"anomaly_score": rng.normal(size=200).astype(np.float32)} if with_extra else {}
    written = VerdictLines(schema, 0.6, alerts_only).format(numbers, ids, unknown, probabilities, extra)
    expected, alerts = [], 0
    for index, result in enumerate(verdicts(probabilities, schema, 0.6, unknown)):
        alerts += result["alert"]
        if alerts_only and not result["alert"]:
            continue
        head = {"line": numbers[index]} if ids is None else {"line": numbers[index], "id": ids[index]}
        expected.append(orjson.dumps({**head, **result, **{name: values.tolist()[index] for name, values in extra.items()}}))
    assert written.lines == b"".join(line + b"\n" for line in expected)
    assert written.flows == 200 and written.alerts == alerts and written.out_of_vocabulary == sum(map(len, unknown))

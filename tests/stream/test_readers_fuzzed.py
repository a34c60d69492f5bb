"""Random bytes into the stream readers: each line is scored or skipped with its reason; only a header that cannot
be used stops the stream, with a DataError. Never a traceback."""

from __future__ import annotations

import io
import json
import os
import re

import numpy as np
import pytest
from flowfiles import VARIANT
from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.config import RuntimeConfig
from rtguard.errors import DataError
from rtguard.runtime import Trust, load_session
from rtguard.serve.errors import BadRequest
from rtguard.serve.records import RecordEncoder
from rtguard.stream.flows import CsvFlows, JsonFlows, MalformedLine
from rtguard.stream.lines import LineBatches
from rtguard.stream.scoring import StreamScorer

FUZZED = settings(derandomize=True, database=None, max_examples=150, deadline=None)
MAX_LINE_BYTES = 96


def _pieces(names: list[str]) -> list[bytes]:
    """What CSV and JSON parsers trip on, beside feature names and plausible values."""
    return [b",", b'"', b"\r", b"\n", b"\r\n", b" ", b"\x00", b"\xff", b"\xef\xbb\xbf", b"{", b"}", b"[", b"]", b":", b"null",
            b"true", b"1", b"-2.5e3", b"1e999", b"99999999999999999999999", b"nan", b"NaN", b"Infinity", b"tcp", b'"tcp"',
            *(name.encode() for name in names[:4]), *(b'"' + name.encode() + b'"' for name in names[:4])]


def _lines(schema) -> st.SearchStrategy[bytes]:
    pieces = st.one_of(st.sampled_from(_pieces(schema.names)), st.binary(max_size=4))
    values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=4), st.lists(st.integers(), max_size=2))
    objects = st.one_of(st.dictionaries(st.sampled_from([*schema.names, "id", "x"]), values),
                        st.fixed_dictionaries({name: values for name in schema.names}, optional={"id": values}))
    objects = objects.map(lambda record: json.dumps(record).encode())
    return st.one_of(st.lists(pieces, max_size=40).map(b"".join), objects)


@pytest.fixture(scope="module")
def session(stream_run):
    with load_session(stream_run / "variants" / VARIANT, Trust(allow_unsigned=True), RuntimeConfig()) as loaded:
        yield loaded


def test_a_line_becomes_a_record_or_a_malformed_line_and_a_header_a_data_error(schema):
    encoder, row = RecordEncoder(schema, max_records=1), np.empty(len(schema.features), dtype=np.float32)

    @FUZZED  # inside the test: the lines are drawn from the run's own feature names
    @given(line=_lines(schema))
    def check(line: bytes):
        csv = CsvFlows(schema, None)
        try:
            csv.read_header(line)
        except DataError as exc:
            assert str(exc).startswith("the CSV header (its first line) ")
        csv.read_header(",".join(schema.names).encode())
        for flows in (csv, JsonFlows(schema, "id")):
            try:
                record, _ = flows.record(line)
                encoder.encode(record, row)
            except (MalformedLine, BadRequest) as exc:
                assert str(exc)

    check()


@pytest.mark.parametrize("format", [None, "csv", "jsonl"])
def test_a_stream_of_random_bytes_is_scored_line_by_line(session, schema, records, format):
    header = ",".join(schema.names).encode() + b"\n"
    good_csv = (",".join(str(records[0][name]) for name in schema.names)).encode()

    @FUZZED
    @given(body=st.lists(st.one_of(_lines(schema), st.just(good_csv)), max_size=12).map(b"\n".join),
           with_header=st.booleans())
    def check(body: bytes, with_header: bool):
        data = (header if with_header else b"") + body
        out, reports = io.BytesIO(), []
        scorer = StreamScorer(session, format, 0.5, out, reports.append, MAX_LINE_BYTES)
        read, write = os.pipe()
        os.write(write, data)  # small enough for the pipe's buffer
        os.close(write)
        try:
            summary = scorer.score(LineBatches(read, MAX_LINE_BYTES, 4, 0.0))
        except DataError as exc:  # the first non-blank line, read as a CSV header, cannot be used
            assert str(exc).startswith("the CSV header (its first line) ")
            return
        finally:
            os.close(read)
        assert summary.lines == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        assert summary.scored == len(out.getvalue().splitlines()) and summary.skipped == len(reports)
        assert all(re.fullmatch(r"line \d+: .+", report, flags=re.S) for report in reports), reports

    check()


def _sensor_lines() -> st.SearchStrategy[bytes]:
    """Zeek TSV and JSON, eve.json pieces: the directives, separators and keys the sensor readers act on."""
    pieces = [b"#fields\t", b"#unset_field\t", b"#separator \\x09", b"#close\t", b"\t", b"   ", b"-", b"(empty)", b"ts", b"uid",
              b"proto", b"duration", b"orig_bytes", b"id.resp_p", b"label", b"detailed-label", b"tcp", b"1.5", b"nan", b"1e999",
              b'{"event_type":"flow",', b'"flow":{"pkts_toserver":', b'"id.orig_h":"a",', b'"duration":', b"}", b"null", b"true",
              b'"', b"\xff", b"\x00"]
    return st.lists(st.one_of(st.sampled_from(pieces), st.binary(max_size=3)), max_size=30).map(b"".join)


@pytest.mark.parametrize("mapping_name", ["zeek", "suricata"])
def test_a_sensor_line_becomes_a_record_none_or_a_malformed_line(mapping_name):
    """#18's readers: Zeek TSV / JSON and eve.json lines give a feature record, None (not a flow) or a one-line reason."""
    from rtguard.data.schema import FeatureSchema, FeatureSpec
    from rtguard.sensors import records as sensor_records
    from rtguard.sensors.mappings import SENSORS
    from rtguard.stream.sensor_flows import SensorFlows

    mapping = SENSORS[mapping_name]
    schema = FeatureSchema([FeatureSpec(f.name, f.kind, vocabulary=["tcp"] if f.kind == "categorical" else []) for f in mapping.features],
                           ["benign", "attack"], "benign")
    encoder, row = RecordEncoder(schema, max_records=1), np.empty(len(schema.features), dtype=np.float32)

    @FUZZED
    @given(lines=st.lists(_sensor_lines(), min_size=1, max_size=6))
    def check(lines: list[bytes]):
        flows = SensorFlows(mapping, schema, "uid")
        for line in lines:
            try:
                read = flows.record(line)
                if read is not None:
                    encoder.encode(read[0], row)
                    json.dumps(read[1])
            except (MalformedLine, BadRequest) as exc:
                assert str(exc) and "\n" not in str(exc)
            try:  # the data set's label reader on the same fields
                fields = flows.reader.fields(line)
                if fields is not None:
                    sensor_records.label(mapping, fields)
            except sensor_records.MalformedLine as exc:
                assert str(exc) and "\n" not in str(exc)

    check()

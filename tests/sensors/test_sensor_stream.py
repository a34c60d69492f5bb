"""`rtguard score --format zeek|suricata|cicflowmeter`: the shape the data set trained on, line by line, bad lines reported."""

from __future__ import annotations

import functools
import gzip
import io
import json
import os

import numpy as np
import pytest
from sensorfiles import cic_csv, eve_flow, handmade_run, zeek_json, zeek_rows, zeek_tsv

from rtguard.config import DataConfig, RuntimeConfig, validate_config
from rtguard.data.prepare import prepare
from rtguard.data.sensors import load_sensor_frames
from rtguard.errors import DataError
from rtguard.runtime import INPUT_NAME, Trust, load_session
from rtguard.serve.records import RecordEncoder
from rtguard.stream import columnar
from rtguard.stream.file_blocks import FileBlocks
from rtguard.stream.formats import format_by_content
from rtguard.stream.lines import LineBatches
from rtguard.stream.scoring import StreamScorer
from rtguard.stream.sensor_columnar import ZeekColumnar
from rtguard.stream.stage import StreamOptions, score_stream


def _session(tmp_path, dataset, path):
    frames = load_sensor_frames(DataConfig(dataset=dataset, path=path))
    schema, _, _ = prepare(frames, DataConfig(dataset=dataset, path=path, test_fraction=0.2))
    variant = handmade_run(tmp_path / "run", schema)
    return load_session(variant, Trust(allow_unsigned=True), RuntimeConfig()), frames


def _score(session, data: bytes, format, id_field=None):
    out, reports = io.BytesIO(), []
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    try:
        summary = StreamScorer(session, format, 0.5, out, reports.append, 65536, id_field).score(LineBatches(read, 65536, 8, 0.0))
    finally:
        os.close(read)
    return [json.loads(line) for line in out.getvalue().splitlines()], reports, summary


def _expected(session, frame):
    encoder, rows = RecordEncoder(session.schema, max_records=1), np.empty((len(frame), len(session.schema.features)), np.float32)
    for index, record in enumerate(frame.to_dict("records")):
        encoder.encode(record, rows[index])
    return session.run({INPUT_NAME: rows})


def test_zeek_tsv_and_json_score_as_the_data_set_trained(tmp_path):
    rows = zeek_rows(40)
    (tmp_path / "conn.log").write_text(zeek_tsv(rows))
    session, frames = _session(tmp_path, "zeek", tmp_path / "conn.log")
    with session:
        expected = _expected(session, frames.train)
        tsv_text = zeek_tsv(rows[:20]) + "#close\t2019-03-15-15-00-00\n" + zeek_tsv(rows[20:])  # a rotation restates the header
        tsv, reports, summary = _score(session, tsv_text.encode(), "zeek", "uid")
        assert not reports and summary.scored == 40
        assert [line["id"] for line in tsv] == [row["uid"] for row in rows]
        np.testing.assert_allclose([list(line["scores"].values()) for line in tsv], expected, rtol=1e-6)
        from_json, reports, _ = _score(session, zeek_json(rows).encode(), None)  # found by its dotted keys
        assert not reports and [line["scores"] for line in from_json] == [line["scores"] for line in tsv]


def test_zeek_bad_lines_are_reported_and_the_rest_scored(tmp_path):
    rows = zeek_rows(10)
    (tmp_path / "conn.log").write_text(zeek_tsv(rows))
    session, _ = _session(tmp_path, "zeek", tmp_path / "conn.log")
    text = zeek_tsv(rows).splitlines(keepends=True)
    text[9] = "a\tb\n"
    text[10] = text[10].replace("\ttcp\t", "\ttcp\t", 1).replace("\t0\t", "\tzero\t", 1)
    with session:
        lines, reports, summary = _score(session, "".join(text).encode(), "zeek")
    assert reports[0] == "line 10: expected 23 tab-separated fields as #fields names, found 2"
    assert all("\n" not in report for report in reports) and summary.scored + summary.skipped == 10
    again = load_session(tmp_path / "run" / "variants" / "handmade", Trust(allow_unsigned=True), RuntimeConfig())
    with again:  # `tail -F conn.log` starts mid-file: rows take conn.log's standard layout of their field count
        headless, reports, _ = _score(again, zeek_tsv(rows, header=False).encode(), "zeek")
        assert not reports and len(headless) == 10
        _, reports, _ = _score(again, b"a\tb\tc\n", "zeek")
    assert reports == ["line 1: a Zeek TSV row of 3 fields before any #fields header line, which matches no standard conn.log "
                       "layout (20, 21, 22, 23 fields)"]


def test_suricata_eve_json_scores_flow_events_only(tmp_path):
    lines = [json.dumps(eve_flow(index, "Benign" if index % 2 else "scan")) for index in range(12)]
    (tmp_path / "eve.json").write_text("\n".join(lines) + "\n")
    session, frames = _session(tmp_path, "suricata", tmp_path / "eve.json")
    live = [json.dumps({k: v for k, v in eve_flow(index).items()}) for index in range(12)]
    live.insert(2, json.dumps({"event_type": "alert", "alert": {"signature": "x"}}))
    with session:
        scored, reports, summary = _score(session, ("\n".join(live) + "\n").encode(), None, "flow_id")
        expected = _expected(session, frames.train)
    assert not reports and summary.scored == 12 and summary.lines == 13
    assert scored[2]["line"] == 4 and scored[0]["id"] == 778615965085998
    np.testing.assert_allclose([list(line["scores"].values()) for line in scored], expected, rtol=1e-6)


def test_cicflowmeter_csv_scores_with_its_own_header(tmp_path):
    (tmp_path / "day.csv").write_text(cic_csv(40))
    session, frames = _session(tmp_path, "cicflowmeter", tmp_path / "day.csv")
    with session:
        scored, reports, summary = _score(session, cic_csv(40).encode(), "cicflowmeter")
    assert summary.scored + summary.skipped == 40 and len(reports) == summary.skipped
    assert all("not finite" in report or "NaN" in report or "inf" in report.lower() for report in reports) or not reports


def test_a_model_of_another_shape_is_refused_with_one_line(tmp_path):
    (tmp_path / "conn.log").write_text(zeek_tsv(zeek_rows(10)))
    session, _ = _session(tmp_path, "zeek", tmp_path / "conn.log")
    with session, pytest.raises(DataError, match="--format suricata scores models trained with --dataset suricata"):
        _score(session, json.dumps(eve_flow(0)).encode() + b"\n", "suricata")


@pytest.mark.parametrize(("line", "format"), [(b"#separator \\x09", "zeek"), (b"#fields\tts", "zeek"), (b'{"ts":1,"id.orig_h":"a"}', "zeek"),
                                               (b'{"event_type":"flow"}', "suricata"), (b'{"a":1}', "jsonl"), (b"a,b", "csv"),
                                               (b"\t".join([b"x"] * 21), "zeek"), (b"\t".join([b"x,y"] * 21), "csv")])
def test_the_first_line_names_the_format(line, format):
    assert format_by_content(line) == format


def _score_file(variant, source, **options):
    """`rtguard score` on a file as the stage reads it (FileBlocks; gzip by the name), without --format unless given."""
    out, reports = source.parent / "verdicts.jsonl", []
    summary = score_stream(variant, Trust(allow_unsigned=True), validate_config({}), str(source), str(out), StreamOptions(**options),
                           reports.append)
    return [json.loads(line) for line in out.read_bytes().splitlines()], reports, summary


def test_sensor_files_as_written_rotated_gzip_and_eve_json_without_format(tmp_path):
    rows = zeek_rows(30)
    (tmp_path / "conn.log").write_text(zeek_tsv(rows))
    session, _ = _session(tmp_path, "zeek", tmp_path / "conn.log")
    session.close()
    variant = tmp_path / "run" / "variants" / "handmade"
    rotated = tmp_path / "conn.2024-01-01.log.gz"
    rotated.write_bytes(gzip.compress(zeek_tsv(rows).encode()))
    plain, _, _ = _score_file(variant, tmp_path / "conn.log", format="zeek", id_field="uid")
    packed, reports, summary = _score_file(variant, rotated, id_field="uid")  # found by its #separator header
    assert not reports and summary.scored == 30 and packed == plain

    eve = [json.dumps(eve_flow(index, "Benign" if index % 2 else "scan")) for index in range(12)]
    (tmp_path / "eve" / "train").mkdir(parents=True)
    (tmp_path / "eve" / "train" / "eve.json").write_text("\n".join(eve) + "\n")
    session, _ = _session(tmp_path / "eve", "suricata", tmp_path / "eve" / "train" / "eve.json")
    session.close()
    variant = tmp_path / "eve" / "run" / "variants" / "handmade"
    live = tmp_path / "eve.json"  # a .json name, yet Suricata's flows, not JSON lines of features
    live.write_text("\n".join([json.dumps({"event_type": "dns", "dns": {}}), *eve]) + "\n")
    scored, reports, summary = _score_file(variant, live, id_field="flow_id")
    assert not reports and summary.scored == 12 and scored[0]["line"] == 2
    (tmp_path / "eve.json.gz").write_bytes(gzip.compress(live.read_bytes()))
    assert _score_file(variant, tmp_path / "eve.json.gz", id_field="flow_id")[0] == scored

    (tmp_path / "cic").mkdir()
    (tmp_path / "cic" / "day.csv").write_text(cic_csv(40))
    session, _ = _session(tmp_path / "cic", "cicflowmeter", tmp_path / "cic" / "day.csv")
    session.close()
    variant = tmp_path / "cic" / "run" / "variants" / "handmade"
    (tmp_path / "day.csv.gz").write_bytes(gzip.compress(cic_csv(40).encode()))
    packed, _, summary = _score_file(variant, tmp_path / "day.csv.gz", format="cicflowmeter")
    assert summary.scored + summary.skipped == 40 and packed == _score_file(variant, tmp_path / "cic" / "day.csv", format="cicflowmeter")[0]


@pytest.mark.parametrize(("line", "by_name", "format"), [(b'{"event_type":"flow"}', "jsonl", "suricata"), (b'{"id.orig_h":"a"}', "jsonl", "zeek"),
                                                         (b'{"a":1}', "jsonl", "jsonl"), (b"#fields\tts", "csv", "csv"),
                                                         (b'{"event_type":"flow"}', "csv", "csv")])
def test_the_first_line_tells_which_json_a_json_name_holds(line, by_name, format):
    assert format_by_content(line, by_name) == format


def _bytes_swapped(tsv: str) -> str:
    """The same log with orig_bytes and resp_bytes in the other order, its #fields saying so."""
    lines = []
    for line in tsv.splitlines(keepends=True):
        if line.startswith("#fields"):
            line = line.replace("orig_bytes\tresp_bytes", "resp_bytes\torig_bytes")
        elif not line.startswith("#"):
            cells = line.split("\t")
            cells[9], cells[10] = cells[10], cells[9]
            line = "\t".join(cells)
        lines.append(line)
    return "".join(lines)


def test_a_zeek_log_in_blocks_scores_as_line_by_line(tmp_path, monkeypatch):
    """Clean blocks parsed whole (ZeekColumnar.encode_block), each with the layout of its place in the file; a rotation's
    new header (here a new column order) and bad rows line by line."""
    rows = zeek_rows(600)
    (tmp_path / "conn.log").write_text(zeek_tsv(rows[:40]))
    session, _ = _session(tmp_path, "zeek", tmp_path / "conn.log")
    text = (zeek_tsv(rows[:300]) + "#close\t2019-03-15-15-00-00\n" + _bytes_swapped(zeek_tsv(rows[300:]))).splitlines(keepends=True)
    text[150], text[420] = "a\tb\n", text[420].replace("\ttcp\t", "\tt\tcp\t", 1)
    log = tmp_path / "rotated.log"
    log.write_text("".join(text))
    parsed_whole = []
    encode_block = ZeekColumnar.encode_block
    monkeypatch.setattr(ZeekColumnar, "encode_block", lambda self, block: parsed_whole.append(encode_block(self, block)) or parsed_whole[-1])

    def scored(reader):
        out, reports = io.BytesIO(), []
        scorer = StreamScorer(session, "zeek", 0.5, out, reports.append, 65536, "uid", batch_lines=1)  # one flow a call, as below
        fd = os.open(log, os.O_RDONLY)
        try:
            summary = scorer.score(reader(fd))
        finally:
            os.close(fd)
        return out.getvalue(), sorted(reports), summary.scored, summary.skipped

    with session:
        in_blocks = scored(lambda fd: FileBlocks(functools.partial(os.read, fd), 65536, block_bytes=8192))
        monkeypatch.setattr(columnar, "MIN_LINES", 10**9)
        assert in_blocks == scored(lambda fd: LineBatches(fd, 65536, 1, 0.0))
    assert in_blocks[2] == 598 and len(in_blocks[1]) == 2
    assert any(encoded is not None for encoded in parsed_whole) and any(encoded is None for encoded in parsed_whole)

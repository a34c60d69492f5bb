"""A file read in blocks (FileBlocks, clean blocks parsed whole) gives exactly what the line reader gives: the same
numbered lines, and the same verdict lines and `line N: reason` reports, bad lines across block boundaries included."""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import orjson
import pytest
from flowfiles import VARIANT
from hypothesis import given, settings
from hypothesis import strategies as st

from rtguard.config import RuntimeConfig
from rtguard.runtime import GuardedSession, RunFailed, Trust, load_session
from rtguard.stream import columnar
from rtguard.stream.file_blocks import FileBlocks
from rtguard.stream.lines import LineBatches
from rtguard.stream.scoring import StreamScorer

FUZZED = settings(derandomize=True, database=None, max_examples=200, deadline=None)


@pytest.fixture(scope="module")
def session(stream_run):
    with load_session(stream_run / "variants" / VARIANT, Trust(allow_unsigned=True), RuntimeConfig()) as loaded:
        yield loaded


def _read(path: Path, reader):
    fd = os.open(path, os.O_RDONLY)
    try:
        return reader(fd)
    finally:
        os.close(fd)


def test_blocks_hold_the_lines_line_batches_reads(tmp_path):
    path = tmp_path / "lines"
    pieces = st.sampled_from([b"a", b"bb,c", b"\n", b"\r", b"\r\n", b"\n\n", b"x" * 9, b"y" * 30])

    @FUZZED
    @given(data=st.lists(pieces, max_size=30).map(b"".join), cap=st.integers(1, 12), block_bytes=st.integers(1, 40))
    def check(data: bytes, cap: int, block_bytes: int):
        path.write_bytes(data)
        blocks = _read(path, lambda fd: list(FileBlocks(functools.partial(os.read, fd), cap, block_bytes)))
        expected = _read(path, lambda fd: [line for batch in LineBatches(fd, cap, 7, 0.0) for line in batch])
        assert [line for block in blocks for line in block.lines()] == expected
        assert all(block.count == len(block.lines()) for block in blocks)
        assert all(len(block.data) <= block_bytes + cap + 3 for block in blocks)  # bounded, an overlong line never held whole
        for block in blocks:  # overlong() may count a "\r" the line loses, never miss a line over the cap
            assert block.overlong() or not any(line is None for _, line in block.lines())

    check()


def _csv_file(path: Path, schema, records: list[dict]) -> Path:
    """A few thousand flows with bad lines among them, some of them where block boundaries fall."""
    names = schema.names
    numeric = next(f.name for f in schema.features if f.kind != "categorical")
    categorical = next(f.name for f in schema.features if f.kind == "categorical")

    def line(record: dict, index: int) -> bytes:
        return (",".join(str(record[name]) for name in names) + f",flow-{index}").encode()

    lines = [(",".join(names) + ",flow_id").encode()]
    for index in range(3000):
        record = dict(records[index % len(records)])
        bad = index % 373
        if bad == 5:
            record[numeric] = "nan"
        elif bad == 11:
            record[numeric] = "Infinity"
        elif bad == 17:
            record[categorical] = "never-seen"
        elif bad == 23:
            record[numeric] = "x"
        if bad == 29:
            lines.append(line(record, index) + b",extra")  # one field too many
        elif bad == 31:
            lines.append(b"")
        elif bad == 37:
            lines.append(line(record, index) + b"\r")  # CRLF
        elif bad == 41:
            lines.append(line(record, index).replace(b",", b',"', 1) + b'"')  # quoted
        elif bad == 43:
            lines.append(b"z" * 5000)  # over the line cap
        else:
            lines.append(line(record, index))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("id_field", [None, "flow_id"])
@pytest.mark.parametrize("alerts_only", [False, True])
def test_a_csv_file_in_blocks_scores_as_line_by_line(session, schema, records, tmp_path, monkeypatch, id_field, alerts_only):
    path = _csv_file(tmp_path / "flows.csv", schema, records)
    parsed_whole = []
    encode_block = columnar.ColumnarFlows.encode_block
    monkeypatch.setattr(columnar.ColumnarFlows, "encode_block",
                        lambda self, block: parsed_whole.append(encode_block(self, block) is not None) or encode_block(self, block))

    def scored(reader):
        out, reports = io.BytesIO(), []
        scorer = StreamScorer(session, None, 0.5, out, reports.append, 4096, id_field, alerts_only, batch_lines=1)
        summary = _read(path, lambda fd: scorer.score(reader(fd)))
        return out.getvalue(), _by_line(reports), {**vars(summary), "seconds": None}

    # One flow a session call on both sides: a model's last digits may depend on the batch a row is scored in.
    in_blocks = scored(lambda fd: FileBlocks(functools.partial(os.read, fd), 4096, block_bytes=20_000))  # ~90 lines a block
    monkeypatch.setattr(columnar, "MIN_LINES", 10**9)  # the line reader alone, as before #18
    line_by_line = scored(lambda fd: LineBatches(fd, 4096, 1, 0.0))
    assert in_blocks == line_by_line
    assert True in parsed_whole and False in parsed_whole  # both paths were taken
    reports = in_blocks[1]
    assert any(report.startswith("line 45: longer than 4096 bytes") for report in reports)
    assert any("fields as the header names" in report for report in reports)
    if not alerts_only:
        assert len(in_blocks[0].splitlines()) == in_blocks[2]["scored"] + in_blocks[2]["suspicious"]


def _by_line(reports: list[str]) -> list[str]:
    """In line order: within a batch the line reader reports overlong lines as it reads them, before the rest."""
    return sorted(reports, key=lambda report: int(report.split(":")[0].removeprefix("line ")))


def test_a_jsonl_file_in_blocks_scores_as_line_by_line(session, records, tmp_path, monkeypatch):
    lines = [orjson.dumps({**record, "id": index}) for index, record in enumerate(records * 4)]
    lines[100], lines[700] = b"{not json", b"[1]"
    path = tmp_path / "flows.jsonl"
    path.write_bytes(b"\n".join(lines))
    parsed_whole = []
    encode_block = columnar.ColumnarFlows.encode_block
    monkeypatch.setattr(columnar.ColumnarFlows, "encode_block",
                        lambda self, block: parsed_whole.append(encode_block(self, block) is not None) or encode_block(self, block))

    def scored(reader):
        out, reports = io.BytesIO(), []
        scorer = StreamScorer(session, None, 0.5, out, reports.append, 4096, "id", batch_lines=1)
        summary = _read(path, lambda fd: scorer.score(reader(fd)))
        return out.getvalue(), reports, summary.scored, summary.skipped

    # one flow a session call on both sides, as above
    in_blocks = scored(lambda fd: FileBlocks(functools.partial(os.read, fd), 4096, block_bytes=10_000))
    assert in_blocks == scored(lambda fd: LineBatches(fd, 4096, 1, 0.0))
    assert True in parsed_whole and False in parsed_whole  # clean blocks read whole, the two with a bad line line by line
    assert [report.split(":")[0] for report in in_blocks[1]] == ["line 101", "line 701"]


@pytest.mark.parametrize("failure", ["guard", "session"])
def test_a_block_scored_in_part_goes_on_in_order(stream_run, schema, records, tmp_path, monkeypatch, failure):
    """A worker stops at the first part the guard refuses (runtime.out_of_range = "reject") or the session fails on;
    the stream writes what it scored and goes on from there, reporting each line as the line reader does."""
    numeric = next(index for index, f in enumerate(schema.features) if f.kind != "categorical")
    name = schema.names[numeric]
    lines = [",".join(schema.names).encode()]
    for index in range(600):
        record = dict(records[index % len(records)])
        if index % 97 == 50:
            record[name] = 1e30  # beyond the training range: refused by the guard, or marked for the failing session
        lines.append(",".join(str(record[key]) for key in schema.names).encode())
    path = tmp_path / "flows.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    config = RuntimeConfig(out_of_range="reject" if failure == "guard" else "clip", max_batch=16)  # ~6 guard calls a block
    if failure == "session":
        run = GuardedSession.run_checked_outputs

        def failing(self, rows, outputs):
            if (rows[:, numeric] >= schema.features[numeric].maximum).any():
                raise RunFailed("handmade: ONNX Runtime failed")
            return run(self, rows, outputs)

        monkeypatch.setattr(GuardedSession, "run_checked_outputs", failing)
    partial = []
    scored_block = StreamScorer._scored_block
    monkeypatch.setattr(StreamScorer, "_scored_block", lambda self, *args: _noted(scored_block(self, *args), partial))

    def scored(reader):
        out, reports = io.BytesIO(), []
        with load_session(stream_run / "variants" / VARIANT, Trust(allow_unsigned=True), config) as session:
            scorer = StreamScorer(session, None, 0.5, out, reports.append, 4096, batch_lines=1)
            summary = _read(path, lambda fd: scorer.score(reader(fd)))
        return out.getvalue(), reports, {**vars(summary), "seconds": None}

    in_blocks = scored(lambda fd: FileBlocks(functools.partial(os.read, fd), 4096, block_bytes=20_000))
    monkeypatch.setattr(columnar, "MIN_LINES", 10**9)
    assert in_blocks == scored(lambda fd: LineBatches(fd, 4096, 1, 0.0))
    assert any(0 < done < rows for done, rows in partial)  # a block was stopped partway
    reported = {int(report.split(":")[0].removeprefix("line ")) for report in in_blocks[1]}
    assert {index + 2 for index in range(600) if index % 97 == 50} <= reported and in_blocks[2]["skipped"] == len(reported)
    assert all(("outside the training range" if failure == "guard" else "not scored: handmade") in report for report in in_blocks[1])


def _noted(result, partial: list):
    if result is not None:
        partial.append((result.done, len(result.encoded[0])))
    return result

"""Zeek TSV batches through pyarrow give exactly what the line reader gives, or step aside to it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sensorfiles import ZEEK_HEADER, line_reader_encoding, zeek_rows, zeek_tsv

from rtguard.config import DataConfig
from rtguard.data.prepare import prepare
from rtguard.data.sensors import load_sensor_frames
from rtguard.sensors.mappings import ZEEK
from rtguard.sensors.records import ZeekTsv
from rtguard.stream import columnar
from rtguard.stream.sensor_columnar import ZeekColumnar
from rtguard.stream.sensor_flows import SensorFlows

FUZZED = settings(derandomize=True, database=None, max_examples=120, deadline=None)
NUMBERS = ["-", "1", " 1", "1_0", "", "nan", "inf", "-Infinity", "1e999", "x", "0x10", "+2", "\u0663", "1.5e-3", "00007", "1 "]
CATEGORIES = ["-", " tcp", "tcp", "", "\u00e9", "(empty)", "udp ", "S0"]


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    log = tmp_path_factory.mktemp("zeek") / "conn.log"
    log.write_text(zeek_tsv(zeek_rows(40)))
    return prepare(load_sensor_frames(DataConfig(dataset="zeek", path=log)), DataConfig(dataset="zeek", path=log))[0]


@pytest.fixture(autouse=True)
def any_batch(monkeypatch):
    monkeypatch.setattr(columnar, "MIN_LINES", 1)


def _reader(schema, with_header: bool) -> SensorFlows:
    """A reader that has read the log's header, or (tail -F) none: rows then take conn.log's standard layout."""
    flows = SensorFlows(ZEEK, schema, "uid")
    if with_header:
        for line in ZEEK_HEADER.encode().splitlines():
            assert flows.record(line) is None
    else:
        flows.reader = ZeekTsv()
    return flows


def test_clean_zeek_batches_go_columnar(schema):
    for with_header in (True, False):
        flows = _reader(schema, with_header)
        lines = list(enumerate(zeek_tsv(zeek_rows(200), header=False).encode().splitlines(), start=10))
        fast, slow = (np.zeros((200, len(schema.features)), dtype=np.float32) for _ in range(2))
        kept = ZeekColumnar(schema, flows).encode(lines, fast)
        assert kept is not None and kept == line_reader_encoding(flows, schema, lines, slow)
        np.testing.assert_array_equal(fast, slow)


def test_fuzzed_zeek_batches(schema):
    base = zeek_rows(20)
    columns = list(base[0])[:-2]
    numeric = {f.field for f in ZEEK.features if f.kind != "categorical"}
    categorical = {f.field for f in ZEEK.features if f.kind == "categorical"}

    @FUZZED
    @given(data=st.data())
    def check(data):
        flows = _reader(schema, data.draw(st.booleans()))
        lines = []
        for index, row in enumerate(data.draw(st.lists(st.sampled_from(base), min_size=1, max_size=6))):
            cells = []
            for name in columns:
                value = str(row[name])
                if name in numeric and data.draw(st.integers(0, 3)) == 0:
                    value = data.draw(st.sampled_from(NUMBERS))
                elif name in categorical and data.draw(st.integers(0, 3)) == 0:
                    value = data.draw(st.sampled_from(CATEGORIES))
                cells.append(value)
            text = "\t".join(cells) + f"   {row['label']}   {row['detailed-label']}"
            if data.draw(st.integers(0, 12)) == 0:
                text = data.draw(st.sampled_from(["#close\tx", "a\tb", text + "\textra", text.replace("\t", "    ", 1), '"' + text]))
            lines.append((index + 1, text.encode()))
        fast, slow = (np.zeros((len(lines), len(schema.features)), dtype=np.float32) for _ in range(2))
        kept = ZeekColumnar(schema, flows).encode(lines, fast)
        expected = line_reader_encoding(flows, schema, lines, slow)
        taken.append(kept is not None)
        if kept is not None:
            assert kept == expected
            np.testing.assert_array_equal(fast[: len(kept)], slow[: len(kept)])

    taken: list[bool] = []
    check()
    assert sum(taken) >= len(taken) // 10, "the fuzzed batches should often go columnar, or the test compares nothing"

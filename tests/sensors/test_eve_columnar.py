"""eve.json batches read column by column give exactly what the line reader gives, or step aside to it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sensorfiles import eve_flow, line_reader_encoding

from rtguard.config import DataConfig
from rtguard.data.prepare import prepare
from rtguard.data.sensors import load_sensor_frames
from rtguard.sensors.mappings import SURICATA
from rtguard.sensors.records import JsonFields
from rtguard.stream import columnar
from rtguard.stream.sensor_columnar import EveColumnar
from rtguard.stream.sensor_flows import SensorFlows

FUZZED = settings(derandomize=True, database=None, max_examples=150, deadline=None)
ODD = [None, True, False, "", " 7 ", "x", "1.5", 0, -3, 2**63 - 1, 1.5, 1e300, [1], {"a": 1}]


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    log = tmp_path_factory.mktemp("eve") / "eve.json"
    log.write_text("".join(json.dumps(eve_flow(index, "Benign" if index % 2 else "scan")) + "\n" for index in range(30)))
    return prepare(load_sensor_frames(DataConfig(dataset="suricata", path=log)), DataConfig(dataset="suricata", path=log))[0]


@pytest.fixture(autouse=True)
def any_batch(monkeypatch):
    monkeypatch.setattr(columnar, "MIN_LINES", 1)


def _flows(schema) -> SensorFlows:
    flows = SensorFlows(SURICATA, schema, "flow_id")
    flows.reader = JsonFields("flow")
    return flows


def test_clean_eve_batches_go_columnar(schema):
    flows = _flows(schema)
    events = [eve_flow(index) for index in range(200)]
    events[5]["proto"] = "SCTP"  # out of vocabulary
    events[9] = {"event_type": "dns", "dns": {"type": "query"}}  # passed over
    lines = [(index + 1, json.dumps(event).encode()) for index, event in enumerate(events)]
    fast, slow = (np.zeros((200, len(schema.features)), dtype=np.float32) for _ in range(2))
    kept = EveColumnar(schema, flows).encode(lines, fast)
    assert kept is not None and kept == line_reader_encoding(flows, schema, lines, slow) and len(kept) == 199
    np.testing.assert_array_equal(fast[:199], slow[:199])


def test_fuzzed_eve_batches(schema):
    paths = [feature.field for feature in SURICATA.features]

    @FUZZED
    @given(data=st.data())
    def check(data):
        lines = []
        for index in range(data.draw(st.integers(1, 6))):
            event = eve_flow(data.draw(st.integers(0, 30)))
            for path in data.draw(st.lists(st.sampled_from(paths), max_size=3)):
                head, _, tail = path.partition(".")
                value = data.draw(st.sampled_from(ODD))
                edit = data.draw(st.sampled_from(["value", "value", "head", "no head", "dotted key"]))
                if edit == "head" or (edit == "value" and not tail):  # a nested object replaced by a value, or a top-level value
                    event[head] = value
                elif edit == "no head":
                    event.pop(head, None)
                elif edit == "dotted key":  # written with the dot: found before any nested object
                    event[path] = value
                elif isinstance(event.get(head), dict):
                    event[head][tail] = value
            if data.draw(st.integers(0, 5)) == 0:
                event["event_type"] = data.draw(st.sampled_from(["alert", "dns", None]))
            if data.draw(st.integers(0, 5)) == 0:
                event["flow_id"] = data.draw(st.sampled_from(ODD))
            text = json.dumps(event).encode()
            if data.draw(st.integers(0, 12)) == 0:
                text = data.draw(st.sampled_from([b"#comment", b"{", b"[1]", b"null", text[:-1]]))
            lines.append((index + 1, text))
        flows = _flows(schema)
        fast, slow = (np.zeros((len(lines), len(schema.features)), dtype=np.float32) for _ in range(2))
        kept = EveColumnar(schema, flows).encode(lines, fast)
        expected = line_reader_encoding(flows, schema, lines, slow)
        taken.append(kept is not None)
        if kept is not None:
            assert kept == expected
            np.testing.assert_array_equal(fast[: len(kept)], slow[: len(kept)])

    taken: list[bool] = []
    check()
    assert sum(taken) >= len(taken) // 5, "the fuzzed batches should often go columnar, or the test compares nothing"

"""Sensor logs as data sets: features through the mapping, labels from IoT-23's columns, gzip and rotated folders, bad lines."""

from __future__ import annotations

import gzip
import json

import pytest
from sensorfiles import cic_csv, eve_flow, zeek_json, zeek_rows, zeek_tsv

from rtguard.config import DataConfig
from rtguard.data.sensors import load_sensor_frames
from rtguard.errors import DataError
from rtguard.sensors import records
from rtguard.sensors.mappings import SURICATA, ZEEK


def test_zeek_tsv_as_iot23_writes_it(tmp_path):
    path = tmp_path / "conn.log.labeled"
    path.write_text(zeek_tsv(zeek_rows(20)))
    frames = load_sensor_frames(DataConfig(dataset="zeek", path=path))
    assert list(frames.train.columns) == ZEEK.names and frames.categorical == ZEEK.categorical
    assert frames.classes == ["Benign", "C&C", "DDoS", "PartOfAHorizontalPortScan"] and frames.benign == "Benign"
    assert frames.train_labels.value_counts().to_dict() == {"Benign": 8, "DDoS": 4, "C&C": 4, "PartOfAHorizontalPortScan": 4}
    ddos = frames.train.iloc[2]  # duration and bytes unset (`-`): 0, as the mapping says
    assert (ddos["duration"], ddos["orig_bytes"], ddos["service"], ddos["id.resp_p"]) == (0.0, 0.0, "-", "80")
    assert not {"ts", "uid", "id.orig_h", "id.resp_h", "id.orig_p"} & set(frames.train.columns)


def test_zeek_gzip_and_a_rotated_folder_read_in_name_order(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "conn.00:00:00-01:00:00.log.gz").write_bytes(gzip.compress(zeek_tsv(zeek_rows(10)).encode()))
    (folder / "conn.01:00:00-02:00:00.log").write_text(zeek_tsv(zeek_rows(10, start=10)))
    frames = load_sensor_frames(DataConfig(dataset="zeek", path=folder))
    assert len(frames.train) == 20 and frames.source.startswith("zeek: ")


def test_a_bad_line_names_its_file_and_line_or_is_counted(tmp_path):
    text = zeek_tsv(zeek_rows(10)).splitlines(keepends=True)
    text[12] = "1545403816.9\tCxyz\tonly three fields\n"
    text[13] = text[13].replace("\t149\t", "\tlots\t") if "\t149\t" in text[13] else text[13].replace("\t40\t", "\tlots\t")
    path = tmp_path / "conn.log"
    path.write_text("".join(text))
    with pytest.raises(DataError, match=r"conn.log, line 13: expected 23 tab-separated fields as #fields names, found 3"):
        load_sensor_frames(DataConfig(dataset="zeek", path=path))
    frames = load_sensor_frames(DataConfig(dataset="zeek", path=path, skip_bad_rows=True))
    assert frames.counts == {"bad lines skipped": 2} and len(frames.train) == 8


def test_zeek_json_gives_the_tsv_features(tmp_path):
    rows = zeek_rows(10)
    reader = records.JsonFields()
    tsv = records.ZeekTsv()
    for line in zeek_tsv(rows).encode().splitlines():
        tsv.fields(line) if line.startswith(b"#") else None
    from_tsv = [records.features(ZEEK, tsv.fields(line)) for line in zeek_tsv(rows, header=False).encode().splitlines()]
    from_json = [records.features(ZEEK, reader.fields(line)) for line in zeek_json(rows).encode().splitlines()]
    assert from_json == from_tsv


def test_suricata_flows_labelled_and_other_events_passed_over(tmp_path):
    lines = [json.dumps(eve_flow(index, "Benign" if index % 2 else "scan")) for index in range(12)]
    lines.insert(3, json.dumps({"event_type": "dns", "dns": {"type": "query"}}))
    path = tmp_path / "eve.json"
    path.write_text("\n".join(lines) + "\n")
    frames = load_sensor_frames(DataConfig(dataset="suricata", path=path))
    assert len(frames.train) == 12 and frames.classes == ["Benign", "scan"]
    assert list(frames.train.columns) == SURICATA.names
    assert frames.train.iloc[0]["tcp_flags"] == "-" and frames.train.iloc[1]["tcp_flags"] == "1b"
    unlabelled = tmp_path / "unlabelled.eve.json"
    unlabelled.write_text(json.dumps(eve_flow(0)) + "\n")
    with pytest.raises(DataError, match=r"line 1: no label in field 'label'"):
        load_sensor_frames(DataConfig(dataset="suricata", path=unlabelled))


def test_cicflowmeter_csv_with_its_spaces_repeats_and_infinity(tmp_path):
    path = tmp_path / "Friday.pcap_ISCX.csv"
    path.write_text(cic_csv(30))
    frames = load_sensor_frames(DataConfig(dataset="cicflowmeter", path=path))
    assert list(frames.train.columns) == ["Destination Port", "Flow Duration", "Total Fwd Packets", "Fwd Header Length",
                                          "Flow Bytes/s", "Fwd Header Length.1"]
    assert frames.classes == ["BENIGN", "DDoS"]


@pytest.mark.parametrize("line", [b"{", b"[1]", b'{"proto": {"x": 1}}', b'{"duration": "soon"}', b"\xff\xfe"])
def test_bad_json_lines_have_one_line_reasons(line):
    with pytest.raises(records.MalformedLine) as caught:
        fields = records.JsonFields().fields(line)
        records.features(ZEEK, fields)
    assert "\n" not in str(caught.value) and str(caught.value)

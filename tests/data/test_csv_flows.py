"""Generic flow CSV loader (and the shared reader) on CIC-IDS2017 and UNSW-NB15 fixtures and bad inputs."""

from pathlib import Path

import numpy as np
import pytest

from rtguard.config import DataConfig
from rtguard.data.csv_flows import load_csv_flows
from rtguard.data.prepare import prepare
from rtguard.errors import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CIC = FIXTURES / "cic_ids2017_sample.csv"
UNSW = FIXTURES / "unsw_nb15_sample.csv"
WEB_ATTACK = "Web Attack \u2013 Brute Force"  # the byte 0x96 in the file, read as cp1252
TRAFFIC_LABELLING_IDS = ["Flow ID", "Source IP", "Source Port", "Destination IP", "Timestamp"]


def cic(**settings) -> DataConfig:
    return DataConfig(dataset="csv", path=CIC, **settings)


def unsw(path: Path = UNSW, **settings) -> DataConfig:
    return DataConfig(dataset="csv", path=path, label_column="attack_cat", benign_label="Normal", drop_columns=["id", "label"], **settings)


def unsw_lines() -> list[str]:
    return UNSW.read_text().splitlines()


def write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_text(newline.join(lines) + newline)
    return path


def test_cic_fixture():
    frames = load_csv_flows(cic())
    assert frames.train.shape == (29, 78) and frames.test is None
    columns = list(frames.train.columns)
    assert columns[0] == "Destination Port" and columns[-1] == "Idle Min"
    assert all(name == name.strip() for name in columns)
    assert "Fwd Header Length" in columns and "Fwd Header Length.1" in columns
    assert frames.classes == ["BENIGN", "DDoS", "PortScan", WEB_ATTACK] and frames.benign == "BENIGN"
    assert frames.categorical == []
    assert frames.train_labels.value_counts()[WEB_ATTACK] == 4


def test_cic_infinity_and_nan_parse_as_floats():
    train = load_csv_flows(cic()).train
    for name in ("Flow Bytes/s", "Flow Packets/s"):
        values = train[name].to_numpy(dtype=np.float64)
        assert np.isposinf(values).sum() == 2 and np.isnan(values).sum() == 1


def test_non_finite_values_are_imputed_and_counted_or_rejected():
    frames = load_csv_flows(cic())
    _, splits, summary = prepare(frames, cic(non_finite="impute"))
    assert summary.non_finite_imputed == {"Flow Bytes/s": 3, "Flow Packets/s": 3}
    assert all(np.isfinite(x).all() for x in (splits.x_train, splits.x_val, splits.x_test))
    with pytest.raises(DataError, match="column 'Flow Bytes/s' has .* NaN/inf values"):
        prepare(frames, cic(non_finite="reject"))


def test_unsw_fixture_with_its_test_file():
    frames = load_csv_flows(unsw(test_path=UNSW))
    assert frames.train.shape == frames.test.shape == (30, 42)
    assert not {"id", "label", "attack_cat"} & set(frames.train.columns)
    assert frames.categorical == ["proto", "service", "state"]
    assert "-" in set(frames.train["service"])
    assert frames.classes == ["Normal", "Exploits", "Fuzzers", "Generic", "Reconnaissance"]
    schema, splits, summary = prepare(frames, unsw(test_path=UNSW))
    assert schema.classes == frames.classes and splits.x_test.shape == (30, 42)
    assert summary.out_of_vocabulary == {}


@pytest.mark.parametrize("labels", ["multiclass", "binary"])
def test_prepare_accepts_the_cic_fixture(labels):
    schema, splits, _ = prepare(load_csv_flows(cic()), cic(labels=labels))
    assert len(schema.names) == 78 and splits.x_train.shape[1] == 78
    assert len(schema.classes) == (4 if labels == "multiclass" else 2)


def test_traffic_labelling_identifiers_dropped_and_comma_rows_skipped(tmp_path):
    lines = CIC.read_bytes().decode("cp1252").splitlines()
    ids = "Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, Timestamp"
    rows = [ids + "," + lines[0].split(",", 1)[1]]
    for i, line in enumerate(lines[1:]):
        port, rest = line.split(",", 1)
        rows.append(f"192.168.10.5-8.8.8.8-{40000 + i}-{port}-6,192.168.10.5,{40000 + i},8.8.8.8,{port},6,7/7/2017 8:{i:02d},{rest}")
    rows += ["," * 84] * 3
    path = tmp_path / "Friday-WorkingHours.pcap_ISCX.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    frames = load_csv_flows(DataConfig(dataset="csv", path=path, drop_columns=TRAFFIC_LABELLING_IDS))
    assert frames.train.shape == (29, 79) and frames.categorical == []
    assert list(frames.train.columns[:3]) == ["Destination Port", "Protocol", "Flow Duration"]
    assert frames.counts == {"empty_rows_skipped": 3}


def test_missing_label_column_lists_the_columns():
    with pytest.raises(DataError, match=r"no label column 'Class' .*columns are \['Destination Port', 'Flow Duration'"):
        load_csv_flows(cic(label_column="Class"))


def test_missing_drop_column():
    with pytest.raises(DataError, match=r"drop_columns \['Flow ID'\] are not columns"):
        load_csv_flows(cic(drop_columns=["Flow ID", "Destination Port"]))


def test_label_column_cannot_be_dropped():
    with pytest.raises(DataError, match="label column 'Label' is also in drop_columns"):
        load_csv_flows(cic(drop_columns=["Label"]))


def test_benign_label_absent():
    with pytest.raises(DataError, match=r"benign label 'Normal' .*labels are \['BENIGN', 'DDoS'"):
        load_csv_flows(cic(benign_label="Normal"))


def test_declared_categorical_columns():
    frames = load_csv_flows(cic(categorical_columns=["Destination Port"]))
    assert frames.categorical == ["Destination Port"] and "80" in set(frames.train["Destination Port"])
    with pytest.raises(DataError, match=r"categorical_columns \['proto'\] are not feature columns"):
        load_csv_flows(cic(categorical_columns=["proto"]))


def test_test_file_with_other_columns(tmp_path):
    header, *rows = unsw_lines()
    unlabelled = write(tmp_path / "unlabelled.csv", [header.replace("attack_cat", "category"), *rows])
    with pytest.raises(DataError, match=r"unlabelled\.csv: no label column 'attack_cat'"):
        load_csv_flows(unsw(test_path=unlabelled))
    lines = [",".join(line.split(",")[:4] + line.split(",")[5:]) for line in unsw_lines()]  # no `state`
    with pytest.raises(DataError, match=r"columns differ .*missing \['state'\], extra \[\]"):
        load_csv_flows(unsw(test_path=write(tmp_path / "other.csv", lines)))


def test_wrong_field_count_names_file_and_line(tmp_path):
    lines = unsw_lines()
    lines[4] = lines[4].rsplit(",", 1)[0]
    path = write(tmp_path / "short.csv", lines)
    with pytest.raises(DataError, match=r"short\.csv, line 5: expected 45 fields, found 44; .*skip_bad_rows"):
        load_csv_flows(unsw(path))
    frames = load_csv_flows(unsw(path, skip_bad_rows=True))
    assert len(frames.train) == 29 and frames.counts == {"bad_rows_skipped": 1}


def test_lines_are_counted_through_blank_lines_crlf_and_quoted_commas(tmp_path):
    lines = unsw_lines()
    lines[2] = lines[2].replace(",dns,", ',"dns,tcp",').replace(",-,", ',"dns,tcp",')
    lines[6] = lines[6] + ",extra"
    path = write(tmp_path / "crlf.csv", [*lines[:4], "", *lines[4:]], newline="\r\n")
    with pytest.raises(DataError, match=r"crlf\.csv, line 8: expected 45 fields, found 46"):
        load_csv_flows(unsw(path))
    frames = load_csv_flows(unsw(path, skip_bad_rows=True))
    assert len(frames.train) == 29 and frames.train["service"][1] == "dns,tcp"
    assert frames.counts == {"bad_rows_skipped": 1}


def test_empty_label_names_its_line(tmp_path):
    lines = unsw_lines()
    lines[3] = lines[3].replace(",Normal,", ",,").replace(",Generic,", ",,").replace(",Exploits,", ",,")
    lines[3] = lines[3].replace(",Fuzzers,", ",,").replace(",Reconnaissance,", ",,")
    with pytest.raises(DataError, match=r"line 4: the label column 'attack_cat' is empty"):
        load_csv_flows(unsw(write(tmp_path / "nolabel.csv", lines)))


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        (b"Attaque r\xe9seau", "Attaque r\u00e9seau"),  # latin-1 / cp1252
        ("Web Attack \u2013 XSS".encode("utf-8"), "Web Attack \u2013 XSS"),
        (b"odd\x81byte", "odd\x81byte"),  # undefined in cp1252: latin-1 reads any byte
    ],
)
def test_label_encodings(tmp_path, raw, label):
    body = "\n".join(UNSW.read_text().splitlines()).encode()
    path = tmp_path / "encoded.csv"
    path.write_bytes(body.replace(b",Fuzzers,", b"," + raw + b",") + b"\n")
    assert label in load_csv_flows(unsw(path)).classes


def test_label_values_are_trimmed(tmp_path):
    lines = [line.replace(",Generic,", ",  Generic ,") for line in unsw_lines()]
    assert "Generic" in load_csv_flows(unsw(write(tmp_path / "spaces.csv", lines))).classes


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(DataError, match="file not found: .*absent.csv"):
        load_csv_flows(unsw(tmp_path / "absent.csv"))
    with pytest.raises(DataError, match="is a folder; expected a CSV file"):
        load_csv_flows(unsw(tmp_path))


def test_header_only_and_zero_byte_files(tmp_path):
    with pytest.raises(DataError, match="header.csv has no data rows"):
        load_csv_flows(unsw(write(tmp_path / "header.csv", unsw_lines()[:1])))
    (tmp_path / "zero.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero.csv is empty \(not even a header row\)"):
        load_csv_flows(unsw(tmp_path / "zero.csv"))


def test_an_unclosed_quote_names_its_line(tmp_path):
    path = write(tmp_path / "quote.csv", ["a,b,Label", "1,2,BENIGN", '3,4,"DoS', "5,6,BENIGN"])
    with pytest.raises(DataError, match=r"quote\.csv, line 3: a quoted field is never closed \(the file ends inside it\)"):
        load_csv_flows(DataConfig(dataset="csv", path=path))

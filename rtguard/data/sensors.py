"""Sensor logs as data sets: `--dataset zeek` (labelled conn.log, TSV or JSON), `suricata` (eve.json flows), `cicflowmeter` (CSV).

Each line becomes features through the sensor's mapping (rtguard.sensors), the same code
`rtguard score --format zeek` streams through, so the model trains on the shape it will
be scored on. `--data` is a file, gzip or not, or a folder of them (a rotated log:
conn.log, conn.00:00:00-01:00:00.log.gz, ... read in name order). Labels: IoT-23 / CTU
Zeek logs carry `label` and `detailed-label` (the class is the family of a malicious
flow: DDoS, C&C, ...); eve.json carries none, so a labelled export adds a top-level key
(data.label_column, default `label`). A line that cannot be read stops the load with
its file, line number and reason, or with skip_bad_rows is skipped and counted.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from rtguard.config import DataConfig
from rtguard.data.frames import LabelledFrames
from rtguard.errors import DataError
from rtguard.sensors import records as sensor_records
from rtguard.sensors.mappings import CICFLOWMETER, SENSORS, ZEEK, SensorMapping


def load_sensor_frames(config: DataConfig) -> LabelledFrames:
    mapping = SENSORS[config.dataset]
    if mapping is CICFLOWMETER:
        return _cicflowmeter(config)
    label_field = config.label_column if _changed(config, "label_column") else (None if mapping is ZEEK else mapping.label_fields[0])
    benign = config.benign_label if _changed(config, "benign_label") else mapping.benign
    counts: dict[str, int] = {}
    train, train_labels = _read(config.path, mapping, label_field, config.skip_bad_rows, counts)
    test = test_labels = None
    if config.test_path is not None:
        test, test_labels = _read(config.test_path, mapping, label_field, config.skip_bad_rows, counts)
    names = sorted(set(train_labels))
    if benign not in names:
        raise DataError(f"{config.path}: no flow is labelled {benign!r} (set data.benign_label); labels are {names[:20]}")
    return LabelledFrames(
        train=train, train_labels=train_labels, test=test, test_labels=test_labels,
        categorical=mapping.categorical, classes=[benign, *(name for name in names if name != benign)], benign=benign,
        source=f"{mapping.name}: {config.path}" + (f" + {config.test_path}" if config.test_path is not None else ""),
        kinds={f.name: f.kind for f in mapping.features if f.kind != "categorical"}, counts=counts,
    )


def _changed(config: DataConfig, name: str) -> bool:
    """Whether a csv-minded setting (label_column "Label", benign_label "BENIGN") was given a value of its own."""
    return getattr(config, name) != type(config).model_fields[name].default


def _read(path: Path, mapping: SensorMapping, label_field: str | None, skip_bad: bool, counts: dict[str, int]) -> tuple[pd.DataFrame, pd.Series]:
    rows, labels = [], []
    for file in _files(path):
        reader = None
        for number, line in _lines(file):
            if not line.strip():
                continue
            reader = reader or sensor_records.reader_for(mapping, line)
            try:
                fields = reader.fields(line)
                if fields is None:
                    continue
                record = sensor_records.features(mapping, fields)
                labels.append(sensor_records.label(mapping, fields, label_field))
            except sensor_records.MalformedLine as exc:
                if not skip_bad:
                    raise DataError(f"{file}, line {number}: {exc} (data.skip_bad_rows skips and counts such lines)") from None
                counts["bad lines skipped"] = counts.get("bad lines skipped", 0) + 1
                continue
            rows.append(record)
    if not rows:
        raise DataError(f"{path}: no {mapping.name} flow records in it")
    return pd.DataFrame(rows, columns=mapping.names), pd.Series(labels, dtype=object)


def _files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        files = sorted(file for file in path.iterdir() if file.is_file() and not file.name.startswith("."))
        if not files:
            raise DataError(f"{path}: an empty folder")
        return files
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder")
    return [path]


def _lines(file: Path) -> Iterator[tuple[int, bytes]]:
    """Numbered lines of a plain or gzip file (told by its first bytes, not its name)."""
    try:
        with file.open("rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        with (gzip.open(file, "rb") if gzipped else file.open("rb")) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip(b"\r\n")
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {file}: {exc}") from None


def _cicflowmeter(config: DataConfig) -> LabelledFrames:
    """The CSV loader with CICFlowMeter's settings: label `Label`, benign `BENIGN`, its identifier columns dropped."""
    from rtguard.data.csv_flows import load_csv_flows

    present = set(_csv_header(Path(config.path)))
    drop = [name for name in CICFLOWMETER.identifiers if name in present and name not in config.drop_columns]
    return load_csv_flows(config.model_copy(update={"drop_columns": [*config.drop_columns, *drop]}))


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open("rb") as file:
            first = file.readline()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    return [name.strip() for name in next(csv.reader([first.decode("utf-8-sig", errors="replace")]), [])]

"""Any labelled flow CSV with a header: CIC-IDS2017, UNSW-NB15, or your own export.

Column names are stripped of whitespace (CIC's " Label" is "Label") and a repeated
name gets a `.1` suffix (CIC's second "Fwd Header Length" is "Fwd Header Length.1").
Settings per data set, in the [data] section:

- CIC-IDS2017 MachineLearningCVE (`*.pcap_ISCX.csv`): the defaults
  (label_column = "Label", benign_label = "BENIGN").
- CIC-IDS2017 TrafficLabelling: also drop_columns = ["Flow ID", "Source IP",
  "Source Port", "Destination IP", "Timestamp"], identifiers a model must not learn
  from (Destination Port and Protocol stay features). Its rows of bare commas are
  skipped and counted.
- UNSW-NB15 training/testing sets: label_column = "attack_cat", benign_label =
  "Normal", drop_columns = ["id", "label"] (a row number, and attack_cat folded to
  0/1), test_path = the testing-set file. proto, service and state are inferred
  categorical; service `-` (none) is a category of its own.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rtguard.config import DataConfig
from rtguard.data.csv_reading import read_table
from rtguard.data.frames import LabelledFrames
from rtguard.errors import DataError


def load_csv_flows(config: DataConfig) -> LabelledFrames:
    """Read `config.path` (and `config.test_path`, which must have the same columns)."""
    if config.label_column in config.drop_columns:
        raise DataError(f"the label column {config.label_column!r} is also in drop_columns")
    train, train_labels, counts = _read(config.path, config, [config.label_column, *(config.categorical_columns or [])])
    categorical = _categorical(train, config)
    test = test_labels = None
    if config.test_path is not None:
        test, test_labels, test_counts = _read(config.test_path, config, [config.label_column, *categorical])
        test = _same_columns(test, train, config)
        counts = {key: counts.get(key, 0) + test_counts.get(key, 0) for key in counts | test_counts}
    source = str(config.path) + (f" + {config.test_path}" if config.test_path is not None else "")
    return LabelledFrames(
        train=train, train_labels=train_labels, test=test, test_labels=test_labels,
        categorical=categorical, classes=_classes(train_labels, config), benign=config.benign_label,
        source=source, counts=counts,
    )


def _read(path: Path, config: DataConfig, text_columns: list[str]) -> tuple[pd.DataFrame, pd.Series, dict[str, int]]:
    frame, counts = read_table(path, text_columns=text_columns, skip_bad_rows=config.skip_bad_rows)
    if config.label_column not in frame.columns:
        raise DataError(f"{path}: no label column {config.label_column!r} (set data.label_column); columns are {list(frame.columns)}")
    missing = [name for name in config.drop_columns if name not in frame.columns]
    if missing:
        raise DataError(f"{path}: drop_columns {missing} are not columns of the file; columns are {list(frame.columns)}")
    labels = frame.pop(config.label_column)
    if labels.isna().any():
        raise DataError(f"{path}, line {labels.isna().idxmax()}: the label column {config.label_column!r} is empty")
    frame = frame.drop(columns=config.drop_columns).reset_index(drop=True)
    return frame, labels.str.strip().reset_index(drop=True), counts


def _categorical(frame: pd.DataFrame, config: DataConfig) -> list[str]:
    """The declared categorical columns, or else every column that did not parse as numbers."""
    if config.categorical_columns is None:
        return [name for name in frame.columns if not pd.api.types.is_numeric_dtype(frame[name])]
    missing = [name for name in config.categorical_columns if name not in frame.columns]
    if missing:
        raise DataError(f"{config.path}: categorical_columns {missing} are not feature columns; features are {list(frame.columns)}")
    return list(config.categorical_columns)


def _same_columns(test: pd.DataFrame, train: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    missing = [name for name in train.columns if name not in test.columns]
    extra = [name for name in test.columns if name not in train.columns]
    if missing or extra:
        raise DataError(f"{config.test_path}: columns differ from {config.path}: missing {missing}, extra {extra}")
    return test[list(train.columns)]


def _classes(labels: pd.Series, config: DataConfig) -> list[str]:
    """Benign first, then the other training labels in sorted order."""
    names = sorted(labels.unique())
    if config.benign_label not in names:
        raise DataError(
            f"{config.path}: no row has the benign label {config.benign_label!r} in column "
            f"{config.label_column!r} (set data.benign_label); labels are {names[:20]}"
        )
    return [config.benign_label, *(name for name in names if name != config.benign_label)]

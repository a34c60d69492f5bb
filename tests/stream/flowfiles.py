"""Helpers for the streaming tests: flow files, and the handmade anomaly model's weights."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import orjson

from rtguard.data.schema import FeatureSchema

VARIANT = "onnx-fp32"


def anomaly_weights(n_features: int) -> np.ndarray:
    return np.random.default_rng(3).normal(0, 0.01, (n_features, 2)).astype(np.float32)


def write_csv(path: Path, schema: FeatureSchema, records: list[dict], extra: dict[str, list] | None = None) -> Path:
    """A flow CSV with a header; `extra` adds columns (name -> one value per record) after the features."""
    extra = extra or {}
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*schema.names, *extra])
        for index, record in enumerate(records):
            writer.writerow([*(record[name] for name in schema.names), *(values[index] for values in extra.values())])
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


def csv_line(schema: FeatureSchema, record: dict) -> str:
    return ",".join(str(record[name]) for name in schema.names)

"""One line of text to one flow record: CSV with a header line, or one JSON object a line.

A record maps every feature name to its value as the encoder takes it (categorical
values as strings, numbers as numbers); anything else on the line is ignored, except
the optional id field, which is copied into the flow's output line so a verdict can be
joined back to its flow. A line that cannot be read raises MalformedLine with the
reason; the stream reports it and goes on.
"""

from __future__ import annotations

import csv
from pathlib import Path

import orjson

from rtguard.data.schema import FeatureSchema
from rtguard.errors import DataError

FORMATS = ("csv", "jsonl")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


class MalformedLine(ValueError):
    """A line that is not a flow record; its message is the reason."""


def format_by_name(path: str) -> str | None:
    """The format a file's extension says (.csv; .jsonl, .ndjson, .json; under a .gz), or None (stdin, other names)."""
    return None if path == "-" else _SUFFIXES.get(Path(path.removesuffix(".gz").removesuffix(".GZ")).suffix.lower())


def format_by_content(first_line: bytes) -> str:
    """A first line that opens a JSON object means JSON lines; anything else is taken for a CSV header."""
    return "jsonl" if first_line.lstrip(b"\xef\xbb\xbf \t").startswith(b"{") else "csv"


class JsonFlows:
    """JSON lines: one object a line, keyed by feature name."""

    def __init__(self, schema: FeatureSchema, id_field: str | None):
        self.id_field = id_field

    def record(self, line: bytes) -> tuple[dict, object]:
        """The record and its id (None without an id field)."""
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MalformedLine(f"invalid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise MalformedLine(f"expected a JSON object of feature values, found {type(record).__name__}")
        return record, record.get(self.id_field) if self.id_field else None


class CsvFlows:
    """CSV: the first line names the columns; each later line is one flow with as many fields."""

    def __init__(self, schema: FeatureSchema, id_field: str | None):
        self.schema, self.id_field = schema, id_field
        self.categorical = {f.name for f in schema.features if f.kind == "categorical"}

    def read_header(self, line: bytes) -> None:
        """Where each feature's column is; a header that is no CSV record or lacks a feature makes the input unusable (DataError)."""
        try:
            names = [name.strip() for name in self._fields(line.decode("utf-8-sig", errors="replace"))]
        except MalformedLine as exc:
            raise DataError(f"the CSV header (its first line) is {exc}") from None
        wanted = self.schema.names + ([self.id_field] if self.id_field else [])
        missing = [name for name in wanted if name not in names]
        if missing:
            raise DataError(f"the CSV header (its first line) lacks the columns {missing}; the model takes the "
                            "features its schema.json names")
        self.n_fields = len(names)
        self.columns = [(name, names.index(name), name in self.categorical) for name in self.schema.names]
        self.id_column = names.index(self.id_field) if self.id_field else None

    def record(self, line: bytes) -> tuple[dict, object]:
        fields = self._fields(_text(line))
        if len(fields) != self.n_fields:
            raise MalformedLine(f"expected {self.n_fields} fields as the header names, found {len(fields)}")
        record = {}
        for name, column, categorical in self.columns:
            value = fields[column]
            if categorical:
                record[name] = value.strip()
                continue
            try:
                record[name] = float(value)  # takes surrounding spaces; "nan" and "inf" parse, and the runtime's guard refuses them
            except ValueError:
                raise MalformedLine(f"feature {name!r}: {value.strip()!r} is not a number") from None
        return record, None if self.id_column is None else fields[self.id_column]

    @staticmethod
    def _fields(text: str) -> list[str]:
        if '"' not in text:  # nothing quoted: the csv module would split at every comma too; str.split costs less
            return text.split(",")
        try:
            return next(csv.reader((text,)), [])
        except csv.Error as exc:
            raise MalformedLine(f"not a CSV record: {exc}") from None


def _text(line: bytes) -> str:
    """UTF-8, else Latin-1 (which decodes any byte: CIC-IDS2017 labels hold cp1252 dashes)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def flows_for(format: str, schema: FeatureSchema, id_field: str | None) -> CsvFlows | JsonFlows:
    return (CsvFlows if format == "csv" else JsonFlows)(schema, id_field)


def records_from_rows(rows, schema: FeatureSchema) -> list[dict]:
    """Coded feature rows (a run's splits) back to named flow records, for demos and benchmarks of a stream.

    Out-of-vocabulary codes become the value "never-seen".
    """
    records = []
    for row in rows.tolist():
        record = {}
        for value, feature in zip(row, schema.features):
            if feature.kind == "categorical":
                record[feature.name] = feature.vocabulary[int(value)] if int(value) < len(feature.vocabulary) else "never-seen"
            else:
                record[feature.name] = value
        records.append(record)
    return records

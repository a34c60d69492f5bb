"""One sensor line to its fields, then to the mapping's feature record and label: shared by the data set and the stream.

Readers take one line (bytes) at a time and keep only what a log's own header says
(Zeek's `#fields`, `#unset_field`), so a rotated or concatenated log (`tail -F`
following a rotation, `zcat conn.*.log.gz`) that restates its header mid-stream is
read on. A line that is not a flow of the sensor (a Zeek `#` line, a Suricata `dns` or
`alert` event) gives None and is passed over without a report; a line that should be a
flow and cannot be read raises MalformedLine with a one-line reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from rtguard.sensors.mappings import UNSET, ZEEK, SensorMapping, zeek_label

_MISSING = object()


class MalformedLine(ValueError):
    """A line that should be a flow of the sensor and cannot be read; its message is the one-line reason."""


# IoT-23's labelled conn.logs put three spaces, not a tab, before `label` and `detailed-label` (header and rows).
_ZEEK_SPLIT = re.compile(r"\t| {3}")


_CONN = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes conn_state local_orig "
         "local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents").split()
# conn.log's standard layouts by field count, for rows read before any #fields line (`tail -F conn.log` starts mid-file).
CONN_LAYOUTS = {
    20: [name for name in _CONN if name != "local_resp"],  # Zeek before 2.x's local_resp
    21: _CONN,
    22: [*_CONN, "ip_proto"],  # Zeek 5+
    23: [*_CONN, "label", "detailed-label"],  # IoT-23 / CTU labelled
}


class ZeekTsv:
    """Zeek's tab-separated log: `#fields` names the columns, `#unset_field` (default `-`) marks a field not set.

    Rows before any `#fields` line take conn.log's standard layout of their field count.
    """

    def __init__(self):
        self.columns: list[str] | None = None
        self.unset = UNSET

    def fields(self, line: bytes) -> Mapping[str, object] | None:
        text = _text(line)
        if text.startswith("#"):
            self._directive(text)
            return None
        values = _ZEEK_SPLIT.split(text)
        columns = self.columns if self.columns is not None else CONN_LAYOUTS.get(len(values))
        if columns is None:
            raise MalformedLine(f"a Zeek TSV row of {len(values)} fields before any #fields header line, which matches no "
                                f"standard conn.log layout ({', '.join(map(str, CONN_LAYOUTS))} fields)")
        if len(values) != len(columns):
            raise MalformedLine(f"expected {len(columns)} tab-separated fields as #fields names, found {len(values)}")
        return {name: (_MISSING if value == self.unset else value) for name, value in zip(columns, values)}

    def _directive(self, text: str) -> None:
        name, _, value = text.partition("\t")
        if name == "#fields":
            self.columns = [column for column in _ZEEK_SPLIT.split(value) if column]
        elif name == "#unset_field":
            self.unset = value


class JsonFields:
    """One JSON object a line (Zeek JSON with dotted keys, Suricata eve.json); dotted paths also reach into nested objects."""

    def __init__(self, event_type: str | None = None):
        self.event_type = event_type  # eve.json: only records of this event_type are flows

    def fields(self, line: bytes) -> Mapping[str, object] | None:
        if line.startswith(b"#"):  # a comment some collectors prepend
            return None
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MalformedLine(f"invalid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise MalformedLine(f"expected a JSON object, found {type(record).__name__}")
        if self.event_type is not None and record.get("event_type") != self.event_type:
            return None
        return _Nested(record)


class _Nested(Mapping):
    """A JSON record read by dotted path: a key as written first (Zeek's "id.orig_h"), else a walk into nested objects."""

    def __init__(self, record: dict):
        self.record = record

    def __getitem__(self, path: str) -> object:
        if path in self.record:
            return self.record[path]
        value: object = self.record
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                raise KeyError(path)
            value = value[part]
        return value

    def __iter__(self):
        return iter(self.record)

    def __len__(self) -> int:
        return len(self.record)


def features(mapping: SensorMapping, fields: Mapping[str, object]) -> dict:
    """The mapping's feature record: numbers as float, categories as str, unset fields at the mapping's defaults."""
    record = {}
    for feature in mapping.features:
        value = fields.get(feature.field, _MISSING)
        if value is None:
            value = _MISSING
        if feature.kind == "categorical":
            if value is _MISSING:
                record[feature.name] = UNSET
            elif isinstance(value, bool):
                record[feature.name] = "T" if value else "F"  # Zeek's own spelling of a bool
            elif isinstance(value, (str, int)):
                record[feature.name] = str(value).strip()
            else:
                raise MalformedLine(f"field {feature.field!r}: expected a string, found {type(value).__name__}")
            continue
        if value is _MISSING:
            record[feature.name] = 0.0
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            record[feature.name] = float(value)
        elif isinstance(value, str):
            try:
                record[feature.name] = float(value)
            except ValueError:
                raise MalformedLine(f"field {feature.field!r}: {value.strip()[:40]!r} is not a number") from None
        else:
            raise MalformedLine(f"field {feature.field!r}: expected a number, found {type(value).__name__}")
    return record


def label(mapping: SensorMapping, fields: Mapping[str, object], label_field: str | None = None) -> str:
    """The flow's class; IoT-23 Zeek logs give it in two columns (label, detailed-label)."""
    if label_field is None and mapping is ZEEK:
        value = fields.get("label", _MISSING)
        if value is _MISSING or not isinstance(value, str):
            raise MalformedLine("no label (IoT-23 `label` / `detailed-label` columns) on this flow")
        detailed = fields.get("detailed-label", _MISSING)
        return zeek_label(value, detailed if isinstance(detailed, str) else None)
    name = label_field or mapping.label_fields[0]
    value = fields.get(name, _MISSING)
    if value is _MISSING or not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise MalformedLine(f"no label in field {name!r}")
    return str(value).strip()


def reader_for(mapping: SensorMapping, first_line: bytes):
    """Zeek: TSV when the log opens with a `#` header, else JSON; Suricata: eve.json flow events."""
    if mapping.name == "suricata":
        return JsonFields("flow")
    return JsonFields() if first_line.lstrip(b"\xef\xbb\xbf \t").startswith(b"{") else ZeekTsv()


def _text(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")

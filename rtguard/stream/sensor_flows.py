"""Stream readers for sensor logs: a Zeek conn.log (TSV or JSON), Suricata eve.json flows, a CICFlowMeter CSV.

Each line goes through the sensor's mapping (rtguard.sensors), the same code the
`zeek` / `suricata` / `cicflowmeter` data sets train on, so the model sees the shape it
learned. A sensor line that is no flow (a Zeek `#` header, an eve.json `dns` event)
gives None and is passed over quietly; one that cannot be read raises MalformedLine.
"""

from __future__ import annotations

from rtguard.data.schema import FeatureSchema
from rtguard.errors import DataError
from rtguard.sensors import records as sensor_records
from rtguard.sensors.mappings import SensorMapping
from rtguard.stream.flows import CsvFlows, MalformedLine

_MISSING = object()


class SensorFlows:
    """Zeek or Suricata lines to the mapping's feature records; `id_field` (e.g. uid, flow_id) read from the sensor's own fields."""

    def __init__(self, mapping: SensorMapping, schema: FeatureSchema, id_field: str | None):
        missing = [name for name in schema.names if name not in mapping.names]
        if missing:
            raise DataError(f"the model's features {missing[:5]}{' ...' if len(missing) > 5 else ''} are not {mapping.name} "
                            f"features: --format {mapping.name} scores models trained with --dataset {mapping.name}")
        self.mapping, self.id_field = mapping, id_field
        self.reader = None

    def record(self, line: bytes) -> tuple[dict, object] | None:
        if self.reader is None:
            self.reader = sensor_records.reader_for(self.mapping, line)
        try:
            fields = self.reader.fields(line)
            if fields is None:
                return None
            record = sensor_records.features(self.mapping, fields)
        except sensor_records.MalformedLine as exc:
            raise MalformedLine(str(exc)) from None
        flow_id = fields.get(self.id_field, None) if self.id_field else None
        return record, flow_id if isinstance(flow_id, (str, int, float, bool)) else None  # unset: no id


class CicFlowMeterFlows(CsvFlows):
    """CICFlowMeter's CSV: header names stripped of their leading spaces, a repeated name suffixed `.1` as training named it."""

    def read_header(self, line: bytes) -> None:
        text = line.decode("utf-8-sig", errors="replace")
        try:
            names = [name.strip() for name in self._fields(text)]
        except MalformedLine as exc:
            raise DataError(f"the CSV header (its first line) is {exc}") from None
        super().read_header(",".join(_deduplicated(names)).encode())


def _deduplicated(names: list[str]) -> list[str]:
    """pandas' names for repeated columns: the second `X` is `X.1`, the third `X.2`."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}.{count}")
    return out

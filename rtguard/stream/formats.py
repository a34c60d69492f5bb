"""Which reader a stream format names: plain CSV / JSON lines of the model's features, or a sensor's own log."""

from __future__ import annotations

from rtguard.data.schema import FeatureSchema
from rtguard.stream.flows import CsvFlows, JsonFlows
from rtguard.stream.flows import flows_for as plain_flows_for
from rtguard.stream.flows import format_by_content as plain_format_by_content

FORMATS = ("csv", "jsonl", "zeek", "suricata", "cicflowmeter")


def flows_for(format: str, schema: FeatureSchema, id_field: str | None):
    """The reader of `format`; each gives record(line) -> (record, id), or None for a line that is not a flow."""
    if format in ("zeek", "suricata"):
        from rtguard.sensors.mappings import SENSORS
        from rtguard.stream.sensor_flows import SensorFlows

        return SensorFlows(SENSORS[format], schema, id_field)
    if format == "cicflowmeter":
        from rtguard.stream.sensor_flows import CicFlowMeterFlows

        return CicFlowMeterFlows(schema, id_field)
    return plain_flows_for(format, schema, id_field)


def columnar_for(schema: FeatureSchema, flows):
    """The whole-batch encoder for a reader (CSV once its header is read, CICFlowMeter's included; JSON lines; Zeek TSV;
    Suricata eve.json), or None."""
    if isinstance(flows, (CsvFlows, JsonFlows)):
        from rtguard.stream.columnar import ColumnarFlows

        return ColumnarFlows(schema, flows)
    from rtguard.stream.sensor_flows import SensorFlows

    if isinstance(flows, SensorFlows) and flows.mapping.name == "zeek":
        from rtguard.stream.sensor_columnar import ZeekColumnar

        return ZeekColumnar(schema, flows)
    if isinstance(flows, SensorFlows) and flows.mapping.name == "suricata":
        from rtguard.stream.sensor_columnar import EveColumnar

        return EveColumnar(schema, flows)
    return None


def format_by_content(first_line: bytes, by_name: str | None = None) -> str:
    """A Zeek TSV header (`#separator`, `#fields`) means zeek; a JSON object with Zeek's dotted `id.orig_h` zeek, with
    eve.json's `event_type` suricata, any other jsonl; anything else is taken for a CSV header. `by_name`, what the
    file's extension says (stream.flows.format_by_name), is taken as it is, except that the content tells which JSON
    a .json or .jsonl file holds: Suricata's log is eve.json, Zeek's JSON logs are often named .json too."""
    line = first_line.lstrip(b"\xef\xbb\xbf \t")
    sensor_json = None
    if line.startswith(b"{"):
        sensor_json = "zeek" if b'"id.orig_h"' in line else "suricata" if b'"event_type"' in line else None
    if by_name is not None:
        return sensor_json if by_name == "jsonl" and sensor_json else by_name
    if line.startswith((b"#separator", b"#fields")) or (line.count(b"\t") >= 19 and b"," not in line):  # a header, or a
        return "zeek"  # conn.log row of 20+ tab-separated fields (`tail -F conn.log` starts past the header)
    return sensor_json or plain_format_by_content(line)

"""What each sensor's flow record means as features: one mapping per sensor, read by training and by scoring alike.

A model trained with `--dataset zeek` and a stream scored with `--format zeek` see the
same features because both go through the mapping here: which fields are features (and
their kinds), which are categorical, and which are identifiers a model must not learn
from (addresses, timestamps, connection ids: dropped, never features). A field a sensor
leaves unset (Zeek's `-`, a key Suricata omits) takes the mapping's stated default: 0
for a count or a duration (Zeek leaves them unset when nothing was sent), `-` for a
category (a value of its own, as UNSW-NB15's service `-`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

UNSET = "-"


@dataclass(frozen=True)
class Feature:
    name: str  # the feature's name in schema.json
    field: str  # where the sensor puts it: a column, or a dotted path into a nested JSON record
    kind: str  # continuous, count, rate or categorical (rtguard.data.schema.Kind)


@dataclass(frozen=True)
class SensorMapping:
    name: str
    features: tuple[Feature, ...]
    identifiers: tuple[str, ...]  # fields read but never features
    label_fields: tuple[str, ...] = ()  # where the label is, when the source is labelled
    benign: str = "Benign"
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "categorical"]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]


def _features(categorical: dict[str, str], counts: dict[str, str], continuous: dict[str, str]) -> tuple[Feature, ...]:
    return (*(Feature(name, path, "categorical") for name, path in categorical.items()),
            *(Feature(name, path, "count") for name, path in counts.items()),
            *(Feature(name, path, "continuous") for name, path in continuous.items()))


# Zeek conn.log (TSV or JSON; JSON keys are the same dotted names). The responder port is a service
# identity, kept as a category; the originator's ephemeral port and the addresses are identifiers.
ZEEK = SensorMapping(
    name="zeek",
    features=_features(
        categorical={"proto": "proto", "service": "service", "conn_state": "conn_state", "history": "history", "id.resp_p": "id.resp_p"},
        counts={name: name for name in ("orig_bytes", "resp_bytes", "missed_bytes", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes")},
        continuous={"duration": "duration"},
    ),
    identifiers=("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "local_orig", "local_resp", "tunnel_parents", "ip_proto"),
    label_fields=("label", "detailed-label"),  # IoT-23 / CTU: Benign or Malicious, then the family (`-` for benign)
)

# Suricata eve.json, `event_type: "flow"` records; counters live under "flow", TCP flags under "tcp" (absent for UDP).
SURICATA = SensorMapping(
    name="suricata",
    features=_features(
        categorical={"proto": "proto", "app_proto": "app_proto", "dest_port": "dest_port", "state": "flow.state",
                     "reason": "flow.reason", "tcp_flags": "tcp.tcp_flags"},
        counts={"pkts_toserver": "flow.pkts_toserver", "pkts_toclient": "flow.pkts_toclient",
                "bytes_toserver": "flow.bytes_toserver", "bytes_toclient": "flow.bytes_toclient"},
        continuous={"age": "flow.age"},
    ),
    identifiers=("timestamp", "flow_id", "src_ip", "src_port", "dest_ip", "in_iface", "flow.start", "flow.end", "flow.alerted"),
    label_fields=("label",),  # eve.json carries none: a labelled export adds a top-level "label"
)

# CICFlowMeter CSV (CIC-IDS2017 MachineLearningCVE and TrafficLabelling): every column but the label and the
# identifiers is a numeric feature, named as the header names it with the spaces stripped; a repeated name
# (CIC's second "Fwd Header Length") gets ".1", as pandas names it. Infinity and NaN cells stay: the data stage
# imputes them with the training median and the stream's guard treats them as the runtime is configured to.
CICFLOWMETER = SensorMapping(
    name="cicflowmeter",
    features=(),  # every non-identifier column, known only from the header
    identifiers=("Flow ID", "Source IP", "Source Port", "Destination IP", "Timestamp", "Src IP", "Src Port", "Dst IP"),
    label_fields=("Label",),
    benign="BENIGN",
)

SENSORS = {mapping.name: mapping for mapping in (ZEEK, SURICATA, CICFLOWMETER)}


def zeek_label(label: str, detailed: str | None) -> str:
    """IoT-23's class: the detailed label of a malicious flow (DDoS, C&C, ...), else Benign (or the label as given)."""
    label = label.strip()
    detailed = (detailed or UNSET).strip()
    if label.lower() == "benign":
        return "Benign"
    return detailed if detailed not in ("", UNSET, "(empty)") else label

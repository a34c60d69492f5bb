"""The embedded default data set: seeded, labelled network flows for intrusion detection.

rtguard has to run end to end with no download, so it ships a generator instead of a
file. Flows come from a table of traffic *profiles*; each profile belongs to one class
and says how every feature of its flows is distributed. Benign traffic includes
look-alikes of the attacks (bulk uploads, mistyped passwords, bursts, monitoring
probes) and every attack has a stealthy profile, so classes overlap as they do on
real networks and a good detector is good but not perfect.

The test split is generated apart from the training split, with the attack profiles
drifted (floods slower, scans slower and narrower, brute force more patient,
exfiltration in smaller chunks): test scores come out below validation scores, as
they do after deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from rtguard.data.frames import LabelledFrames

BENIGN = "benign"
CLASSES = [BENIGN, "dos", "portscan", "bruteforce", "exfiltration"]
TEST_FRACTION = 0.25
CONN_STATES = ("SF", "S0", "REJ", "RSTO", "RSTR", "SH", "OTH")  # Zeek/KDD connection states
CATEGORICAL = ["protocol", "service", "conn_state"]
KINDS = {
    "duration": "continuous",  # seconds
    "src_bytes": "count",  # payload bytes, originator to responder
    "dst_bytes": "count",
    "src_packets": "count",
    "dst_packets": "count",
    "mean_iat_ms": "continuous",  # mean packet inter-arrival time
    "iat_std_ms": "continuous",
    "syn_flag_rate": "rate",  # share of packets with SYN set
    "rst_rate": "rate",
    "serror_rate": "rate",  # share of the source's recent connections with SYN errors
    "same_service_rate": "rate",  # share of the source's recent connections to the same service
    "distinct_dst_rate": "rate",  # share of the source's recent connections to distinct hosts
    "payload_entropy": "rate",  # byte entropy of the payload / 8 bits
    "conns_in_window": "count",  # connections from the source in the last two seconds
    "same_host_conns": "count",  # ... of which to this destination host
    "distinct_dst_ports": "count",  # distinct destination ports among them
    "failed_logins": "count",
    "urgent_packets": "count",
}
FEATURES = CATEGORICAL + list(KINDS)

LogNormal = tuple[float, float]  # (median, sigma of the log)
Beta = tuple[float, float]  # (mean, concentration): larger concentration, tighter around the mean


@dataclass(frozen=True)
class Profile:
    """One kind of traffic. Defaults describe ordinary web traffic; profiles list what differs.

    `service` weighs "protocol/service" pairs so that protocol and service always agree.
    Counts are 1 + Poisson (windows include the flow itself) or Poisson (failed logins,
    urgent packets) with a log-normal mean. `drift` multiplies the first parameter
    (median or mean) of the named fields when the test split is generated; a drifted
    rate's mean must stay below 1.
    """

    label: str
    share: float  # of all flows
    service: dict[str, float]
    conn_state: dict[str, float] = field(
        default_factory=lambda: {"SF": 0.86, "S0": 0.02, "REJ": 0.02, "RSTO": 0.04, "RSTR": 0.03, "SH": 0.01, "OTH": 0.02}
    )
    src_packets: LogNormal = (8.0, 1.0)  # extra packets beyond the first
    packet_size: LogNormal = (300.0, 0.7)  # payload bytes per source packet
    reply_ratio: LogNormal = (1.2, 0.3)  # destination packets per source packet
    reply_size: LogNormal = (900.0, 0.8)
    iat_ms: LogNormal = (40.0, 1.3)
    iat_cv: LogNormal = (1.0, 0.4)  # IAT std / mean
    syn_flag_rate: Beta = (0.1, 20.0)
    rst_rate: Beta = (0.05, 20.0)
    serror_rate: Beta = (0.03, 10.0)
    same_service_rate: Beta = (0.6, 5.0)
    distinct_dst_rate: Beta = (0.3, 5.0)
    payload_entropy: Beta = (0.7, 6.0)
    conns_in_window: LogNormal = (3.0, 0.8)
    same_host_conns: LogNormal = (1.5, 0.8)
    distinct_dst_ports: LogNormal = (0.3, 0.6)
    failed_logins: LogNormal = (0.0, 0.0)
    urgent_packets: LogNormal = (0.001, 0.5)
    drift: dict[str, float] = field(default_factory=dict)


LOGIN = {"tcp/ssh": 0.5, "tcp/rdp": 0.2, "tcp/ftp": 0.2, "tcp/telnet": 0.1}

PROFILES = [
    # benign: 80 %
    Profile(BENIGN, 0.51, {"tcp/http": 0.35, "tcp/https": 0.5, "tcp/smtp": 0.05, "tcp/other": 0.05, "udp/other": 0.05}),
    Profile(  # name lookups
        BENIGN, 0.12, {"udp/dns": 1.0}, conn_state={"SF": 0.92, "S0": 0.04, "OTH": 0.04},
        src_packets=(0.3, 1.0), packet_size=(60, 0.3), reply_ratio=(1.0, 0.1), reply_size=(150, 0.5),
        iat_ms=(5, 1.0), payload_entropy=(0.35, 10), same_service_rate=(0.8, 5), conns_in_window=(5, 0.8),
    ),
    Profile(  # administrators' interactive sessions
        BENIGN, 0.04, {"tcp/ssh": 0.7, "tcp/rdp": 0.25, "tcp/telnet": 0.05},
        src_packets=(300, 1.2), packet_size=(80, 0.6), reply_ratio=(1.1, 0.3), reply_size=(200, 0.8),
        iat_ms=(400, 1.2), payload_entropy=(0.9, 30), conns_in_window=(2, 0.6), failed_logins=(0.05, 1.0),
        urgent_packets=(0.05, 1.0),  # telnet and rlogin send interrupts as urgent data
    ),
    Profile(  # backups and uploads: look like exfiltration, but faster
        BENIGN, 0.025, {"tcp/https": 0.5, "tcp/ftp": 0.2, "tcp/ssh": 0.3},
        src_packets=(1000, 1.0), packet_size=(1000, 0.4), reply_ratio=(0.4, 0.4), reply_size=(60, 0.4),
        iat_ms=(30, 1.5), payload_entropy=(0.93, 30), conns_in_window=(2, 0.6), same_service_rate=(0.7, 5),
    ),
    Profile(  # telemetry and sync clients: small, slow, encrypted uploads like low-and-slow exfiltration
        BENIGN, 0.025, {"tcp/https": 0.9, "tcp/other": 0.1},
        src_packets=(40, 0.9), packet_size=(300, 0.6), reply_ratio=(0.8, 0.4), reply_size=(150, 0.5),
        iat_ms=(1200, 1.0), payload_entropy=(0.93, 30), conns_in_window=(2, 0.6),
    ),
    Profile(  # mistyped passwords and busy jump hosts: look like brute force
        BENIGN, 0.025, LOGIN, conn_state={"SF": 0.85, "RSTO": 0.1, "RSTR": 0.05},
        src_packets=(25, 0.8), packet_size=(120, 0.5), reply_ratio=(1.0, 0.3), reply_size=(200, 0.5),
        iat_ms=(150, 1.0), payload_entropy=(0.85, 20), same_service_rate=(0.8, 5), failed_logins=(1.0, 0.7),
        conns_in_window=(3, 1.0), same_host_conns=(2.5, 1.0),
    ),
    Profile(  # health checks and prefetching: look like floods
        BENIGN, 0.03, {"tcp/http": 0.6, "tcp/https": 0.3, "udp/other": 0.1},
        conn_state={"SF": 0.75, "S0": 0.08, "REJ": 0.05, "RSTO": 0.06, "OTH": 0.06},
        src_packets=(2, 0.6), packet_size=(150, 0.5), reply_size=(500, 0.8), iat_ms=(3, 1.0),
        syn_flag_rate=(0.3, 8), serror_rate=(0.1, 8), same_service_rate=(0.9, 10),
        conns_in_window=(30, 0.8), same_host_conns=(25, 0.8),
    ),
    Profile(  # inventory and monitoring probes: look like slow scans
        BENIGN, 0.025, {"tcp/other": 0.6, "tcp/http": 0.1, "tcp/ssh": 0.1, "icmp/other": 0.1, "udp/other": 0.1},
        conn_state={"SF": 0.5, "REJ": 0.25, "S0": 0.15, "RSTR": 0.1},
        src_packets=(0.7, 0.6), packet_size=(60, 0.4), iat_ms=(150, 1.0), syn_flag_rate=(0.45, 5), rst_rate=(0.2, 5),
        same_service_rate=(0.3, 5), distinct_dst_rate=(0.5, 3), conns_in_window=(10, 0.7), same_host_conns=(8, 0.7),
        distinct_dst_ports=(4, 0.8),
    ),
    # dos: 7 %
    Profile(  # SYN, UDP and ICMP floods
        "dos", 0.04, {"tcp/http": 0.6, "tcp/https": 0.2, "udp/other": 0.1, "icmp/other": 0.1},
        conn_state={"S0": 0.55, "REJ": 0.1, "SF": 0.25, "OTH": 0.1},
        src_packets=(1, 0.6), packet_size=(60, 0.4), iat_ms=(0.8, 1.2), syn_flag_rate=(0.8, 4),
        serror_rate=(0.7, 3), same_service_rate=(0.9, 10), distinct_dst_rate=(0.05, 10), payload_entropy=(0.3, 5),
        conns_in_window=(100, 0.9), same_host_conns=(90, 0.9),
        drift={"iat_ms": 2.0, "conns_in_window": 0.6, "same_host_conns": 0.6, "syn_flag_rate": 0.85, "serror_rate": 0.8},
    ),
    Profile(  # application-layer floods: complete, ordinary-looking requests, just too many
        "dos", 0.02, {"tcp/http": 0.7, "tcp/https": 0.3},
        conn_state={"SF": 0.7, "S0": 0.1, "RSTO": 0.1, "OTH": 0.1},
        src_packets=(2, 0.6), packet_size=(200, 0.5), reply_size=(500, 0.8), iat_ms=(2, 1.0),
        syn_flag_rate=(0.35, 8), serror_rate=(0.15, 8), same_service_rate=(0.95, 20),
        conns_in_window=(90, 0.7), same_host_conns=(85, 0.7),
        drift={"conns_in_window": 0.7, "same_host_conns": 0.7},
    ),
    Profile(  # slowloris: many half-finished, long connections
        "dos", 0.01, {"tcp/http": 0.8, "tcp/https": 0.2}, conn_state={"SF": 0.3, "SH": 0.3, "OTH": 0.2, "RSTO": 0.2},
        src_packets=(40, 0.7), packet_size=(30, 0.5), reply_ratio=(0.3, 0.5), reply_size=(100, 0.5),
        iat_ms=(3000, 0.8), payload_entropy=(0.4, 10), conns_in_window=(20, 0.8), same_host_conns=(18, 0.8),
        drift={"conns_in_window": 0.6, "same_host_conns": 0.6, "iat_ms": 1.5},
    ),
    # portscan: 6 %
    Profile(
        "portscan", 0.04, {"tcp/other": 0.8, "udp/other": 0.1, "icmp/other": 0.1},
        conn_state={"REJ": 0.45, "S0": 0.35, "RSTR": 0.1, "SF": 0.1},
        src_packets=(0.3, 0.6), packet_size=(40, 0.4), iat_ms=(2, 1.2), syn_flag_rate=(0.8, 4), rst_rate=(0.5, 3),
        serror_rate=(0.4, 3), same_service_rate=(0.1, 5), distinct_dst_rate=(0.5, 2),
        conns_in_window=(50, 0.9), same_host_conns=(40, 0.9), distinct_dst_ports=(30, 1.0),
        drift={"iat_ms": 3.0, "distinct_dst_ports": 0.4, "conns_in_window": 0.4, "same_host_conns": 0.4},
    ),
    Profile(  # slow, narrow scans
        "portscan", 0.02, {"tcp/other": 0.6, "tcp/http": 0.1, "tcp/ssh": 0.1, "icmp/other": 0.1, "udp/other": 0.1},
        conn_state={"REJ": 0.35, "S0": 0.25, "SF": 0.3, "RSTR": 0.1},
        src_packets=(0.6, 0.6), packet_size=(50, 0.4), iat_ms=(200, 1.0), syn_flag_rate=(0.55, 5), rst_rate=(0.3, 5),
        same_service_rate=(0.2, 5), distinct_dst_rate=(0.5, 3), conns_in_window=(12, 0.7), same_host_conns=(10, 0.7),
        distinct_dst_ports=(9, 0.8),
        drift={"iat_ms": 2.0, "distinct_dst_ports": 0.7, "conns_in_window": 0.7, "same_host_conns": 0.7},
    ),
    # bruteforce: 4 %
    Profile(
        "bruteforce", 0.025, LOGIN, conn_state={"SF": 0.6, "RSTO": 0.3, "RSTR": 0.1},
        src_packets=(20, 0.6), packet_size=(100, 0.5), reply_ratio=(1.0, 0.3), reply_size=(150, 0.5),
        iat_ms=(40, 1.0), payload_entropy=(0.85, 20), same_service_rate=(0.95, 20),
        conns_in_window=(15, 0.9), same_host_conns=(13, 0.9), failed_logins=(6, 0.8),
        drift={"iat_ms": 2.5, "failed_logins": 0.6, "conns_in_window": 0.5, "same_host_conns": 0.5},
    ),
    Profile(  # low and slow password guessing
        "bruteforce", 0.015, LOGIN, conn_state={"SF": 0.75, "RSTO": 0.15, "RSTR": 0.1},
        src_packets=(22, 0.7), packet_size=(110, 0.5), reply_ratio=(1.0, 0.3), reply_size=(180, 0.5),
        iat_ms=(250, 1.0), payload_entropy=(0.85, 20), same_service_rate=(0.85, 10),
        conns_in_window=(4, 0.8), same_host_conns=(3.5, 0.8), failed_logins=(3.0, 0.6),
        drift={"iat_ms": 2.0, "failed_logins": 0.7},
    ),
    # exfiltration: 3 %
    Profile(  # encrypted uploads, paced to stay under the radar
        "exfiltration", 0.015, {"tcp/https": 0.85, "tcp/other": 0.15},
        src_packets=(600, 1.0), packet_size=(800, 0.5), reply_ratio=(0.2, 0.5), reply_size=(60, 0.4),
        iat_ms=(300, 1.2), payload_entropy=(0.95, 40), conns_in_window=(1.5, 0.5),
        drift={"packet_size": 0.6, "src_packets": 0.7, "iat_ms": 1.5},
    ),
    Profile(  # low and slow: small chunks at long intervals
        "exfiltration", 0.01, {"tcp/https": 0.9, "tcp/other": 0.1},
        src_packets=(60, 0.8), packet_size=(500, 0.5), reply_ratio=(0.3, 0.4), reply_size=(100, 0.5),
        iat_ms=(2000, 0.8), payload_entropy=(0.95, 40), conns_in_window=(1.5, 0.5),
        drift={"packet_size": 0.7, "iat_ms": 0.8},
    ),
    Profile(  # DNS tunnelling
        "exfiltration", 0.005, {"udp/dns": 1.0}, conn_state={"SF": 0.9, "OTH": 0.1},
        src_packets=(40, 0.9), packet_size=(150, 0.4), reply_ratio=(1.0, 0.1), reply_size=(120, 0.4),
        iat_ms=(800, 1.0), payload_entropy=(0.85, 20), same_service_rate=(0.95, 20), conns_in_window=(3, 0.6),
        drift={"packet_size": 0.6, "src_packets": 0.6, "iat_ms": 1.5},
    ),
]


# An attack family the generated data set lacks, for model updates (`rtguard update`): command-and-control
# beacons, small encrypted check-ins at a steady pace to one host.
NOVEL_PROFILES = [
    Profile(
        "c2-beacon", 0.05, {"tcp/https": 0.8, "tcp/other": 0.2},
        src_packets=(3, 0.3), packet_size=(120, 0.2), reply_ratio=(1.0, 0.1), reply_size=(90, 0.2),
        iat_ms=(5000, 0.2), iat_cv=(0.05, 0.3), payload_entropy=(0.95, 50), conns_in_window=(1.0, 0.2),
    ),
]


def new_traffic(n_flows: int, seed: int = 1) -> pd.DataFrame:
    """Fresh labelled flows (features and a "label" column) with c2-beacon, a family the model never saw, among the known ones."""
    frame, labels = _flows(PROFILES + NOVEL_PROFILES, n_flows, np.random.default_rng(seed))
    return frame.assign(label=labels)


def generate(n_flows: int = 120_000, seed: int = 0) -> LabelledFrames:
    """Train (75 %) and test (25 %) flows; the test split's attacks are drifted."""
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    n_test = round(TEST_FRACTION * n_flows)
    train, train_labels = _flows(PROFILES, n_flows - n_test, train_rng)
    test, test_labels = _flows([_drifted(p) for p in PROFILES], n_test, test_rng)
    return LabelledFrames(
        train=train, train_labels=train_labels, test=test, test_labels=test_labels,
        categorical=list(CATEGORICAL), classes=list(CLASSES), benign=BENIGN,
        source=f"synthetic(n_flows={n_flows}, seed={seed})", kinds=dict(KINDS),
    )


def _drifted(profile: Profile) -> Profile:
    """The profile as seen after deployment: drift multiplies each named location parameter."""
    return replace(profile, **{
        name: (getattr(profile, name)[0] * factor, getattr(profile, name)[1]) for name, factor in profile.drift.items()
    })


def _flows(profiles: list[Profile], n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.Series]:
    """n shuffled flows, each profile contributing its share (largest remainder rounding)."""
    shares = np.array([p.share for p in profiles])
    exact = shares / shares.sum() * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: n - counts.sum()]] += 1
    ids = rng.permutation(np.repeat(np.arange(len(profiles)), counts))

    def param(name: str) -> tuple[np.ndarray, np.ndarray]:
        table = np.array([getattr(p, name) for p in profiles], dtype=np.float64)
        return table[ids, 0], table[ids, 1]

    apps = sorted({app for p in profiles for app in p.service})
    app = _categorical(rng, ids, [p.service for p in profiles], apps)
    protocol, service = np.array([a.split("/") for a in apps]).T
    state = _categorical(rng, ids, [p.conn_state for p in profiles], CONN_STATES)
    no_reply, rejected = state == CONN_STATES.index("S0"), state == CONN_STATES.index("REJ")
    no_payload = no_reply | rejected

    src_packets = 1 + rng.poisson(_lognormal(rng, *param("src_packets")))
    dst_packets = rng.poisson(src_packets * _lognormal(rng, *param("reply_ratio")))
    dst_packets = np.where(no_reply, 0, np.where(rejected, 1, dst_packets))  # REJ: one RST back
    src_bytes = np.where(no_payload, 0, np.round(src_packets * _lognormal(rng, *param("packet_size"))))
    dst_bytes = np.where(no_payload, 0, np.round(dst_packets * _lognormal(rng, *param("reply_size"))))
    gaps = src_packets + dst_packets - 1
    mean_iat = np.where(gaps > 0, _lognormal(rng, *param("iat_ms")), 0.0)
    iat_std = np.where(gaps > 1, mean_iat * _lognormal(rng, *param("iat_cv")), 0.0)
    conns = 1 + _counts(rng, *param("conns_in_window"))

    columns = {
        "protocol": protocol[app],
        "service": service[app],
        "conn_state": np.array(CONN_STATES)[state],
        "duration": gaps * mean_iat / 1000.0,
        "src_bytes": src_bytes,
        "dst_bytes": dst_bytes,
        "src_packets": src_packets,
        "dst_packets": dst_packets,
        "mean_iat_ms": mean_iat,
        "iat_std_ms": iat_std,
        **{name: _beta(rng, *param(name)) for name in
           ("syn_flag_rate", "rst_rate", "serror_rate", "same_service_rate", "distinct_dst_rate")},
        "payload_entropy": np.where(src_bytes + dst_bytes > 0, _beta(rng, *param("payload_entropy")), 0.0),
        "conns_in_window": conns,
        "same_host_conns": np.minimum(conns, 1 + _counts(rng, *param("same_host_conns"))),
        "distinct_dst_ports": np.minimum(conns, 1 + _counts(rng, *param("distinct_dst_ports"))),
        "failed_logins": _counts(rng, *param("failed_logins")),
        "urgent_packets": _counts(rng, *param("urgent_packets")),
    }
    frame = pd.DataFrame({name: columns[name] for name in FEATURES})
    for name, kind in KINDS.items():
        frame[name] = frame[name].astype(np.int64 if kind == "count" else np.float64)
    labels = pd.Series(np.array([p.label for p in profiles])[ids], name="label")
    return frame, labels


def _lognormal(rng: np.random.Generator, median: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Heavy-tailed positive values: sizes, times and rates of traffic span decades."""
    return median * np.exp(sigma * rng.standard_normal(len(median)))


def _counts(rng: np.random.Generator, median: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Overdispersed counts: Poisson with a log-normal mean, as bursty event counts are."""
    return rng.poisson(_lognormal(rng, median, sigma))


def _beta(rng: np.random.Generator, mean: np.ndarray, concentration: np.ndarray) -> np.ndarray:
    """Rates in [0, 1] around a mean, tighter for a larger concentration."""
    return rng.beta(mean * concentration, (1.0 - mean) * concentration)


def _categorical(rng: np.random.Generator, ids: np.ndarray, weights: list[dict[str, float]], values: Sequence[str]) -> np.ndarray:
    """Codes into `values`, drawn per row from the row's profile weights (inverse CDF)."""
    table = np.array([[w.get(v, 0.0) for v in values] for w in weights])
    cdf = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    codes = (rng.random(len(ids))[:, None] > cdf[ids]).sum(axis=1)
    return np.minimum(codes, len(values) - 1)

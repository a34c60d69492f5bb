"""Prometheus metrics of one server: what it answered, how fast, in which batches, what it refused, which model.

Labels are bounded (route names, status codes, refusal reasons), never paths or clients,
so a scan of random URLs cannot blow up the series count. Each server has its own
registry: two apps in one process (tests) never share counters.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

# Seconds, from a tenth of a millisecond (a cached-session call) to seconds (a reload under load).
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ROW_BUCKETS = tuple(float(2**n) for n in range(14))  # 1 .. 8192 rows
REQUEST_BUCKETS = tuple(float(2**n) for n in range(10))  # 1 .. 512 requests per run


class Metrics:
    def __init__(self):
        disable_created_metrics()  # no *_created twin per series: half the lines, nothing a dashboard reads
        self.registry = CollectorRegistry()
        self.requests = Counter("rtguard_requests", "HTTP requests answered, by route and status.", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("rtguard_request_seconds", "Time from request to response, by route.", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_rows = Histogram("rtguard_batch_rows", "Rows per session run.", buckets=ROW_BUCKETS, registry=self.registry)
        self.batch_requests = Histogram("rtguard_batch_requests", "Requests coalesced into one session run.",
                                        buckets=REQUEST_BUCKETS, registry=self.registry)
        self.rejected = Counter("rtguard_rejected_requests", "Requests refused, by reason.", ["reason"], registry=self.registry)
        self.repaired = Counter("rtguard_repaired_values", "Input values repaired instead of refused: clipped to the "
                                "training range or out of vocabulary.", ["kind"], registry=self.registry)
        self.disconnects = Counter("rtguard_client_disconnects", "Requests whose client went away before they were answered.",
                                   registry=self.registry)
        self.model = Gauge("rtguard_model_info", "The model being served (1 for the current one).",
                           ["model", "version", "run", "variant"], registry=self.registry)
        self.loads = Counter("rtguard_model_loads", "Model loads (startup and hot reloads), by outcome.", ["outcome"], registry=self.registry)

    def observe_batch(self, requests: int, rows: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_rows.observe(rows)

    def serving(self, model: str, version: str, run: str, variant: str) -> None:
        self.model.clear()
        self.model.labels(model, version, run, variant).set(1)
        self.loads.labels("loaded").inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

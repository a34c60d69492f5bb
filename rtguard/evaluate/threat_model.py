"""What an attacker can change in a flow, and what a valid flow is.

The attacker shapes only its own malicious flows, and only what it controls: how long it
takes, how it paces packets, how many bytes and packets it sends, how its payload is
encoded. Protocol, service and connection state, the responder's side of the flow and the
defender's window aggregates are out of its reach. Every adversarial or noisy row is
projected back onto valid raw flows (immutable features and categoricals as they were,
each mutable feature within the range observed in training, counts integral) before a
variant sees it, so variants are scored on flows they could meet in deployment.

Perturbations are measured in the model's own standardized space: log1p for heavy-tailed
features, then (x - center) / scale, as the exported preprocessing does. One unit is one
training standard deviation of the (log-)feature, so a budget ε means the same for bytes,
packets and seconds, and a step on a log-scaled feature is a multiplicative change
(padding doubles the bytes, rather than adding one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtguard.data.schema import FeatureSchema
from rtguard.errors import ConfigError

# The data sets whose features rtguard knows: what the attacker of one flow controls.
DEFAULT_MUTABLE = {
    # Its own side of the flow: duration and pacing, bytes and packets sent, payload encoding,
    # urgent flags. Not the responder's bytes/packets, the connection state, flag mixes that are
    # the attack itself (a SYN flood is SYNs), failed logins, nor the two-second window counters.
    "synthetic": ("duration", "src_bytes", "src_packets", "mean_iat_ms", "iat_std_ms", "payload_entropy", "urgent_packets"),
    # The intrinsic features of its own connection it can pad or slow. The content features
    # (logins, shells, files) are what the attack does; the traffic features (count, srv_count,
    # *_rate, dst_host_*) are the defender's aggregates over many connections.
    "nsl-kdd": ("duration", "src_bytes", "urgent"),
}
GENERIC_RULE = ("every non-negative continuous or count feature (rates, categoricals and signed features stay fixed); "
                "an upper bound on what the attacker of one flow controls: name the features with evaluate.robustness.mutable")


@dataclass(frozen=True)
class ThreatModel:
    names: list[str]
    mutable: np.ndarray  # bool per feature: the attacker may change it
    integral: np.ndarray  # bool: counts, kept integral
    lower: np.ndarray  # raw bounds observed in training (float64)
    upper: np.ndarray
    log_scale: np.ndarray  # the exported preprocessing's transform, per feature
    center: np.ndarray
    scale: np.ndarray
    source: str  # where the mutable set came from

    @property
    def mutable_names(self) -> list[str]:
        return [n for n, m in zip(self.names, self.mutable) if m]

    def to_space(self, rows: np.ndarray) -> np.ndarray:
        """Raw rows into the standardized space (categorical codes pass through unchanged)."""
        rows = np.asarray(rows, dtype=np.float64)
        logged = np.where(self.log_scale, np.log1p(np.clip(rows, 0, None)), rows)
        return (logged - self.center) / self.scale

    def from_space(self, points: np.ndarray) -> np.ndarray:
        logged = np.asarray(points, dtype=np.float64) * self.scale + self.center
        return np.where(self.log_scale, np.expm1(np.where(self.log_scale, logged, 0.0)), logged)  # no overflow off the log features

    def bounds(self, original: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw bounds per feature: the training range, widened to the original flow's own values."""
        return np.minimum(self.lower, original), np.maximum(self.upper, original)

    def project(self, original: np.ndarray, candidate: np.ndarray) -> np.ndarray:
        """Valid raw rows: immutable features as in `original`, mutable ones within the observed
        range (widened to the original value, so a drifted test flow is not moved by clipping),
        counts rounded toward the original, so projecting never lengthens a perturbation (beyond float32 noise)."""
        original = np.asarray(original, dtype=np.float64)
        low, high = self.bounds(original)
        moved = np.clip(np.asarray(candidate, dtype=np.float64), low, high)
        slack = np.minimum(1e-6 * np.maximum(np.abs(moved), 1), 0.25)  # float32 round trips land a hair off an integer
        toward = np.where(moved > original, np.floor(moved + slack), np.ceil(moved - slack))
        moved = np.where(self.integral, toward, moved)
        return np.where(self.mutable, moved, original).astype(np.float32) + np.float32(0)  # + 0: no -0.0 from rounding up to 0

    def move(self, original: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Valid raw rows at `points` of the standardized space; a coordinate that did not move keeps
        the original value exactly (the round trip through the space is not a perturbation)."""
        original = np.asarray(original, dtype=np.float64)
        return self.project(original, original + self.from_space(points) - self.from_space(self.to_space(original)))

    def distance(self, original: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """L∞ distance per row in the standardized space (only mutable features can differ)."""
        gap = np.abs(self.to_space(rows) - self.to_space(original))
        return np.where(self.mutable, gap, 0.0).max(axis=1)


def threat_model(schema: FeatureSchema, dataset: str, mutable: list[str] | None) -> ThreatModel:
    """The configured mutable features, else the data set's default, else the generic rule."""
    if mutable is not None:
        names, source = list(mutable), "evaluate.robustness.mutable"
    elif dataset in DEFAULT_MUTABLE:
        names, source = list(DEFAULT_MUTABLE[dataset]), f"default for {dataset}"
    else:
        names = [f.name for f in schema.features if f.kind in ("continuous", "count") and f.minimum >= 0]
        source = f"generic rule: {GENERIC_RULE}"
    _check(schema, names)
    chosen = set(names)
    features = schema.features
    array = lambda values, dtype=np.float64: np.array(values, dtype=dtype)  # noqa: E731
    return ThreatModel(
        names=schema.names,
        mutable=array([f.name in chosen for f in features], bool),
        integral=array([f.kind == "count" for f in features], bool),
        lower=array([f.minimum for f in features]),
        upper=array([f.maximum for f in features]),
        log_scale=array([f.log_scale for f in features], bool),
        center=array([0.0 if f.kind == "categorical" else f.center for f in features]),
        scale=array([1.0 if f.kind == "categorical" else f.scale for f in features]),
        source=source,
    )


def _check(schema: FeatureSchema, names: list[str]) -> None:
    kinds = {f.name: f.kind for f in schema.features}
    unknown = [n for n in names if n not in kinds]
    if unknown:
        raise ConfigError(f"evaluate.robustness.mutable names features this data set does not have: {', '.join(unknown)} "
                          f"(its features: {', '.join(kinds)})")
    categorical = [n for n in names if kinds[n] == "categorical"]
    if categorical:
        raise ConfigError(f"evaluate.robustness.mutable lists categorical features {', '.join(categorical)}: protocol, service "
                          "and other codes are outside an attacker's control here; leave them out")
    if not names:
        raise ConfigError("the threat model leaves the attacker no feature to change: name the features it controls "
                          "with evaluate.robustness.mutable, or set evaluate.robustness.enabled = false")

"""The training-speed half of the trade-off in one line per variant: what it costs to rebuild, what it buys.

E.g. "distilled-small: +40.0 s training, 3.10x throughput, -0.20 pt detection rate": seconds beyond
training the reference (fine-tuning, export, passes), throughput as a multiple of the reference's,
detection rate in percentage points against it. A user retraining after new attacks reads here
which variant is worth its extra minutes.
"""

from __future__ import annotations

KEYS = ("train_seconds", "throughput_per_s", "detection_rate")


def tradeoff_lines(variants: list[dict], reference: str) -> list[str]:
    by_name = {v["name"]: v["metrics"] for v in variants}
    base = by_name.get(reference)
    if base is None or any(base.get(key) is None for key in KEYS):
        return []
    lines = [f"{reference} (reference): {base['train_seconds']:.1f} s from training data to model, "
             f"{base['throughput_per_s']:,.0f} rows/s, detection rate {base['detection_rate']:.4f}."]
    for name, metrics in by_name.items():
        if name == reference or any(metrics.get(key) is None for key in KEYS):
            continue
        lines.append(f"{name}: {metrics['train_seconds'] - base['train_seconds']:+.1f} s training, "
                     f"{metrics['throughput_per_s'] / base['throughput_per_s']:.2f}x throughput, "
                     f"{100 * (metrics['detection_rate'] - base['detection_rate']):+.2f} pt detection rate.")
    return lines

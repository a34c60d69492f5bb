"""The variant x backend tables: the same artifacts on every backend, one protocol, and the fastest pairs.

Reads metrics["backends"] (contract: rtguard/evaluate/backends.py) and the selection's
pairs; a pair a backend could not run shows why, never an empty cell.
"""

from __future__ import annotations

from rtguard.report.table import Cell

RUNNABLE = ("measured", "mismatch")


def measured(variants: list[dict]) -> bool:
    return any(variant["metrics"].get("backends") for variant in variants)


def backend_names(variants: list[dict]) -> list[str]:
    names: list[str] = []
    for variant in variants:
        names += [name for name in variant["metrics"].get("backends", {}) if name not in names]
    return names


def latency_grid(variants: list[dict], chosen: tuple[str, str] | None) -> tuple[list[str], list[list]]:
    """p50 (p99) ms at batch 1, one thread."""
    return _grid(variants, chosen, "latency_p50_ms", min, lambda m: f"{m['latency_p50_ms']:.4f} ({m['latency_p99_ms']:.4f})")


def throughput_grid(variants: list[dict], chosen: tuple[str, str] | None) -> tuple[list[str], list[list]]:
    """rows/s at the throughput batch, all cores."""
    return _grid(variants, chosen, "throughput_per_s", max, lambda m: f"{m['throughput_per_s']:,.0f}")


def _grid(variants: list[dict], chosen, key: str, best, text) -> tuple[list[str], list[list]]:
    backends = backend_names(variants)
    pairs = _pairs(variants)
    top = best(pairs, key=lambda pair: pair[2][key]) if pairs else None
    rows = []
    for variant in variants:
        row = [variant["name"]]
        for backend in backends:
            measurement = variant["metrics"].get("backends", {}).get(backend)
            if measurement is None:
                row.append(Cell("–"))
            elif measurement["status"] not in RUNNABLE:
                row.append(Cell(measurement["status"], "unknown"))
            elif measurement["status"] == "mismatch":
                row.append(Cell(f"{text(measurement)} outputs differ", "bad"))
            else:
                marks = [word for word, pair in (("fastest", top and top[:2]), ("shipped", chosen)) if pair == (variant["name"], backend)]
                row.append(Cell(text(measurement) + (f" [{', '.join(marks)}]" if marks else ""), "good" if marks else None))
        rows.append(row)
    return ["variant", *backends], rows


def _pairs(variants: list[dict], deployable_only: bool = False) -> list[tuple[str, str, dict]]:
    """(variant, backend, measurement) of every pair measured with matching outputs."""
    return [(variant["name"], backend, measurement) for variant in variants
            if not (deployable_only and variant["artifact"] is None)
            for backend, measurement in variant["metrics"].get("backends", {}).items() if measurement["status"] == "measured"]


def backend_notes(variants: list[dict], selection: dict) -> list[str]:
    """The fastest pairs, the shipped one beside them, why any pair is missing, and each backend's settings."""
    notes = []
    everything, deployable = _pairs(variants), _pairs(variants, deployable_only=True)
    batch = next((m["throughput_batch"] for *_, m in everything), "?")
    for label, key, best, unit in (("batch 1 (p50, one thread)", "latency_p50_ms", min, "ms"),
                                   (f"batch {batch} (all cores)", "throughput_per_s", max, "rows/s")):
        if not everything:
            break
        top = best(everything, key=lambda pair: pair[2][key])
        line = f"Fastest at {label}: {top[0]} on {top[1]} ({_value(top[2][key], unit)})"
        shippable = best(deployable, key=lambda pair: pair[2][key]) if deployable else None
        if shippable and shippable[:2] != top[:2]:
            line += f"; fastest deployable artifact: {shippable[0]} on {shippable[1]} ({_value(shippable[2][key], unit)})"
        notes.append(line + ".")
    if selection.get("chosen") and selection.get("backend"):
        notes.append(f"Shipped pair: {selection['chosen']} on {selection['backend']} (the policy's gate and preference over every pair).")
    reasons: dict[tuple[str, str], list[str]] = {}  # (backend, why): the variants it concerns
    for variant in variants:
        for backend, measurement in variant["metrics"].get("backends", {}).items():
            if measurement["status"] != "measured":
                reasons.setdefault((backend, f"{measurement['status']}: {measurement['reason']}"), []).append(variant["name"])
    artifacts = sum(variant["artifact"] is not None for variant in variants)
    notes += [f"{'every variant' if len(names) == artifacts > 1 else ', '.join(names)} on {backend}: {why}"
              for (backend, why), names in reasons.items()]
    notes += [f"{backend}: {_settings(variants, backend)}" for backend in backend_names(variants) if _settings(variants, backend)]
    return notes


def _settings(variants: list[dict], backend: str) -> str:
    for variant in variants:
        measurement = variant["metrics"].get("backends", {}).get(backend, {})
        if "settings" in measurement:
            full = measurement["settings"]["all_cores"]
            shown = ", ".join(f"{k} {v}" for k, v in full.items() if k not in ("threads", "intra_op_threads"))
            threads = full.get("threads", full.get("intra_op_threads"))
            return f"latency with 1 thread, throughput with {threads} threads; {shown}"
    return ""


def _value(value: float, unit: str) -> str:
    return f"{value:.4f} ms" if unit == "ms" else f"{value:,.0f} rows/s"

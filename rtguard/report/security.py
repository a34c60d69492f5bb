"""The robustness-vs-speed table: what each variant's speed-up cost in evasion, noise and privacy.

Deltas are computed by the same function the policy gate uses (select.worst_change), so
the table and the checklist can never disagree; the notes give the sample sizes and query
budgets a reader needs to tell a real difference from a flow or two.
"""

from __future__ import annotations

from rtguard.select import worst_change

ATTACKS = {"fgsm": "FGSM, transfer", "pgd": "PGD, transfer", "hopskipjump": "HopSkipJump, black-box"}


def measured(variants: list[dict]) -> bool:
    return any("robustness" in variant["metrics"] for variant in variants)


def security_header(variants: list[dict], reference: str) -> list[str]:
    metrics = _metrics_of(variants, reference)
    epsilons = "/".join(next(iter(metrics.get("evasion_rate", {}).values()), {}))
    sigmas = "/".join(metrics.get("noise_accuracy", {}))
    return (["variant", "p99 ms (b=1)"] + [f"evasion, {ATTACKS.get(a, a)} (ε {epsilons})" for a in metrics.get("evasion_rate", {})]
            + [f"worst evasion Δ vs {reference}", f"noise accuracy (σ {sigmas})", "worst noise-accuracy loss",
               "membership AUC (Δ)", f"membership TPR at {metrics['robustness']['membership']['low_fpr']:.0%} FPR"])


def security_rows(variants: list[dict], reference: str) -> list[list]:
    ref = _metrics_of(variants, reference)
    rows = []
    for variant in variants:
        metrics = variant["metrics"]
        evasion = metrics.get("evasion_rate", {})
        auc = metrics.get("membership_auc")
        auc_change, _ = worst_change(auc, ref.get("membership_auc"), 1)
        rows.append(
            [variant["name"], f"{metrics['latency_p99_ms']:.4f}"]
            + [_series(evasion.get(attack)) for attack in ref.get("evasion_rate", {})]
            + [_change(metrics.get("evasion_rate"), ref.get("evasion_rate"), 1), _series(metrics.get("noise_accuracy")),
               _change(metrics.get("noise_accuracy"), ref.get("noise_accuracy"), -1),
               "n/a" if auc is None else f"{auc:.3f} ({round(auc_change, 3) + 0.0:+.3f})",
               _number(metrics.get("membership_tpr_at_low_fpr"))]
        )
    return rows


def security_notes(variants: list[dict], reference: str) -> list[str]:
    """The threat model, sample sizes and budgets behind the table, from the run's own record."""
    record = _metrics_of(variants, reference)["robustness"]
    samples, budgets, threat = record["samples"], record["budgets"], record["threat_model"]
    blackbox = [v["metrics"]["robustness"]["samples"]["hopskipjump"] for v in variants if "robustness" in v["metrics"]]
    detected = [b["detected"] for b in blackbox]
    hsj = budgets["hopskipjump"]
    return [
        f"Threat model ({threat['source']}): the attacker changes only {', '.join(threat['mutable'])} of its own flows; "
        f"every attacked row is a valid flow (bounds observed in training, counts integral, the rest untouched). "
        f"Budgets: {threat['space']}.",
        f"FGSM and PGD ({budgets['pgd_steps']} steps): {samples['fgsm']['flows']} selection-split attack flows, crafted once "
        f"with the gradients of {record.get('crafted_on', 'the reference')} and sent unchanged to every variant; a variant's rate counts the flows it detects "
        f"({reference}: {samples['fgsm']['detected']}).",
        f"HopSkipJump: the first {samples['hopskipjump']['flows']} of those flows, attacked by queries on each variant where it "
        f"detects them ({_span(detected)} flows, so one flow moves a rate by about {1 / max(min(detected), 1):.3f}); "
        f"{hsj['iterations']} iterations, {hsj['start_candidates']} candidate starts, "
        f"{_span([round(b['queries_per_flow_mean']) for b in blackbox])} queries per flow on average "
        f"(at most {max(b['queries_per_flow_max'] for b in blackbox):,}). A flow counts as evaded "
        "at ε when the attack found a valid flow within ε that the variant scores benign.",
        f"Noise: {samples['noise_rows']:,} test rows. Membership inference: {record['membership']['members']:,} training flows "
        f"against as many validation flows, half to fit the attack and half to score it. "
        f"The security evaluation of all variants took {record['total_seconds']:.1f} s.",
    ]


DELTA_KEYS = ("evasion_rate", "robust_accuracy", "mean_perturbation", "noise_accuracy", "membership_auc", "membership_tpr_at_low_fpr")


def security_deltas(variants: list[dict], reference: str) -> dict:
    """Every security metric of every variant minus the reference's, point by point (report.json)."""
    ref = _metrics_of(variants, reference)
    return {"reference": reference, "variants": {
        v["name"]: {key: _minus(v["metrics"][key], ref[key]) for key in DELTA_KEYS if key in v["metrics"] and key in ref}
        for v in variants}}


def _minus(mine, theirs):
    if isinstance(mine, dict):
        return {key: _minus(value, theirs[key]) for key, value in mine.items() if key in theirs}
    return None if mine is None or theirs is None else mine - theirs


def _metrics_of(variants: list[dict], name: str) -> dict:
    return next(v["metrics"] for v in variants if v["name"] == name)


def _span(values: list[int]) -> str:
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _series(values: dict | None) -> str:
    return "n/a" if not values else "/".join(_number(value) for value in values.values())


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _change(value, reference, sign: int) -> str:
    change, detail = worst_change(value, reference, sign)
    return "n/a" if change is None else f"{round(change, 3) + 0.0:+.3f} ({detail})"  # + 0.0: no "-0.000"

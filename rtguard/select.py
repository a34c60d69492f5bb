"""Which variant ships on which backend, and why: the policy gate, the Pareto front and the choice.

A security team has to defend the variant it ships, so every decision here is a
measured value against a written threshold; a metric a run did not measure is "not
measured" and never passes a check that requires it. Quality is read from the selection
split (metrics.json `selection`), never from the test split, which is only reported; a
difference inside the bootstrap's 95% interval, or a latency inside the spread of its
rounds, is a tie, never a reason.

The gate runs twice: per variant (its ONNX Runtime measurements, the checklist) and per
(variant, backend) pair, where a pair's latency, throughput and quality are its own
(rtguard/evaluate/backends.py) and everything else is the variant's. The pair that ships
is chosen among the passing pairs; selection.json names it ("chosen" the variant,
"backend" the backend, "pairs" every pair's gate). A run evaluated before backends
were measured has one pair per variant: the variant on ONNX Runtime.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from rtguard.errors import PolicyError
from rtguard.intervals import DECIDING, difference_interval, proportion_difference_interval
from rtguard.measurements import collect_variants
from rtguard.policy import Policy, dump_policy, run_policy
from rtguard.runfolder import RunFolder, write_json, write_text

PASS, FAIL, NOT_MEASURED, NOT_REQUIRED = "pass", "fail", "not measured", "not required"
FLOORS = ("min_detection_rate", "min_macro_f1")  # absolute checks that tell a useless detector, the reference included
SIGNIFICANCE = 0.05  # a speed difference counts when rounds run side by side agree on it this surely (sign test)...
MIN_LEAD = 1.10  # ...and it is worth paying for: a few percent flips between evaluations on a shared machine
SELECTION_EXIT = 3  # nothing passes: distinct from usage errors (2), so CI can tell them apart

RULE = (
    "Candidates are the built variants (the reference as trained is not a deployable artifact) that pass "
    "every required check of the policy on the selection split; a required check whose metric was not measured "
    "does not pass, and a quality loss fails only when it is above its threshold and outside the bootstrap's 95% "
    "interval. Each candidate is gated again on every backend that ran it, with that backend's own latency (batch 1, "
    "one thread) and throughput (all cores); a backend whose outputs differ from the artifact's beyond "
    "tolerance, or that cannot run it, never passes. The passing (variant, backend) pair best on the policy's "
    "`prefer` objective ships (default: detection at the operating point); pairs within noise of the best "
    "(a bootstrap interval of the difference that holds 0, or latency spreads that overlap) are tied. Ties go first to "
    "the pairs hardest to evade (worst evasion rate over attacks and budgets; a pair is out when another's is lower "
    "beyond the sampling noise of the attacked flows, a 95% interval of the difference below 0), then to the "
    "highest throughput per core when it leads by at least 10% in the rounds run side by side (a sign test, p < 0.05: "
    "9 rounds of 10), then to the "
    "smallest file, then to the name. "
    "No passing pair: nothing ships and `rtguard select` exits 3."
)
# The quality keys the gate reads from the selection split (metrics.json `selection`); the test split's are only reported.
QUALITY_KEYS = ("accuracy", "macro_f1", "detection_rate", "false_positive_rate", "argmax_detection_rate",
                "argmax_false_positive_rate", "auroc", "pr_auc", "per_class_recall", "confusion_matrix")


@dataclass(frozen=True)
class Check:
    key: str     # the policy field holding the threshold
    label: str   # the checklist's words
    metric: str  # the metric key it reads (rtguard.policy.METRIC_KEYS)
    rule: str    # at_most | at_least | loss | increase (vs the reference, worst point) | equals | true
    unit: str


CHECKS = (
    Check("max_latency_p99_ms", "p99 latency, batch 1", "latency_p99_ms", "at_most", "ms"),
    Check("min_throughput_per_s", "throughput", "throughput_per_s", "at_least", "rows/s"),
    Check("min_detection_rate", "detection at the operating point", "detection_rate", "at_least", "rate"),
    Check("min_macro_f1", "macro-F1", "macro_f1", "at_least", "rate"),
    Check("max_false_positive_rate", "false-positive rate at the operating point", "false_positive_rate", "at_most", "rate"),
    Check("max_macro_f1_loss", "macro-F1 loss vs reference", "macro_f1", "loss", "delta"),
    Check("max_evasion_rate_increase", "evasion-rate increase vs reference", "evasion_rate", "increase", "delta"),
    Check("max_noise_accuracy_loss", "noise-accuracy loss vs reference", "noise_accuracy", "loss", "delta"),
    Check("max_membership_auc_increase", "membership-AUC increase vs reference", "membership_auc", "increase", "delta"),
    Check("max_file_bytes", "model file size", "file_bytes", "at_most", "bytes"),
    Check("max_peak_memory_bytes", "peak memory", "peak_memory_bytes", "at_most", "bytes"),
    Check("max_train_seconds", "training/update time", "train_seconds", "at_most", "s"),
    Check("require_signature", "signature verified", "signature_verified", "true", "bool"),
    Check("execution_provider", "execution provider", "execution_provider", "equals", "text"),
    Check("max_batch_dependence", "verdicts independent of batch neighbours", "batch_dependence", "at_most", "rate"),
)

# Pareto objectives (quality, robustness, latency, throughput, size): metric, direction.
# An objective some variant lacks is left out of the front, and the selection says so.
OBJECTIVES = (
    ("detection_rate", "max"),
    ("false_positive_rate", "min"),
    ("evasion_rate", "min"),  # robustness: the worst point over attacks and epsilons
    ("latency_p99_ms", "min"),
    ("throughput_per_s", "max"),
    ("file_bytes", "min"),
)


def select_run(run: RunFolder, policy: Policy | None = None) -> dict:
    """Gate every variant of a run and write selection.json; a policy given becomes the run's
    (policy.toml), otherwise the run's own policy applies, or the default."""
    selection = select(collect_variants(run), policy or run_policy(run))
    if policy is not None:
        write_text(run.policy, dump_policy(policy))
    write_json(run.selection, selection)
    return selection


def select_beside(run: RunFolder, policy: Policy) -> tuple[dict, Path]:
    """The decision under another policy, written beside the run's own (selection.NAME.json), which stays as it is."""
    selection = select(collect_variants(run), policy)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", policy.name).strip("-.") or "policy"
    path = run.selection.with_name(f"selection.{slug}.json")
    write_json(path, selection)
    return selection, path


def decision_view(metrics: dict) -> dict:
    """A variant's metrics as decisions read them: quality from the selection split, nothing from the test split."""
    return {**{k: v for k, v in metrics.items() if k not in QUALITY_KEYS}, **metrics.get("selection", {})}


def select(variants: list[dict], policy: Policy) -> dict:
    """The checklist per variant, the Pareto front and the choice, as written to selection.json."""
    variants = [{**v, "metrics": decision_view(v["metrics"])} for v in variants]
    by_name = {v["name"]: v["metrics"] for v in variants}
    reference_name = policy.reference or next((v["name"] for v in variants if v["artifact"] is None), None)
    if reference_name not in by_name:
        raise PolicyError(f"policy reference {reference_name!r} is not a variant of this run: {', '.join(by_name)}")
    _check_operating_point(variants, policy)
    reference = by_name[reference_name]
    gated = []
    for variant in variants:
        results = {check.key: evaluate_check(check, getattr(policy, check.key), variant["metrics"], reference) for check in CHECKS}
        blocking = [key for key, result in results.items() if result["status"] in (FAIL, NOT_MEASURED)]
        gated.append({"name": variant["name"], "candidate": variant["artifact"] is not None,
                      "passed": not blocking, "blocking": blocking, "results": results})
    pareto = pareto_summary(by_name)
    pairs = gate_pairs(variants, policy, reference)
    pair_metrics = {p["name"]: p["metrics"] for p in pairs if p["passed"]}
    decision = choose(list(pair_metrics), pair_metrics, policy.prefer)
    chosen_pair = next((p for p in pairs if p["name"] == decision["chosen"]), None)
    chosen = chosen_pair["variant"] if chosen_pair else None
    return {
        "policy": policy.model_dump(),
        "reference": reference_name,
        "split": "selection",
        "rule": RULE,
        "checks": [{"key": c.key, "label": c.label, "metric": c.metric, "threshold": getattr(policy, c.key),
                    "required": _required(getattr(policy, c.key)), "text": check_text(c, getattr(policy, c.key))} for c in CHECKS],
        "variants": gated,
        "pareto": pareto,
        "pairs": [{k: v for k, v in p.items() if k != "metrics"} for p in pairs],
        "chosen": chosen,
        "backend": chosen_pair["backend"] if chosen_pair else None,
        "tied": decision["tied"],
        "tie_break": decision["tie_break"],
        "verdict": _verdict(chosen_pair, decision, pairs, pair_metrics, policy, gated, reference_name),
    }


def _check_operating_point(variants: list[dict], policy: Policy) -> None:
    """The variants' thresholds were calibrated for one operating point; a policy asking another cannot be checked against them."""
    wanted = (policy.operating_point, policy.operating_target())
    for variant in variants:
        point = variant["metrics"].get("operating_point") or {}
        if variant["artifact"] is None or point.get("set_by") != "policy" or (point["mode"], point["target"]) == wanted:
            continue
        raise PolicyError(
            f"policy '{policy.name}' puts the operating point at {wanted[0]} {wanted[1]:g}, but {variant['name']} alerts at "
            f"{point['mode']} {point['target']:g} (calibrated into its graph when it was built): put the policy in the run's "
            "policy.toml and run `rtguard optimize` and `rtguard evaluate` again")


# What a pair on another backend measures itself: its speed. Its quality is its variant's as long as its outputs
# agree with the artifact's (a "mismatch" pair never passes); robustness, size and cost are the variant's.
PAIR_KEYS = ("latency_p50_ms", "latency_p99_ms", "latency_mean_ms", "latency_calls", "latency_spread_ms",
             "throughput_per_s", "throughput_batch", "throughput_spread")
RUNNABLE = ("measured", "mismatch")
MAIN_BACKEND = "onnxruntime"  # measured by the full protocol as the variant itself: one measurement per figure


def pair_metrics(variant_metrics: dict, backend: str, measured: dict) -> dict:
    """The variant's metrics with the pair's own speed in place of its ONNX Runtime speed."""
    provider = measured.get("settings", {}).get("all_cores", {}).get("provider", backend)
    own = {} if backend == MAIN_BACKEND else {k: measured[k] for k in PAIR_KEYS if k in measured}
    # Pairs are compared with each other on the backend matrix's throughput, where every pair ran in the same rounds.
    paired = measured if "throughput_rounds" in measured or backend != MAIN_BACKEND else variant_metrics
    return {**{k: v for k, v in variant_metrics.items() if k != "backends"}, **own, "backend": backend,
            "execution_provider": variant_metrics.get("execution_provider", provider) if backend == MAIN_BACKEND else provider,
            "side_by_side": side_by_side(paired)}


def side_by_side(metrics: dict) -> dict:
    """Throughput per core, overall and per round, from one measurement whose rounds every contender shared."""
    cores = metrics.get("throughput_threads") or metrics.get("runtime", {}).get("intra_op_threads") or 1
    return {"per_core": metrics.get("throughput_per_s", 0.0) / cores,
            "rounds": [rate / cores for rate in metrics.get("throughput_rounds", [])]}


def gate_pairs(variants: list[dict], policy: Policy, reference: dict) -> list[dict]:
    """Every (artifact, backend) pair with its checks: {name, variant, backend, status, reason, passed, blocking, results, metrics}."""
    pairs = []
    for variant in (v for v in variants if v["artifact"] is not None):
        backends = variant["metrics"].get("backends") or {"onnxruntime": {"status": "measured", **variant["metrics"]}}
        for backend, measured in backends.items():
            pair = {"name": f"{variant['name']}@{backend}", "variant": variant["name"], "backend": backend,
                    "status": measured["status"], "reason": measured.get("reason")}
            if measured["status"] not in RUNNABLE:
                pairs.append(pair | {"passed": False, "blocking": ["backend"], "results": {}, "metrics": {}})
                continue
            metrics = pair_metrics(variant["metrics"], backend, measured)
            results = {check.key: evaluate_check(check, getattr(policy, check.key), metrics, reference) for check in CHECKS}
            blocking = [key for key, result in results.items() if result["status"] in (FAIL, NOT_MEASURED)]
            blocking += ["backend"] if measured["status"] == "mismatch" else []
            pairs.append(pair | {"passed": not blocking, "blocking": blocking, "results": results, "metrics": metrics})
    return pairs


def evaluate_check(check: Check, threshold, metrics: dict, reference: dict) -> dict:
    """pass / fail / not measured / not required, with the measured value and where it came from."""
    value, detail = _measured(check, metrics, reference)
    if not _required(threshold):
        status = NOT_REQUIRED
    elif value is None:
        status = NOT_MEASURED
    else:
        status = PASS if _meets(check.rule, value, threshold) else FAIL
    noise = metrics.get("vs_reference", {}).get(check.metric) if check.rule == "loss" else None
    if noise is not None and value is not None and value > 0:  # a loss: is it outside the bootstrap's noise?
        outside = noise[1] < 0
        detail = f"{detail}; 95% interval of the difference [{noise[0]:+.4f}, {noise[1]:+.4f}]: " + ("outside noise" if outside else "within noise")
        if status == FAIL and not outside:
            status = PASS
    return {"status": status, "value": value, "detail": detail}


def _required(threshold) -> bool:
    return threshold is not None and threshold is not False


def _measured(check: Check, metrics: dict, reference: dict):
    if check.rule in ("loss", "increase"):
        return worst_change(metrics.get(check.metric), reference.get(check.metric), -1 if check.rule == "loss" else 1)
    return metrics.get(check.metric), None


def _meets(rule: str, value, threshold) -> bool:
    if rule == "at_least":
        return value >= threshold
    if rule == "equals":
        return value == threshold
    if rule == "true":
        return value is True
    return value <= threshold  # at_most, loss, increase


def points(value, path: tuple = ()) -> dict[tuple, float]:
    """A number, or a mapping of mappings of numbers, as {path: number}."""
    if isinstance(value, dict):
        return {p: v for key, sub in value.items() for p, v in points(sub, path + (str(key),)).items()}
    return {} if value is None else {path: float(value)}


def worst_change(value, reference, sign: int) -> tuple[float | None, str | None]:
    """The largest sign*(value - reference) over the points both measured (sign -1: a loss)."""
    mine, theirs = points(value), points(reference)
    shared = sorted(mine.keys() & theirs.keys())
    if not shared:
        return None, None
    point = max(shared, key=lambda p: sign * (mine[p] - theirs[p]))
    where = f" at {'/'.join(point)}" if point else ""
    return sign * (mine[point] - theirs[point]), f"{mine[point]:.4f} vs {theirs[point]:.4f}{where}"


def objective_value(metrics: dict, metric: str) -> float | None:
    if metric == "evasion_rate":
        measured = points(metrics.get(metric))
        return max(measured.values()) if measured else None
    value = metrics.get(metric)
    return None if value is None else float(value)


def pareto_front(costs: dict[str, tuple[float, ...]]) -> list[str]:
    """Names no other point dominates; every coordinate is a cost (lower is better)."""
    return [name for name, mine in costs.items()
            if not any(dominates(other, mine) for other_name, other in costs.items() if other_name != name)]


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def _costs(by_name: dict[str, dict], objectives: list[str], names) -> dict[str, tuple[float, ...]]:
    sign = dict(OBJECTIVES)
    return {n: tuple(objective_value(by_name[n], m) * (-1 if sign[m] == "max" else 1) for m in objectives) for n in names}


def pareto_summary(by_name: dict[str, dict]) -> dict:
    """The front over the objectives every variant measured, and one dominating variant for each of the rest."""
    measured = [m for m, _ in OBJECTIVES if all(objective_value(metrics, m) is not None for metrics in by_name.values())]
    costs = _costs(by_name, measured, by_name)
    front = pareto_front(costs)
    dominated_by = {name: next(other for other in front if dominates(costs[other], costs[name]))
                    for name in by_name if name not in front}
    return {"objectives": measured, "not_measured": [m for m, _ in OBJECTIVES if m not in measured],
            "front": front, "dominated_by": dominated_by}


def choose(candidates: list[str], by_name: dict[str, dict], prefer: str) -> dict:
    """{chosen, tied, tie_break}: the candidate best on `prefer`, where every candidate within noise of the best is tied
    and ties go to the hardest to evade beyond noise, then the highest throughput per core beyond noise, then the
    smallest file, then the name."""
    if not candidates:
        return {"chosen": None, "tied": [], "tie_break": None}
    sign = -1 if dict(OBJECTIVES)[prefer] == "max" else 1
    best = min(candidates, key=lambda name: (sign * objective_value(by_name[name], prefer), name))
    tied = sorted(name for name in candidates if name == best or same_within_noise(by_name[name], by_name[best], prefer))
    if len(tied) == 1:
        return {"chosen": best, "tied": tied, "tie_break": None}
    # A security team gives up speed before it gives up evasion robustness: the hardest to evade come first.
    hardest = least_evadable(tied, by_name)
    if len(hardest) == 1:
        return {"chosen": hardest[0], "tied": tied, "tie_break": "worst-case evasion rate"}
    speed = {name: by_name[name].get("side_by_side") or side_by_side(by_name[name]) for name in hardest}
    # The fastest are the candidates no other clearly outruns: not a comparison with one point
    # estimate that happened to come out on top.
    still = [name for name in hardest if not any(clearly_faster(speed[other], speed[name]) for other in hardest if other != name)]
    if len(still) == 1:
        return {"chosen": still[0], "tied": tied, "tie_break": "throughput per core"}
    smallest = min(still, key=lambda name: (by_name[name]["file_bytes"], name))
    same_size = [name for name in still if by_name[name]["file_bytes"] == by_name[smallest]["file_bytes"]]
    return {"chosen": smallest, "tied": tied, "tie_break": "file size" if len(same_size) == 1 else "name"}


def least_evadable(names: list[str], by_name: dict[str, dict]) -> list[str]:
    """The candidates no other is clearly harder to evade than; all of them when one was not attacked (robustness off).

    Each is judged at its worst point over attacks and budgets (the Pareto objective), on the flows it detected
    before the attack; a lower worst-case evasion counts only when the 95% interval of the difference is below 0.
    """
    worst = {name: worst_evasion(by_name[name]) for name in names}
    if any(counts is None for counts in worst.values()):
        return names
    return [name for name in names
            if not any(proportion_difference_interval(*worst[other], *worst[name])[1] < 0 for other in names if other != name)]


def worst_evasion(metrics: dict) -> tuple[int, int] | None:
    """(evaded, attacked) flows at the worst evasion point over attacks and budgets; None when not measured.

    Of points with the same rate, the one on the fewest flows: 0 of 40 is weaker evidence than 0 of 500.
    """
    samples = metrics.get("robustness", {}).get("samples", {})
    counted = [(rate, samples[path[0]]["detected"]) for path, rate in points(metrics.get("evasion_rate")).items()
               if path and samples.get(path[0], {}).get("detected")]
    if not counted:
        return None
    rate, attacked = max(counted, key=lambda point: (point[0], -point[1]))
    return round(rate * attacked), attacked


def same_within_noise(a: dict, b: dict, metric: str) -> bool:
    """Whether two candidates' values of `metric` cannot be told apart: quality by the paired bootstrap's interval of their
    difference holding 0, speed by their rounds' spreads overlapping, anything else only when equal."""
    if metric in DECIDING and metric in a.get("bootstrap", {}) and metric in b.get("bootstrap", {}):
        low, high = difference_interval(a["bootstrap"][metric], b["bootstrap"][metric])
        return low <= 0 <= high
    spread_a, spread_b = _spread(a, metric), _spread(b, metric)
    if spread_a and spread_b:
        return spread_a[0] <= spread_b[1] and spread_b[0] <= spread_a[1]
    return objective_value(a, metric) == objective_value(b, metric)


def _spread(metrics: dict, metric: str) -> list[float] | None:
    if metric == "throughput_per_s":
        return metrics.get("throughput_spread")
    if metric.startswith("latency_p"):
        return metrics.get("latency_spread_ms", {}).get(metric.split("_")[1])
    return None


def clearly_faster(a: dict, b: dict) -> bool:
    """Whether `a` outran `b` by at least MIN_LEAD beyond noise: in rounds run side by side, a one-sided sign test
    (p < SIGNIFICANCE) that a's lead exceeds MIN_LEAD round by round (9 rounds of 10); without paired rounds, the overall rates."""
    rounds = list(zip(a["rounds"], b["rounds"]))
    if not rounds or len(a["rounds"]) != len(b["rounds"]):
        return a["per_core"] >= MIN_LEAD * b["per_core"]
    wins = sum(x > MIN_LEAD * y for x, y in rounds)
    p_value = sum(math.comb(len(rounds), k) for k in range(wins, len(rounds) + 1)) / 2 ** len(rounds)
    return p_value < SIGNIFICANCE


def format_value(check: Check, value) -> str:
    if value is None:
        return "–"
    if check.unit == "ms":
        return f"{value:.4g} ms"
    if check.unit == "rows/s":
        return f"{value:,.0f} rows/s"
    if check.unit == "bytes":
        return f"{value / 1024:,.1f} KiB"
    if check.unit == "s":
        return f"{value:.1f} s"
    if check.unit == "delta":
        return f"{round(value, 4) + 0.0:+.4f}"  # + 0.0: no "-0.0000" for an unchanged value
    if check.unit == "bool":
        return "yes" if value else "no"
    if check.unit == "rate":
        return f"{value:.4f}"
    return str(value)


def format_objective(metric: str, value: float) -> str:
    """A metric's value in its checklist unit (ms, rows/s, KiB, rate)."""
    check = next((c for c in CHECKS if c.metric == metric and c.unit != "delta"), None)
    return format_value(check, value) if check else f"{value:.4f}"


def check_text(check: Check, threshold) -> str:
    """The check with its threshold, e.g. 'p99 latency, batch 1 ≤ 100 ms'."""
    if not _required(threshold):
        return f"{check.label} (not required)"
    if check.rule == "true":
        return f"{check.label}: required"
    if check.rule == "equals":
        return f"{check.label} = {threshold}"
    symbol = "≥" if check.rule == "at_least" else "≤"
    shown = f"{threshold:.4f}" if check.unit == "delta" else format_value(check, threshold)
    return f"{check.label} {symbol} {shown}"


def _verdict(chosen: dict | None, decision: dict, pairs: list[dict], by_name: dict[str, dict], policy: Policy,
             gated: list[dict], reference_name: str) -> str:
    one_backend = len({p["backend"] for p in pairs}) <= 1  # runs from before backends: speak of variants only
    if chosen:
        prefer = next(c for c in CHECKS if c.metric == policy.prefer and c.unit != "delta")
        what, among = (chosen["variant"], "variant(s)") if one_backend else (f"{chosen['variant']} on {chosen['backend']}", "(variant, backend) pair(s)")
        mine = by_name[chosen["name"]]
        shown = format_value(prefer, mine[policy.prefer])
        interval = mine.get("confidence", {}).get(policy.prefer)
        shown += f", 95% interval [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else ""
        text = (f"Ship {what}: it passes every required check of policy '{policy.name}' on the selection split and is the best of "
                f"the {len(by_name)} passing {among} on {prefer.label} ({shown}).")
        others = [_label(name, one_backend) for name in decision["tied"] if name != chosen["name"]]
        if others:
            text += f" Within noise of it: {', '.join(others)}; the tie went to the {decision['tie_break']}."
        counts = {name: worst_evasion(by_name[name]) for name in decision["tied"]}
        if len(counts) > 1 and None not in counts.values():  # the evasion step ran: say what it saw
            text += " Flows evading at each one's worst attack and budget: " + ", ".join(
                f"{_label(name, one_backend)} {k} of {n}" for name, (k, n) in counts.items()) + "."
            if decision["tie_break"] != "worst-case evasion rate":
                hardest = [_label(name, one_backend) for name in least_evadable(decision["tied"], by_name)]
                text += f" Hardest to evade, within noise of each other: {', '.join(hardest)}."
        return text
    reasons: dict[str, list[str]] = {}  # pairs blocked for the same reasons are named together
    for pair in pairs:
        why = pair["reason"] if "backend" in pair["blocking"] and pair["reason"] else blocking_summary(pair, policy.model_dump())
        reasons.setdefault(why, []).append(pair["variant"] if one_backend else f"{pair['variant']} on {pair['backend']}")
    text = f"Nothing to ship: no variant passes policy '{policy.name}'. " + " ".join(
        f"{', '.join(names)}: {why}." for why, names in reasons.items())
    floors = [c.key for c in CHECKS if c.key in FLOORS]
    reference = next(g for g in gated if g["name"] == reference_name)
    below = [key for key in reference["blocking"] if key in floors]
    if below:
        text += (f" The reference {reference_name} is below the floor too ({blocking_summary({**reference, 'blocking': below}, policy.model_dump())}): "
                 "the detector itself is not useful on this data, whatever its compression.")
    return text


def _label(pair: str, one_backend: bool) -> str:
    """A pair as the verdict names it: the variant alone when every pair ran on one backend."""
    return pair.split("@")[0] if one_backend else pair.replace("@", " on ")


def blocking_summary(gated: dict, thresholds: dict) -> str:
    """Failed checks with value and threshold, then the unmeasured ones in one list."""
    checks = {c.key: c for c in CHECKS}
    listed = [key for key in gated["blocking"] if key in checks]  # a pair's "backend" block is told by its reason
    failed = [_blocking_text(checks[key], gated["results"][key], thresholds[key])
              for key in listed if gated["results"][key]["status"] == FAIL]
    unmeasured = [checks[key].label for key in listed if gated["results"][key]["status"] == NOT_MEASURED]
    return "; ".join(failed + ([f"not measured: {', '.join(unmeasured)}"] if unmeasured else []))


def _blocking_text(check: Check, result: dict, threshold) -> str:
    """Why one failed check blocks a variant: the measured value, what it compared, the threshold."""
    needs = check_text(check, threshold).removeprefix(check.label).strip()
    compared = f"{result['detail']}; " if result["detail"] else ""
    return f"{check.label} is {format_value(check, result['value'])} ({compared}needs {needs})"

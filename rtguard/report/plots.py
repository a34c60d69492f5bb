"""The report's plots: PNGs drawn off-screen with matplotlib's Agg canvas, one per question.

Figures are built with matplotlib.figure.Figure rather than pyplot, so no GUI backend
and no global state is involved, and a report can be drawn from any process.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from rtguard.runfolder import building
from rtguard.select import pareto_front

MARKERS = {"ship": ("*", 300), "passes": ("o", 80), "blocked": ("X", 90), "reference": ("s", 70)}  # by verdict
MARKER_KEY = "★ ships, ● passes the policy, ✖ blocked by it, ■ the reference (not an artifact); a black ring: on the Pareto front."


def draw_plots(report: dict, folder: Path) -> list[dict]:
    """Write plots/*.png (the folder replaced as a whole); return [{file, title, caption}]."""
    drawn = []
    with building(folder, replace=True) as scratch:
        for name, title, draw in PLOTS:
            figure = Figure(figsize=(6.4, 4.4), dpi=100, layout="constrained")
            axes = figure.add_subplot()
            caption = draw(axes, report)
            axes.set_title(title, fontsize=11)
            figure.savefig(scratch / f"{name}.png")
            drawn.append({"file": f"{folder.name}/{name}.png", "title": title, "caption": caption})
    return drawn


def _verdicts(report: dict) -> dict[str, str]:
    selection = report["selection"]
    return {v["name"]: "ship" if v["name"] == selection["chosen"] else "passes" if v["passed"] and v["candidate"]
            else "reference" if not v["candidate"] else "blocked" for v in selection["variants"]}


def _colours(report: dict) -> dict[str, str]:
    """One colour per variant, the same in every plot."""
    return {variant["name"]: f"C{index % 10}" for index, variant in enumerate(report["variants"])}


def _scatter(axes, report: dict, x_key: str, y_key: str) -> dict[str, tuple[float, float]]:
    """One marker per variant: colour names it (legend), shape gives its verdict; returns the points drawn."""
    verdicts, colours, front, drawn = _verdicts(report), _colours(report), report["selection"]["pareto"]["front"], {}
    for variant in report["variants"]:
        x, y = variant["metrics"].get(x_key), variant["metrics"].get(y_key)
        if x is None or y is None:
            continue
        marker, size = MARKERS[verdicts[variant["name"]]]
        on_front = variant["name"] in front
        axes.scatter([x], [y], marker=marker, s=size, color=colours[variant["name"]], label=variant["name"], zorder=3,
                     edgecolors="black" if on_front else "none", linewidths=1.5 if on_front else 0)
        drawn[variant["name"]] = (x, y)
    axes.margins(x=0.1, y=0.1)
    return drawn


def _legend(axes) -> None:
    """Beside the axes, so it never hides a point."""
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)


def latency_vs_detection(axes, report: dict) -> str:
    drawn = _scatter(axes, report, "latency_p99_ms", "detection_rate")
    plane = pareto_front({name: (x, -y) for name, (x, y) in drawn.items()})
    line = sorted(drawn[name] for name in plane)
    axes.step([p[0] for p in line], [p[1] for p in line], where="post", linestyle="--", color="#0969da",
              linewidth=1, label="front in this plane")
    budget = report["selection"]["policy"].get("max_latency_p99_ms")
    xs = [x for x, _ in drawn.values()]
    budget_in_view = budget is not None and bool(xs) and budget <= 10 * max(xs)
    if budget_in_view:
        axes.axvline(budget, color="#cf222e", linestyle=":", label=f"p99 budget {budget:g} ms")
    if xs and max(xs) > 10 * min(xs):
        axes.set_xscale("log")
    axes.set_xlabel("p99 latency at batch 1 (ms, lower is better)")
    axes.set_ylabel("detection rate (higher is better)")
    _legend(axes)
    far = f" The p99 budget ({budget:g} ms) lies far right of every variant." if budget is not None and not budget_in_view else ""
    return ("Up and to the left is better. " + MARKER_KEY + " The Pareto front is over every measured objective; "
            "the dashed line is the front in this plane alone." + far)


def detection_intervals(axes, report: dict) -> str:
    """What the decision read, with its noise: detection at each variant's operating point on the selection split
    (95% bootstrap interval), and the same point on the test split, which no decision read."""
    verdicts, colours = _verdicts(report), _colours(report)
    drawn = [v for v in report["variants"] if v["metrics"].get("confidence", {}).get("detection_rate")]
    for row, variant in enumerate(drawn):
        metrics = variant["metrics"]
        low, high = metrics["confidence"]["detection_rate"]
        value = metrics["selection"]["detection_rate"]
        marker, size = MARKERS[verdicts[variant["name"]]]
        colour = colours[variant["name"]]
        axes.errorbar([value], [row], xerr=[[value - low], [high - value]], fmt="none", ecolor=colour, capsize=3, zorder=2)
        axes.scatter([value], [row], marker=marker, s=size, color=colour, zorder=3)
        if metrics.get("detection_rate") is not None:
            axes.scatter([metrics["detection_rate"]], [row], marker="o", s=40, facecolors="none", edgecolors=colour, zorder=3)
    axes.set_yticks(range(len(drawn)), [v["name"] for v in drawn], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("detection at the operating point")
    if not drawn:
        return "This run has no bootstrap intervals (evaluated before they were measured)."
    target = drawn[0]["metrics"].get("operating_point") or {}
    return (f"Filled marker and bar: the selection split's detection with its 95% paired-bootstrap interval, which the "
            f"choice read (overlapping bars are ties). Hollow circle: the test split at the same threshold, reported only. "
            f"Operating point: {target.get('mode', '?')} {target.get('target', '?')}. {MARKER_KEY}")


def throughput_vs_batch(axes, report: dict) -> str:
    plotted, colours = False, _colours(report)
    for variant in report["variants"]:
        by_batch = variant["metrics"].get("throughput_by_batch")
        if by_batch:
            batches = sorted(by_batch, key=int)
            axes.plot([int(b) for b in batches], [by_batch[b] for b in batches], marker="o", label=variant["name"],
                      color=colours[variant["name"]])
            plotted = True
    if not plotted:
        return _not_measured(axes, "throughput by batch size")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("batch size (rows per call)")
    axes.set_ylabel("rows per second")
    _legend(axes)
    axes.grid(True, which="major", alpha=0.3)
    return "Rows scored per second at each batch size, measured side by side; the gap between batch 1 and large batches is what micro-batching can buy."


def _curves(axes, report: dict, values_of) -> bool:
    """One line per variant (its colour) through the {x: y} mapping values_of(metrics) gives; False: none measured."""
    drawn, colours = False, _colours(report)
    for variant in report["variants"]:
        curve = {float(x): y for x, y in (values_of(variant["metrics"]) or {}).items() if y is not None}
        if curve:
            axes.plot(*zip(*sorted(curve.items())), marker="o", color=colours[variant["name"]], label=variant["name"])
            drawn = True
    return drawn


def evasion_vs_epsilon(axes, report: dict, attack: str) -> str:
    if not _curves(axes, report, lambda metrics: (metrics.get("evasion_rate") or {}).get(attack)):
        return _not_measured(axes, f"evasion rate under {attack}")
    axes.set_xlabel("attack budget ε (L∞, training standard deviations of the mutable features)")
    axes.set_ylabel("evasion rate (lower is better)")
    axes.set_ylim(0, 1)
    _legend(axes)
    how = {"pgd": "rows crafted by PGD on the reference, sent to every variant (transfer)",
           "hopskipjump": "HopSkipJump against each variant by queries only (black-box)"}.get(attack, attack)
    return (f"Share of the attack flows a variant detects that an attacker turns into 'benign' within budget ε: {how}. "
            "Sample sizes are in the robustness table.")


def noise_vs_sigma(axes, report: dict) -> str:
    if not _curves(axes, report, lambda metrics: metrics.get("noise_accuracy")):
        return _not_measured(axes, "accuracy under noise")
    axes.set_xlabel("σ of Gaussian noise on the mutable features (training standard deviations)")
    axes.set_ylabel("accuracy (higher is better)")
    _legend(axes)
    return "Accuracy on test flows when the features an attacker controls carry random noise: robustness to jitter, not to an adversary."


def training_vs_speed(axes, report: dict) -> str:
    drawn = _scatter(axes, report, "train_seconds", "throughput_per_s")
    if not drawn:
        return _not_measured(axes, "training cost")
    batch = report["variants"][0]["metrics"].get("throughput_batch", "?")
    axes.set_xlabel("seconds from training data to artifact (training, fine-tuning, export, passes)")
    axes.set_ylabel(f"rows per second at batch {batch}")
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    _legend(axes)
    return "What each variant costs to (re)build after new data, against how fast it then answers. " + MARKER_KEY


def confusion(axes, report: dict) -> str:
    chosen = report["selection"]["chosen"]
    name = chosen or report["selection"]["reference"]
    variant = next(v for v in report["variants"] if v["name"] == name)
    counts = np.array(variant["metrics"]["confusion_matrix"])
    classes = report["dataset"]["classes"]
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    axes.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        axes.text(column, row, f"{count:,}", ha="center", va="center", fontsize=8,
                  color="white" if share[row, column] > 0.5 else "black")
    axes.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(len(classes)), classes, fontsize=8)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    who = f"{name}, the variant that ships" if chosen else f"{name} (nothing ships, so the reference is shown)"
    return f"Test-split counts for {who}; colour is the share of each true class."


def _not_measured(axes, what: str) -> str:
    axes.text(0.5, 0.5, "not measured yet", ha="center", va="center", fontsize=16, color="#57606a", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])
    return f"This run did not measure {what}."


PLOTS = [
    ("detection_intervals", "Detection at the operating point, with its noise", detection_intervals),
    ("latency_vs_detection", "Latency vs detection rate", latency_vs_detection),
    ("throughput_vs_batch", "Throughput vs batch size", throughput_vs_batch),
    ("evasion_pgd", "Evasion rate vs ε: white-box PGD, transferred", partial(evasion_vs_epsilon, attack="pgd")),
    ("evasion_hopskipjump", "Evasion rate vs ε: black-box HopSkipJump", partial(evasion_vs_epsilon, attack="hopskipjump")),
    ("noise_accuracy", "Accuracy under noise", noise_vs_sigma),
    ("training_vs_speed", "Training cost vs inference speed", training_vs_speed),
    ("confusion_matrix", "Confusion matrix", confusion),
]

"""Benchmark: adversarial, noise and privacy robustness of every variant: synthetic default, synthetic with an
adversarially trained reference, and NSL-KDD, side by side.

Not a test: it attacks things. Each scenario is one `run_pipeline` with the default
variants and a larger security sample than the default run affords (more attack flows,
more HopSkipJump flows), so a difference between variants can be told from a flow or
two. Per data set: the run's robustness-vs-speed table (the report's own), what it rests
on, and per compressed variant the worst change against the FP32 reference, transfer
attacks (FGSM/PGD rows crafted on the reference) and the black-box attack (HopSkipJump
against the variant itself) apart, each beside the size of one flow.

    .venv/bin/python bench/robustness.py [--data ../shared/data/nsl-kdd] [--out bench/results]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from rtguard.config import validate_config
from rtguard.errors import RtguardError
from rtguard.machine import machine_info
from rtguard.report.security import security_header, security_notes, security_rows
from rtguard.report.table import markdown_grid
from rtguard.select import worst_change

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nsl-kdd"
REFERENCE = "torch-fp32"
ROBUSTNESS = {"attack_flows": 2000, "blackbox_flows": 100}
EVALUATE = {"latency_calls": 1000, "throughput_seconds": 0.5, "robustness": ROBUSTNESS}
TRAIN = {"threads": 1}  # one torch thread: on two shared cores, two threads measured the neighbours (bench/compression.py)
HARDENED = {"adversarial": {"method": "pgd", "epsilon": 0.5}}


def main() -> int:
    from rtguard.pipeline import run_pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with KDDTrain+ and KDDTest+")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where robustness.md goes")
    args = parser.parse_args()
    # (data, train): the second scenario adversarially trains the reference itself, so every
    # variant derives from it: does its robustness survive compression?
    scenarios = {"synthetic default (120,000 flows, 5 classes)": ({}, TRAIN),
                 "synthetic default, reference adversarially trained (PGD, ε 0.5)": ({}, TRAIN | HARDENED)}
    if args.data.is_dir():
        scenarios["NSL-KDD KDDTest+, binary labels"] = ({"dataset": "nsl-kdd", "path": str(args.data), "labels": "binary"}, TRAIN)
    else:
        print(f"NSL-KDD not found at {args.data}: synthetic only (pass --data)", file=sys.stderr)

    machine = machine_info()
    sections = [f"Machine: {machine['cpu']}, {machine['cores']} cores. Security sample: {ROBUSTNESS}; the rest as "
                "`rtguard run` (evaluate.robustness in rtguard/config.py).\n"]
    with tempfile.TemporaryDirectory() as scratch:
        for index, (title, (data, train)) in enumerate(scenarios.items()):
            print(f"==> {title}", flush=True)
            config = validate_config({"data": data, "train": train, "evaluate": EVALUATE})
            load_before, started = os.getloadavg(), time.perf_counter()
            try:
                report = run_pipeline(config, Path(scratch) / str(index), show_progress=True)
            except RtguardError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            sections.append(_section(title, report, load_before, time.perf_counter() - started))
    text = "\n".join(sections)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "robustness.md").write_text(text)
    print(text)
    return 0


def _section(title: str, report: dict, load_before: tuple, seconds: float) -> str:
    variants = report["variants"]
    reference = next(v["metrics"] for v in variants if v["name"] == REFERENCE)
    record = reference["robustness"]
    return "\n".join([
        f"### {title}",
        "",
        f"Load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores. The whole run "
        f"took {seconds:.0f} s, of which the security evaluation of {len(variants)} variants {record['total_seconds']:.0f} s "
        f"and training the reference {report['training']['wall_time_s']:.0f} s.",
        "",
        markdown_grid(security_header(variants, REFERENCE), security_rows(variants, REFERENCE)),
        "",
        *(f"- {note}" for note in security_notes(variants, REFERENCE)),
        "",
        "Worst change against the reference, by kind of attack (one flow is the smallest step a rate can take):",
        "",
        *(f"- {_changes(v, reference)}" for v in variants if v["name"] != REFERENCE),
        "",
    ])


def _changes(variant: dict, reference: dict) -> str:
    metrics = variant["metrics"]
    samples = metrics["robustness"]["samples"]
    parts = []
    for label, attacks, flows in (("transfer", ("fgsm", "pgd"), samples["fgsm"]["detected"]),
                                  ("black-box", ("hopskipjump",), samples["hopskipjump"]["detected"])):
        mine = {a: metrics["evasion_rate"][a] for a in attacks}
        theirs = {a: reference["evasion_rate"][a] for a in attacks}
        change, detail = worst_change(mine, theirs, 1)
        parts.append(f"{label} evasion {_signed(change)} ({detail}; one flow = {1 / max(flows, 1):.3f})")
    noise, noise_detail = worst_change(metrics["noise_accuracy"], reference["noise_accuracy"], -1)
    parts.append(f"noise-accuracy loss {_signed(noise)} ({noise_detail})")
    parts.append(f"membership AUC {_signed(metrics['membership_auc'] - reference['membership_auc'])}")
    return f"{variant['name']}: " + "; ".join(parts) + "."


def _signed(value: float) -> str:
    return f"{round(value, 3) + 0.0:+.3f}"  # + 0.0: no "-0.000"


if __name__ == "__main__":
    sys.exit(main())

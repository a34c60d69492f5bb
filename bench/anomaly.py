"""Benchmark: anomaly detectors on the real NSL-KDD files, and the hybrid with a classifier.

Builds an anomaly run (autoencoder reference and its compressed variants, KitNET-style
ensemble, IsolationForest) and a classify run on the same data, then compares the
classifier alone, the anomaly detector alone and both together (alert if either fires)
at one false-positive budget, on the attack types only the test file holds. Not a test:
every number comes from this one run, on this machine, at the load it reports.

    .venv/bin/python bench/anomaly.py [--data ../shared/data/nsl-kdd] [--out bench/results] [--target-fpr 0.01 0.05]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import tomllib
from pathlib import Path

from rtguard.config import RunConfig, validate_config
from rtguard.errors import RtguardError
from rtguard.report.anomaly import unseen_type_summary

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nsl-kdd"
ANOMALY_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "anomaly-nsl-kdd.toml"
HYBRID_DETECTORS = ("onnx-fp32", "kitnet", "isolation-forest")  # the autoencoder reference's export, and the other two
EVALUATE = {"latency_calls": 500, "throughput_seconds": 1.0, "robustness": {"attack_flows": 300, "epsilons": [0.5, 1.0]}}


def bench_config(data: Path, task: str) -> RunConfig:
    if task == "anomaly":  # configs/anomaly-nsl-kdd.toml, on this data, with the bench's evaluation settings
        raw = tomllib.loads(ANOMALY_CONFIG.read_text())
        return validate_config(raw | {"data": raw["data"] | {"path": str(data)}, "evaluate": EVALUATE})
    return validate_config({"data": {"dataset": "nsl-kdd", "path": str(data)}, "optimize": {"variants": ["onnx-fp32"]},
                            "evaluate": EVALUATE | {"robustness": {"enabled": False}}})


def main() -> int:
    from rtguard.evaluate.hybrid import hybrid_lines, hybrid_runs
    from rtguard.pipeline import run_pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with KDDTrain+ and KDDTest+")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where anomaly.md goes")
    parser.add_argument("--target-fpr", type=float, nargs="+", default=[0.01, 0.05], help="false-positive budgets of the hybrid")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"NSL-KDD not found at {args.data}: pass --data", file=sys.stderr)
        return 2

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        runs, reports = {}, {}
        for task in ("anomaly", "classify"):
            print(f"==> NSL-KDD, task {task}", flush=True)
            runs[task] = Path(scratch) / task
            try:
                reports[task] = run_pipeline(bench_config(args.data, task), runs[task], show_progress=False)
            except RtguardError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        detectors = [name for name in HYBRID_DETECTORS if (runs["anomaly"] / "variants" / name / "model.onnx").is_file()]
        hybrids = [hybrid_runs(runs["classify"], runs["anomaly"], target_fpr=fpr, anomaly_variant=name)
                   for fpr in args.target_fpr for name in detectors]
    load_after = os.getloadavg()

    report = reports["anomaly"]
    lines = [
        "# Anomaly detection on NSL-KDD (bench/anomaly.py)",
        "",
        f"Data: {report['dataset']['source']}. Detectors trained on the {report['dataset']['rows']['train']:,} benign training "
        f"flows only; test split {report['dataset']['rows']['test']:,} flows. Machine: {report['machine']['cpu']}, "
        f"{report['machine']['cores']} cores, load average {load_before[0]:.1f} before / {load_after[0]:.1f} after (shared machine: "
        "compare ratios within a table, not absolute speeds across runs).",
        "",
        "## Detectors side by side (threshold at 1% FPR on benign validation, inside each graph)",
        "",
        "| variant | AUROC | detection | FPR (test) | worst evasion | p99 ms (b=1) | rows/s | size KiB | train+build s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant in report["variants"]:
        metrics = variant["metrics"]
        evasion = [r for by_eps in metrics.get("evasion_rate", {}).values() for r in by_eps.values() if r is not None]
        lines.append(f"| {variant['name']} | {metrics['anomaly']['auroc']:.4f} | {metrics['detection_rate']:.4f} | "
                     f"{metrics['false_positive_rate']:.4f} | {max(evasion) if evasion else float('nan'):.4f} | "
                     f"{metrics['latency_p99_ms']:.4f} | {metrics['throughput_per_s']:,.0f} | {metrics['file_bytes'] / 1024:,.1f} | "
                     f"{metrics['train_seconds']:.1f} |")
    failed = report["failed_variants"]
    lines += ["", *(f"- {line}" for line in unseen_type_summary([v for v in report["variants"] if "anomaly" in v["metrics"]]))]
    lines += [f"- {f['variant']} was not built: {f['error']}" for f in failed]
    classifier = reports["classify"]["variants"][1]["metrics"]
    lines += ["", f"Classifier (classify run, onnx-fp32, argmax decision): detection {classifier['detection_rate']:.4f}, "
              f"FPR {classifier['false_positive_rate']:.4f}, macro-F1 {classifier['macro_f1']:.4f}."]
    unseen = len(hybrids[0]["test_only"]["types"])
    lines += ["", "## Hybrid: classifier + anomaly detector, alert if either fires", "",
              "Thresholds on the benign validation flows (drawn from the training file): each detector alone gets the whole "
              "false-positive budget, the hybrid gives half to the classifier (a threshold on its attack probability) and the "
              f"rest to the detector. Columns: test-only types caught (≥50% of their flows alerted, of {unseen}) / share of "
              "all test attack flows detected / test FPR.", "",
              "| budget | anomaly detector | classifier alone | anomaly alone | hybrid |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['target_fpr']:.0%} | {r['anomaly_variant']} | " + " | ".join(_cell(r, name) for name in ("classifier", "anomaly", "hybrid")) + " |"
              for r in hybrids]
    best = max((r for r in hybrids if r["target_fpr"] == args.target_fpr[0]), key=lambda r: len(r["test_only"]["caught"]["hybrid"]))
    lines += ["", f"Per test-only type at {best['target_fpr']:.0%}, hybrid with {best['anomaly_variant']}:", "",
              *(f"- {line}" for line in hybrid_lines(best)), "",
              "| test-only type | test rows | classifier | anomaly | hybrid |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {best['by_type'][name]['rows']} | {best['by_type'][name]['classifier']:.3f} | "
              f"{best['by_type'][name]['anomaly']:.3f} | {best['by_type'][name]['hybrid']:.3f} |"
              for name in sorted(best["test_only"]["types"], key=lambda n: -best["by_type"][n]["rows"])]
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "anomaly.md").write_text(text)
    print(text)
    return 0


def _cell(result: dict, name: str) -> str:
    return (f"{len(result['test_only']['caught'][name])} / {result['detection_rate'][name]:.3f} / "
            f"{result['test_fpr'][name]:.3f}")


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: is the ship decision stable? The same artifacts re-evaluated and re-selected N times.

Not a test: it re-measures speed on a shared machine, which is exactly the noise the
decision must not follow. For each scenario one run is built, then `evaluate` + `select`
run again N times on its unchanged artifacts; the table lists the variant shipped each
time, the tie it came from and the p99 latency the verdict read. Stable means one variant
in every row. It also writes the test split's view of the NSL-KDD binary run at
target_fpr 0.02: each variant's calibrated FPR on the selection split and on the test file.

    .venv/bin/python bench/stability.py [--rounds 5] [--scenarios default,nsl-binary,nsl-5class]
                                        [--data ../shared/data/nsl-kdd] [--out bench/results]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from rtguard.config import RunConfig, validate_config
from rtguard.policy import Policy

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nsl-kdd"


def scenario(name: str, data: Path) -> tuple[RunConfig, Policy]:
    """The run and its policy: the embedded default, and NSL-KDD binary (at target_fpr 0.02) and 5-class."""
    if name == "default":
        return validate_config({}), Policy()
    labels = "binary" if name == "nsl-binary" else "multiclass"
    config = validate_config({"data": {"dataset": "nsl-kdd", "path": str(data), "labels": labels}})
    return config, Policy(target_fpr=0.02) if labels == "binary" else Policy()


def main() -> int:
    from rtguard.evaluate import evaluate_run
    from rtguard.pipeline import run_pipeline
    from rtguard.runfolder import RunFolder
    from rtguard.select import select_run

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="re-evaluations per scenario")
    parser.add_argument("--scenarios", default="default,nsl-binary,nsl-5class")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with KDDTrain+ and KDDTest+")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where stability.md goes")
    args = parser.parse_args()
    names = args.scenarios.split(",")
    if any(name.startswith("nsl") for name in names) and not args.data.is_dir():
        print(f"NSL-KDD not found at {args.data}: pass --data, or --scenarios default", file=sys.stderr)
        return 2

    lines = ["# Stability of the ship decision", "",
             f"Each scenario: one run, then `evaluate` + `select` {args.rounds} more times on the same artifacts "
             f"(load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores). Command: "
             f"`.venv/bin/python bench/stability.py --rounds {args.rounds} --scenarios {args.scenarios}`.", ""]
    held = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            print(f"==> {name}", flush=True)
            config, policy = scenario(name, args.data)
            folder = Path(scratch) / name
            report = run_pipeline(config, folder, show_progress=False, policy=policy)
            run = RunFolder(folder)
            rows = [_row(0, report["selection"], report["variants"])]
            for index in range(1, args.rounds + 1):
                evaluate_run(run, show_progress=False)
                selection = select_run(run)
                rows.append(_row(index, selection, None, run))
                print(f"   {rows[-1]}", flush=True)
            shipped = {row.split(" | ")[1] for row in rows}
            lines += [f"## {name}: {'stable' if len(shipped) == 1 else 'UNSTABLE'} ({len(shipped)} distinct choice(s) in "
                      f"{len(rows)} evaluations)", "",
                      "| evaluation | shipped | tied within noise | tie broken by | p99 ms (shipped) |", "|---|---|---|---|---:|",
                      *(f"| {row} |" for row in rows), ""]
            if name == "nsl-binary":
                held = _held(report)
    lines += held
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stability.md").write_text(text)
    print(text)
    return 0


def _row(index: int, selection: dict, variants: list[dict] | None, run=None) -> str:
    chosen = selection["chosen"] or "nothing"
    p99 = "–"
    if selection["chosen"]:
        metrics = (next(v["metrics"] for v in variants if v["name"] == chosen) if variants
                   else run.read_json(run.variant(chosen) / "metrics.json"))
        p99 = f"{metrics['latency_p99_ms']:.4f}"
    tied = ", ".join(name.split("@")[0] + ("" if name.endswith("@onnxruntime") else f" on {name.split('@')[1]}")
                     for name in selection.get("tied", []))
    backend = f" on {selection['backend']}" if selection.get("backend") not in (None, "onnxruntime") else ""
    return f"{index} | {chosen}{backend} | {tied} | {selection.get('tie_break') or '–'} | {p99}"


def _held(report: dict) -> list[str]:
    """NSL-KDD binary at target_fpr 0.02: the calibrated point on the selection split, and what it gave on the test file."""
    lines = ["## NSL-KDD binary at target_fpr 0.02: did the calibrated budget hold on the test file?", "",
             "| variant | FPR selection | FPR test | detection selection | detection test | AUROC test |",
             "|---|---:|---:|---:|---:|---:|"]
    for variant in report["variants"]:
        metrics, point = variant["metrics"], variant["metrics"]["operating_point"]
        lines.append(f"| {variant['name']} | {point['selection_false_positive_rate']:.4f} | {metrics['false_positive_rate']:.4f} | "
                     f"{point['selection_detection_rate']:.4f} | {metrics['detection_rate']:.4f} | {metrics['auroc']:.4f} |")
    return lines + [""]


if __name__ == "__main__":
    sys.exit(main())

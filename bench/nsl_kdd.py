"""Benchmark: the whole pipeline on the real NSL-KDD files, binary and 5-class.

Not a test: it times things. Every ratio it prints was measured side by side in this
one process (variants take turns), which is what survives a noisy shared machine.

    .venv/bin/python bench/nsl_kdd.py [--data ../shared/data/nsl-kdd] [--out bench/results]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rtguard.config import RunConfig, validate_config
from rtguard.errors import RtguardError
from rtguard.report.table import markdown_table

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nsl-kdd"


def bench_config(data: Path, labels: str) -> RunConfig:
    return validate_config({
        "data": {"dataset": "nsl-kdd", "path": str(data), "labels": labels},
        "evaluate": {"latency_calls": 2000, "throughput_seconds": 2.0},
    })


def main() -> int:
    from rtguard.pipeline import run_pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with KDDTrain+ and KDDTest+")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where nsl-kdd.md goes")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"NSL-KDD not found at {args.data}: pass --data", file=sys.stderr)
        return 2

    sections = []
    with tempfile.TemporaryDirectory() as scratch:
        for labels in ("binary", "multiclass"):
            print(f"==> NSL-KDD, {labels} labels", flush=True)
            try:
                report = run_pipeline(bench_config(args.data, labels), Path(scratch) / labels, show_progress=True)
            except RtguardError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            sections.append(_section(report, labels))
    text = "\n".join(sections)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nsl-kdd.md").write_text(text)
    print(text)
    return 0


def _section(report: dict, labels: str) -> str:
    machine, training, versions = report["machine"], report["training"], report["versions"]
    return "\n".join([
        f"### NSL-KDD, {labels} labels: {report['dataset']['source']}",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, VNNI: {'yes' if machine['vnni'] else 'no'}; "
        f"onnxruntime {versions['onnxruntime']}, torch {versions['torch']}. "
        f"Training: {training['wall_time_s']:.1f} s, {training['epochs_run']} epochs, "
        f"{training['samples_per_s']:,.0f} samples/s.",
        "",
        markdown_table(report["variants"]),
        "",
        *[f"- {note}" for note in report["findings"]],
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())

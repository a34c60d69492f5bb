"""Benchmark: every variant on every inference backend, on the synthetic default, NSL-KDD and the CNN.

Not a test: it times things. Each scenario is one `run_pipeline` (the default protocol of
rtguard/evaluate/backends.py, with more timed calls per pair): batch-1 latency on one
thread and throughput at batch 1024 on all cores, every pair taking turns in rotating
rounds. Per scenario it writes the variant x backend tables, the fastest pair at batch 1
and at batch 1024, and checks two targets:
  - the shipped pair is never slower than the best single backend's best variant
    (compared at p99, batch 1: the policy's preference; p50 and throughput shown beside);
  - on the CNN, the shipped pair reaches at least OpenVINO's INT8 speed.
The wall time of the synthetic default run is the cost of `rtguard run` with backends.

    .venv/bin/python bench/backends.py [--data ../shared/data/nsl-kdd] [--only synthetic,nsl-kdd,cnn] [--out bench/results]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from rtguard.config import validate_config
from rtguard.machine import machine_info
from rtguard.measurements import collect_variants
from rtguard.runfolder import RunFolder

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "nsl-kdd"
EVALUATE = {"backend_latency_calls": 500, "backend_throughput_seconds": 0.5}
INT8 = ("int8-static", "int8-dynamic", "qat-int8", "mixed-int8")


def scenarios(data: Path) -> dict[str, dict]:
    found = {"synthetic": ("Synthetic default (MLP)", {})}
    if data.is_dir():
        found["nsl-kdd"] = ("NSL-KDD KDDTest+, binary labels (MLP)", {"data": {"dataset": "nsl-kdd", "path": str(data), "labels": "binary"}})
    else:
        print(f"NSL-KDD not found at {data}: skipped (pass --data)", file=sys.stderr)
    found["cnn"] = ("Flows as sequences through the residual CNN (configs/flows-cnn.toml)",
                    tomllib.loads((ROOT / "configs" / "flows-cnn.toml").read_text()))
    return found


def main() -> int:
    from rtguard.pipeline import run_pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with KDDTrain+ and KDDTest+")
    parser.add_argument("--only", default=None, help="comma-separated scenarios: synthetic, nsl-kdd, cnn")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where backends.md goes")
    args = parser.parse_args()
    chosen = scenarios(args.data)
    if args.only:
        chosen = {key: value for key, value in chosen.items() if key in args.only.split(",")}
    sections = []
    with tempfile.TemporaryDirectory() as scratch:
        for key, (title, raw) in chosen.items():
            raw = {**raw, "evaluate": {**raw.get("evaluate", {}), **EVALUATE}}
            load_before = os.getloadavg()
            started = time.perf_counter()
            run_pipeline(validate_config(raw), Path(scratch) / key, show_progress=True)
            seconds = time.perf_counter() - started
            sections.append(section(title, key, RunFolder(Path(scratch) / key), seconds, load_before, os.getloadavg()))
            print(sections[-1])
    machine = machine_info()
    header = (f"# Inference backends side by side\n\nMachine: {machine['cpu']}, {machine['cores']} cores (load averages per "
              "scenario below; the machine may be shared, so absolute numbers are noisy): the ratios inside one table were "
              "measured in turns in one process.\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "backends.md").write_text(header + "\n" + "\n".join(sections))
    print(f"written: {args.out / 'backends.md'}")
    return 0


def section(title: str, key: str, run: RunFolder, seconds: float, load_before: tuple, load_after: tuple) -> str:
    variants = collect_variants(run)
    selection = run.read_json(run.selection)
    backends = list(dict.fromkeys(b for v in variants for b in v["metrics"].get("backends", {})))
    pairs = [(v["name"], b, m, v["artifact"] is not None) for v in variants for b, m in v["metrics"].get("backends", {}).items()
             if m["status"] == "measured"]
    lines = [f"## {title}", "",
             f"One `rtguard run` in {seconds:.0f} s (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after); "
             f"{len(pairs)} measured pairs; {len(run.read_json(run.variant(variants[1]['name']) / 'metrics.json')['backends'])} "
             "backends tried per ONNX variant.", "",
             "Batch 1, one thread: p50 ms (p99 ms) | batch 1024, all cores: rows/s", "",
             "| variant | " + " | ".join(backends) + " |", "|---|" + "---:|" * len(backends)]
    for variant in variants:
        cells = []
        for backend in backends:
            m = variant["metrics"].get("backends", {}).get(backend)
            if m is None:
                cells.append("–")
            elif m["status"] in ("measured", "mismatch"):
                flag = " **outputs differ**" if m["status"] == "mismatch" else ""
                cells.append(f"{m['latency_p50_ms']:.4f} ({m['latency_p99_ms']:.3f}) · {m['throughput_per_s']:,.0f}/s{flag}")
            else:
                cells.append(m["status"])
        lines.append(f"| {variant['name']} | " + " | ".join(cells) + " |")
    lines.append("")
    reasons = {f"{m['status']}: {m['reason']}" for v in variants for m in v["metrics"].get("backends", {}).values() if m.get("reason")}
    lines += [f"- {reason}" for reason in sorted(reasons)]
    at_one = min(pairs, key=lambda p: p[2]["latency_p50_ms"])
    at_batch = max(pairs, key=lambda p: p[2]["throughput_per_s"])
    lines += [f"- Fastest pair at batch 1: {at_one[0]} on {at_one[1]} (p50 {at_one[2]['latency_p50_ms']:.4f} ms).",
              f"- Fastest pair at batch 1024: {at_batch[0]} on {at_batch[1]} ({at_batch[2]['throughput_per_s']:,.0f} rows/s)."]
    runnable = [(v["name"], b, m) for v in variants for b, m in v["metrics"].get("backends", {}).items() if m["status"] in ("measured", "mismatch")]
    lines += shipped_lines(selection, pairs, runnable, backends, key)
    return "\n".join(lines) + "\n"


def shipped_lines(selection: dict, pairs: list, runnable: list, backends: list[str], key: str) -> list[str]:
    if not selection["chosen"]:
        return [f"- Nothing shipped: {selection['verdict']}"]
    shipped = next(m for v, b, m, _ in pairs if (v, b) == (selection["chosen"], selection["backend"]))
    passing = {(p["variant"], p["backend"]) for p in selection["pairs"] if p["passed"]}
    lines = [f"- Shipped pair: {selection['chosen']} on {selection['backend']} (p50 {shipped['latency_p50_ms']:.4f} ms, "
             f"p99 {shipped['latency_p99_ms']:.4f} ms, {shipped['throughput_per_s']:,.0f} rows/s)."]
    for backend in backends:
        deployable = [(v, m) for v, b, m, artifact in pairs if b == backend and artifact and (v, backend) in passing]
        if not deployable:
            continue
        best_name, best = min(deployable, key=lambda p: p[1]["latency_p99_ms"])
        verdict = "never slower" if shipped["latency_p99_ms"] <= best["latency_p99_ms"] else "SLOWER"
        lines.append(f"  - vs the best passing variant on {backend} alone, {best_name}: p99 {shipped['latency_p99_ms']:.4f} vs "
                     f"{best['latency_p99_ms']:.4f} ms ({verdict}); p50 {shipped['latency_p50_ms']:.4f} vs {best['latency_p50_ms']:.4f} ms; "
                     f"{shipped['throughput_per_s']:,.0f} vs {best['throughput_per_s']:,.0f} rows/s at batch 1024.")
    if key == "cnn":  # a speed target: OpenVINO's INT8 pairs count even where their outputs differ (and cannot ship)
        int8 = dict(sorted(((v, m) for v, b, m in runnable if b == "openvino" and v in INT8), key=lambda p: p[1]["latency_p50_ms"]))
        for name, m in int8.items():
            reached = shipped["latency_p50_ms"] <= m["latency_p50_ms"] and shipped["throughput_per_s"] >= m["throughput_per_s"]
            differ = " (outputs differ)" if m["status"] == "mismatch" else ""
            lines.append(f"  - OpenVINO INT8 {name}{differ}: p50 {m['latency_p50_ms']:.4f} ms, {m['throughput_per_s']:,.0f} rows/s; the shipped pair "
                         + ("reaches it at batch 1 and at batch 1024." if reached else
                            f"is {m['latency_p50_ms'] / shipped['latency_p50_ms']:.2f}x its speed at batch 1 and "
                            f"{shipped['throughput_per_s'] / m['throughput_per_s']:.2f}x at batch 1024."))
    return lines


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: what trusting the artifact costs, measured side by side in one run.

Not a test: it times things. Each comparison alternates its contenders in rounds
(contender A, then B, then A...) inside this one process, so a noisy neighbour
slows both alike and the ratio survives it.

- load: plain `ort.InferenceSession(path)` vs `create_session` (validation + hardening)
  vs `open_session` (private copy + signature + validation + hardening);
- call: raw `session.run` vs `GuardedSession.run` (input checks + deadline watchdog)
  on the same ONNX Runtime session, at batch 1 and batch 1024 (targets: <= 20% and
  <= 5% added);
- isolation: a call through the worker process vs the same guarded call in process.

    .venv/bin/python bench/runtime_overhead.py [--run RUN] [--variant onnx-fp32] [--out bench/results]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROUNDS = 40
CALLS = {1: 200, 1024: 15}  # calls per contender per round


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="an evaluated run folder (default: build a small synthetic one)")
    parser.add_argument("--variant", default="onnx-fp32", help="which variant of the run to load")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (1: least noisy)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where runtime-overhead.md goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        run = args.run or _small_run(scratch / "run")
        text = measure(run, args.variant, args.threads, scratch)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runtime-overhead.md").write_text(text)
    print(text)
    return 0


def _small_run(out: Path) -> Path:
    from rtguard.config import validate_config
    from rtguard.pipeline import run_pipeline

    print("==> building a small synthetic run (onnx-fp32, int8-dynamic)", flush=True)
    config = validate_config({"data": {"n_flows": 20000}, "train": {"epochs": 3},
                              "optimize": {"variants": ["onnx-fp32", "int8-dynamic"]},
                              "evaluate": {"latency_calls": 100, "throughput_seconds": 0.2}})
    run_pipeline(config, out, show_progress=False)
    return out


def measure(run: Path, variant_name: str, threads: int, scratch: Path) -> str:
    import onnxruntime as ort

    from rtguard.config import RuntimeConfig
    from rtguard.data.prepare import Splits
    from rtguard.integrity import generate_keypair, sign_all
    from rtguard.machine import machine_info
    from rtguard.runtime import INPUT_NAME, OUTPUT_NAME, Trust, create_session, load_session, open_session
    from rtguard.runtime.guard import InputGuard

    variant = run / "variants" / variant_name
    private, public = generate_keypair(scratch / "bench.key")
    sign_all(variant, private)
    settings, trust = RuntimeConfig(threads=threads), Trust(public)
    model = variant / "model.onnx"
    plain_options = ort.SessionOptions()
    plain_options.intra_op_num_threads = threads

    print("==> load", flush=True)
    loads = alternate({
        "plain ort.InferenceSession": lambda: ort.InferenceSession(str(model), plain_options, providers=["CPUExecutionProvider"]),
        "create_session (validated, hardened)": lambda: create_session(model, settings),
        "open_session (verified copy, validated, hardened)": lambda: load_session(variant, trust, settings).close(),
    }, rounds=10, calls=3)

    x_test = Splits.load(run / "data" / "splits.npz").x_test
    guarded = load_session(variant, trust, settings)
    raw, checks = guarded.session, InputGuard(guarded.schema, settings)
    worker = open_session(variant, trust, settings.model_copy(update={"isolate": True}))
    in_range = x_test[[not checks.check({INPUT_NAME: row[None]})[1] for row in x_test]]
    lines = []
    for label, rows, batch in (("1", x_test, 1), ("1024", x_test, 1024), ("1024, rows inside the training range", in_range, 1024)):
        print(f"==> calls at batch {label}", flush=True)
        blocks = [np.ascontiguousarray(np.resize(np.roll(rows, -i * batch, axis=0), (batch, rows.shape[1]))) for i in range(8)]
        feeds = [{INPUT_NAME: block} for block in blocks]
        turn = iter(range(10**9))
        calls = alternate({
            "raw session.run": lambda: raw.run([OUTPUT_NAME], feeds[next(turn) % 8]),
            "GuardedSession.run": lambda: guarded.run(feeds[next(turn) % 8]),
            "input checks alone": lambda: checks.check(feeds[next(turn) % 8]),
            "worker process": lambda: worker.run(feeds[next(turn) % 8]),
        }, rounds=ROUNDS, calls=CALLS[batch])
        lines.append((label, calls))
    worker.close()
    guarded.close()
    return _markdown(machine_info(), loads, lines, guarded.counts, variant_name, threads)


def alternate(contenders: dict, rounds: int, calls: int) -> dict[str, np.ndarray]:
    """Per-call seconds [round, call] of each contender, taking turns round by round after a warm-up call each."""
    for call in contenders.values():
        call()
    times = {name: np.empty((rounds, calls)) for name in contenders}
    for round_index in range(rounds):
        for name, call in contenders.items():
            for call_index in range(calls):
                started = time.perf_counter()
                call()
                times[name][round_index, call_index] = time.perf_counter() - started
    return times


def _ratio(slower: np.ndarray, faster: np.ndarray) -> tuple[float, float, float]:
    """Median and quartiles over rounds of the per-round ratio of medians.

    The two were measured moments apart in each round, so load that comes and goes
    on a shared machine cancels out of each round's ratio.
    """
    ratios = np.median(slower, axis=1) / np.median(faster, axis=1)
    return tuple(np.percentile(ratios, [50, 25, 75]))


def _markdown(machine: dict, loads: dict, calls: list, counts, variant: str, threads: int) -> str:
    import onnxruntime

    out = [
        f"### Runtime overhead: variant {variant}, {threads} intra-op thread(s)",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; onnxruntime {onnxruntime.__version__}. "
        "Medians of per-call times; contenders alternated in rounds in one process; ratios are the median over "
        "rounds of each round's ratio.",
        "",
        "| load | median ms | vs plain (quartiles over rounds) |",
        "|---|---:|---:|",
    ]
    plain = next(iter(loads.values()))
    for name, seconds in loads.items():
        ratio, low, high = _ratio(seconds, plain)
        out.append(f"| {name} | {np.median(seconds) * 1e3:.2f} | {ratio:.2f}x ({low:.2f}-{high:.2f}) |")
    out += ["", "| batch | raw session.run µs | GuardedSession.run µs | added (quartiles over rounds) | the checks alone µs | "
            "worker µs | worker adds per call µs |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for batch, times in calls:
        raw, guarded, checks, worker = times.values()
        ratio, low, high = _ratio(guarded, raw)
        out.append(f"| {batch} | {np.median(raw) * 1e6:.1f} | {np.median(guarded) * 1e6:.1f} | {ratio - 1:+.1%} ({low - 1:+.1%} to "
                   f"{high - 1:+.1%}) | {np.median(checks) * 1e6:.1f} | {np.median(worker) * 1e6:.1f} | "
                   f"{(np.median(worker) - np.median(guarded)) * 1e6:.1f} |")
    out += ["", "The test split drifts from training: most of its batches of 1024 hold a value to clip, so those calls take the "
            f"guard's repair path; the guard repaired {dict(counts) or 'nothing'} during the measured calls.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())

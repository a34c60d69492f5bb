"""Benchmark: training speed settings side by side, data parallelism 1 vs 2 processes, time to target.

Not a test: it times things, in one run on one machine, so the ratios compare like with like.

1. Samples/s of one training step per configuration (precision, torch.compile, threads,
   gradient accumulation; fp16 too on CUDA), for the default MLP and the residual CNN, on the
   synthetic default data. Every configuration trains the same initial weights on the same
   batches with rtguard's own step (rtguard/train/loop.py); configurations take turns for
   several rounds and the median is kept, so a neighbour's burst hits all of them alike.
2. Data-parallel training through torchrun, 1 vs 2 processes, same global batch: samples/s of
   whole training runs (validation included) and the scaling efficiency (speed-up / processes).
3. Time to target: full trainings of the default configuration, fp32 eager vs the `--auto-speed`
   choice, on the synthetic default and on NSL-KDD (skipped when the folder is absent): wall
   time, and seconds until validation macro-F1 first reached 99 % of fp32 eager's best.

Runs unchanged on a CPU or a GPU (CUDA is used when present).

    .venv/bin/python bench/training.py [--quick] [--data ../shared/data/nsl-kdd] [--out bench/results]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from rtguard.config import validate_config
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.data.stage import prepare_run_data
from rtguard.machine import machine_info
from rtguard.models import build_model
from rtguard.runfolder import RunFolder
from rtguard.train import train_run
from rtguard.train.auto_speed import measure_settings
from rtguard.train.distributed import launch
from rtguard.train.loop import cross_entropy

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nsl-kdd"
MODELS = {"mlp [128, 64]": {"family": "mlp"}, "cnn [16, 32]": {"family": "cnn"}}


def configurations(cuda: bool) -> dict[str, dict]:
    cores = os.cpu_count() or 1
    found = {"fp32 eager, 1 thread": {"precision": "fp32", "compile": False, "threads": 1},
             f"fp32 eager, {cores} threads": {"precision": "fp32", "compile": False, "threads": cores},
             "bf16 eager, 1 thread": {"precision": "bf16", "compile": False, "threads": 1},
             "fp32 compiled, 1 thread": {"precision": "fp32", "compile": True, "threads": 1},
             "bf16 compiled, 1 thread": {"precision": "bf16", "compile": True, "threads": 1},
             "fp32 eager, 4 micro-batches": {"precision": "fp32", "compile": False, "threads": 1, "accumulation_steps": 4}}
    if cuda:
        found = {name.replace(", 1 thread", ""): settings for name, settings in found.items() if f"{cores} threads" not in name}
        found["fp16 eager (GradScaler)"] = {"precision": "fp16", "compile": False, "threads": 1}
        found["fp16 compiled (GradScaler)"] = {"precision": "fp16", "compile": True, "threads": 1}
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with KDDTrain+ and KDDTest+")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where training.md goes")
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer steps and rounds (a smoke run, not for quoting)")
    args = parser.parse_args()
    n_flows, steps, rounds = (20_000, 10, 2) if args.quick else (120_000, 30, 3)
    cuda = torch.cuda.is_available()
    load_before, started = os.getloadavg(), time.perf_counter()
    sections = [_machine_line(cuda, args.quick)]
    with tempfile.TemporaryDirectory() as scratch:
        synthetic = _prepared(Path(scratch) / "synthetic", {"n_flows": n_flows})
        for model_name, model in MODELS.items():
            print(f"==> step speed: {model_name}", flush=True)
            sections.append(_step_speed(synthetic, model_name, model, configurations(cuda), steps, rounds))
        print("==> data parallel 1 vs 2 processes", flush=True)
        sections.append(_data_parallel(Path(scratch), n_flows, epochs=2 if args.quick else 3))
        targets = {"synthetic default": synthetic}
        if args.data.is_dir():
            targets["NSL-KDD (KDDTest+), multiclass"] = _prepared(Path(scratch) / "nsl", {"dataset": "nsl-kdd", "path": str(args.data)})
        else:
            print(f"NSL-KDD not found at {args.data}: time to target on synthetic only (pass --data)", file=sys.stderr)
        for title, run in targets.items():
            print(f"==> time to target: {title}", flush=True)
            sections.append(_time_to_target(title, run, steps))
    sections.append(f"Load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
                    f"the benchmark took {time.perf_counter() - started:.0f} s.\n")
    text = "\n".join(sections)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training.md").write_text(text)
    print(text)
    return 0


def _machine_line(cuda: bool, quick: bool) -> str:
    machine = machine_info()
    flags = ", ".join(flag for flag, present in machine["flags"].items() if present)
    device = f"GPU {torch.cuda.get_device_name(0)}" if cuda else "no GPU (CPU only)"
    return (f"Machine: {machine['cpu']}, {machine['cores']} cores ({flags}); {device}; torch {torch.__version__}."
            + (" QUICK RUN (smaller data, fewer steps): not for quoting." if quick else "") + "\n")


def _prepared(root: Path, data: dict) -> RunFolder:
    run = RunFolder(root)
    root.mkdir(parents=True)
    prepare_run_data(run, validate_config({"data": data}))
    return run


def _step_speed(run: RunFolder, title: str, model: dict, found: dict[str, dict], steps: int, rounds: int) -> str:
    """Median samples/s per configuration over `rounds` turns, each from the same weights on the same batches."""
    config = validate_config({"model": model})
    schema, splits = FeatureSchema.load(run.schema), Splits.load(run.splits)
    torch.manual_seed(0)
    initial = build_model(schema, config.model)
    objective = cross_entropy(splits.y_train, len(schema.classes), config.train.class_weighting)
    measured = dict(zip(found, measure_settings(list(found.values()), initial, objective, splits, config.train, steps, rounds)))
    baseline = measured[next(iter(found))]["samples_per_s"]
    lines = [f"### Step speed: {title}, batch {config.train.batch_size}, {len(splits.x_train):,} training rows\n",
             f"Median of {rounds} rounds of {steps} timed steps per configuration, taken in turns after {steps} warm-up steps.\n",
             "| configuration | samples/s | vs fp32 eager | one-time s (compile) | val loss after the steps |",
             "|---|---:|---:|---:|---:|"]
    for name, entry in measured.items():
        if "error" in entry:
            lines.append(f"| {name} | failed: {entry['error']} | | | |")
            continue
        rate = entry["samples_per_s"]
        lines.append(f"| {name} | {rate:,.0f} | {rate / baseline:.2f}x | {entry['one_time_s']:.1f} | {entry['val_loss']:.4f} |")
    return "\n".join(lines) + "\n"


def _data_parallel(scratch: Path, n_flows: int, epochs: int) -> str:
    """Whole trainings (validation included) with the same global batch: one process, then two through torchrun."""
    data = {"n_flows": n_flows}
    on_gpus = torch.cuda.device_count() >= 2  # one process per GPU; with fewer, both processes share the CPU (gloo)
    train = {"epochs": epochs, "patience": epochs, "target_fraction": 0.99, "device": "auto" if on_gpus else "cpu"}
    records = {}
    for nproc in (1, 2):
        run = RunFolder(scratch / f"ddp-{nproc}")
        run.root.mkdir()
        prepare_run_data(run, validate_config({"data": data, "train": train}))
        records[nproc] = train_run(run, show_progress=False) if nproc == 1 else launch(run, nproc)
    one, two = records[1], records[2]
    speedup = two["samples_per_s"] / one["samples_per_s"]
    return "\n".join([
        f"### Data parallel (torchrun, {'nccl, one GPU per process' if on_gpus else 'gloo on the CPU'}), "
        f"same global batch {one['settings']['batch_size']}, {epochs} epochs\n",
        "| processes | wall s | samples/s | val macro-F1 |", "|---:|---:|---:|---:|",
        *(f"| {n} | {r['wall_time_s']:.1f} | {r['samples_per_s']:,.0f} | {r['validation']['macro_f1']:.4f} |" for n, r in records.items()),
        "",
        f"Speed-up {speedup:.2f}x with 2 processes: scaling efficiency {speedup / 2:.0%}. "
        + ("Each process has its own GPU; every step waits for a gradient all-reduce." if on_gpus else
           f"Both processes share this machine's {os.cpu_count()} cores with whatever else runs on it, every step waits for a "
           "gradient all-reduce, and each rank also scores the whole validation split every epoch"
           + (": for a network this small, one process is faster here" if speedup < 1 else "")
           + ". Data parallelism is for models and data sets that outgrow one process, on machines "
           "with cores (or GPUs) to spare.") + "\n",
    ])


def _time_to_target(title: str, run: RunFolder, steps: int) -> str:
    """The default training, fp32 eager then the --auto-speed choice, from the same prepared data."""
    rows, rates, target = [], [], None
    for label, auto in (("fp32 eager (default)", False), ("--auto-speed choice", True)):
        config = run.load_config().model_dump(mode="json", exclude_none=True)
        config["train"]["auto_speed"] = {"steps": steps}
        config["train"]["target_macro_f1"] = target  # the second training races to the first one's target
        run.save_config(validate_config(config))
        record = train_run(run, show_progress=False, auto_speed=auto)
        target = target or record["time_to_target"]["target"]
        chosen = record.get("auto_speed", {}).get("chosen")
        same = chosen == {"precision": "fp32", "compile": False, "threads": run.load_config().train.threads}  # the baseline itself
        name = label + (f": {chosen['precision']}, {'compiled' if chosen['compile'] else 'eager'}, {chosen['threads']} thread(s)" if chosen else "")
        reached = record["time_to_target"]
        rates.append(record["samples_per_s"])
        to_target = f"{reached['seconds']:.1f} (epoch {reached['epoch']})" if reached["seconds"] is not None else "not reached"
        rows.append(f"| {name} | {record['wall_time_s']:.1f} | {record['epochs_run']} | {record['samples_per_s']:,.0f} | "
                    f"{reached['target']:.4f} | {to_target} | {record['validation']['macro_f1']:.4f} |")
    return "\n".join([f"### Time to target: {title}\n",
                      "| training | wall s | epochs | samples/s | target val macro-F1 | seconds to target | best val macro-F1 |",
                      "|---|---:|---:|---:|---:|---:|---:|", *rows,
                      "", f"The auto-speed choice trained at {rates[1] / rates[0]:.2f}x fp32 eager's samples/s (whole training, validation included)"
                      + (": it chose fp32 eager itself, so this ratio is the noise of this shared machine." if same else "."),
                      "Target: 99 % of fp32 eager's best validation macro-F1, the same for both. Auto-speed's own "
                      "measuring time is not in the wall time; it is in train.json (auto_speed.candidates).\n"])


if __name__ == "__main__":
    sys.exit(main())

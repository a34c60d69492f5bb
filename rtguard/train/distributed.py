"""Data-parallel training through torchrun: `rtguard train RUN --nproc N` on one machine, or torchrun by hand across several.

torchrun (torch.distributed.run) starts the processes, and stops every one of them when one
fails (no restarts); the process group's timeout ends a collective that waits on a rank that
hangs. Each process runs `python -m rtguard.train.distributed RUN` as rank RANK of WORLD_SIZE:
the same training as one process, on its share of every batch (rtguard/train/loop.py),
gloo on CPUs and nccl on GPUs. Rank 0 alone writes checkpoints, weights and train.json.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from rtguard.config import DistributedConfig
from rtguard.runfolder import RunFolder
from rtguard.train.speed import TrainingError

WORKER = "rtguard.train.distributed"


def free_port(address: str) -> int:
    """A port free on `address` now (the launcher hands it to torchrun at once)."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


def launch(run: RunFolder, nproc: int, resume: bool = False, show_progress: bool = False, worker: list[str] | None = None) -> dict:
    """Train the run with `nproc` processes on this machine; return rank 0's train.json record.

    `worker`: the command each process runs after torchrun's options (default: this module on the run).
    """
    settings = run.load_config().train.distributed
    if nproc < 1:
        raise TrainingError(f"--nproc must be at least 1, not {nproc}")
    port = settings.port or free_port(settings.address)
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", "--nnodes=1", "--node-rank=0",
               f"--master-addr={settings.address}", f"--master-port={port}", "--max-restarts=0", "--monitor-interval=0.5",
               *(worker or ["-m", WORKER, str(run.root), *(["--resume"] if resume else []), *(["--progress"] if show_progress else [])])]
    finished = subprocess.run(command, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stderr=subprocess.PIPE, text=True)
    if finished.returncode != 0:
        raise TrainingError(f"distributed training failed (torchrun exit status {finished.returncode}; every process was "
                            f"stopped, the run's weights are unchanged): {_cause(finished.stderr)}")
    return run.read_json(run.train_record)


def _cause(stderr: str) -> str:
    """The most telling line of the processes' output: the first error raised in a rank, else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ("Error:" in line or "error:" in line) and "ChildFailedError" not in line]
    return (errors[0] if errors else lines[-1] if lines else "no output")[:500]


def init_process_group(settings: DistributedConfig, device: str) -> None:
    """Join the group torchrun set up (MASTER_ADDR/PORT, RANK, WORLD_SIZE in the environment)."""
    import torch.distributed as dist

    backend = settings.backend if settings.backend != "auto" else ("nccl" if device.startswith("cuda") else "gloo")
    dist.init_process_group(backend, timeout=timedelta(seconds=settings.timeout_s))


def main(argv: list[str] | None = None) -> int:
    """One rank: train the run on its share of each batch."""
    import torch
    import torch.distributed as dist

    from rtguard.errors import RtguardError
    from rtguard.train import train_run
    from rtguard.train.loop import Shard
    from rtguard.train.speed import resolve_speed

    parser = argparse.ArgumentParser(prog=f"python -m {WORKER}", description="One rank of `rtguard train --nproc` (started by torchrun).")
    parser.add_argument("run", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--progress", action="store_true", help="progress bar (rank 0)")
    args = parser.parse_args(argv)
    run = RunFolder(args.run)
    shard = Shard(rank=int(os.environ["RANK"]), world=int(os.environ["WORLD_SIZE"]), local_rank=int(os.environ.get("LOCAL_RANK", 0)))
    try:
        config = run.load_config().train
        device = resolve_speed(config, shard.local_rank).device
        if device.startswith("cuda"):
            torch.cuda.set_device(shard.local_rank)
        init_process_group(config.distributed, device)
        try:
            train_run(run, show_progress=args.progress and shard.writes, resume=args.resume, shard=shard)
        finally:
            dist.destroy_process_group()
    except RtguardError as exc:
        print(f"rank {shard.rank} error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

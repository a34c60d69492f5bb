"""Speed settings of a training run, resolved for this machine: device, precision, compile, threads.

A configuration names wishes ("auto", "bf16"); this turns them into what will run, and
refuses what cannot run here with one clear line instead of a slow or silent fallback.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch

from rtguard.compute import default_threads
from rtguard.config import TrainConfig
from rtguard.errors import RtguardError

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingError(RtguardError):
    """Training cannot run as configured on this machine, or a training process failed."""


@dataclass(frozen=True)
class Speed:
    device: str  # "cpu", "cuda:0", ...
    precision: str
    compile: bool
    threads: int
    accumulation_steps: int

    def autocast(self):
        """Forward pass in reduced precision (weights and optimizer stay fp32); a no-op for fp32."""
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(torch.device(self.device).type, dtype=PRECISIONS[self.precision])

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling keeps small fp16 gradients from flushing to zero; bf16 has fp32's range and needs none."""
        return torch.amp.GradScaler(torch.device(self.device).type, enabled=self.precision == "fp16")

    def record(self) -> dict:
        return asdict(self)


def resolve_speed(config: TrainConfig, local_rank: int = 0) -> Speed:
    """What this machine will run for `config`; fp16 without CUDA is an error, not a silent fp32."""
    if config.device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("train.device = \"cuda\" but torch sees no CUDA device here: use \"auto\" or \"cpu\"")
    on_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if on_cuda and local_rank >= torch.cuda.device_count():
        raise TrainingError(f"process {local_rank} of this machine needs GPU {local_rank}, but there are {torch.cuda.device_count()}: "
                            "use at most one process per GPU, or train.device = \"cpu\"")
    device = f"cuda:{local_rank}" if on_cuda else "cpu"
    if config.precision == "fp16" and not on_cuda:
        raise TrainingError("train.precision = \"fp16\" needs a CUDA device (this run trains on the CPU, where fp16 "
                            "autocast is slow and unscaled): use \"bf16\" or \"fp32\"")
    if config.precision == "bf16" and on_cuda and not torch.cuda.is_bf16_supported():
        raise TrainingError("train.precision = \"bf16\": this GPU has no bf16 support; use \"fp16\" or \"fp32\"")
    return Speed(device=device, precision=config.precision, compile=config.compile,
                 threads=default_threads(config.threads), accumulation_steps=config.accumulation_steps)

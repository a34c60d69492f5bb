"""What machine the measurements come from: reports print it beside every number."""

from __future__ import annotations

import os
import platform
from functools import lru_cache

import cpuinfo

# Instruction-set extensions that decide which INT8 and bf16 kernels are fast.
REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "neon", "asimddp")


@lru_cache(maxsize=1)
def machine_info() -> dict:
    info = cpuinfo.get_cpu_info()
    flags = set(info.get("flags", []))
    return {
        "cpu": info.get("brand_raw") or platform.processor() or "unknown",
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "flags": {flag: flag in flags for flag in REPORTED_FLAGS},
        "vnni": bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"}),
    }

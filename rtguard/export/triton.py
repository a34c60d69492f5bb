"""A Triton Inference Server model repository from a verified variant: scoring past one machine.

Triton answers the same protocol as `rtguard serve` (Open Inference Protocol v2 with binary
tensors), under the same model name, so clients move between the two unchanged. Triton
checks no signatures, so the export is the last place rtguard can: the variant is verified
and validated as a serving load would, and the version folder holds exactly the verified
files plus their signature, so `rtguard verify` still works on what Triton loads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rtguard.config import RunConfig
from rtguard.errors import RtguardError
from rtguard.integrity import SIGNATURE_NAME
from rtguard.runfolder import write_text
from rtguard.runtime import Trust, trusted_folder
from rtguard.runtime.loader import load_folder

# Triton's ONNX Runtime backend: optimization.graph.level (-1 basic, 1 extended, 2 none; unset: all).
_GRAPH_LEVEL = {"disabled": 2, "basic": -1, "extended": 1}


def export_triton(variant_dir: Path, out: Path, trust: Trust, config: RunConfig, version: int | None = None,
                  instances: int = 1, replace: bool = False) -> Path:
    """Write OUT/<model_name>/{config.pbtxt, labels.txt, <version>/}; returns the version folder."""
    variant_dir, model_dir = Path(variant_dir), Path(out) / config.serve.model_name
    version = version if version is not None else _next_version(model_dir)
    target = model_dir / str(version)
    if target.exists() and not replace:
        raise RtguardError(f"{target} exists: pass --version N for a new version, or --force to replace it")
    with trusted_folder(variant_dir, trust, config.runtime.max_model_mib) as folder:
        loaded = load_folder(folder, variant_dir.name, config.runtime)  # the serving load: validation, contract, smoke test
        session, schema = loaded.session, loaded.schema
        loaded.close()
        model_dir.mkdir(parents=True, exist_ok=True)
        partial = model_dir / f".{version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(folder, partial)
    if trust.public_key is not None:
        shutil.copyfile(trust.signature or variant_dir / SIGNATURE_NAME, partial / SIGNATURE_NAME)
    if target.exists():
        shutil.rmtree(target)
    os.replace(partial, target)
    n_features = session.get_inputs()[0].shape[1]
    write_text(model_dir / "labels.txt", "".join(f"{name}\n" for name in schema.classes))
    write_text(model_dir / "config.pbtxt", model_config(config, n_features, len(schema.classes), instances, variant_dir))
    return target


def model_config(config: RunConfig, n_features: int, n_classes: int, instances: int, source: Path) -> str:
    """config.pbtxt for the ONNX Runtime backend, with the batching and threads rtguard serves with."""
    runtime, serve = config.runtime, config.serve
    parameters = {
        "intra_op_thread_count": runtime.threads or 0,  # 0: ONNX Runtime uses every core, as rtguard does
        "inter_op_thread_count": 1,
        "execution_mode": 0,  # sequential, as rtguard's sessions run
    }
    lines = [
        f"# Written by `rtguard export triton` from {source} (verified before export).",
        f'name: "{serve.model_name}"',
        'backend: "onnxruntime"',
        f"max_batch_size: {runtime.max_batch}",
        'default_model_filename: "model.onnx"',
        f'input [ {{ name: "features" data_type: TYPE_FP32 dims: [ {n_features} ] }} ]',
        f'output [ {{ name: "probabilities" data_type: TYPE_FP32 dims: [ {n_classes} ] label_filename: "labels.txt" }} ]',
        f"dynamic_batching {{ max_queue_delay_microseconds: {round(serve.batch_window_ms * 1000) if serve.batching else 0} }}",
        f"instance_group [ {{ count: {instances} kind: KIND_CPU }} ]",
        "version_policy { latest { num_versions: 1 } }",
    ]
    if runtime.graph_optimization in _GRAPH_LEVEL:
        lines.append(f"optimization {{ graph {{ level: {_GRAPH_LEVEL[runtime.graph_optimization]} }} }}")
    lines += [f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}' for key, value in parameters.items()]
    return "\n".join(lines) + "\n"


def _next_version(model_dir: Path) -> int:
    """One above the highest numeric version folder present (1 for a new model)."""
    versions = [int(path.name) for path in model_dir.glob("*") if path.is_dir() and path.name.isdigit()]
    return max(versions, default=0) + 1

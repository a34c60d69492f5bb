"""Optimize stage: export the reference once, then build every configured recipe as a variant."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.machine import machine_info
from rtguard.models import load_model
from rtguard.optimize.export import check_parity, export_onnx
from rtguard.optimize.passes import PassContext
from rtguard.optimize.recipes import RECIPES
from rtguard.runfolder import RunFolder, building, write_json

PARITY_ROWS = 4096


def optimize_run(run: RunFolder, on_variant=lambda name: None) -> dict[str, dict]:
    """Write variants/<name>/{model.onnx, variant.json} for every configured recipe."""
    config = run.load_config()
    schema = FeatureSchema.load(run.schema)
    splits = Splits.load(run.splits)
    model = load_model(schema, config.model, run.weights)
    rng = np.random.default_rng(config.data.seed)
    calibration = splits.x_train[rng.choice(len(splits.x_train), min(config.optimize.calibration_samples, len(splits.x_train)), replace=False)]
    context = PassContext(calibration=calibration, machine=machine_info())

    run.invalidate_after("optimize")
    records = {}
    with tempfile.TemporaryDirectory() as scratch, building(run.variants, replace=True) as variants:
        reference = Path(scratch) / "reference.onnx"
        started = time.perf_counter()
        export_onnx(model, len(schema.features), reference, config.optimize.opset)
        export_s = time.perf_counter() - started
        parity = check_parity(model, reference, splits.x_test[:PARITY_ROWS], config.optimize.parity_tolerance)
        for name in config.optimize.variants:
            on_variant(name)
            records[name] = _build_variant(name, reference, variants / name, context, export_s, parity)
    return records


def _build_variant(name: str, reference: Path, folder: Path, context: PassContext, export_s: float, parity: dict) -> dict:
    folder.mkdir(parents=True)
    steps, current = [], reference
    started = time.perf_counter()
    for index, step in enumerate(RECIPES[name]):
        target = folder / f"step{index}.onnx"
        step_started = time.perf_counter()
        chosen = step.run(current, target, context)
        steps.append({"pass": step.name, "config": step.model_dump(), "chosen": chosen, "seconds": time.perf_counter() - step_started})
        current = target
    shutil.move(current, folder / "model.onnx")
    for leftover in folder.glob("step*.onnx"):
        leftover.unlink()
    record = {
        "name": name,
        "recipe": steps,
        "source": {"export": "torch.onnx.export (dynamo)", "export_seconds": export_s, "parity": parity},
        "build_seconds": time.perf_counter() - started,
    }
    write_json(folder / "variant.json", record)
    return record

"""Build one variant: model passes, the parity-checked export, ONNX passes, then variant.json.

variant.json records the recipe (every pass, its settings, what it chose, its
seconds), where the ONNX model came from (export and parity), `params` and
`nonzero_params` of the PyTorch model it was exported from (a tree model's nodes when
a pass replaced the network), `cost` (train_seconds: the model passes, mostly
fine-tuning, and the fitting an ONNX pass reports; convert_seconds: export plus the
rest of the ONNX passes; produce_seconds: both), the dense `kernels` ONNX Runtime
runs, and `notes`.
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from rtguard.artifact import OUTPUT_NAME
from rtguard.compute import graph_output
from rtguard.errors import ParityError
from rtguard.models import parameter_counts
from rtguard.models.preprocessing import FlowPreprocessing, preprocessed_rows
from rtguard.models.trees import merge_classifier
from rtguard.optimize.export import check_parity, export_module, export_onnx
from rtguard.optimize.kernels import dense_kernels
from rtguard.optimize.passes import Pass, PassContext
from rtguard.optimize.recipes import Recipe
from rtguard.runfolder import write_json

PARITY_ROWS = 4096
EXPORTER = "torch.onnx.export (dynamo)"
PREPROCESSED = "preprocessed"  # a tree reference's boundary between exported preprocessing and trees


@dataclass
class Export:
    """An exported model and how it was made."""

    path: Path
    seconds: float
    parity: dict
    params: int | None = None  # a tree reference's nodes (a network's parameters are counted on the PyTorch model)


def export_checked(model, context: PassContext, path: Path, opset: int, tolerance: float, outlier_share: float = 0.0) -> Export:
    started = time.perf_counter()
    export_onnx(model, len(context.schema.features), path, opset)
    seconds = time.perf_counter() - started
    return Export(path, seconds, check_parity(model, path, context.splits.x_selection[:PARITY_ROWS], tolerance, outlier_share))


def export_tree_reference(trees: Path, record: dict, context: PassContext, path: Path, opset: int, tolerance: float) -> Export:
    """A tree reference's artifact graph: the exported preprocessing, then its fitted trees (model.trees.onnx, train.json's
    `record`); checked against the trees run on the preprocessing's PyTorch output."""
    schema, rows = context.schema, context.splits.x_selection[:PARITY_ROWS]
    started = time.perf_counter()
    export_module(FlowPreprocessing(schema), len(schema.features), path, opset, PREPROCESSED)
    fitted = onnx.load(str(trees))
    merged = merge_classifier(onnx.load(str(path)), PREPROCESSED, fitted, record["classes"], len(schema.classes))
    onnx.save(merged, str(path))
    seconds = time.perf_counter() - started
    expected = np.zeros((len(rows), len(schema.classes)), dtype=np.float32)
    expected[:, record["classes"]] = graph_output(fitted, "probabilities", preprocessed_rows(schema, rows), fitted.graph.input[0].name)
    max_diff = float(np.abs(graph_output(merged, OUTPUT_NAME, rows) - expected).max()) if len(rows) else 0.0
    if not max_diff <= tolerance:
        raise ParityError(f"the {record['family']} reference's graph differs from its trees on PyTorch's preprocessing: "
                          f"max |Δp| = {max_diff:.3g} > tolerance {tolerance:g} on {len(rows)} selection rows")
    return Export(path, seconds, {"rows": int(len(rows)), "max_abs_diff": max_diff, "tolerance": tolerance}, record["tree_nodes"])


def build_variant(name: str, recipe: Recipe, folder: Path, context: PassContext, reference: Export,
                  opset: int, parity_tolerance: float) -> dict:
    folder.mkdir(parents=True)
    steps, model, train_seconds = [], context.reference, 0.0
    if recipe.model_passes:
        model = copy.deepcopy(context.reference)
        for step in recipe.model_passes:
            started = time.perf_counter()
            model, chosen = step.run(model, context)
            seconds = time.perf_counter() - started
            train_seconds += seconds
            steps.append(_step(step, chosen, seconds))
        last = recipe.model_passes[-1]
        source = export_checked(model, context, folder / "exported.onnx", opset, last.export_tolerance(parity_tolerance), last.export_outliers())
    else:
        source = reference

    started, current = time.perf_counter(), source.path
    for index, step in enumerate(recipe.onnx_passes):
        target = folder / f"step{index}.onnx"
        step_started = time.perf_counter()
        chosen = step.run(current, target, context)
        steps.append(_step(step, chosen, time.perf_counter() - step_started))
        current = target
    build_seconds = time.perf_counter() - started
    shutil.copyfile(current, folder / "model.onnx")
    for scratch in [*folder.glob("step*.onnx"), folder / "exported.onnx"]:
        scratch.unlink(missing_ok=True)

    # An ONNX pass that fits a model (a tree family, an IsolationForest) states its `fit_seconds`: training, not conversion.
    fitted = sum(step["chosen"].get("fit_seconds", 0.0) for step in steps[len(recipe.model_passes):])
    train_seconds += fitted
    convert_seconds = source.seconds + build_seconds - fitted
    record = {
        "name": name,
        "recipe": steps,
        "source": {"export": EXPORTER, "export_seconds": source.seconds, "parity": source.parity,
                   "shared_with_other_variants": source is reference},
        "build_seconds": build_seconds,
        **_sizes(model, steps, source),
        "cost": {"train_seconds": train_seconds, "convert_seconds": convert_seconds, "produce_seconds": train_seconds + convert_seconds},
        "kernels": dense_kernels(folder / "model.onnx"),
        "notes": [step["chosen"]["note"] for step in steps if "note" in step["chosen"]],
    }
    write_json(folder / "variant.json", record)
    return record


def _sizes(model, steps: list[dict], source: Export) -> dict[str, int]:
    """Parameters of the PyTorch model exported, unless a pass replaced the network or the source is a tree reference
    (a tree model states its nodes)."""
    replaced = [step["chosen"]["params"] for step in steps if "params" in step["chosen"]]
    nodes = replaced[-1] if replaced else source.params
    return {"params": nodes, "nonzero_params": nodes} if nodes is not None else parameter_counts(model)


def _step(step: Pass, chosen: dict, seconds: float) -> dict:
    return {"pass": step.name, "config": step.model_dump(), "chosen": chosen, "seconds": seconds}

"""What a run measured, per variant, as the gate and the report read it.

metrics.json holds what evaluate measured; the costs of producing each variant sit in
train.json and variant.json. This gathers both in one place so the gate and the report
can never disagree about a number. Derived keys are only filled in when no stage
recorded them itself.
"""

from __future__ import annotations

from rtguard.catalog import reference_name
from rtguard.errors import RtguardError
from rtguard.runfolder import RunFolder


def collect_variants(run: RunFolder) -> list[dict]:
    """The reference and every built variant: {name, artifact, recipe, metrics}, reference first."""
    if not run.baseline_metrics.exists():
        raise RtguardError(f"{run.root} has not been evaluated: run `rtguard evaluate {run.root}` first")
    training_seconds = run.read_json(run.train_record)["wall_time_s"]
    baseline = run.read_json(run.baseline_metrics)
    baseline.setdefault("train_seconds", training_seconds)
    variants = [{"name": reference_name(run.load_config().model.family), "artifact": None, "recipe": [], "metrics": baseline}]
    for name in run.variant_names():
        folder = run.variant(name)
        record = run.read_json(folder / "variant.json")
        metrics = run.read_json(folder / "metrics.json")
        metrics.setdefault("train_seconds", training_seconds + _produce_seconds(record))
        if "provider" in metrics.get("runtime", {}):
            metrics.setdefault("execution_provider", metrics["runtime"]["provider"])
        variants.append({"name": name, "artifact": str((folder / "model.onnx").relative_to(run.root)),
                         "recipe": record["recipe"], "metrics": metrics})
    return variants


def _produce_seconds(record: dict) -> float:
    """The variant's own cost: cost.produce_seconds (fine-tuning, export, passes) where the
    optimize stage records it; run folders from before it did count export and passes."""
    if "cost" in record:
        return record["cost"]["produce_seconds"]
    return record["source"]["export_seconds"] + record["build_seconds"]

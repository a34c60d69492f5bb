"""`rtguard update RUN --data NEW`: from new labelled traffic to new, evaluated variants, without touching RUN.

When attacks change, the deployed detector has to learn them within hours. The reference is
fine-tuned on the old training rows plus the new ones (replaying the old rows keeps it from
forgetting them); an attack family it never saw gets a new output class, the old classes
keep their trained weights. Forgetting is then measured on the old test split and gates the
update; only after that are the run's variant recipes rebuilt, evaluated, selected and
reported, through the same stages as `rtguard run`, into a new run folder that appears only
when all of it succeeded. The deployed run is never half-updated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, recall_score
from torch import nn

from rtguard.catalog import TREE_FAMILIES
from rtguard.config import ModelConfig
from rtguard.data.csv_reading import read_table
from rtguard.data.prepare import BINARY_ATTACK, Splits, prepare_new_rows
from rtguard.data.schema import FeatureSchema
from rtguard.errors import ConfigError, DataError
from rtguard.evaluate import evaluate_run
from rtguard.models import build_model, load_model, save_weights
from rtguard.optimize import optimize_run
from rtguard.report import report_run
from rtguard.runfolder import RunFolder, building, write_json, write_text
from rtguard.select import select_run
from rtguard.train.loop import cross_entropy, fit, predict_classes
from rtguard.train.speed import TrainingError

MIN_ROWS_PER_NEW_CLASS = 3  # one each for train, validation and test


class UpdateError(TrainingError):
    """The update would make the detector worse at what it already knew."""


def update_run(source: RunFolder, new_data: Path, out: Path, show_progress: bool = False,
               say: Callable[[str], None] = lambda message: None) -> dict:
    """Fine-tune, gate on forgetting, rebuild variants into `out`; return update.json's record."""
    started = time.perf_counter()
    config = source.load_config()
    if config.model.family in TREE_FAMILIES:
        raise ConfigError(f"`rtguard update` fine-tunes a network reference; {source.root} has a {config.model.family} reference, "
                          "which is fitted in one go: run `rtguard run` on the old and new data together")
    settings = config.train.update
    schema = FeatureSchema.load(source.require(source.schema, "the run has no schema.json: run `rtguard train` first"))
    old = Splits.load(source.require(source.splits, "the run has no data splits: run `rtguard train` first"))
    reference = load_model(schema, config.model, source.require(source.weights, "the run has no trained model: run `rtguard train` first"))

    say(f"read {new_data}")
    label_column = settings.label_column or (config.data.label_column if config.data.dataset == "csv" else "label")
    frame, labels = read_new_rows(new_data, schema, label_column, config.data.labels)
    new_classes = sorted(set(labels.unique()) - set(schema.classes))
    updated_schema = FeatureSchema(features=schema.features, classes=[*schema.classes, *new_classes], benign_class=schema.benign_class)
    new, summary = prepare_new_rows(frame, labels, updated_schema, _training_medians(schema, old), config.data, str(new_data))
    combined = Splits(*(np.concatenate([getattr(old, name), getattr(new, name)]) for name in old.__dict__))

    say(f"fine-tune on {len(old.x_train)} old + {len(new.x_train)} new training rows" + (f"; new classes: {', '.join(new_classes)}" if new_classes else ""))
    model = with_classes(reference, updated_schema, config.model)
    objective = cross_entropy(combined.y_train, len(updated_schema.classes), config.train.class_weighting)
    record = fit(model, updated_schema, combined, config.train, objective, epochs=settings.epochs,
                 learning_rate=settings.learning_rate, show_progress=show_progress)
    forgetting = forgetting_check(reference, model, old, schema)
    if forgetting["macro_f1_drop"] > settings.forgetting_tolerance:
        raise UpdateError(f"update rejected: macro-F1 over the old classes on the old test split fell from {forgetting['macro_f1_before']:.4f} "
                          f"to {forgetting['macro_f1_after']:.4f} ({forgetting['macro_f1_drop']:+.4f} > train.update.forgetting_tolerance "
                          f"{settings.forgetting_tolerance}); {source.root} is untouched")
    fine_tuned = time.perf_counter()

    with building(out) as folder:
        run = RunFolder(folder)
        write_text(run.config, source.config.read_text(encoding="utf-8"))
        if source.policy.exists():
            write_text(run.policy, source.policy.read_text(encoding="utf-8"))
        run.splits.parent.mkdir(parents=True, exist_ok=True)
        combined.save(run.splits)
        updated_schema.save(run.schema)
        write_json(run.data_summary, _combined_summary(source.read_json(source.data_summary), asdict(summary)))
        save_weights(model, run.weights)
        write_json(run.train_record, {**record, "update": {"from_run": str(source.root), "new_data": str(new_data)}})
        say("optimize: " + ", ".join(config.optimize.variants))
        optimize_run(run)
        variants_built = time.perf_counter()
        say("evaluate")
        evaluate_run(run, show_progress=show_progress)
        say("select and report")
        report_run(run, name=Path(out).name, selection=select_run(run))
        result = {
            "from_run": str(source.root),
            "new_data": str(new_data),
            "new_rows": summary.rows,
            "new_classes": new_classes,
            "forgetting": forgetting | {"tolerance": settings.forgetting_tolerance},
            "new_class_recall": new_class_recall(model, new, schema, updated_schema),
            "seconds": {
                "fine_tune": record["wall_time_s"],
                "new_data_to_fine_tuned": fine_tuned - started,
                "new_data_to_variants": variants_built - started,
                "total": time.perf_counter() - started,
            },
        }
        write_json(run.root / "update.json", result)
    return result


def read_new_rows(path: Path, schema: FeatureSchema, label_column: str, labels: str) -> tuple[pd.DataFrame, pd.Series]:
    """The new CSV's feature columns (in the run's order) and labels; any other set of columns is an error naming them."""
    categorical = [f.name for f in schema.features if f.kind == "categorical"]
    frame, _ = read_table(path, text_columns=[label_column, *categorical])
    expected = [*schema.names, label_column]
    missing = [name for name in expected if name not in frame.columns]
    unexpected = [name for name in frame.columns if name not in expected]
    if missing or unexpected:
        raise DataError(f"{path} does not match the run's schema: "
                        + "; ".join(part for part in (f"missing columns {missing}" if missing else "",
                                                      f"unexpected columns {unexpected}" if unexpected else "") if part)
                        + f" (expected the run's {len(schema.names)} feature columns and the label column {label_column!r})")
    target = frame.pop(label_column).astype(str).str.strip()
    if labels == "binary":
        target = target.where(target == schema.benign_class, BINARY_ATTACK)
    counts = target.value_counts()
    scarce = {name: int(counts[name]) for name in counts.index if name not in schema.classes and counts[name] < MIN_ROWS_PER_NEW_CLASS}
    if scarce:
        raise DataError(f"{path}: new classes need at least {MIN_ROWS_PER_NEW_CLASS} rows each (train, validation, test); {scarce}")
    return frame[schema.names].reset_index(drop=True), target.reset_index(drop=True)


def with_classes(reference: nn.Module, schema: FeatureSchema, model_config: ModelConfig) -> nn.Module:
    """A copy of `reference` with an output for every class of `schema`: old rows of the head kept, new rows freshly initialised."""
    model = build_model(schema, model_config)
    state = model.state_dict()
    for key, value in reference.state_dict().items():
        if state[key].shape == value.shape:
            state[key] = value.clone()
        else:  # the output layer: one row (and bias) per class, the old classes first
            state[key][: value.shape[0]] = value
    model.load_state_dict(state)
    return model


def forgetting_check(before: nn.Module, after: nn.Module, old: Splits, schema: FeatureSchema) -> dict:
    """Macro-F1 and per-class recall over the old classes on the old test split, before and after the update."""
    classes = list(range(len(schema.classes)))
    predictions = {"before": predict_classes(before, old.x_test), "after": predict_classes(after, old.x_test)}
    f1 = {when: float(f1_score(old.y_test, p, labels=classes, average="macro", zero_division=0)) for when, p in predictions.items()}
    recall = {when: recall_score(old.y_test, p, labels=classes, average=None, zero_division=0) for when, p in predictions.items()}
    return {
        "macro_f1_before": f1["before"], "macro_f1_after": f1["after"], "macro_f1_drop": f1["before"] - f1["after"],
        "recall_before": dict(zip(schema.classes, map(float, recall["before"]))),
        "recall_after": dict(zip(schema.classes, map(float, recall["after"]))),
    }


def new_class_recall(model: nn.Module, new: Splits, old_schema: FeatureSchema, schema: FeatureSchema) -> dict:
    """Recall of each class the reference never saw, on the new test rows."""
    predicted = predict_classes(model, new.x_test)
    return {schema.classes[c]: float((predicted[new.y_test == c] == c).mean()) for c in range(len(old_schema.classes), len(schema.classes))
            if (new.y_test == c).any()}


def _training_medians(schema: FeatureSchema, old: Splits) -> dict[str, float]:
    """NaN/inf in new rows become the old training median, as in preparation."""
    return {spec.name: float(np.median(old.x_train[:, i])) for i, spec in enumerate(schema.features) if spec.kind != "categorical"}


def _combined_summary(old: dict, new: dict) -> dict:
    """data.json of the updated run: the old data and the new rows, counted together."""
    merged = dict(old, source=f"{old['source']} + {new['source']}")
    merged["rows"] = {split: old["rows"].get(split, 0) + new["rows"].get(split, 0) for split in old["rows"] | new["rows"]}
    merged["class_counts"] = {split: {c: old["class_counts"].get(split, {}).get(c, 0) + n for c, n in counts.items()}
                              for split, counts in new["class_counts"].items()}
    for key in ("out_of_vocabulary", "non_finite_imputed"):
        merged[key] = {name: old[key].get(name, 0) + new[key].get(name, 0) for name in old[key] | new[key]}
    return merged

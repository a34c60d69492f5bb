"""Turn a loader's raw frames into a FeatureSchema and encoded train/val/test arrays.

Encoding here is deliberately minimal (categorical strings become integer codes,
non-finite numerics are imputed or rejected): log scaling and standardization
happen inside the model graph, so the exported artifact takes the same raw values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rtguard.config import DataConfig
from rtguard.data.frames import LabelledFrames
from rtguard.data.schema import FeatureSchema, FeatureSpec
from rtguard.errors import DataError

BINARY_ATTACK = "attack"
MIN_TRAIN_SAMPLES_PER_CLASS = 2  # one for training, one held out (selection first; validation may then lack a rare class)


SPLITS = ("train", "val", "selection", "test")


@dataclass
class Splits:
    """The four disjoint splits, each with its one job.

    train fits the weights; val stops training and picks the checkpoint; selection
    calibrates each variant's operating point and feeds every decision (the policy
    gate, the Pareto front, the choice); test is only reported, never read by a decision.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_selection: np.ndarray
    y_selection: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **self.__dict__)

    @classmethod
    def load(cls, path: Path) -> Splits:
        with np.load(path, allow_pickle=False) as arrays:
            if "x_selection" not in arrays.files:
                raise DataError(f"{path} predates the selection split: prepare the data again "
                                "(`rtguard train RUN --config RUN/config.toml`)")
            return cls(**{name: arrays[name] for name in arrays.files})


@dataclass
class DataSummary:
    """What preparation saw and changed: written to data.json, shown in the report."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    out_of_vocabulary: dict[str, int] = field(default_factory=dict)
    non_finite_imputed: dict[str, int] = field(default_factory=dict)
    loader_counts: dict[str, int] = field(default_factory=dict)


def prepare(frames: LabelledFrames, config: DataConfig) -> tuple[FeatureSchema, Splits, DataSummary]:
    """Validate, split, fit the schema on the training part and encode every split."""
    frames = _to_binary(frames) if config.labels == "binary" else frames
    _check_labels(frames)
    rng = np.random.default_rng(config.seed)

    train_frame, train_labels = frames.train.reset_index(drop=True), frames.train_labels.reset_index(drop=True)
    if frames.test is None:
        train_idx, test_idx = _stratified_split(train_labels.to_numpy(), config.test_fraction, rng)
        test_frame, test_labels = train_frame.iloc[test_idx], train_labels.iloc[test_idx]
        train_frame, train_labels = train_frame.iloc[train_idx], train_labels.iloc[train_idx]
    else:
        test_frame, test_labels = frames.test, frames.test_labels
    pool_idx, selection_idx = _stratified_split(train_labels.to_numpy(), config.selection_fraction, rng)
    selection_frame, selection_labels = train_frame.iloc[selection_idx], train_labels.iloc[selection_idx]
    train_frame, train_labels = train_frame.iloc[pool_idx], train_labels.iloc[pool_idx]
    fit_idx, val_idx = _stratified_split(train_labels.to_numpy(), config.val_fraction, rng)
    fit_frame, fit_labels = train_frame.iloc[fit_idx], train_labels.iloc[fit_idx]
    val_frame, val_labels = train_frame.iloc[val_idx], train_labels.iloc[val_idx]

    summary = DataSummary(source=frames.source, loader_counts=dict(frames.counts))
    imputation = _numeric_fill_values(fit_frame, frames.categorical)
    schema = _fit_schema(fit_frame, frames, imputation, config)

    encoded = {}
    for split, frame, labels in (
        ("train", fit_frame, fit_labels),
        ("val", val_frame, val_labels),
        ("selection", selection_frame, selection_labels),
        ("test", test_frame, test_labels),
    ):
        encoded[split] = (_encode(frame, schema, imputation, config, summary), _label_codes(labels, schema))
        summary.rows[split] = len(frame)
        summary.class_counts[split] = {c: int((labels == c).sum()) for c in schema.classes}
    splits = Splits(*(array for split in SPLITS for array in encoded[split]))
    return schema, splits, summary


def prepare_new_rows(frame: pd.DataFrame, labels: pd.Series, schema: FeatureSchema, fills: dict[str, float],
                     config: DataConfig, source: str) -> tuple[Splits, DataSummary]:
    """New labelled rows for a model update, encoded with an existing schema (its vocabularies; `fills` for
    NaN/inf) and split into train/val/selection/test as `prepare` splits. `schema.classes` must name every label."""
    summary = DataSummary(source=source)
    codes = _label_codes(labels, schema)
    rng = np.random.default_rng(config.seed)
    kept, test_idx = _stratified_split(codes, config.test_fraction, rng)
    pool, selection_pos = _stratified_split(codes[kept], config.selection_fraction, rng)
    pool = kept[pool]
    fit_pos, val_pos = _stratified_split(codes[pool], config.val_fraction, rng)
    features = _encode(frame, schema, fills, config, summary)
    parts = {"train": pool[fit_pos], "val": pool[val_pos], "selection": kept[selection_pos], "test": test_idx}
    for split, rows in parts.items():
        summary.rows[split] = len(rows)
        summary.class_counts[split] = {c: int((codes[rows] == i).sum()) for i, c in enumerate(schema.classes)}
    return Splits(*(array for rows in parts.values() for array in (features[rows], codes[rows]))), summary


def _to_binary(frames: LabelledFrames) -> LabelledFrames:
    def fold(labels: pd.Series | None) -> pd.Series | None:
        if labels is None:
            return None
        return labels.where(labels == frames.benign, BINARY_ATTACK)

    return LabelledFrames(
        train=frames.train, train_labels=fold(frames.train_labels),
        test=frames.test, test_labels=fold(frames.test_labels),
        categorical=frames.categorical, classes=[frames.benign, BINARY_ATTACK],
        benign=frames.benign, source=frames.source, kinds=frames.kinds, counts=frames.counts,
        train_types=frames.train_types, test_types=frames.test_types,
    )


def _check_labels(frames: LabelledFrames) -> None:
    if len(frames.train) == 0:
        raise DataError(f"{frames.source}: the data set is empty (no training rows)")
    if frames.test is not None and len(frames.test) == 0:
        raise DataError(f"{frames.source}: the test file has no rows")
    if frames.benign not in frames.classes:
        raise DataError(f"{frames.source}: no class named {frames.benign!r} (the benign label); classes are {frames.classes}")
    counts = frames.train_labels.value_counts()
    for cls in frames.classes:
        if counts.get(cls, 0) < MIN_TRAIN_SAMPLES_PER_CLASS:
            raise DataError(
                f"{frames.source}: class {cls!r} has {counts.get(cls, 0)} training samples; "
                f"each class needs at least {MIN_TRAIN_SAMPLES_PER_CLASS} (drop the class or bring more data)"
            )
    for name, labels in (("training", frames.train_labels), ("test", frames.test_labels)):
        if labels is None:
            continue
        unknown = sorted(set(labels.unique()) - set(frames.classes))
        if unknown:
            raise DataError(f"{frames.source}: {name} labels {unknown[:5]} are not among the classes {frames.classes}")


def _stratified_split(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) with `fraction` of every class held out, at least one each."""
    keep, held = [], []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_held = min(max(1, round(fraction * len(idx))), len(idx) - 1)
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def _numeric_fill_values(frame: pd.DataFrame, categorical: list[str]) -> dict[str, float]:
    """Training medians used to replace NaN/inf; also rejects non-numeric numeric columns."""
    fills = {}
    for name in frame.columns:
        if name in categorical:
            continue
        values = _as_float(frame[name], name)
        finite = values[np.isfinite(values)]
        fills[name] = float(np.median(finite)) if len(finite) else 0.0
    return fills


def _as_float(column: pd.Series, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(column, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        bad = column[pd.to_numeric(column, errors="coerce").isna() & column.notna()]
        raise DataError(
            f"numeric column {name!r} holds non-numeric values such as {bad.iloc[0]!r}; "
            "declare it categorical or drop it"
        ) from None


def _fit_schema(frame: pd.DataFrame, frames: LabelledFrames, fills: dict[str, float], config: DataConfig) -> FeatureSchema:
    specs = []
    for name in frame.columns:
        if name in frames.categorical:
            counts = frame[name].astype(str).value_counts()
            vocabulary = sorted(counts.index[: config.max_vocabulary], key=lambda v: (-counts[v], v))
            specs.append(FeatureSpec(name=name, kind="categorical", minimum=0.0, maximum=float(len(vocabulary)), vocabulary=vocabulary))
            continue
        values = _as_float(frame[name], name)
        values = np.where(np.isfinite(values), values, fills[name])
        kind = frames.kinds.get(name) or _infer_kind(values)
        log_scale = _is_heavy_tailed(values) and kind != "rate"
        transformed = np.log1p(values) if log_scale else values
        std = float(transformed.std())
        specs.append(FeatureSpec(
            name=name, kind=kind, minimum=float(values.min()), maximum=float(values.max()),
            log_scale=log_scale, center=float(transformed.mean()), scale=std if std > 1e-12 else 1.0,
            fill=fills[name] if config.non_finite == "impute" else None,
        ))
    return FeatureSchema(features=specs, classes=list(frames.classes), benign_class=frames.benign)


def _infer_kind(values: np.ndarray) -> str:
    if values.min() >= 0 and values.max() <= 1:
        return "rate"
    if np.all(values == np.round(values)):
        return "count"
    return "continuous"


def _is_heavy_tailed(values: np.ndarray) -> bool:
    """Non-negative with a long right tail: log1p makes such features learnable."""
    if values.min() < 0 or values.max() <= 50:
        return False
    return float(pd.Series(values).skew()) > 2.0


def _encode(frame: pd.DataFrame, schema: FeatureSchema, fills: dict[str, float], config: DataConfig, summary: DataSummary) -> np.ndarray:
    """Raw features as float32: numerics as-is (non-finite imputed), categoricals as codes."""
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise DataError(f"{summary.source}: test data lacks the feature columns {missing[:5]}")
    columns = []
    for spec in schema.features:
        if spec.kind == "categorical":
            lookup = {value: code for code, value in enumerate(spec.vocabulary)}
            codes = frame[spec.name].astype(str).map(lookup)
            n_oov = int(codes.isna().sum())
            if n_oov:
                summary.out_of_vocabulary[spec.name] = summary.out_of_vocabulary.get(spec.name, 0) + n_oov
            columns.append(codes.fillna(spec.oov_code).to_numpy(dtype=np.float32))
            continue
        values = _as_float(frame[spec.name], spec.name)
        bad = ~np.isfinite(values)
        if bad.any():
            if config.non_finite == "reject":
                raise DataError(
                    f"{summary.source}: column {spec.name!r} has {int(bad.sum())} NaN/inf values "
                    "(set data.non_finite = \"impute\" to replace them with the training median)"
                )
            summary.non_finite_imputed[spec.name] = summary.non_finite_imputed.get(spec.name, 0) + int(bad.sum())
            values = np.where(bad, fills[spec.name], values)
        columns.append(values.astype(np.float32))
    return np.stack(columns, axis=1)


def _label_codes(labels: pd.Series, schema: FeatureSchema) -> np.ndarray:
    lookup = {name: code for code, name in enumerate(schema.classes)}
    return labels.map(lookup).to_numpy(dtype=np.int64, copy=True)

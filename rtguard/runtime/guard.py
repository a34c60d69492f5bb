"""Check one call's inputs against schema.json before the model sees them.

The model would compute *something* for any float matrix; a detector that silently
scores NaN, a transposed batch or a million rows is a detector an attacker can blind.
Calls that fit the schema pass untouched; repairable values are repaired and counted
(NaN/infinity becomes the training median when training imputed it, data.non_finite;
codes outside a vocabulary become the out-of-vocabulary code; out-of-range numbers are
clipped when runtime.out_of_range says so); everything else is refused, whole. Which rows
were repaired is returned too, so a verdict can say so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rtguard.config import RuntimeConfig
from rtguard.data.schema import FeatureSchema
from rtguard.runtime.errors import InputRejected
from rtguard.runtime.session import INPUT_NAME

FLOAT32 = np.dtype(np.float32)
TILED_ROWS = 4096


def features_of(inputs: Mapping) -> np.ndarray:
    """The call's one input array; anything else is refused before it is looked at further."""
    if not isinstance(inputs, Mapping):
        raise InputRejected(f"inputs must be a mapping {{{INPUT_NAME!r}: array}}, not {type(inputs).__name__}")
    rows = inputs.get(INPUT_NAME)
    if rows is None:
        raise InputRejected(f"input {INPUT_NAME!r} is missing (got {sorted(map(str, inputs))})")
    if len(inputs) != 1:
        raise InputRejected(f"unexpected inputs {sorted(str(name) for name in inputs if name != INPUT_NAME)}: the model takes only {INPUT_NAME!r}")
    if not isinstance(rows, np.ndarray):
        raise InputRejected(f"input {INPUT_NAME!r} must be a numpy array, not {type(rows).__name__}")
    return rows


class InputGuard:
    """The checks of one model's schema, prepared once so a call pays only for a few array operations."""

    def __init__(self, schema: FeatureSchema, settings: RuntimeConfig):
        self.schema = schema
        self.max_batch = settings.max_batch
        self.clip = settings.out_of_range == "clip"
        features = schema.features
        self.categorical = np.array([i for i, f in enumerate(features) if f.kind == "categorical"], dtype=np.intp)
        # Valid categorical codes are 0..oov (oov itself is the out-of-vocabulary bucket).
        low = np.array([0.0 if f.kind == "categorical" else f.minimum for f in features])
        high = np.array([float(f.oov_code) if f.kind == "categorical" else f.maximum for f in features])
        # Bounds repeated row by row: numpy's elementwise loops run several times faster on
        # equal shapes than when broadcasting a short row (batches above TILED_ROWS broadcast).
        tiled = min(self.max_batch, TILED_ROWS)
        self.low = np.tile(_outward(low, -np.inf), (tiled, 1))
        self.high = np.tile(_outward(high, np.inf), (tiled, 1))
        self.oov = np.array([features[i].oov_code for i in self.categorical], dtype=np.float32)
        # Per column: the training median that replaces NaN/inf (schema `fill`), NaN where non-finite values are refused.
        self.fill = np.array([np.nan if f.kind == "categorical" or f.fill is None else f.fill for f in features], dtype=np.float32)
        self.imputes = np.isfinite(self.fill)

    def check(self, inputs: Mapping) -> tuple[np.ndarray, dict[str, int], dict[str, np.ndarray]]:
        """The rows to run, what was repaired ({"imputed": i, "clipped": n, "out_of_vocabulary": m}) and, per repair,
        which rows it touched (a bool per row); raises InputRejected."""
        rows = features_of(inputs)
        if rows.dtype != FLOAT32:
            raise InputRejected(f"input {INPUT_NAME!r} has dtype {rows.dtype}; the model takes float32 (convert with .astype(np.float32))")
        if rows.ndim != 2 or rows.shape[1] != self.low.shape[1]:
            raise InputRejected(f"input {INPUT_NAME!r} has shape {rows.shape}; the model takes (batch, {self.low.shape[1]})")
        if not 1 <= rows.shape[0] <= self.max_batch:
            raise InputRejected(f"batch of {rows.shape[0]} rows; a call carries 1 to {self.max_batch} (runtime.max_batch)")
        # One bounded copy answers everything for the common case: NaN stays NaN and so
        # differs from itself, infinities and out-of-range values are moved; nothing
        # changed means the call is valid as it is.
        low, high = (self.low[: len(rows)], self.high[: len(rows)]) if len(rows) <= len(self.low) else (self.low[0], self.high[0])
        bounded = np.maximum(rows, low)
        np.minimum(bounded, high, out=bounded)
        changed = bounded != rows
        if not changed.any():
            return bounded, {}, {}
        return self._repair(rows, bounded, changed, low, high)

    def _repair(self, rows: np.ndarray, bounded: np.ndarray, changed: np.ndarray, low: np.ndarray,
                high: np.ndarray) -> tuple[np.ndarray, dict[str, int], dict[str, np.ndarray]]:
        finite = np.isfinite(rows)
        imputed = None
        if not finite.all():
            refused = ~finite & ~self.imputes
            if refused.any():
                self._refuse("non-finite values (NaN or infinity) where training imputed none (data.non_finite = \"reject\")",
                             refused, rows)
            imputed = ~finite
            rows = np.where(imputed, self.fill, rows)  # the training rule: the training median, counted and flagged
            bounded = np.minimum(np.maximum(rows, low), high)
            changed = bounded != rows
        # A categorical code outside 0..oov is an unknown category, not a number to clip.
        # (Fractional codes are rounded inside the graph, exactly as in training.)
        unknown = changed[:, self.categorical]
        out_of_vocabulary = int(np.count_nonzero(unknown))
        if out_of_vocabulary:
            bounded[:, self.categorical] = np.where(unknown, self.oov, rows[:, self.categorical])
        clipped = int(np.count_nonzero(changed)) - out_of_vocabulary
        outside = changed.copy()
        outside[:, self.categorical] = False
        if clipped and not self.clip:
            self._refuse("values outside the training range (runtime.out_of_range = \"reject\")", outside, rows)
        repaired = {"imputed": 0 if imputed is None else int(imputed.sum()), "clipped": clipped, "out_of_vocabulary": out_of_vocabulary}
        rows_touched = {"imputed": None if imputed is None else imputed.any(axis=1), "clipped": outside.any(axis=1) if clipped else None}
        return bounded, {event: count for event, count in repaired.items() if count}, \
            {event: touched for event, touched in rows_touched.items() if touched is not None}

    def _refuse(self, what: str, where: np.ndarray, rows: np.ndarray) -> None:
        row, column = np.argwhere(where)[0]
        feature = self.schema.features[column]
        raise InputRejected(
            f"{int(where.sum())} {what}; the first is row {row}, feature {feature.name!r} = "
            f"{rows[row, column]:g}, training range [{feature.minimum:g}, {feature.maximum:g}]"
        )


def _outward(bounds: np.ndarray, direction: float) -> np.ndarray:
    """float32 bounds rounded away from the range, so no float64 bound is tightened."""
    rounded = bounds.astype(np.float32)
    tightened = rounded > bounds if direction < 0 else rounded < bounds
    return np.where(tightened, np.nextafter(rounded, np.float32(direction)), rounded)

"""Named flow records in, verdicts out: the /score endpoint for clients that think in flows, not tensors.

Categorical values arrive as the data had them ("tcp", "http") and become the codes the
model takes through the variant's schema.json; a value training never saw takes the
out-of-vocabulary code, exactly as in training, and is named in the answer, since a
never-seen protocol or service is itself worth an analyst's look.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rtguard.artifact import alerts
from rtguard.data.schema import FeatureSchema
from rtguard.serve.errors import BadRequest

_MISSING = object()


class RecordEncoder:
    """Records (JSON objects keyed by feature name) to float32 rows, checked field by field."""

    def __init__(self, schema: FeatureSchema, max_records: int):
        self.schema = schema
        self.max_records = max_records
        self._names = schema.names
        self._known = frozenset(self._names)
        self._columns = [
            (f.name, ({value: float(code) for code, value in enumerate(f.vocabulary)}, float(f.oov_code)) if f.kind == "categorical" else None)
            for f in schema.features
        ]

    def rows(self, document: dict) -> tuple[np.ndarray, list[list[str]]]:
        """Feature rows and, per record, the categorical features whose value was out of vocabulary."""
        records = document.get("records")
        if not isinstance(records, list) or not 1 <= len(records) <= self.max_records:
            raise BadRequest(f"the body must be {{\"records\": [...]}} with 1 to {self.max_records} flow records")
        rows = np.empty((len(records), len(self._names)), dtype=np.float32)
        unknown = []
        for index, record in enumerate(records):
            unknown.append(self._encode(index, record, rows[index]))
        return rows, unknown

    def _encode(self, index: int, record: object, row: np.ndarray) -> list[str]:
        if not isinstance(record, dict):
            raise BadRequest(f"record {index} must be an object of feature values")
        if record.keys() != self._known:
            missing = [name for name in self._names if name not in record]
            extra = sorted(set(record) - self._known)
            raise BadRequest(f"record {index}: " + "; ".join(
                part for part in (f"missing {missing}" if missing else "", f"unknown fields {extra}" if extra else "") if part
            ) + f" (the model takes {self._names})")
        try:
            return self.encode(record, row)
        except BadRequest as exc:
            raise BadRequest(f"record {index}: {exc}") from None

    def encode(self, record: Mapping, row: np.ndarray) -> list[str]:
        """One record's feature values into `row`; the features whose value was out of vocabulary.

        Keys other than the feature names are not looked at, so a caller that reads flows
        carrying more fields (an id, a label) passes them as they come.
        """
        unknown, values = [], []
        for name, codes in self._columns:
            value = record.get(name, _MISSING)
            if codes is None:
                if type(value) is float or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                    values.append(value)
                    continue
                raise self._refusal(record, name, value, "feature", "a number")
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise self._refusal(record, name, value, "categorical feature", "a string")
            vocabulary, oov = codes
            code = vocabulary.get(value, oov)
            if code == oov:
                unknown.append(name)
            values.append(code)
        try:
            row[:] = values  # one assignment per record: numpy's per-element assignment dominated the cost
        except OverflowError:
            raise BadRequest("an integer is too large for a float32 feature") from None
        return unknown

    def _refusal(self, record: Mapping, name: str, value: object, what: str, takes: str) -> BadRequest:
        """Why `name`'s value cannot be encoded; a missing feature names every one the record lacks, so one fix mends it."""
        if value is not _MISSING:
            return BadRequest(f"{what} {name!r} takes {takes}, not {type(value).__name__}")
        missing = [feature for feature in self._names if feature not in record]
        if len(missing) == 1:
            return BadRequest(f"feature {name!r} is missing")
        return BadRequest(f"{len(missing)} features are missing: {', '.join(map(repr, missing))}")


def alert_threshold(stated: float | None, configured: float) -> float:
    """The artifact's own operating point when its metadata states one (rtguard.artifact), else serve.alert_threshold."""
    return configured if stated is None else stated


def verdicts(probabilities: np.ndarray, schema: FeatureSchema, threshold: float, unknown: list[list[str]]) -> list[dict]:
    """Per record: the most likely class, every class's score, and the alert decision.

    The alert weighs all attack classes together (1 - P(benign) >= threshold, in float32 as
    the graph's `alert` output computes it), so a flow whose probability is split between two
    attack families still alerts even when neither family alone outweighs benign.
    """
    flags = alerts(probabilities, schema.benign_index, threshold).tolist()
    results = []
    for row, alert, fields in zip(probabilities.tolist(), flags, unknown):
        result = {
            "class": schema.classes[max(range(len(row)), key=row.__getitem__)],
            "scores": dict(zip(schema.classes, row)),
            "alert": alert,
        }
        if fields:
            result["out_of_vocabulary"] = fields
        results.append(result)
    return results

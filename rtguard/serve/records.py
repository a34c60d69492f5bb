"""Named flow records in, verdicts out: the /score endpoint for clients that think in flows, not tensors.

Categorical values arrive as the data had them ("tcp", "http") and become the codes the
model takes through the variant's schema.json; a value training never saw takes the
out-of-vocabulary code, exactly as in training, and is named in the answer, since a
never-seen protocol or service is itself worth an analyst's look.
"""

from __future__ import annotations

import numpy as np

from rtguard.data.schema import FeatureSchema
from rtguard.serve.errors import BadRequest


class RecordEncoder:
    """Records (JSON objects keyed by feature name) to float32 rows, checked field by field."""

    def __init__(self, schema: FeatureSchema, max_records: int):
        self.schema = schema
        self.max_records = max_records
        self._names = schema.names
        self._known = frozenset(self._names)
        self._codes = [
            ({value: float(code) for code, value in enumerate(f.vocabulary)}, float(f.oov_code)) if f.kind == "categorical" else None
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
        unknown = []
        for column, (name, codes) in enumerate(zip(self._names, self._codes)):
            value = record[name]
            if codes is not None:
                if isinstance(value, int) and not isinstance(value, bool):
                    value = str(value)
                if not isinstance(value, str):
                    raise BadRequest(f"record {index}: categorical feature {name!r} takes a string, not {type(value).__name__}")
                vocabulary, oov = codes
                row[column] = vocabulary.get(value, oov)
                if row[column] == oov:
                    unknown.append(name)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                row[column] = value
            else:
                raise BadRequest(f"record {index}: feature {name!r} takes a number, not {type(value).__name__}")
        return unknown


def verdicts(probabilities: np.ndarray, schema: FeatureSchema, threshold: float, unknown: list[list[str]]) -> list[dict]:
    """Per record: the most likely class, every class's score, and the alert decision.

    The alert weighs all attack classes together (1 - P(benign) >= threshold), so a flow
    whose probability is split between two attack families still alerts even when
    neither family alone outweighs benign.
    """
    benign = schema.benign_index
    results = []
    for row, fields in zip(probabilities.tolist(), unknown):
        result = {
            "class": schema.classes[max(range(len(row)), key=row.__getitem__)],
            "scores": dict(zip(schema.classes, row)),
            "alert": 1.0 - row[benign] >= threshold,
        }
        if fields:
            result["out_of_vocabulary"] = fields
        results.append(result)
    return results

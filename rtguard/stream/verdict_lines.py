"""A batch of verdicts to its JSON lines in a few array operations instead of a dict and a dumps per flow.

Building one dict per flow and serialising it cost more than parsing, encoding and the
model together once the reader went columnar. The bytes are the same as
orjson.dumps({"line", "id"?, "class", "scores", "alert", "out_of_vocabulary"?, extras...})
of rtguard.serve.records.verdicts would give: the same key order, and every float
written from its float64 value by orjson, as a Python float from `.tolist()` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import orjson

from rtguard.artifact import alerts as alert_flags
from rtguard.data.schema import FeatureSchema

_BOOLS = np.array([b"false", b"true"], dtype=object)


@dataclass
class Written:
    lines: bytes  # the batch's output, each line ending in a newline (empty when nothing is written)
    alerts: int
    out_of_vocabulary: int  # values, over all the batch's flows


class VerdictLines:
    """Formats batches for one schema, threshold and set of extra outputs."""

    def __init__(self, schema: FeatureSchema, threshold: float, alerts_only: bool = False):
        self.schema, self.threshold, self.alerts_only = schema, threshold, alerts_only
        self._classes = np.array([orjson.dumps(name) for name in schema.classes], dtype=object)
        self._scores = b",".join(orjson.dumps(name).replace(b"%", b"%%") + b":%s" for name in schema.classes)

    def format(self, numbers: Sequence[int], ids: list | None, unknown: list[list[str]], probabilities: np.ndarray,
               extra: dict[str, np.ndarray], repaired: dict[str, np.ndarray] | None = None) -> Written:
        """The lines of these flows (ids None: no "id" key), `extra` the artifact's further outputs, one value per flow;
        `repaired` flags the flows whose values the input guard repaired ({"imputed": bool per flow, "clipped": ...})."""
        repaired = repaired or {}
        flags = alert_flags(probabilities, self.schema.benign_index, self.threshold)
        n_alerts = int(flags.sum())
        n_unknown = sum(map(len, unknown))
        keep = np.flatnonzero(flags) if self.alerts_only else None
        if keep is not None:
            if not len(keep):
                return Written(b"", n_alerts, n_unknown)
            probabilities, flags = probabilities[keep], flags[keep]
            numbers, unknown = [numbers[i] for i in keep.tolist()], [unknown[i] for i in keep.tolist()]
            ids = None if ids is None else [ids[i] for i in keep.tolist()]
            extra = {name: values[keep] for name, values in extra.items()}
            repaired = {kind: touched[keep] for kind, touched in repaired.items()}
        n, k = probabilities.shape
        scores = _numbers(probabilities.T)  # class by class: each class's column is a slice
        columns = [numbers] + ([[orjson.dumps(value) for value in ids]] if ids is not None else [])
        columns += [self._classes[probabilities.argmax(axis=1)].tolist(), *(scores[index * n:(index + 1) * n] for index in range(k)),
                    _BOOLS[flags.view(np.uint8)].tolist()]
        marked = n_unknown or any(touched.any() for touched in repaired.values())
        if marked:  # rare: the few flows with out-of-vocabulary or repaired values get keys after "alert", the others none
            columns.append(self._marks(unknown, repaired))
        columns += [_numbers(np.asarray(values).reshape(n)) for values in extra.values()]
        template = (b'{"line":%d' + (b',"id":%s' if ids is not None else b"") + b',"class":%s,"scores":{' + self._scores
                    + b'},"alert":%s' + (b"%s" if marked else b"") + b"".join(b',%s:%%s' % orjson.dumps(name) for name in extra) + b"}\n")
        return Written((template * n) % tuple(chain.from_iterable(zip(*columns))), n_alerts, n_unknown)

    @staticmethod
    def _marks(unknown: list[list[str]], repaired: dict[str, np.ndarray]) -> list[bytes]:
        """Per flow, what follows its "alert": "out_of_vocabulary" (the values training never saw) and a key per repair."""
        marks = [b""] * len(unknown)
        marked = np.zeros(len(unknown), dtype=bool)
        marked[[index for index, fields in enumerate(unknown) if fields]] = True
        for touched in repaired.values():
            marked |= touched
        for index in np.flatnonzero(marked).tolist():
            fields = unknown[index]
            marks[index] = ((b',"out_of_vocabulary":' + orjson.dumps(fields) if fields else b"")
                            + b"".join(b',"%s":true' % kind.encode() for kind, touched in repaired.items() if touched[index]))
        return marks


def _numbers(values: np.ndarray) -> list[bytes]:
    """Each value as orjson writes the Python float of it (float32 widened to float64 exactly; NaN as null)."""
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    if not len(flat):
        return []
    return orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")

"""A batch of verdicts to its JSON lines in a few array operations instead of a dict and a dumps per flow.

Building one dict per flow and serialising it cost more than parsing, encoding and the
model together once the reader went columnar. The bytes are the same as
orjson.dumps({"line", "id"?, "class", "scores", "alert", "out_of_vocabulary"?, extras...})
of rtguard.serve.records.verdicts would give: the same key order, and every float
written from its float64 value by orjson, as a Python float from `.tolist()` is.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def format(self, numbers: list[int], ids: list | None, unknown: list[list[str]], probabilities: np.ndarray,
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
        template = (b'{"line":%d' + (b',"id":%s' if ids is not None else b"") + b',"class":%s,"scores":{' + self._scores
                    + b'},"alert":%s' + b"".join(b',%s:%%s' % orjson.dumps(name) for name in extra) + b"}\n")
        cells = np.empty((n, 3 + k + (ids is not None) + len(extra)), dtype=object)
        cells[:, 0] = numbers
        at = 1
        if ids is not None:
            cells[:, 1] = [orjson.dumps(value) for value in ids]
            at = 2
        cells[:, at] = self._classes[probabilities.argmax(axis=1)]
        cells[:, at + 1:at + 1 + k] = np.array(_numbers(probabilities), dtype=object).reshape(n, k)
        cells[:, at + 1 + k] = _BOOLS[flags.view(np.uint8)]
        for offset, values in enumerate(extra.values()):
            cells[:, at + 2 + k + offset] = _numbers(np.asarray(values).reshape(n))
        lines = (template * n) % tuple(cells.ravel().tolist())
        flagged = any(touched.any() for touched in repaired.values())
        if n_unknown or flagged:  # rare: the few flows with out-of-vocabulary or repaired values get keys inserted after "alert"
            lines = self._with_unknown(lines, unknown, repaired)
        return Written(lines, n_alerts, n_unknown)

    @staticmethod
    def _with_unknown(lines: bytes, unknown: list[list[str]], repaired: dict[str, np.ndarray]) -> bytes:
        out = lines.split(b"\n")[:-1]
        for index, fields in enumerate(unknown):
            keys = b"".join(b',"%s":true' % kind.encode() for kind, touched in repaired.items() if touched[index])
            if fields or keys:
                line = out[index]
                cut = line.rindex(b',"alert":') + len(b',"alert":')  # the last: a class may be named "alert", the extras are not
                end = cut + (4 if line.startswith(b"true", cut) else 5)
                inserted = (b',"out_of_vocabulary":' + orjson.dumps(fields) if fields else b"") + keys
                out[index] = line[:end] + inserted + line[end:]
        return b"\n".join(out) + b"\n"


def _numbers(values: np.ndarray) -> list[bytes]:
    """Each value as orjson writes the Python float of it (float32 widened to float64 exactly; NaN as null)."""
    flat = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    if not len(flat):
        return []
    return orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")

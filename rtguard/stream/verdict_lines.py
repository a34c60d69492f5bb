"""A batch of verdicts to its JSON lines in a few array operations, with the GIL released.

Building one dict per flow and serialising it cost more than parsing, encoding and the
model together once the reader went columnar, and a bytes `%` over every field of every
flow still held the GIL for most of the stream's time, so a second thread could not
share the work. Here orjson writes all the batch's numbers in one call; each field
becomes an Arrow column viewing that one buffer (no Python object per flow), and
Arrow's binary_join_element_wise, which releases the GIL, interleaves the columns with
the constant keys into the lines. The bytes are the same as orjson.dumps({"line",
"id"?, "class", "scores", "alert", "out_of_vocabulary"?, extras...}) of
rtguard.serve.records.verdicts would give: the same key order, and every number written
by orjson from its float64 value, as a Python float from `.tolist()` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from rtguard.artifact import alerts as alert_flags
from rtguard.data.schema import FeatureSchema
from rtguard.stream import arrow_buffers

_COMMA, _COLON = ord(","), ord(":")  # orjson's "[a,b,c]" read as the values ":a", ":b", ":c" (and a "]")


@dataclass
class Written:
    lines: bytes | memoryview  # the batch's output, each line ending in a newline (empty when nothing is written)
    flows: int  # the batch's flows, written or not (alerts_only writes the alerts alone)
    alerts: int
    out_of_vocabulary: int  # values, over all the batch's flows


class VerdictLines:
    """Formats batches for one schema, threshold and set of extra outputs."""

    def __init__(self, schema: FeatureSchema, threshold: float, alerts_only: bool = False):
        self.schema, self.threshold, self.alerts_only = schema, threshold, alerts_only
        self._classes = arrow_buffers.binary([orjson.dumps(name) for name in schema.classes])
        self._booleans = arrow_buffers.binary([b"false", b"true"])
        self._score_keys = [orjson.dumps(name) for name in schema.classes]

    def format(self, numbers: Sequence[int], ids: list | None, unknown: list[list[str]], probabilities: np.ndarray,
               extra: dict[str, np.ndarray], repaired: dict[str, np.ndarray] | None = None) -> Written:
        """The lines of these flows (ids None: no "id" key), `extra` the artifact's further outputs, one value per flow;
        `repaired` flags the flows whose values the input guard repaired ({"imputed": bool per flow, "clipped": ...})."""
        repaired = repaired or {}
        flows = len(probabilities)
        flags = alert_flags(probabilities, self.schema.benign_index, self.threshold)
        n_alerts = int(flags.sum())
        unknown_per_flow = np.fromiter(map(len, unknown), dtype=np.int64, count=len(unknown))
        n_unknown = int(unknown_per_flow.sum())
        numbers = np.asarray(numbers, dtype=np.int64)
        if self.alerts_only:
            keep = np.flatnonzero(flags)
            probabilities, flags, numbers, unknown_per_flow = probabilities[keep], flags[keep], numbers[keep], unknown_per_flow[keep]
            unknown = [unknown[i] for i in keep.tolist()]
            ids = None if ids is None else [ids[i] for i in keep.tolist()]
            extra = {name: values[keep] for name, values in extra.items()}
            repaired = {kind: touched[keep] for kind, touched in repaired.items()}
        n, k = probabilities.shape
        if not n:
            return Written(b"", flows, n_alerts, n_unknown)
        columns = [np.ascontiguousarray(probabilities.T), *(np.asarray(values).reshape(1, n) for values in extra.values())]
        values = _colon_numbers(np.concatenate(columns, dtype=np.float64).reshape(-1))  # column after column
        fields = [b'{"line":', arrow_buffers.integers(numbers).cast(pa.string()).cast(pa.binary())]  # Arrow writes integers as orjson does
        if ids is not None:
            fields += [b',"id":', arrow_buffers.binary([orjson.dumps(value) for value in ids])]
        fields += [b',"class":', self._classes.take(arrow_buffers.integers(probabilities.argmax(axis=1))), b',"scores":{']
        for index, key in enumerate(self._score_keys):
            fields += [(b"," if index else b"") + key, values.slice(index * n, n)]
        fields += [b'},"alert":', self._booleans.take(arrow_buffers.integers(flags))]
        marked = unknown_per_flow > 0
        for touched in repaired.values():
            marked |= touched
        if marked.any():  # rare: keys after "alert" on the few flows concerned
            fields.append(arrow_buffers.binary(self._marks(unknown, repaired, marked)))
        for index, name in enumerate(extra, start=k):
            fields += [b"," + orjson.dumps(name), values.slice(index * n, n)]
        fields.append(b"}\n")
        lines = pc.binary_join_element_wise(*_merged(fields), arrow_buffers.scalar(b""))
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=n + 1, offset=lines.offset * 4)
        return Written(memoryview(lines.buffers()[2])[offsets[0]:offsets[n]], flows, n_alerts, n_unknown)

    @staticmethod
    def _marks(unknown: list[list[str]], repaired: dict[str, np.ndarray], marked: np.ndarray) -> list[bytes]:
        """Per flow, what follows its "alert": "out_of_vocabulary" (the values training never saw) and a key per repair."""
        marks = [b""] * len(unknown)
        for index in np.flatnonzero(marked).tolist():
            fields = unknown[index]
            marks[index] = ((b',"out_of_vocabulary":' + orjson.dumps(fields) if fields else b"")
                            + b"".join(b',"%s":true' % kind.encode() for kind, touched in repaired.items() if touched[index]))
        return marks


def _colon_numbers(values: np.ndarray) -> pa.BinaryArray:
    """Each value as ":" and what orjson writes for it as a Python number (NaN as null): one orjson buffer whose separators,
    turned into the colons that follow each key, divide it into the values, with no Python object per value. Only orjson
    holds the GIL here: the separators are found and replaced by numpy, which lets the other worker run."""
    dumped = bytearray(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY))  # "[a,b,c]"
    text = np.frombuffer(dumped, dtype=np.uint8)
    offsets = np.flatnonzero(text == _COMMA).astype(np.int32)
    offsets = np.concatenate(([np.int32(0)], offsets, [np.int32(len(dumped) - 1)]))  # the "[", each ",", the closing "]"
    text[offsets[:-1]] = _COLON
    return pa.BinaryArray.from_buffers(pa.binary(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(dumped)])


def _merged(fields: list[bytes | pa.Array]) -> list[pa.Scalar | pa.Array]:
    """The fields with each run of constants joined into one scalar: each input costs the join a pass over the lines."""
    merged: list = []
    for field in fields:
        if isinstance(field, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += field
        else:
            merged.append(field)
    return [arrow_buffers.scalar(field) if isinstance(field, bytes) else field for field in merged]

"""A whole batch of flow lines to feature rows with array operations, not one line at a time.

Per-line Python parsing bounded `rtguard score` at a tenth of the session's rate. Here a
CSV batch (or a file's block of a megabyte, rtguard.stream.file_blocks) is parsed by
pyarrow's CSV reader in one call and a JSON-lines batch (or block) is read
by orjson and taken apart column by column; categorical values are coded through their
distinct values only. The result is exactly what the line-by-line reader
(rtguard.stream.flows + RecordEncoder) gives for the same lines, or None: any batch
holding a line this path would not read exactly as the line reader does (a quote, a
wrong field count, a value that is not a plain number, invalid UTF-8, a missing key, a
huge integer) is left to the line reader, which reports each bad line by number and
scores the rest. So nothing is lost and no verdict changes; only clean batches go fast.
"""

from __future__ import annotations

import operator

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv  # imported with the module, not at the first batch: its ~0.3 s would count against the stream

from rtguard.data.schema import FeatureSchema
from rtguard.stream.arrow_buffers import values_of
from rtguard.stream.file_blocks import Block
from rtguard.stream.flows import CsvFlows, JsonFlows

Kept = list[tuple[int, object, list[str]]]  # per encoded row: (line number, id, out-of-vocabulary features), as StreamScorer keeps them
Encoded = tuple[np.ndarray, list | None, list[list[str]]]  # a block's rows, ids (None without an id column), out-of-vocabulary features
# Below this many lines a batch goes line by line: pyarrow's per-call setup (~0.1-0.7 ms) outweighs what it saves,
# so a trickle on a quiet pipe is never slower than the line reader (bench/stream.py measured the crossover near 100).
MIN_LINES = 128
_EXACT_INT = 2**53  # beyond it, int -> float64 -> float32 may round differently from the line reader's int -> float32
_CATEGORIES = pa.dictionary(pa.int32(), pa.string())  # a categorical column comes coded by its distinct values


class ColumnarFlows:
    """Encodes batches of (line number, line bytes) of one input into rows; None when the line reader must take the batch."""

    def __init__(self, schema: FeatureSchema, flows: CsvFlows | JsonFlows):
        self.schema, self.flows = schema, flows
        self._codes = [({value: code for code, value in enumerate(f.vocabulary)}, f.oov_code) if f.kind == "categorical" else None
                       for f in schema.features]
        if isinstance(flows, CsvFlows):
            self._names = [f"c{index}" for index in range(flows.n_fields)]  # the header's own names may repeat or hold spaces
            wanted = [column for _, column, _ in flows.columns] + ([flows.id_column] if flows.id_column is not None else [])
            types = {self._names[column]: _CATEGORIES if categorical else pa.float64() for _, column, categorical in flows.columns}
            if flows.id_column is not None:
                types[self._names[flows.id_column]] = pa.string()  # the id as written, even where it is also a feature
            include = [self._names[column] for column in dict.fromkeys(wanted)]
            # made once: building them takes the GIL, which the other worker may be waiting for
            self._parse_options = pacsv.ParseOptions(quote_char=False, double_quote=False, escape_char=False, newlines_in_values=False,
                                                     ignore_empty_lines=False)
            self._convert_options = pacsv.ConvertOptions(column_types=types, include_columns=include, null_values=[],
                                                         strings_can_be_null=False, quoted_strings_can_be_null=False, check_utf8=False)
        else:  # JSON lines: a record's feature values in one C call, always as a tuple
            names = schema.names
            self._features_of = operator.itemgetter(*names) if len(names) > 1 else (lambda record: (record[names[0]],))

    def encode(self, lines: list[tuple[int, bytes]], rows: np.ndarray) -> Kept | None:
        """Fill rows[:len(lines)] and say which line each row is, or None (and rows untouched in meaning) to read line by line."""
        if not lines:
            return []
        if len(lines) < MIN_LINES:
            return None
        if isinstance(self.flows, CsvFlows):
            data = b"\n".join(line for _, line in lines)
            columns, ids = (None, None) if b"\r" in data else self._csv_columns(data, len(lines))
        else:
            columns, ids = self._json_columns([line for _, line in lines])
        if columns is None:
            return None
        unknown = self._fill(columns, len(lines), rows)
        numbers = [number for number, _ in lines]
        return list(zip(numbers, ids if ids is not None else [None] * len(lines), unknown))

    def encode_block(self, block: Block) -> Encoded | None:
        """A file's block of whole lines encoded at once (CSV parsed by pyarrow in one call, JSON lines read as one batch):
        (rows, ids or None, out-of-vocabulary features per row), one row per line from block.first on; None when the line
        reader must take the block."""
        data = block.data
        if not data or block.overlong():
            return None
        n = block.count
        if isinstance(self.flows, CsvFlows):
            columns, ids = self._csv_columns(data, n)
        else:  # a blank line, not JSON to orjson, sends the block to the line reader; a "\r" before a newline is JSON's whitespace
            columns, ids = self._json_columns(data.split(b"\n", n - 1))
        if columns is None:
            return None
        rows = np.empty((n, len(self._codes)), dtype=np.float32)
        return rows, ids, self._fill(columns, n, rows)

    def _fill(self, columns: list, n: int, rows: np.ndarray) -> list[list[str]]:
        """Write the columns into rows[:n]; the out-of-vocabulary feature names per row."""
        unknown_mask = np.zeros((n, len(self._codes)), dtype=bool)
        with np.errstate(over="ignore"):  # a float32 overflow becomes inf, as in the line reader; the runtime's guard takes it
            for index, (values, codes) in enumerate(zip(columns, self._codes)):
                if codes is None:
                    rows[:n, index] = values  # float64 -> float32, rounded as the line reader's assignment rounds
                else:
                    coded, unknown_mask[:, index] = values
                    rows[:n, index] = coded
        return unknown_names(unknown_mask, self.schema.names)

    # CSV: one pyarrow call per batch or block

    def _csv_columns(self, data: bytes, n: int):
        """The feature columns (and ids) of n lines of CSV, or (None, None) where the line reader might read them otherwise."""
        if b'"' in data or not _utf8(data):  # quoting: the line reader's rules; invalid UTF-8: it reads Latin-1
            return None, None
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),  # not a Python file: pyarrow reads it without taking the GIL
                read_options=pacsv.ReadOptions(column_names=self._names, use_threads=False, block_size=len(data) + 1),
                parse_options=self._parse_options, convert_options=self._convert_options)
        except (pa.ArrowException, ValueError):
            return None, None
        if table.num_rows != n:  # a blank line, or a lone "\r", which ends a row for pyarrow, not for the line reader
            return None, None
        columns = []
        for _, column, categorical in self.flows.columns:
            array = table.column(self._names[column]).combine_chunks()
            if not categorical:
                if array.type == pa.string():  # a numeric feature that is also the id column: parsed here, strictly
                    try:
                        array = pc.cast(array, pa.float64())
                    except (pa.ArrowException, ValueError):
                        return None, None
                columns.append(values_of(array))
                continue
            encoded = array if array.type == _CATEGORIES else array.dictionary_encode()  # the id column is read as plain text
            distinct = [value.strip() for value in encoded.dictionary.to_pylist()]  # str.strip, as the line reader strips
            columns.append(_lookup(distinct, values_of(encoded.indices), self._codes[len(columns)]))
        ids = None
        if self.flows.id_column is not None:
            ids = table.column(self._names[self.flows.id_column]).to_pylist()
        return columns, ids

    # JSON lines: orjson per line (C), then whole columns

    def _json_columns(self, lines: list[bytes]):
        try:
            records = [orjson.loads(line) for line in lines]
        except orjson.JSONDecodeError:
            return None, None
        try:  # each record's feature values in one C call, then the columns by a transpose: no Python loop per value
            table = list(map(self._features_of, records))
        except (KeyError, TypeError):  # a missing feature, or a line that is no object: the line reader names the refusal
            return None, None
        columns = []
        for values, codes in zip(zip(*table), self._codes):
            types = set(map(type, values))
            if codes is None:
                if not types <= {int, float}:  # bool, str, None, a list or object: the line reader names the refusal
                    return None, None
                try:
                    column = np.array(values, dtype=np.float64)
                except OverflowError:
                    return None, None
                if int in types and np.abs(column).max() >= _EXACT_INT:
                    return None, None
                columns.append(column)
                continue
            if not types <= {str, int}:
                return None, None
            if int in types:
                values = [str(value) if type(value) is int else value for value in values]
            distinct = list(dict.fromkeys(values))
            where = {value: index for index, value in enumerate(distinct)}
            columns.append(_lookup(distinct, np.fromiter(map(where.__getitem__, values), dtype=np.int64, count=len(values)), codes))
        ids = [record.get(self.flows.id_field) for record in records] if self.flows.id_field else None
        return columns, ids


def _lookup(distinct: list[str], indices: np.ndarray, codes: tuple[dict[str, int], int]) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row, and which rows held a value out of vocabulary, looking up each distinct value once."""
    vocabulary, oov = codes
    table = np.array([vocabulary.get(value, oov) for value in distinct], dtype=np.float64)
    coded = table[indices]
    return coded, coded == oov


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:  # the line reader falls back to Latin-1 for the whole line
        return False
    return True


def unknown_names(unknown_mask: np.ndarray, names: list[str]) -> list[list[str]]:
    """Per row, the features whose value was out of vocabulary (one shared empty list for the many rows with none)."""
    empty: list[str] = []
    unknown = [empty] * len(unknown_mask)
    for row in np.flatnonzero(unknown_mask.any(axis=1)).tolist():
        unknown[row] = [names[index] for index in np.flatnonzero(unknown_mask[row]).tolist()]
    return unknown

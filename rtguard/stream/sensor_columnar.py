"""Whole batches of sensor lines to feature rows: Zeek conn.log TSV in one pyarrow call, as rtguard.stream.columnar
does for CSV, and Suricata eve.json flow events column by column (EveColumnar).

Zeek's own TSV is what a sensor streams most (`tail -F conn.log`); read line by line it
ran at a third of the columnar CSV rate. The result is exactly what SensorFlows +
RecordEncoder give for the same rows (the mapping's unset defaults, stripped
categories, the same float parsing), or None: a batch holding a `#` directive, a row of
another field count, a quote, a carriage return, invalid UTF-8 or a value pyarrow
would not read as the line reader does is left to the line reader, which reports each
bad line by number. Short batches go line by line too (columnar.MIN_LINES).
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rtguard.data.schema import FeatureSchema
from rtguard.sensors.mappings import UNSET
from rtguard.sensors.records import CONN_LAYOUTS, JsonFields, ZeekTsv
from rtguard.stream import arrow_buffers, columnar
from rtguard.stream.file_blocks import Block
from rtguard.stream.sensor_flows import SensorFlows

_PARSE = pacsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False, escape_char=False,
                            newlines_in_values=False, ignore_empty_lines=False)


class ZeekColumnar:
    """Encodes batches of Zeek TSV rows for one SensorFlows reader; None when the line reader must take the batch."""

    def __init__(self, schema: FeatureSchema, flows: SensorFlows):
        self.schema, self.flows = schema, flows
        self._codes = [({value: code for code, value in enumerate(f.vocabulary)}, f.oov_code) if f.kind == "categorical" else None
                       for f in schema.features]
        self._fields = {f.name: f for f in flows.mapping.features}

    def encode(self, lines: list[tuple[int, bytes]], rows: np.ndarray) -> columnar.Kept | None:
        if not lines:
            return []
        if len(lines) < columnar.MIN_LINES:
            return None
        data = b"\n".join(line for _, line in lines)
        encoded = None if b"\r" in data else self._encode(data, len(lines), rows)
        return None if encoded is None else list(zip([number for number, _ in lines], *encoded))

    def encode_block(self, block: Block) -> tuple[np.ndarray, list, list[list[str]]] | None:
        """A conn.log file's block of rows in one call: (rows, ids, out-of-vocabulary features per row), one row per line from
        block.first on; None when the line reader must take it (a directive, a rotation's new header, any other doubt).
        Call it in order: a block read line by line may change the layout the next one is parsed with."""
        if not block.data or b"\r" in block.data or block.overlong():
            return None
        rows = np.empty((block.count, len(self._codes)), dtype=np.float32)
        encoded = self._encode(block.data.removesuffix(b"\n"), block.count, rows)
        return None if encoded is None else (rows, *encoded)

    def _encode(self, data: bytes, n: int, rows: np.ndarray) -> tuple[list, list[list[str]]] | None:
        """n rows of TSV into rows[:n]: (ids, out-of-vocabulary features) per row, or None."""
        reader = self.flows.reader
        if not isinstance(reader, ZeekTsv) or b"#" in data[:1] or b"\n#" in data or b'"' in data or not columnar._utf8(data):
            return None
        data = data.replace(b"   ", b"\t")  # IoT-23's three-space separator, split exactly as the line reader's regex splits
        first = data[: data.find(b"\n")] if b"\n" in data else data
        names = reader.columns if reader.columns is not None else CONN_LAYOUTS.get(first.count(b"\t") + 1)
        if names is None:
            return None
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(column_names=[f"c{index}" for index in range(len(names))], use_threads=False,
                                               block_size=len(data) + 1),
                parse_options=_PARSE,
                convert_options=pacsv.ConvertOptions(column_types={f"c{index}": pa.string() for index in range(len(names))},
                                                     null_values=[], strings_can_be_null=False, check_utf8=True),
            )
        except (pa.ArrowException, ValueError):
            return None
        if table.num_rows != n:
            return None
        where = {name: f"c{index}" for index, name in enumerate(names)}
        unknown_mask = np.zeros((n, len(self._codes)), dtype=bool)
        with np.errstate(over="ignore"):
            for index, (feature, codes) in enumerate(zip(self.schema.features, self._codes)):
                source = where.get(self._fields[feature.name].field)
                array = None if source is None else table.column(source).combine_chunks()
                if codes is None:
                    values = self._numbers(array, reader.unset, n)
                    if values is None:
                        return None
                    rows[:n, index] = values
                else:
                    coded, unknown_mask[:, index] = self._categories(array, reader.unset, n, codes)
                    rows[:n, index] = coded
        unknown = columnar.unknown_names(unknown_mask, self.schema.names)
        ids: list = [None] * n
        if self.flows.id_field and self.flows.id_field in where:
            ids = [None if value == reader.unset else value for value in table.column(where[self.flows.id_field]).to_pylist()]
        return ids, unknown

    @staticmethod
    def _numbers(array, unset: str, n: int) -> np.ndarray | None:
        """float64 per row, unset as 0 (the mapping's default); None when a cell is not a plain number."""
        if array is None:
            return np.zeros(n)
        filled = pc.if_else(pc.equal(array, arrow_buffers.scalar(unset.encode(), pa.string())), arrow_buffers.scalar(b"0", pa.string()), array)
        try:
            return arrow_buffers.values_of(pc.cast(filled, pa.float64()))
        except (pa.ArrowException, ValueError):
            return None

    @staticmethod
    def _categories(array, unset: str, n: int, codes) -> tuple[np.ndarray, np.ndarray]:
        if array is None:
            return columnar._lookup([UNSET], np.zeros(n, dtype=np.int64), codes)
        encoded = array.dictionary_encode()
        distinct = [UNSET if value == unset else value.strip() for value in encoded.dictionary.to_pylist()]
        return columnar._lookup(distinct, arrow_buffers.values_of(encoded.indices), codes)


class EveColumnar:
    """Encodes batches of Suricata eve.json lines: orjson per line (C), the flow events' fields taken column by column.

    Read line by line, an eve.json flow cost ~25 µs (a dict per line through the mapping, then RecordEncoder). Here the
    result is exactly what SensorFlows + RecordEncoder give (events of other types passed over, the mapping's defaults
    for unset fields, bools as Zeek's T/F), or None: a batch holding a line that is no JSON object, or a field of a type
    the line reader would refuse or parse from text, is left to the line reader, which reports each bad line by number.
    """

    def __init__(self, schema: FeatureSchema, flows: SensorFlows):
        self.schema, self.flows = schema, flows
        self._codes = [({value: code for code, value in enumerate(f.vocabulary)}, f.oov_code) if f.kind == "categorical" else None
                       for f in schema.features]
        self._paths = [next(f.field for f in flows.mapping.features if f.name == feature.name) for feature in schema.features]

    def encode(self, lines: list[tuple[int, bytes]], rows: np.ndarray) -> columnar.Kept | None:
        reader = self.flows.reader
        if not lines:
            return []
        if len(lines) < columnar.MIN_LINES or not isinstance(reader, JsonFields):
            return None
        try:
            records = [orjson.loads(line) for _, line in lines]  # a "#" comment line fails here: the line reader passes it over
        except orjson.JSONDecodeError:
            return None
        if not all(type(record) is dict for record in records):
            return None
        kept = [index for index, record in enumerate(records) if reader.event_type is None or record.get("event_type") == reader.event_type]
        flows = [records[index] for index in kept]
        n = len(flows)
        unknown_mask = np.zeros((n, len(self._codes)), dtype=bool)
        for index, (path, codes) in enumerate(zip(self._paths, self._codes)):
            values = _column(flows, path)
            types = set(map(type, values))
            if codes is None:
                if not types <= {int, float, type(None)}:  # text the line reader would parse, bools it refuses
                    return None
                with np.errstate(over="ignore"):  # a float32 overflow becomes inf, as in the line reader; the runtime's guard takes it
                    rows[:n, index] = np.array([0.0 if value is None else value for value in values], dtype=np.float64)
                continue
            if not types <= {str, int, bool, type(None)}:
                return None
            texts = [UNSET if value is None else ("T" if value else "F") if type(value) is bool else str(value).strip() for value in values]
            distinct = list(dict.fromkeys(texts))
            where = {value: position for position, value in enumerate(distinct)}
            coded, unknown_mask[:, index] = columnar._lookup(distinct, np.fromiter(map(where.__getitem__, texts), dtype=np.int64, count=n),
                                                             codes)
            rows[:n, index] = coded
        unknown = columnar.unknown_names(unknown_mask, self.schema.names)
        id_field = self.flows.id_field
        ids = [None] * n if not id_field else \
            [value if isinstance(value, (str, int, float, bool)) else None for value in _column(flows, id_field)]
        return list(zip([lines[index][0] for index in kept], ids, unknown))


def _column(records: list[dict], path: str) -> list:
    """_field of every record, a top-level key or a one-level path (eve.json's "flow.state") in plain comprehensions: a
    call per value cost more than the rest of the encoding."""
    head, dot, rest = path.partition(".")
    if not dot:
        return [record.get(path) for record in records]
    if "." in rest or any(path in record for record in records):  # deeper, or a key written with the dot: walk each
        return [_field(record, path) for record in records]
    return [parent.get(rest) if type(parent) is dict else None for parent in [record.get(head) for record in records]]


def _field(record: dict, path: str) -> object:
    """A field by dotted path as the line reader finds it (a key as written first, else a walk into nested objects);
    None when absent or null."""
    if path in record:
        return record[path]
    value: object = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value

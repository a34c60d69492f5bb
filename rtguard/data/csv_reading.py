"""Read one comma-separated file from outside into a DataFrame, checked row by row.

pandas parses fast but silently pads short rows with NaN and names the line only of
long ones, so a csv-module pass first checks every record's field count and notes
its line; pandas then parses the good records (numbers, `Infinity`, `NaN`). The
frame's index is each row's 1-based line number in the file, so a loader can name
the line of a bad value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator
from pathlib import Path

import pandas as pd

from rtguard.errors import DataError

# CIC-IDS2017 labels hold the cp1252 byte 0x96 (an en dash); latin-1 decodes any byte.
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


def read_table(
    path: Path,
    names: list[str] | None = None,
    text_columns: Collection[str] = (),
    skip_bad_rows: bool = False,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The file's rows, and what was skipped: {"bad_rows_skipped": n, "empty_rows_skipped": n}, non-zero only.

    `names=None` reads the first row as the header (names stripped of whitespace,
    repeats suffixed `.1`, `.2` as pandas does); otherwise the file has no header.
    `text_columns` stay strings even when they look numeric. Blank lines and rows
    whose fields are all empty are dropped; a row with the wrong number of fields
    is an error naming its line, or with `skip_bad_rows` is dropped and counted.
    """
    path = Path(path)
    text = _decode(_read_bytes(path))
    has_header = names is None
    reader = csv.reader(io.StringIO(text))
    try:
        if has_header:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path} is empty (not even a header row)")
            names = _unique([name.strip() for name in header])
        good, dropped, bad, empty = _scan(reader, len(names))
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: {exc}") from None
    if bad and not skip_bad_rows:
        line, found = bad[0]
        more = f" ({len(bad)} such rows in all)" if len(bad) > 1 else ""
        raise DataError(
            f"{path}, line {line}: expected {len(names)} fields, found {found}{more}; "
            "fix the file or set data.skip_bad_rows = true to skip such rows"
        )
    if not good:
        raise DataError(f"{path} has no data rows" + (f" ({len(bad)} bad rows skipped)" if bad else ""))
    if dropped:
        text = _without_lines(text, dropped)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=0 if has_header else None,
            names=names,
            dtype={name: str for name in text_columns if name in names},
            low_memory=False,  # infer each column's type once, from all its rows
            skip_blank_lines=False,  # blank lines are gone already; a line of spaces is a record, as for the csv module
        )
    except pd.errors.ParserError as exc:
        raise DataError(_parser_problem(path, exc, good[-1])) from None
    if len(frame) != len(good):
        raise DataError(f"{path}: the csv module reads {len(good)} records and pandas {len(frame)}; check the quoting of the file")
    frame.index = pd.Index(good, name="line")
    counts = {"bad_rows_skipped": len(bad), "empty_rows_skipped": empty}
    return frame, {key: n for key, n in counts.items() if n}


def _parser_problem(path: Path, exc: pd.errors.ParserError, last_record: int) -> str:
    """pandas' complaint in the file's terms: the csv module (not strict) reads an unclosed quote to the end of the file,
    so the record it opens is the last one."""
    if "EOF inside string" in str(exc):
        return f"{path}, line {last_record}: a quoted field is never closed (the file ends inside it)"
    return f"{path}: not readable as CSV: {' '.join(str(exc).split())}"


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise DataError(f"{path} is a folder; expected a CSV file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def _decode(raw: bytes) -> str:
    for encoding in ENCODINGS[:-1]:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode(ENCODINGS[-1])


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        repeat = seen.get(name, 0)
        seen[name] = repeat + 1
        unique.append(f"{name}.{repeat}" if repeat else name)
    return unique


def _scan(reader: Iterator[list[str]], n_fields: int) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int]], int]:
    """(first lines of good records, line spans to drop, (line, field count) of bad records, empty records)."""
    good, dropped, bad, empty = [], [], [], 0
    last = reader.line_num
    for row in reader:
        first, last = last + 1, reader.line_num
        if len(row) == n_fields and any(row):
            good.append(first)
            continue
        dropped.append((first, last))
        if any(row):
            bad.append((first, len(row)))
        elif row:  # only commas: CIC-IDS2017 TrafficLabelling files hold many such rows
            empty += 1
    return good, dropped, bad, empty


def _without_lines(text: str, spans: list[tuple[int, int]]) -> str:
    drop = {number for first, last in spans for number in range(first, last + 1)}
    lines = text.split("\n")  # the lines csv.reader counted: io.StringIO splits on "\n" only
    return "\n".join(line for number, line in enumerate(lines, 1) if number not in drop)

"""Tables defined once as rows of cells, rendered for the terminal, markdown and HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

COLUMNS = [
    ("variant", None, None),
    ("accuracy", "accuracy", "{:.4f}"),
    ("macro-F1", "macro_f1", "{:.4f}"),
    ("detection @op", "detection_rate", "{:.4f}"),
    ("FPR @op", "false_positive_rate", "{:.4f}"),
    ("p50 ms (b=1)", "latency_p50_ms", "{:.4f}"),
    ("p99 ms (b=1)", "latency_p99_ms", "{:.4f}"),
    ("rows/s (b={batch})", "throughput_per_s", "{:,.0f}"),
    ("size KiB", "file_bytes", None),
    ("agreement", "agreement", "{:.4f}"),
]
TONES = {"good": "green", "bad": "bold red", "unknown": "yellow"}  # rich styles; HTML uses the names as classes


@dataclass(frozen=True)
class Cell:
    text: str
    tone: str | None = None  # good | bad | unknown: how a renderer may colour it


def format_metric(key: str, value) -> str:
    if value is None:
        return "n/a"
    if key == "file_bytes":
        return f"{value / 1024:,.1f}"
    return next(fmt for _, k, fmt in COLUMNS if k == key).format(value)


def table_header(variants: list[dict]) -> list[str]:
    batch = next((v["metrics"]["throughput_batch"] for v in variants if "throughput_batch" in v["metrics"]), "?")
    return [name.format(batch=batch) for name, _, _ in COLUMNS]


def table_rows(variants: list[dict]) -> list[list[str]]:
    return [[variant["name"]] + [format_metric(key, variant["metrics"].get(key)) for _, key, _ in COLUMNS[1:]] for variant in variants]


def markdown_grid(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(_text(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def rich_grid(header: list[str], rows: list[list], title: str | None = None) -> FittedTable:
    return FittedTable(header, rows, title)


class FittedTable:
    """A terminal table laid out at render time for the width there is.

    Each column is as wide as its longest cell; the columns that do not fit beside the
    first go into further tables, each repeating the first column. A table still too wide
    (one column beside the first) wraps its cells between words: no number or word is cut.
    """

    def __init__(self, header: list[str], rows: list[list], title: str | None = None):
        self.header, self.title = header, title
        self.rows = [[_rich(cell) for cell in row] for row in rows]
        columns = [[Text(name), *(row[index] for row in self.rows)] for index, name in enumerate(header)]
        self.longest_word = [max(cell_len(word) for text in column for word in [*text.plain.split(), ""]) for column in columns]
        self.widths = [max(self.longest_word[index], *(text.cell_len for text in column[1:])) for index, column in enumerate(columns)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts = _column_groups(self.widths, options.max_width)
        for number, columns in enumerate(parts, 1):
            shown = [0, *columns]
            widths = _narrowed([self.widths[i] for i in shown], [self.longest_word[i] for i in shown], options.max_width - _rules(shown))
            title = self.title if len(parts) == 1 or self.title is None else f"{self.title} ({number} of {len(parts)})"
            table = Table(title=title)
            for index, width in zip(shown, widths):
                table.add_column(self.header[index], justify="left" if index == 0 else "right", width=width)
            for row in self.rows:
                table.add_row(*(row[index] for index in shown))
            # the title wraps between words even on a console that never wraps (soft_wrap); a word longer than the
            # terminal leaves beside the first column overflows rather than being cut
            width = max(options.max_width, sum(widths) + _rules(shown))
            yield from console.render(table, options.update(width=width, no_wrap=False, overflow="fold"))


def _column_groups(widths: list[int], max_width: int) -> list[list[int]]:
    """The columns after the first, in order, in as few groups as fit `max_width` beside the first column."""
    groups: list[list[int]] = [[]]
    for index in range(1, len(widths)):
        shown = [0, *groups[-1], index]
        if groups[-1] and sum(widths[i] for i in shown) + _rules(shown) > max_width:
            groups.append([])
        groups[-1].append(index)
    return groups


def _narrowed(widths: list[int], floors: list[int], room: int) -> list[int]:
    """`widths` made to fit `room` a column at a time, the one with the most to spare first, none below its floor."""
    widths = list(widths)
    while sum(widths) > room:
        spare, index = max((width - floor, index) for index, (width, floor) in enumerate(zip(widths, floors)))
        if spare <= 0:
            break
        widths[index] -= 1
    return widths


def _rules(columns: list) -> int:
    """What a bordered table adds to its columns' widths: a space either side of each, a rule between and around them."""
    return 3 * len(columns) + 1


def html_grid(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(_html_cell(cell) for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def transpose(header: list[str], rows: list[list], corner: str) -> tuple[list[str], list[list]]:
    """Rows become columns: the row labels become the header, the header the row labels."""
    return [corner, *(_text(row[0]) for row in rows)], [[name, *(row[index] for row in rows)] for index, name in enumerate(header) if index]


def markdown_table(variants: list[dict]) -> str:
    return markdown_grid(table_header(variants), table_rows(variants))


def rich_table(variants: list[dict], title: str) -> FittedTable:
    return rich_grid(table_header(variants), table_rows(variants), title)


def _text(cell) -> str:
    return cell.text if isinstance(cell, Cell) else str(cell)


def _rich(cell) -> Text:
    """The cell as rich text, coloured by its tone; never read as markup."""
    return Text(_text(cell), style=TONES[cell.tone] if isinstance(cell, Cell) and cell.tone else "")


def _html_cell(cell) -> str:
    tone = f' class="{cell.tone}"' if isinstance(cell, Cell) and cell.tone else ""
    return f"<td{tone}>{html.escape(_text(cell))}</td>"

"""Tables defined once as rows of cells, rendered for the terminal, markdown and HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

COLUMNS = [
    ("variant", None, None),
    ("accuracy", "accuracy", "{:.4f}"),
    ("macro-F1", "macro_f1", "{:.4f}"),
    ("detection", "detection_rate", "{:.4f}"),
    ("FPR", "false_positive_rate", "{:.4f}"),
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


def rich_grid(header: list[str], rows: list[list], title: str | None = None) -> Table:
    table = Table(title=title)
    for index, name in enumerate(header):
        table.add_column(name, justify="left" if index == 0 else "right", no_wrap=index == 0)
    for row in rows:
        table.add_row(*(_rich(cell) for cell in row))
    return table


def html_grid(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(_html_cell(cell) for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def transpose(header: list[str], rows: list[list], corner: str) -> tuple[list[str], list[list]]:
    """Rows become columns: the row labels become the header, the header the row labels."""
    return [corner, *(_text(row[0]) for row in rows)], [[name, *(row[index] for row in rows)] for index, name in enumerate(header) if index]


def markdown_table(variants: list[dict]) -> str:
    return markdown_grid(table_header(variants), table_rows(variants))


def rich_table(variants: list[dict], title: str) -> Table:
    return rich_grid(table_header(variants), table_rows(variants), title)


def _text(cell) -> str:
    return cell.text if isinstance(cell, Cell) else str(cell)


def _rich(cell) -> str:
    if isinstance(cell, Cell) and cell.tone:
        return f"[{TONES[cell.tone]}]{escape(cell.text)}[/]"
    return escape(_text(cell))


def _html_cell(cell) -> str:
    tone = f' class="{cell.tone}"' if isinstance(cell, Cell) and cell.tone else ""
    return f"<td{tone}>{html.escape(_text(cell))}</td>"

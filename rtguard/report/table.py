"""The comparison table, defined once and rendered for the terminal and for markdown."""

from __future__ import annotations

from rich.table import Table

COLUMNS = [
    ("variant", None, None),
    ("accuracy", "accuracy", "{:.4f}"),
    ("macro-F1", "macro_f1", "{:.4f}"),
    ("detection", "detection_rate", "{:.4f}"),
    ("FPR", "false_positive_rate", "{:.4f}"),
    ("p50 ms (b=1)", "latency_p50_ms", "{:.4f}"),
    ("p99 ms (b=1)", "latency_p99_ms", "{:.4f}"),
    ("rows/s (b=1024)", "throughput_per_s", "{:,.0f}"),
    ("size KiB", "file_bytes", None),
    ("agreement", "agreement", "{:.4f}"),
]


def table_rows(variants: list[dict]) -> list[list[str]]:
    rows = []
    for variant in variants:
        cells = [variant["name"]]
        for _, key, fmt in COLUMNS[1:]:
            value = variant["metrics"].get(key)
            if value is None:
                cells.append("n/a")
            elif key == "file_bytes":
                cells.append(f"{value / 1024:,.1f}")
            else:
                cells.append(fmt.format(value))
        rows.append(cells)
    return rows


def markdown_table(variants: list[dict]) -> str:
    header = [name for name, _, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(variants)]
    return "\n".join(lines)


def rich_table(variants: list[dict], title: str) -> Table:
    table = Table(title=title)
    for index, (name, _, _) in enumerate(COLUMNS):
        table.add_column(name, justify="left" if index == 0 else "right")
    for row in table_rows(variants):
        table.add_row(*row)
    return table

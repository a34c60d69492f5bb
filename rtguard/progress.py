"""Progress bars laid out for the terminal's width, one factory for every stage that shows them.

On a narrow terminal the description (and status) wrap between words and the bar shrinks;
the counts and the elapsed time are never cut (rich's default layout turned them into `0:0…`).
"""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column

BAR_WIDTH = 15  # at most (a training line then fits 80 columns); on a narrow terminal the bar shrinks with the description


def progress_bars(enabled: bool, unit: str = "", status: bool = False) -> Progress:
    """Description, bar, done/total (and `unit`), elapsed time, and with `status` each task's `status` field.

    `enabled=False` shows nothing. Text is shown as written: brackets in a description are not markup.
    """
    def wrapping(text: str, style: str = "none") -> TextColumn:
        return TextColumn(text, style=style, markup=False, table_column=Column(overflow="fold"))

    def whole(column):
        return column(table_column=Column(no_wrap=True))

    return Progress(
        wrapping("{task.description}", "bold"),
        BarColumn(bar_width=None, table_column=Column(max_width=BAR_WIDTH)),
        whole(MofNCompleteColumn),
        *([TextColumn(unit, markup=False, table_column=Column(no_wrap=True))] if unit else []),
        whole(TimeElapsedColumn),
        *([wrapping("{task.fields[status]}")] if status else []),
        disable=not enabled,
    )

"""Progress bars at any terminal width: the description wraps, the counts and the elapsed time stay whole."""

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from rtguard.progress import progress_bars


@pytest.mark.parametrize("width", [40, 80, 200])
def test_counts_and_elapsed_time_are_never_cut(width):
    bars = progress_bars(True, "epochs", status=True)
    bars.add_task("every variant on every backend (load, quality, latency, throughput)", total=4, status="")
    bars.add_task("training [train]", total=1000, completed=500, status="loss 1.3988  val macro-F1 0.3101")
    bars.add_task("evasion", total=None, status="")
    out = io.StringIO()
    Console(file=out, width=width).print(bars.make_tasks_table(bars.tasks))
    lines = out.getvalue().splitlines()
    assert all(cell_len(line) <= width for line in lines), lines
    text = "\n".join(lines)
    for whole in ("0/4", "500/1000", "0/?"):
        assert whole in text, (whole, lines)
    assert text.count("0:00:00") == 3 and text.count("epochs") == 3, lines
    if width >= 80:  # at 40 the words of the description and the status fold to what is left
        assert "1.3988" in text and "0.3101" in text, lines
        assert "training [train]" in text, "a bracketed word in a description is not markup"


def test_a_description_fits_one_line_when_the_terminal_is_wide_enough():
    bars = progress_bars(True)
    bars.add_task("quality on the test split", total=9, completed=9)
    out = io.StringIO()
    Console(file=out, width=80).print(bars.make_tasks_table(bars.tasks))
    assert out.getvalue().splitlines() == [out.getvalue().rstrip("\n")] and "9/9" in out.getvalue()


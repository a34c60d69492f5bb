"""What the command line shows: whole one-line messages, library warnings once, tables split rather than cut."""

import io
import logging

import pytest
from rich.cells import cell_len
from rich.console import Console

from rtguard.report.table import Cell, rich_grid
from rtguard.terminal import library_log, one_line


def test_a_multi_line_message_becomes_one_line():
    assert one_line("invalid configuration:\n  model.hiden: unknown key\n\n  train.epochs: not an integer\n") == \
        "invalid configuration: model.hiden: unknown key; train.epochs: not an integer"
    assert one_line("already one line") == "already one line"


def test_library_warnings_are_one_line_each_said_once_and_only_while_a_command_runs(capsys):
    logger = logging.getLogger("rtguard.evaluate")
    with library_log():
        for _ in range(9):
            logger.warning("%s is not available: skipped\n(needs a GPU)", "backend-of-this-test")
        logging.getLogger("rtguard.runtime").warning("INSECURE: loading [this test's] variant WITHOUT signature verification")
        logger.info("progress narration stays below the warning level")
    assert capsys.readouterr().err.splitlines() == [
        "warning: backend-of-this-test is not available: skipped; (needs a GPU)",
        "warning: INSECURE: loading [this test's] variant WITHOUT signature verification",
    ]
    library = logging.getLogger("rtguard")
    assert library.propagate and not library.handlers


def _lines(renderable, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, soft_wrap=True).print(renderable)
    return out.getvalue().splitlines()


# A checklist as `rtguard select` prints it: long first column, text and numbers in the cells, a literal bracket.
HEADER = ["variant", "p99 latency, batch 1 ≤ 1 ms", "throughput ≥ 100,000 rows/s", "detection rate ≥ 0.9000",
          "false-positive rate ≤ 0.0500", "macro-F1 loss vs reference ≤ 0.0100", "model file size ≤ 10,240 KiB",
          "execution provider = CPUExecutionProvider", "on the Pareto front", "verdict"]
ROWS = [["torch-fp32 (reference)", Cell("pass 0.2973 ms", "good"), "pass 393,530 rows/s", Cell("FAIL 0.4161", "bad"),
         "FAIL 0.0516", "pass +0.0000", "pass 3.8 KiB", "not measured", "yes", "blocked by 5 check(s)"],
        ["int8-static", "pass 0.09139 ms", "pass 1,312,740 rows/s", "FAIL 0.4094", "pass 0.0499", "pass +0.0020",
         "pass 9.8 KiB", "pass CPUExecutionProvider", "dominated by int8-dynamic", "[anomaly] table missing"]]


@pytest.mark.parametrize("width", [40, 80, 240])
def test_a_wide_table_splits_into_tables_that_repeat_the_first_column_and_never_cut_a_cell(width):
    lines = _lines(rich_grid(HEADER, ROWS, title="policy 'hardened': required checks"), width)
    assert all(cell_len(line) <= width for line in lines), "\n".join(lines)
    text = "\n".join(lines)
    words = text.split()
    for row in ROWS:
        for cell in row:  # whole, or at 40 columns wrapped between its words
            value = cell.text if isinstance(cell, Cell) else cell
            assert value in text if width > 40 else all(word in words for word in value.split()), (value, text)
    parts = text.count("┏")
    assert text.count("policy 'hardened': required checks") == text.count("int8-static") == parts and "…" not in text
    assert (parts == 1) == (width == 240)
    if parts > 1:
        assert f"(1 of {parts})" in " ".join(words) and f"({parts} of {parts})" in " ".join(words)


def test_a_word_longer_than_the_terminal_leaves_overflows_instead_of_being_cut():
    word = "a-forty-character-identifier-of-one-word"
    lines = _lines(rich_grid(["variant", "note"], [["torch-fp32", word]]), 40)
    assert any(word in line for line in lines), lines

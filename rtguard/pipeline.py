"""`rtguard run`: every stage in order, built in a temporary folder renamed at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rtguard.config import RunConfig
from rtguard.data import prepare_run_data
from rtguard.evaluate import evaluate_run
from rtguard.optimize import optimize_run
from rtguard.report import report_run
from rtguard.runfolder import RunFolder, building
from rtguard.train import train_run


def run_pipeline(config: RunConfig, out: Path, replace: bool = False, show_progress: bool = True,
                 say: Callable[[str], None] = lambda message: None) -> dict:
    """data -> train -> optimize -> evaluate -> report; `out` appears only when all succeeded."""
    with building(out, replace=replace) as folder:
        run = RunFolder(folder)
        say(f"data: {config.data.dataset}")
        prepare_run_data(run, config)
        say("train")
        train_run(run, show_progress=show_progress)
        say("optimize: " + ", ".join(config.optimize.variants))
        optimize_run(run)
        say("evaluate")
        evaluate_run(run, show_progress=show_progress)
        say("report")
        return report_run(run, name=Path(out).name)

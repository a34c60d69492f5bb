"""The `rtguard` command line. Stages never import this module; it imports them."""

from __future__ import annotations

import functools
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from rtguard.config import RunConfig, load_config, with_data_overrides
from rtguard.errors import RtguardError
from rtguard.runfolder import RunFolder

app = typer.Typer(
    help="Build, compress, evaluate and compare ML detectors for real-time security systems.\n\n"
    "Start with `rtguard run` (embedded synthetic data, a few minutes); then inspect the run "
    "folder it prints, or rerun single stages on it with `train`, `optimize`, `evaluate`, `report`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(width=max(Console().width, 132))  # the table has ten columns
err_console = Console(stderr=True)


class Dataset(str, Enum):
    synthetic = "synthetic"
    nsl_kdd = "nsl-kdd"
    csv = "csv"


class Labels(str, Enum):
    multiclass = "multiclass"
    binary = "binary"


ConfigOption = typer.Option(None, "--config", "-c", help="TOML file with [data], [model], [train], [optimize], [evaluate] sections; unknown keys are errors.", exists=False)
DatasetOption = typer.Option(None, "--dataset", "-d", help="synthetic (embedded, default), nsl-kdd (folder with KDDTrain+/KDDTest+) or csv (any labelled flow CSV).")
DataOption = typer.Option(None, "--data", help="Path of the data: the NSL-KDD folder, or the CSV file.")
LabelsOption = typer.Option(None, "--labels", help="multiclass (attack families) or binary (benign vs attack).")
SkipBadRowsOption = typer.Option(None, "--skip-bad-rows/--fail-on-bad-rows", help="Skip CSV rows with the wrong number of fields (counted in data.json) instead of failing on the first one.")
RunArgument = typer.Argument(..., help="The run folder (as printed by `rtguard run`).")
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bars.")


def user_errors(command):
    """Turn RtguardError into a one-line message and exit status 2, with no traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RtguardError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]: no partial results were kept")
            raise typer.Exit(130) from None

    return wrapper


def _resolve_config(config: Optional[Path], dataset: Optional[Dataset], data: Optional[Path], labels: Optional[Labels],
                    skip_bad_rows: Optional[bool]) -> RunConfig:
    return with_data_overrides(
        load_config(config), dataset=dataset.value if dataset else None, path=str(data) if data else None,
        labels=labels.value if labels else None, skip_bad_rows=skip_bad_rows,
    )


def _show(report: dict, where: Path) -> None:
    from rtguard.report.table import rich_table

    console.print(rich_table(report["variants"], title=f"{report['dataset']['source']} — test split"))
    for note in report["findings"]:
        console.print(f"• {note}", highlight=False)
    console.print(f"\nrun folder: [bold]{where}[/] (report.md, report.json)")


@app.command()
@user_errors
def run(
    config: Optional[Path] = ConfigOption,
    dataset: Optional[Dataset] = DatasetOption,
    data: Optional[Path] = DataOption,
    labels: Optional[Labels] = LabelsOption,
    skip_bad_rows: Optional[bool] = SkipBadRowsOption,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder to create (default runs/<dataset>-<time>)."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
    quiet: bool = QuietOption,
):
    """The whole pipeline: data, train, optimize, evaluate, report.

    The run folder appears only when every stage succeeded.

    Examples:\n
      rtguard run\n
      rtguard run --dataset nsl-kdd --data ../shared/data/nsl-kdd --labels binary\n
      rtguard run --dataset csv --data flows.csv --config cic.toml --out runs/cic
    """
    from rtguard.pipeline import run_pipeline

    resolved = _resolve_config(config, dataset, data, labels, skip_bad_rows)
    out = out or Path("runs") / f"{resolved.data.dataset}-{datetime.now():%Y%m%d-%H%M%S}"
    report = run_pipeline(resolved, out, replace=force, show_progress=not quiet,
                          say=lambda stage: console.print(f"[bold cyan]==>[/] {stage}"))
    _show(report, out)


@app.command()
@user_errors
def train(
    run_dir: Path = RunArgument,
    config: Optional[Path] = ConfigOption,
    dataset: Optional[Dataset] = DatasetOption,
    data: Optional[Path] = DataOption,
    labels: Optional[Labels] = LabelsOption,
    skip_bad_rows: Optional[bool] = SkipBadRowsOption,
    quiet: bool = QuietOption,
):
    """Prepare the data (when new or when data options are given) and train the reference model.

    Retraining removes the run's variants and reports: they described the old weights.
    """
    from rtguard.data import prepare_run_data
    from rtguard.train import train_run

    folder = RunFolder(run_dir)
    new_settings = any(option is not None for option in (config, dataset, data, labels, skip_bad_rows))
    if new_settings or not folder.config.exists():
        resolved = _resolve_config(config, dataset, data, labels, skip_bad_rows)
        folder.root.mkdir(parents=True, exist_ok=True)
        prepare_run_data(folder, resolved)
    elif not folder.splits.exists():
        prepare_run_data(folder, folder.load_config())
    record = train_run(folder, show_progress=not quiet)
    console.print(
        f"trained in {record['wall_time_s']:.1f} s ({record['epochs_run']} epochs, {record['samples_per_s']:,.0f} samples/s); "
        f"validation macro-F1 {record['validation']['macro_f1']:.4f} -> {folder.weights}"
    )


@app.command()
@user_errors
def optimize(run_dir: Path = RunArgument):
    """Export the reference to ONNX (parity-checked) and build every configured variant."""
    from rtguard.optimize import optimize_run

    folder = RunFolder(run_dir)
    folder.require(folder.weights, f"run `rtguard train {run_dir}` first")
    records = optimize_run(folder, on_variant=lambda name: console.print(f"building {name}"))
    for name, record in records.items():
        console.print(f"{name}: {record['build_seconds']:.2f} s -> {folder.variant(name)}")


@app.command()
@user_errors
def evaluate(run_dir: Path = RunArgument, quiet: bool = QuietOption):
    """Measure every variant and the PyTorch baseline on the same test split, side by side."""
    from rtguard.evaluate import evaluate_run

    folder = RunFolder(run_dir)
    folder.require(folder.weights, f"run `rtguard train {run_dir}` first")
    evaluate_run(folder, show_progress=not quiet)
    console.print(f"metrics written; `rtguard report {run_dir}` renders them")


@app.command()
@user_errors
def report(run_dir: Path = RunArgument):
    """Write report.json and report.md from the run's measurements and print the table."""
    from rtguard.report import report_run

    folder = RunFolder(run_dir)
    _show(report_run(folder), folder.root)


if __name__ == "__main__":
    app()

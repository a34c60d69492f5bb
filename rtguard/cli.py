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
    digits = "digits"


class Labels(str, Enum):
    multiclass = "multiclass"
    binary = "binary"


ConfigOption = typer.Option(None, "--config", "-c", help="TOML file with data, model, train, optimize, evaluate, runtime and signing tables (see README); unknown keys are errors.")
DatasetOption = typer.Option(None, "--dataset", "-d", help="synthetic (embedded, default), nsl-kdd (folder with KDDTrain+/KDDTest+), csv (any labelled flow CSV) or digits (scikit-learn's 8x8 images, an image stand-in for the CNN).")
DataOption = typer.Option(None, "--data", help="Path of the data: the NSL-KDD folder, or the CSV file.")
LabelsOption = typer.Option(None, "--labels", help="multiclass (attack families) or binary (benign vs attack).")
SkipBadRowsOption = typer.Option(None, "--skip-bad-rows/--fail-on-bad-rows", help="Skip CSV rows with the wrong number of fields (counted in data.json) instead of failing on the first one.")
RunArgument = typer.Argument(..., help="The run folder (as printed by `rtguard run`).")
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bars.")
PolicyOption = typer.Option(None, "--policy", "-p", help="TOML ship policy (examples in policies/; unknown keys are errors). "
                            "Default: p99 latency at batch 1 <= 100 ms, macro-F1 loss vs the reference <= 0.01.")


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
    _show_selection(report["selection"])
    console.print(f"\nrun folder: [bold]{where}[/] (report.html, report.md, report.json, selection.json)")


def _show_selection(selection: dict) -> None:
    from rich.markup import escape

    from rtguard.report.checklist import checklist_header, checklist_rows
    from rtguard.report.table import rich_grid, transpose

    grid = transpose(checklist_header(selection), checklist_rows(selection, required_only=True), "variant")
    console.print(rich_grid(*grid, title=f"policy '{selection['policy']['name']}': required checks (report.html lists all)"))
    console.print(f"[bold {'green' if selection['chosen'] else 'red'}]{escape(selection['verdict'])}[/]")


def _exit_unless_shipped(report: dict) -> None:
    """Exit status 3 when no variant passes the policy: a CI gate, told apart from usage errors (2)."""
    from rtguard.select import SELECTION_EXIT

    if report["selection"]["chosen"] is None:
        raise typer.Exit(SELECTION_EXIT)


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
    policy: Optional[Path] = PolicyOption,
):
    """The whole pipeline: data, train, optimize, evaluate, select, report.

    The run folder appears only when every stage succeeded.

    It is kept whatever the verdict; the exit status is 3 when no variant passes the policy, as for `rtguard select`.

    Examples:\n
      rtguard run\n
      rtguard run --dataset nsl-kdd --data ../shared/data/nsl-kdd --labels binary\n
      rtguard run --dataset csv --data flows.csv --config cic.toml --out runs/cic
    """
    from rtguard.pipeline import run_pipeline
    from rtguard.policy import load_policy

    resolved = _resolve_config(config, dataset, data, labels, skip_bad_rows)
    ship_policy = load_policy(policy) if policy else None  # a bad policy fails before minutes of work
    out = out or Path("runs") / f"{resolved.data.dataset}-{datetime.now():%Y%m%d-%H%M%S}"
    report = run_pipeline(resolved, out, replace=force, show_progress=not quiet,
                          say=lambda stage: console.print(f"[bold cyan]==>[/] {stage}"), policy=ship_policy)
    _show(report, out)
    _exit_unless_shipped(report)


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
        console.print(f"{name}: {record['cost']['produce_seconds']:.2f} s -> {folder.variant(name)}")
    if folder.failed_variants.exists():
        for failure in folder.read_json(folder.failed_variants)["failed"]:
            err_console.print(f"[yellow]not built[/] {failure['variant']}: {failure['error']}", highlight=False)


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
    """Write report.json, report.md and report.html (selecting under the run's policy) and print the table."""
    from rtguard.report import report_run

    folder = RunFolder(run_dir)
    _show(report_run(folder), folder.root)


@app.command()
@user_errors
def select(run_dir: Path = RunArgument, policy: Optional[Path] = PolicyOption):
    """Check every variant against a ship policy, pick the one to ship, rewrite the reports.

    Prints pass / fail / not measured per check and variant; a metric the run did not measure never passes.

    Writes selection.json and the policy (policy.toml) into the run and re-renders report.html, report.md and report.json.

    Without --policy the run's own policy.toml applies, else the default.

    Exit status: 0 a variant ships, 3 none passes (a CI gate), 2 bad input.

    Examples:\n
      rtguard select runs/synthetic-20261128-101500\n
      rtguard select runs/nightly --policy policies/microsecond.toml || echo "nothing to ship"
    """
    from rtguard.policy import load_policy
    from rtguard.report import report_run
    from rtguard.select import select_run

    folder = RunFolder(run_dir)
    report = report_run(folder, selection=select_run(folder, load_policy(policy) if policy else None))
    _show_selection(report["selection"])
    console.print(f"written: {folder.selection}, {folder.report_html}")
    _exit_unless_shipped(report)


@app.command()
@user_errors
def compare(
    before: Path = typer.Argument(..., help="The earlier run folder."),
    after: Path = typer.Argument(..., help="The later run folder (e.g. after a model update)."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON instead of tables."),
):
    """What changed between two runs: per-variant metric deltas and verdict changes.

    Reads each run's report.json; variants are matched by name.

    Examples:\n
      rtguard compare runs/before runs/after\n
      rtguard compare runs/before runs/after --json > changes.json
    """
    import json

    from rtguard.report.compare import compare_reports, metric_rows, summary, verdict_rows
    from rtguard.report.table import rich_grid

    reports = []
    for run_dir in (before, after):
        folder = RunFolder(run_dir)
        reports.append(folder.read_json(folder.require(folder.report_json, f"run `rtguard report {run_dir}` first")))
    comparison = compare_reports(*reports)
    if as_json:
        typer.echo(json.dumps(comparison, indent=2))
        return
    console.print(rich_grid(*metric_rows(comparison), title="metrics"))
    console.print(rich_grid(*verdict_rows(comparison), title="verdicts"))
    for line in summary(comparison):
        console.print(line, highlight=False)


class Curve(str, Enum):
    p256 = "p256"
    p384 = "p384"
    p521 = "p521"


@app.command()
@user_errors
def keygen(
    key: Path = typer.Argument(..., help="Private key file to create (PEM, owner-only); the public key is written to KEY.pub."),
    curve: Curve = typer.Option(Curve.p256, "--curve", help="Elliptic curve (NIST P-256, P-384 or P-521)."),
    force: bool = typer.Option(False, "--force", help="Replace existing key files."),
):
    """Create an elliptic-curve key pair for signing variants, offline (no Sigstore service).

    Keep KEY secret (it is written readable by its owner only); hand KEY.pub to whoever
    loads the models.

    Examples:\n
      rtguard keygen keys/rtguard.key\n
      rtguard keygen keys/release.key --curve p384
    """
    from rtguard.integrity import generate_keypair

    private, public = generate_keypair(key, curve.value, overwrite=force)
    console.print(f"private key: {private} (keep it secret)\npublic key:  {public}")


@app.command()
@user_errors
def sign(
    folder: Path = typer.Argument(..., help="A variant folder (RUN/variants/NAME), or a run folder to sign every variant."),
    key: Path = typer.Option(..., "--key", "-k", help="Private key from `rtguard keygen`."),
):
    """Sign a variant, or every variant of a run, with OpenSSF model signing.

    The signature covers every file of the variant folder: model.onnx, any external data,
    schema.json (copied in from the run), variant.json and metrics.json, so the measured
    claims are bound to the exact bytes they describe. It is written to NAME/model.sig,
    a path the signature leaves out. Sign after `rtguard evaluate`; `rtguard run` signs by
    itself when the signing section of its config names a key.

    Examples:\n
      rtguard sign runs/synthetic-20261128-101500/variants/int8-static --key keys/rtguard.key\n
      rtguard sign runs/synthetic-20261128-101500 --key keys/rtguard.key
    """
    from rtguard.integrity import sign_all

    for signature in sign_all(folder, key):
        console.print(f"signed {signature.parent} -> {signature}")


@app.command()
@user_errors
def verify(
    folder: Path = typer.Argument(..., help="A variant folder, or a run folder to verify every variant."),
    pub: Path = typer.Option(..., "--pub", "-p", help="Public key (KEY.pub from `rtguard keygen`)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file whose runtime section sets the limits the model is checked against (defaults otherwise)."),
):
    """Check that a variant is exactly what was signed, and that it would load for serving.

    Runs the verified load a serving process runs: a private copy of the folder, the
    signature over every file, the model checks (size, onnx.checker, operator allowlist,
    versions, external data) and a hardened session. Exit status 2 if any variant fails.

    Examples:\n
      rtguard verify runs/nightly/variants/int8-static --pub keys/rtguard.key.pub\n
      rtguard verify runs/nightly --pub keys/rtguard.key.pub --config serving.toml
    """
    from rtguard.integrity import variant_folders
    from rtguard.runtime import Trust, load_session

    settings = load_config(config).runtime
    variants = variant_folders(folder)
    failed = 0
    for variant in variants:
        try:
            with load_session(variant, Trust(pub), settings) as session:
                console.print(f"[green]verified[/] {variant}: every file matches its signature; the model passed every check "
                              f"and loads ({len(session.schema.features)} features -> {len(session.schema.classes)} classes)", highlight=False)
        except RtguardError as exc:
            failed += 1
            err_console.print(f"[bold red]FAILED[/] {exc}", highlight=False)
    if failed:
        raise RtguardError(f"{failed} of {len(variants)} variants failed verification")


VariantOption = typer.Option(None, "--variant", help="Variant to use (default: the one the run's selection.json chose).")
PubOption = typer.Option(None, "--pub", "-p", help="Public key the variant's signature must verify against (default: signing.public_key of --config).")
ServeConfigOption = typer.Option(None, "--config", "-c", help="TOML with serve, runtime and signing tables (see README); the run's own config.toml is "
                                 "not trusted for this, since whoever writes the run folder could name their own key there.")


def _override(config: RunConfig, section: str, **values) -> RunConfig:
    """Command-line options (those given) over one section of the configuration, validated again."""
    from rtguard.config import validate_config

    raw = config.model_dump(mode="json", exclude_none=True)
    raw[section].update({key: str(value) if isinstance(value, Path) else value for key, value in values.items() if value is not None})
    return validate_config(raw, source="command-line options")


def _trust(pub: Optional[Path], config: RunConfig):
    from rtguard.runtime import Trust

    return Trust(pub or config.signing.public_key, config.signing.allow_unsigned)


@app.command()
@user_errors
def serve(
    run_dir: Path = RunArgument,
    variant: Optional[str] = VariantOption,
    pub: Optional[Path] = PubOption,
    config: Optional[Path] = ServeConfigOption,
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1; others need API keys)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port to listen on (default 8000)."),
    api_keys: Optional[Path] = typer.Option(None, "--api-keys", help="File of API keys, `name:token` a line, mode 600 (or set $RTGUARD_API_KEYS)."),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="PEM certificate chain: serve HTTPS."),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    batching: Optional[bool] = typer.Option(None, "--batching/--no-batching", help="Coalesce concurrent requests into one session run (default on)."),
):
    """Serve a signed variant over the Open Inference Protocol v2 (HTTP), micro-batched and hot-reloadable.

    Endpoints: /v2, /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready, POST /v2/models/NAME/infer
    (JSON or binary tensors, as Triton defines them), POST /v2/models/NAME/score (named flow records),
    POST /v2/repository/models/NAME/load (hot reload), /metrics. NAME is serve.model_name (default rtguard).

    The variant is verified and loaded before the port opens; SIGTERM lets in-flight requests finish.

    Examples:\n
      rtguard serve runs/nightly --pub keys/rtguard.key.pub\n
      rtguard serve runs/nightly --variant int8-static --pub keys/rtguard.key.pub --port 8080 --config serving.toml
    """
    from rtguard.serve import serve as run_server

    resolved = _override(load_config(config), "serve", host=host, port=port, api_keys_file=api_keys,
                         tls_certfile=tls_cert, tls_keyfile=tls_key, batching=batching)
    run_server(run_dir, variant, resolved, _trust(pub, resolved))


export_app = typer.Typer(help="Hand a verified variant to a serving engine that scales past one machine.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("triton")
@user_errors
def export_triton(
    run_dir: Path = RunArgument,
    out: Path = typer.Option(..., "--out", "-o", help="Triton model repository to write into (created if missing)."),
    variant: Optional[str] = VariantOption,
    pub: Optional[Path] = PubOption,
    config: Optional[Path] = ServeConfigOption,
    version: Optional[int] = typer.Option(None, "--version", min=1, help="Version folder number (default: one above the highest present)."),
    instances: int = typer.Option(1, "--instances", min=1, help="Model instances per Triton server (instance_group count)."),
    force: bool = typer.Option(False, "--force", help="Replace the version folder if it exists."),
):
    """Write a Triton Inference Server model repository (ONNX Runtime backend) for a verified variant.

    OUT/NAME/config.pbtxt sets dynamic batching (serve.batch_window_ms), max batch (runtime.max_batch) and
    thread parameters; OUT/NAME/VERSION/ holds the verified variant and its signature. NAME is serve.model_name,
    so clients of `rtguard serve` talk to Triton unchanged.

    Examples:\n
      rtguard export triton runs/nightly --out model_repository --pub keys/rtguard.key.pub\n
      tritonserver --model-repository=model_repository --model-control-mode=poll
    """
    from rtguard.export import export_triton as write_repository
    from rtguard.serve.models import chosen_variant

    resolved = load_config(config)
    name = variant or chosen_variant(run_dir)
    target = write_repository(RunFolder(run_dir).variant(name), out, _trust(pub, resolved), resolved, version, instances, force)
    console.print(f"exported {name} -> {target} (config: {target.parent / 'config.pbtxt'})")


if __name__ == "__main__":
    app()

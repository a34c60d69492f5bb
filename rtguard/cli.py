"""The `rtguard` command line. Stages never import this module; it imports them."""

from __future__ import annotations

import functools
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.text import Text

from rtguard.config import RunConfig, load_config, with_data_overrides
from rtguard.errors import RtguardError
from rtguard.runfolder import RunFolder
from rtguard.terminal import error, library_log, say, stdout_console

app = typer.Typer(
    help="Build, compress, evaluate and compare ML detectors for real-time security systems.\n\n"
    "Start with `rtguard run` (embedded synthetic data, a few minutes); then inspect the run "
    "folder it prints, or rerun single stages on it with `train`, `optimize`, `evaluate`, `report`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: brackets such as [train] stay, option names are never cut
)
console = stdout_console()


class Dataset(StrEnum):
    synthetic = "synthetic"
    nsl_kdd = "nsl-kdd"
    csv = "csv"
    digits = "digits"
    zeek = "zeek"
    suricata = "suricata"
    cicflowmeter = "cicflowmeter"


class Labels(StrEnum):
    multiclass = "multiclass"
    binary = "binary"


class Task(StrEnum):
    classify = "classify"
    anomaly = "anomaly"


ConfigOption = typer.Option(None, "--config", "-c", help="TOML file with data, model, train, optimize, evaluate, runtime and signing tables "
                            "(docs/configuration.md lists every key); unknown keys are errors.")
DatasetOption = typer.Option(None, "--dataset", "-d", help="synthetic (embedded, default), nsl-kdd (folder with KDDTrain+/KDDTest+), csv (any "
                             "labelled flow CSV), zeek (a labelled conn.log, TSV or JSON, gzip or a folder of rotated logs), suricata (eve.json "
                             "flows with a label key), cicflowmeter (its CSV) or digits (scikit-learn's 8x8 images, an image stand-in for the CNN).")
DataOption = typer.Option(None, "--data", help="Path of the data: the NSL-KDD folder, or the CSV file.")
LabelsOption = typer.Option(None, "--labels", help="multiclass (attack families) or binary (benign vs attack).")
SkipBadRowsOption = typer.Option(None, "--skip-bad-rows/--fail-on-bad-rows",
                                 help="Skip CSV rows with the wrong number of fields (counted in data.json) instead of failing on the first one.")
RunArgument = typer.Argument(..., help="The run folder (as printed by `rtguard run`).")
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bars.")
PolicyOption = typer.Option(None, "--policy", "-p", help="TOML ship policy (examples in policies/; unknown keys are errors). "
                            "Default: p99 latency at batch 1 <= 100 ms, macro-F1 loss vs the reference <= 0.01.")


def user_errors(command):
    """Turn RtguardError into a one-line message and exit status 2, with no traceback; library warnings one line each."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with library_log():
                return command(*args, **kwargs)
        except RtguardError as exc:
            error(str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            say("interrupted: no partial results were kept")
            raise typer.Exit(130) from None

    return wrapper


def _resolve_config(config: Path | None | RunConfig, dataset: Dataset | None, data: Path | None, labels: Labels | None,
                    skip_bad_rows: bool | None) -> RunConfig:
    return with_data_overrides(
        config if isinstance(config, RunConfig) else load_config(config), dataset=dataset.value if dataset else None, path=str(data) if data else None,
        labels=labels.value if labels else None, skip_bad_rows=skip_bad_rows,
    )


def _show(report: dict, where: Path) -> None:
    from rtguard.report.table import rich_table

    console.print(rich_table(report["variants"], title=f"{report['dataset']['source']} — test split"))
    _show_anomaly(report)
    for note in report["findings"]:
        console.print(f"• {note}")
    _show_selection(report["selection"])
    console.print(Text.assemble("\nrun folder: ", (str(where), "bold"), " (report.html, report.md, report.json, selection.json)"))


def _stage(stage: str) -> None:
    console.print(Text.assemble(("==> ", "bold cyan"), stage))


def _show_anomaly(report: dict) -> None:
    """An anomaly run's detectors side by side and per attack class (nothing for a classifier run)."""
    from rtguard.report.anomaly import anomaly_blocks
    from rtguard.report.blocks import Bullets, Grid, Heading
    from rtguard.report.table import rich_grid

    title = None
    for block in anomaly_blocks(report):
        if isinstance(block, Heading):
            title = block.text
        elif isinstance(block, Grid):
            console.print(rich_grid(block.header, block.rows, title=title))
        elif isinstance(block, Bullets):
            for item in block.items:
                console.print(f"• {item}")


def _show_selection(selection: dict) -> None:
    from rtguard.report.checklist import checklist_header, checklist_rows
    from rtguard.report.table import rich_grid, transpose

    grid = transpose(checklist_header(selection), checklist_rows(selection, required_only=True), "variant")
    console.print(rich_grid(*grid, title=f"policy '{selection['policy']['name']}': required checks (report.html lists all)"))
    console.print(Text(selection["verdict"], style="bold green" if selection["chosen"] else "bold red"))


def _exit_unless_shipped(report: dict) -> None:
    """Exit status 3 when no variant passes the policy: a CI gate, told apart from usage errors (2)."""
    from rtguard.select import SELECTION_EXIT

    if report["selection"]["chosen"] is None:
        raise typer.Exit(SELECTION_EXIT)


@app.command()
@user_errors
def run(
    config: Path | None = ConfigOption,
    dataset: Dataset | None = DatasetOption,
    data: Path | None = DataOption,
    labels: Labels | None = LabelsOption,
    skip_bad_rows: bool | None = SkipBadRowsOption,
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder to create (default runs/<dataset>-<time>)."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
    quiet: bool = QuietOption,
    policy: Path | None = PolicyOption,
    task: Task | None = typer.Option(None, "--task", help="classify (default): a supervised classifier; anomaly: detectors "
                                        "trained on benign flows only (autoencoder, KitNET ensemble, IsolationForest), alerting at a "
                                        "calibrated false-positive rate ([task] and [anomaly] tables)."),
):
    """The whole pipeline: data, train, optimize, evaluate, select, report.

    The run folder appears only when every stage succeeded.

    It is kept whatever the verdict; the exit status is 3 when no variant passes the policy, as for `rtguard select`.

    Examples:

    \b
      rtguard run
      rtguard run --dataset nsl-kdd --data ../shared/data/nsl-kdd --labels binary
      rtguard run --dataset csv --data flows.csv --config cic.toml --out runs/cic
      rtguard run --task anomaly --dataset nsl-kdd --data ../shared/data/nsl-kdd
    """
    from rtguard.pipeline import run_pipeline
    from rtguard.policy import load_policy

    resolved = _resolve_config(load_config(config, task.value if task else None), dataset, data, labels, skip_bad_rows)
    ship_policy = load_policy(policy) if policy else None  # a bad policy fails before minutes of work
    out = out or Path("runs") / f"{resolved.data.dataset}-{datetime.now():%Y%m%d-%H%M%S}"
    report = run_pipeline(resolved, out, replace=force, show_progress=not quiet,
                          say=_stage, policy=ship_policy)
    _show(report, out)
    _exit_unless_shipped(report)


@app.command()
@user_errors
def train(
    run_dir: Path = RunArgument,
    config: Path | None = ConfigOption,
    dataset: Dataset | None = DatasetOption,
    data: Path | None = DataOption,
    labels: Labels | None = LabelsOption,
    skip_bad_rows: bool | None = SkipBadRowsOption,
    quiet: bool = QuietOption,
    nproc: int = typer.Option(1, "--nproc", min=1, help="Data-parallel processes on this machine, launched through torchrun "
                              "(gloo on CPU, nccl on GPU; rendezvous at train.distributed.address, loopback by default)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run's latest checkpoint, after checking its recorded sha256."),
    auto_speed: bool = typer.Option(False, "--auto-speed", help="Time a few steps of each precision / compile / thread setting "
                                    "first and train with the fastest that keeps quality (choice and measurements in train.json)."),
):
    """Prepare the data (when new or when data options are given) and train the reference model.

    Retraining removes the run's variants and reports: they described the old weights.

    Speed settings (precision, accumulation_steps, compile, threads, device) are in the [train] table.

    Examples:

    \b
      rtguard train runs/nightly --auto-speed
      rtguard train runs/nightly --nproc 2
      rtguard train runs/nightly --resume
    """
    from rtguard.data.stage import prepare_run_data
    from rtguard.train import train_run

    folder = RunFolder(run_dir)
    new_settings = any(option is not None for option in (config, dataset, data, labels, skip_bad_rows))
    if resume and new_settings:
        raise RtguardError("--resume continues the run as it is: it takes no data or config options")
    if new_settings or not folder.config.exists():
        resolved = _resolve_config(config, dataset, data, labels, skip_bad_rows)
        folder.root.mkdir(parents=True, exist_ok=True)
        prepare_run_data(folder, resolved)
    elif not folder.splits.exists():
        prepare_run_data(folder, folder.load_config())
    if nproc > 1:
        if auto_speed:
            raise RtguardError("--auto-speed measures one process: run it without --nproc, then set the chosen settings in [train]")
        from rtguard.train.distributed import launch

        record = launch(folder, nproc, resume=resume, show_progress=not quiet)
    else:
        record = train_run(folder, show_progress=not quiet, resume=resume, auto_speed=auto_speed)
    settings, reached = record["settings"], record.get("time_to_target", {})
    console.print(
        f"trained in {record['wall_time_s']:.1f} s ({record['epochs_run']} epochs, {record['samples_per_s']:,.0f} samples/s"
        + (f", {settings['processes']} process(es), {settings['precision']}{', compiled' if settings['compile'] else ''}" if "processes" in settings else "")
        + f"); validation macro-F1 {record['validation']['macro_f1']:.4f}"
        + (f", target {reached['target']:.4f} reached after {reached['seconds']:.1f} s" if reached.get("seconds") is not None else "")
        + f" -> {folder.weights}"
    )
    if "auto_speed" in record:
        console.print(f"auto speed chose {record['auto_speed']['chosen']}: {record['auto_speed']['reason']}")


@app.command()
@user_errors
def update(
    run_dir: Path = RunArgument,
    data: Path = typer.Option(..., "--data", help="CSV of new labelled flows: the run's feature columns and a label column "
                              "(train.update.label_column; default data.label_column for csv runs, else `label`)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder to create (default: next to RUN, RUN-update-<time>)."),
    quiet: bool = QuietOption,
):
    """Fine-tune the run's reference on new labelled traffic and rebuild, evaluate and select its variants.

    An attack family the model never saw becomes a new class. The update fails, writing nothing, when
    macro-F1 over the old classes on the old test split drops more than train.update.forgetting_tolerance.
    RUN itself is never modified; the result is a new run folder with update.json (forgetting, new-class
    recall, seconds from new data to new variants).

    Examples:

    \b
      rtguard update runs/nightly --data new-flows.csv
      rtguard update runs/nightly --data new-flows.csv --out runs/nightly-2
    """
    from rtguard.train.update import update_run

    source = RunFolder(run_dir)
    out = out or source.root.parent / f"{source.root.name}-update-{datetime.now():%Y%m%d-%H%M%S}"
    result = update_run(source, data, out, show_progress=not quiet, say=_stage)
    forgetting, seconds = result["forgetting"], result["seconds"]
    console.print(
        f"updated -> {out}: old-class macro-F1 {forgetting['macro_f1_before']:.4f} -> {forgetting['macro_f1_after']:.4f}; "
        + "".join(f"new class {name} recall {recall:.4f}; " for name, recall in result["new_class_recall"].items())
        + f"{seconds['new_data_to_variants']:.1f} s from new data to new variants ({seconds['total']:.1f} s with evaluation and report)"
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
            say(f"not built {failure['variant']}: {failure['error']}")


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
def select(
    run_dir: Path = RunArgument,
    policy: Path | None = PolicyOption,
    apply: bool = typer.Option(False, "--apply", help="Make --policy the run's own: replace policy.toml and selection.json and re-render the reports."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the decision and write nothing."),
):
    """Check every variant against a ship policy and pick the one to ship, on the selection split.

    Prints pass / fail / not measured per check and variant; a metric the run did not measure never passes.

    Without --policy the run's own policy.toml applies (else the default): selection.json and the reports are rewritten.
    With --policy the decision is written beside the run's own, as selection.NAME.json (NAME: the policy's name), so a
    later `serve` still serves what the run chose; --apply replaces the run's policy and choice instead.

    A policy whose operating point differs from the one calibrated into the variants is refused: the variants
    would have to be built again for it.

    Exit status: 0 a variant ships, 3 none passes (a CI gate), 2 bad input.

    Examples:

    \b
      rtguard select runs/synthetic-20261128-101500
      rtguard select runs/nightly --policy policies/hardened.toml --dry-run
      rtguard select runs/nightly --policy policies/hardened.toml --apply || echo "nothing to ship"
    """
    from rtguard.measurements import collect_variants
    from rtguard.policy import load_policy, run_policy
    from rtguard.report import report_run
    from rtguard.select import select as gate
    from rtguard.select import select_beside, select_run

    if apply and dry_run:
        raise RtguardError("--apply and --dry-run contradict each other: choose one")
    if apply and policy is None:
        raise RtguardError("--apply makes a --policy the run's own: name the policy file")
    folder = RunFolder(run_dir)
    chosen_policy = load_policy(policy) if policy else None
    if dry_run:
        selection = gate(collect_variants(folder), chosen_policy or run_policy(folder))
        _show_selection(selection)
        console.print("dry run: nothing written", highlight=False)
    elif policy is None or apply:
        selection = report_run(folder, selection=select_run(folder, chosen_policy))["selection"]
        _show_selection(selection)
        console.print(f"written: {folder.selection}, {folder.report_html}", highlight=False)
    else:
        selection, written = select_beside(folder, chosen_policy)
        _show_selection(selection)
        console.print(f"written: {written} (the run's own choice, {folder.selection}, is unchanged; --apply replaces it)", highlight=False)
    _exit_unless_shipped({"selection": selection})


@app.command()
@user_errors
def compare(
    before: Path = typer.Argument(..., help="The earlier run folder."),
    after: Path = typer.Argument(..., help="The later run folder (e.g. after a model update)."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON instead of tables."),
    force: bool = typer.Option(False, "--force", help="Compare runs on different data sets, labels or features anyway."),
):
    """What changed between two runs: per-variant metric deltas and verdict changes.

    Reads each run's report.json; variants are matched by name. Runs on different data sets, labels or
    features measure different things and are refused (exit status 2) unless --force is given.

    Examples:

    \b
      rtguard compare runs/before runs/after
      rtguard compare runs/before runs/after --json > changes.json
    """
    import json

    from rtguard.report.compare import compare_reports, incomparable, metric_rows, summary, verdict_rows
    from rtguard.report.table import rich_grid

    reports = []
    for run_dir in (before, after):
        folder = RunFolder(run_dir)
        reports.append(folder.read_json(folder.require(folder.report_json, f"run `rtguard report {run_dir}` first")))
    differences = incomparable(*reports)
    if differences and not force:
        raise RtguardError(f"{before} and {after} measure different things: {'; '.join(differences)} (--force compares them anyway)")
    comparison = compare_reports(*reports)
    if as_json:
        typer.echo(json.dumps(comparison, indent=2))
        return
    console.print(rich_grid(*metric_rows(comparison), title="metrics"))
    console.print(rich_grid(*verdict_rows(comparison), title="verdicts"))
    for line in summary(comparison):
        console.print(line)


@app.command()
@user_errors
def hybrid(
    classifier_run: Path = typer.Argument(..., help="A classify run folder."),
    anomaly_run: Path = typer.Argument(..., help="An anomaly run folder built from the same data."),
    target_fpr: float = typer.Option(0.01, "--target-fpr", min=0.0, max=0.5, help="False-positive budget on benign validation flows, "
                                     "given whole to each detector alone and shared by the hybrid."),
    classifier_share: float = typer.Option(0.5, "--classifier-share", min=0.0, max=1.0, help="Share of the hybrid's budget spent by the classifier."),
    classifier_variant: str = typer.Option("onnx-fp32", "--classifier-variant"),
    anomaly_variant: str = typer.Option("onnx-fp32", "--anomaly-variant"),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
):
    """Classifier + anomaly detector, alerting when either fires, vs each alone, on the attack types training never held.

    Examples:

    \b
      rtguard hybrid runs/nsl-classify runs/nsl-anomaly
      rtguard hybrid runs/nsl-classify runs/nsl-anomaly --target-fpr 0.05 --json > hybrid.json
    """
    import json

    from rtguard.evaluate.hybrid import DETECTORS, hybrid_lines, hybrid_runs
    from rtguard.report.table import rich_grid

    result = hybrid_runs(classifier_run, anomaly_run, target_fpr, classifier_share, classifier_variant, anomaly_variant)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    unseen = set(result["test_only"]["types"])
    rows = [[name, "yes" if name not in unseen else "test-only", str(counts["rows"]), *(f"{counts[d]:.3f}" for d in DETECTORS)]
            for name, counts in result["by_type"].items()]
    console.print(rich_grid(["type", "in training", "test rows", *DETECTORS], rows, title="detection per attack type"))
    for line in hybrid_lines(result):
        console.print(line)


class Curve(StrEnum):
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

    Examples:

    \b
      rtguard keygen keys/rtguard.key
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
    schema.json (copied in from the run), variant.json, metrics.json and release.json (the run's
    name, the variant's name and a release number from KEY.release, one per signing), so the
    measured claims are bound to the exact bytes they describe. It is written to NAME/model.sig,
    a path the signature leaves out. Signing a run also signs its selection.json (RUN/selection.sig),
    the decision serve, score and export follow. Sign after `rtguard select`; `rtguard run` signs by
    itself when the signing section of its config names a key. The key must be readable by its owner only.

    Examples:

    \b
      rtguard sign runs/synthetic-20261128-101500/variants/int8-static --key keys/rtguard.key
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
    config: Path | None = typer.Option(None, "--config", "-c",
                                       help="TOML file whose runtime section sets the limits the model is checked against (defaults otherwise)."),
):
    """Check that a variant is exactly what was signed, and that it would load for serving.

    Runs the verified load a serving process runs: a private copy of the folder, the
    signature over every file, the model checks (size, onnx.checker, operator allowlist,
    versions, external data) and a hardened session. Exit status 2 if any variant fails.

    Examples:

    \b
      rtguard verify runs/nightly/variants/int8-static --pub keys/rtguard.key.pub
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
                console.print(Text.assemble(("verified", "green"), f" {variant}: every file matches its signature; the model passed "
                                            f"every check and loads ({len(session.schema.features)} features -> "
                                            f"{len(session.schema.classes)} classes)"))
        except RtguardError as exc:
            failed += 1
            say(f"FAILED {exc}")
    selection_failed = False
    if variants != [Path(folder)] and (Path(folder) / "selection.json").exists():  # a run: its decision is signed too
        from rtguard.integrity import chosen_name, read_selection

        try:
            chosen = chosen_name(folder, pub) if read_selection(folder, pub).get("chosen") is not None else "nothing"
            console.print(Text.assemble(("verified", "green"), f" {Path(folder) / 'selection.json'}: signed for this run; it chooses {chosen}"))
        except RtguardError as exc:
            selection_failed = True
            say(f"FAILED {exc}")
    if failed or selection_failed:
        raise RtguardError(f"{failed} of {len(variants)} variants failed verification"
                           + ("; so did the run's selection.json" if selection_failed else ""))


VariantOption = typer.Option(None, "--variant", help="Variant to use (default: the one the run's selection.json chose).")
PubOption = typer.Option(None, "--pub", "-p", help="Public key the variant's signature must verify against (default: signing.public_key of --config).")
ServeConfigOption = typer.Option(None, "--config", "-c", help="TOML with serve, runtime and signing tables (docs/configuration.md); "
                                 "the run's own config.toml is "
                                 "not trusted for this, since whoever writes the run folder could name their own key there.")


def _override(config: RunConfig, section: str, **values) -> RunConfig:
    """Command-line options (those given) over one section of the configuration, validated again."""
    from rtguard.config import validate_config

    raw = config.model_dump(mode="json", exclude_none=True)
    raw[section].update({key: str(value) if isinstance(value, Path) else value for key, value in values.items() if value is not None})
    return validate_config(raw, source="command-line options")


def _trust(pub: Path | None, config: RunConfig):
    from rtguard.runtime import Trust

    return Trust(pub or config.signing.public_key, config.signing.allow_unsigned)


def _variant_folder(run_dir: Path, variant: str | None, trust) -> Path:
    """The variant named (a plain name), else the one the run's signed selection.json chose; never a path."""
    from rtguard.integrity import chosen_name
    from rtguard.integrity.selection import VARIANT_NAME

    if variant is not None and not VARIANT_NAME.fullmatch(variant):
        raise RtguardError(f"--variant {variant[:80]!r} must be a variant's folder name (letters, digits, _ . + -), not a path")
    folder = RunFolder(run_dir).variant(variant or chosen_name(run_dir, trust.public_key))
    if not folder.is_dir():
        raise RtguardError(f"no variant folder {folder}")
    return folder


@app.command()
@user_errors
def serve(
    run_dir: Path = RunArgument,
    variant: str | None = VariantOption,
    pub: Path | None = PubOption,
    config: Path | None = ServeConfigOption,
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1; others need API keys)."),
    port: int | None = typer.Option(None, "--port", help="Port to listen on (default 8000)."),
    api_keys: Path | None = typer.Option(None, "--api-keys", help="File of API keys, `name:token` a line, mode 600 (or set $RTGUARD_API_KEYS)."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate chain: serve HTTPS."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    batching: bool | None = typer.Option(None, "--batching/--no-batching", help="Coalesce concurrent requests into one session run (default on)."),
    backend: str | None = typer.Option(None, "--backend", help="Serve through onnxruntime or openvino (default: the backend selection.json chose "
                                          "for the variant, else onnxruntime). The signature and model checks are the same for both."),
    admin_keys: Path | None = typer.Option(None, "--admin-keys", help="File of admin keys (`name:token` a line, mode 600, or $RTGUARD_ADMIN_KEYS): "
                                              "hot reload needs one, even on loopback."),
    allow_rollback: bool = typer.Option(False, "--allow-rollback", help="Serve a release older than the highest this server has served."),
):
    """Serve a signed variant over the Open Inference Protocol v2 (HTTP), micro-batched and hot-reloadable.

    Endpoints: /v2, /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready, POST /v2/models/NAME/infer
    (JSON or binary tensors, as Triton defines them), POST /v2/models/NAME/score (named flow records),
    POST /v2/repository/models/NAME/load (hot reload: an admin key, application/json; no older release without
    allow_rollback), /metrics. NAME is serve.model_name (default rtguard).

    The variant is verified and loaded before the port opens; SIGTERM lets in-flight requests finish.

    Examples:

    \b
      rtguard serve runs/nightly --pub keys/rtguard.key.pub
      rtguard serve runs/nightly --variant int8-static --pub keys/rtguard.key.pub --port 8080 --config serving.toml
      rtguard serve runs/nightly --backend openvino --pub keys/rtguard.key.pub
    """
    from rtguard.serve import serve as run_server

    resolved = _override(load_config(config), "serve", host=host, port=port, api_keys_file=api_keys, admin_keys_file=admin_keys,
                         tls_certfile=tls_cert, tls_keyfile=tls_key, batching=batching, backend=backend)
    if resolved.serve.release_state is None and config is not None:  # rollback protection's memory, beside the config
        resolved = _override(resolved, "serve", release_state=config.with_name(f"{config.name}.releases.json"))
    run_server(run_dir, variant, resolved, _trust(pub, resolved), allow_rollback)


NOTHING_SCORED_EXIT = 4  # `rtguard score` read flows and scored none: told apart from bad input (2) and a partial stream (0)


class ScoreEngine(StrEnum):
    stream = "stream"
    spark = "spark"


class StreamFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    zeek = "zeek"
    suricata = "suricata"
    cicflowmeter = "cicflowmeter"


@app.command()
@user_errors
def score(
    run_dir: Path = RunArgument,
    source: str = typer.Argument("-", metavar="INPUT", help="File of flows (CSV with a header line, or JSON lines; .gz read decompressed), or - for stdin."),
    variant: str | None = VariantOption,
    pub: Path | None = PubOption,
    config: Path | None = ServeConfigOption,
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write the verdict lines to (default stdout)."),
    fmt: StreamFormat | None = typer.Option(None, "--format", "-f", help="Input format: csv / jsonl of the model's features, or a sensor's own log "
                                             "(zeek conn.log TSV or JSON, suricata eve.json, cicflowmeter CSV) for a model trained with --dataset of "
                                             "the same name (default: by extension .csv / .jsonl .ndjson .json, under a .gz too, and by the first line: "
                                             "a .json of eve.json's or Zeek's JSON records is that sensor's)."),
    id_field: str | None = typer.Option(None, "--id",
                                        help="Column (CSV) or key (JSON) copied into each output line as \"id\", to join verdicts back to flows."),
    alerts_only: bool = typer.Option(False, "--alerts-only", help="Write only the flows that alert."),
    batch: int = typer.Option(1024, "--batch", min=1, help="Most lines scored in one session call (capped at runtime.max_batch)."),
    wait_ms: float = typer.Option(5.0, "--wait-ms", min=0, help="How long the first line of a batch waits for more input before the batch is scored anyway."),
    max_line_bytes: int = typer.Option(65536, "--max-line-bytes", min=1, help="Longer lines are dropped unread and reported."),
    engine: ScoreEngine = typer.Option(ScoreEngine.stream, "--engine", help="stream: this process, line by line (stdin, tail -F); "
                                       "spark: a flow archive (CSV, JSON lines or Parquet, a file or folder) on a local Spark, "
                                       "verdict columns written as JSON lines into the -o folder (rtguard/spark.py for clusters)."),
):
    """Score a stream of flows with a verified variant: one JSON line per flow (alert, class, scores), flushed per batch.

    Reads CSV (the first line names the columns; other columns are ignored) or JSON lines (one object keyed by
    feature name) from a file or stdin, in micro-batches, in bounded memory; a sensor's own log (--format zeek:
    conn.log TSV or JSON; suricata: eve.json flow events; cicflowmeter: its CSV) for a model trained with --dataset
    of the same name. --engine spark scores a flow archive on a local Spark instead.

    Alerts follow `rtguard serve`'s /score rule: the variant's own operating point (its graph's alert threshold,
    else serve.alert_threshold), so a flow gets the same verdict from both. Output lines carry the input line
    number, out-of-vocabulary categorical values and, when the model gives them, attack_score or anomaly_score.

    A line that cannot be scored (wrong field count, a non-number, invalid JSON, a missing feature, a line over
    --max-line-bytes) is reported on stderr as `line N: reason` and skipped; a summary ends the stream there. NaN or
    infinity follows training's rule: imputed with the training median and flagged ("imputed": true), or, where
    training imputed none, written as a suspicious alert; clipped values are flagged too ("clipped": true).

    Exit status: 0 the stream was scored (some lines may have been skipped); 2 the input cannot be opened or read
    (its CSV header lacks a feature or is no CSV record), or the variant fails verification; 4 lines were read but
    every flow among them was skipped, none scored; 130 interrupted.

    Examples:

    \b
      rtguard score runs/nightly flows.csv --pub keys/rtguard.key.pub -o alerts.jsonl
      tail -F flows.jsonl | rtguard score runs/nightly - --variant int8-static --pub keys/rtguard.key.pub --alerts-only
      tail -F /opt/zeek/logs/current/conn.log | rtguard score runs/zeek - --format zeek --id uid --pub keys/rtguard.key.pub
      rtguard score runs/zeek /opt/zeek/logs/2024-01-01/conn.00:00:00-01:00:00.log.gz --id uid --pub keys/rtguard.key.pub
      rtguard score runs/nightly flows-2026-11/ --engine spark -o verdicts-2026-11/ --pub keys/rtguard.key.pub
    """
    from rtguard.stream import INTERRUPTED, StreamOptions, score_stream

    resolved = load_config(config)
    trust = _trust(pub, resolved)
    folder = _variant_folder(run_dir, variant, trust)
    if engine == ScoreEngine.spark:
        from rtguard.spark import score_path

        say(score_path(folder, source, str(out) if out else None, fmt.value if fmt else None, trust.public_key, trust.allow_unsigned,
                       resolved.runtime.model_dump(mode="json"), alerts_only))
        return
    options = StreamOptions(fmt.value if fmt else None, id_field, batch, wait_ms, max_line_bytes, alerts_only)
    summary = score_stream(folder, trust, resolved, source, str(out) if out else None, options)
    say(summary.line())
    if summary.stopped == INTERRUPTED:
        raise typer.Exit(130)
    if summary.scored == 0 and summary.skipped:
        error(f"no flow could be scored: all {summary.skipped} flow lines were skipped (the reasons are above)")
        raise typer.Exit(NOTHING_SCORED_EXIT)


export_app = typer.Typer(help="Hand a verified variant to a serving engine that scales past one machine.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(export_app, name="export")


@export_app.command("triton")
@user_errors
def export_triton(
    run_dir: Path = RunArgument,
    out: Path = typer.Option(..., "--out", "-o", help="Triton model repository to write into (created if missing)."),
    variant: str | None = VariantOption,
    pub: Path | None = PubOption,
    config: Path | None = ServeConfigOption,
    version: int | None = typer.Option(None, "--version", min=1, help="Version folder number (default: one above the highest present)."),
    instances: int = typer.Option(1, "--instances", min=1, help="Model instances per Triton server (instance_group count)."),
    force: bool = typer.Option(False, "--force", help="Replace the version folder if it exists."),
):
    """Write a Triton Inference Server model repository (ONNX Runtime backend) for a verified variant.

    OUT/NAME/config.pbtxt sets dynamic batching (serve.batch_window_ms), max batch (runtime.max_batch) and
    thread parameters; OUT/NAME/VERSION/ holds the verified variant and its signature. NAME is serve.model_name,
    so clients of `rtguard serve` talk to Triton unchanged.

    Examples:

    \b
      rtguard export triton runs/nightly --out model_repository --pub keys/rtguard.key.pub
      tritonserver --model-repository=model_repository --model-control-mode=poll
    """
    from rtguard.export import export_triton as write_repository

    resolved = load_config(config)
    trust = _trust(pub, resolved)
    folder = _variant_folder(run_dir, variant, trust)
    target = write_repository(folder, out, trust, resolved, version, instances, force)
    console.print(f"exported {folder.name} -> {target} (config: {target.parent / 'config.pbtxt'})")


if __name__ == "__main__":
    app()

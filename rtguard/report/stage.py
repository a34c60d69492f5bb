"""Report stage: report.json (the contract later tools read), report.md and report.html."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from rtguard.machine import machine_info
from rtguard.measurements import collect_variants
from rtguard.report.document import build_document
from rtguard.report.findings import findings, selection_findings
from rtguard.report.html import render_html
from rtguard.report.markdown import render_markdown
from rtguard.report.plots import draw_plots
from rtguard.report.security import measured, security_deltas
from rtguard.runfolder import RunFolder, write_json, write_text
from rtguard.select import select_run
from rtguard.version import __version__

VERSIONED_PACKAGES = ("torch", "onnx", "onnxruntime", "openvino", "scikit-learn", "skl2onnx", "adversarial-robustness-toolbox",
                      "torch-pruning", "numpy", "pandas", "pydantic", "matplotlib")


def report_run(run: RunFolder, name: str | None = None, selection: dict | None = None) -> dict:
    """Gather the run's measurements and selection into report.json, report.md, report.html and plots/.

    `name` is the run's final folder name when it is still being built elsewhere; without a
    `selection`, the run is selected again under its own policy (policy.toml, else the default).
    """
    config = run.load_config()
    training = run.read_json(run.train_record)
    data = run.read_json(run.data_summary)
    schema = run.read_json(run.schema)
    variants = collect_variants(run)
    failed = run.read_json(run.failed_variants)["failed"] if run.failed_variants.exists() else []
    selection = selection or select_run(run)

    dataset = {
        "name": config.data.dataset,
        "source": data["source"],
        "labels": config.data.labels,
        "classes": schema["classes"],
        "benign_class": schema["benign_class"],
        "features": len(schema["features"]),
        "feature_names": [feature["name"] for feature in schema["features"]],
        "rows": data["rows"],
        "out_of_vocabulary": data["out_of_vocabulary"],
        "non_finite_imputed": data["non_finite_imputed"],
        "loader_counts": data["loader_counts"],
    }
    report = {
        "run": name or run.root.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": dataset,
        "machine": machine_info(),
        "versions": versions(),
        "training": {k: training[k] for k in ("wall_time_s", "epochs_run", "best_epoch", "samples_per_s", "validation", "settings",
                                              "family", "tree_nodes", "fit_rows") if k in training},
        "variants": variants,
        "failed_variants": failed,
        "selection": selection,
        "robustness_deltas": security_deltas(variants, selection["reference"]) if measured(variants) else None,
        "findings": [*(f"{f['variant']} was not built: {f['error']}" for f in failed),
                     *findings(variants, training, dataset), *selection_findings(selection, variants, training)],
    }
    report["plots"] = draw_plots(report, run.plots)
    blocks = build_document(report)
    write_json(run.report_json, report)
    write_text(run.report_md, render_markdown(blocks))
    write_text(run.report_html, render_html(blocks, run.root))
    return report


def versions() -> dict:
    found = {"python": platform.python_version(), "rtguard": __version__}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found

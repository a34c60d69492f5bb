"""Report stage: report.json (the contract later tools read) and report.md."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

from rtguard import __version__
from rtguard.errors import RtguardError
from rtguard.machine import machine_info
from rtguard.report.findings import BASELINE, findings
from rtguard.report.markdown import render_markdown
from rtguard.runfolder import RunFolder, write_json, write_text

VERSIONED_PACKAGES = ("torch", "onnx", "onnxruntime", "numpy", "pandas", "pydantic")


def report_run(run: RunFolder, name: str | None = None) -> dict:
    """Gather the run's measurements into report.json and report.md; return the report.

    `name` is the run's final folder name when it is still being built elsewhere.
    """
    config = run.load_config()
    training = run.read_json(run.train_record)
    data = run.read_json(run.data_summary)
    schema = run.read_json(run.schema)
    if not run.baseline_metrics.exists():
        raise RtguardError(f"{run.root} has not been evaluated: run `rtguard evaluate {run.root}` first")
    variants = [{"name": BASELINE, "recipe": [], "metrics": run.read_json(run.baseline_metrics)}]
    for name in run.variant_names():
        folder = run.variant(name)
        recipe = run.read_json(folder / "variant.json")["recipe"]
        variants.append({"name": name, "recipe": recipe, "metrics": run.read_json(folder / "metrics.json")})

    dataset = {
        "name": config.data.dataset,
        "source": data["source"],
        "labels": config.data.labels,
        "classes": schema["classes"],
        "benign_class": schema["benign_class"],
        "features": len(schema["features"]),
        "rows": data["rows"],
        "out_of_vocabulary": data["out_of_vocabulary"],
        "non_finite_imputed": data["non_finite_imputed"],
        "loader_counts": data["loader_counts"],
    }
    report = {
        "run": name or run.root.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset,
        "machine": machine_info(),
        "versions": versions(),
        "training": {k: training[k] for k in ("wall_time_s", "epochs_run", "best_epoch", "samples_per_s", "validation", "settings")},
        "variants": variants,
        "findings": findings(variants, training, dataset),
    }
    write_json(run.report_json, report)
    write_text(run.report_md, render_markdown(report))
    return report


def versions() -> dict:
    found = {"python": platform.python_version(), "rtguard": __version__}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found

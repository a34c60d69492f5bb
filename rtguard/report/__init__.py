"""Report stage: report.json (the contract later tools read), report.md and report.html (the stage: report/stage.py)."""

from rtguard.report.stage import VERSIONED_PACKAGES, report_run, versions

__all__ = ["VERSIONED_PACKAGES", "report_run", "versions"]

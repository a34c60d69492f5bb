"""`rtguard run`: every stage in order, built in a temporary folder renamed at the end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rtguard.config import RunConfig
from rtguard.data.schema import FeatureSchema
from rtguard.data.stage import prepare_run_data
from rtguard.evaluate import evaluate_run
from rtguard.evaluate.threat_model import threat_model
from rtguard.integrity import sign_all
from rtguard.optimize import optimize_run
from rtguard.policy import Policy, dump_policy
from rtguard.report import report_run
from rtguard.runfolder import RunFolder, building, write_text
from rtguard.select import select_run
from rtguard.train import train_run


def run_pipeline(config: RunConfig, out: Path, replace: bool = False, show_progress: bool = True,
                 say: Callable[[str], None] = lambda message: None, policy: Policy | None = None) -> dict:
    """data -> train -> optimize -> evaluate -> select -> report; `out` appears only when all succeeded.

    The folder is kept whatever the verdict: report["selection"]["chosen"] is None when nothing passes.
    """
    with building(out, replace=replace) as folder:
        run = RunFolder(folder)
        say(f"data: {config.data.dataset}")
        prepare_run_data(run, config)
        policy = policy or Policy()
        write_text(run.policy, dump_policy(policy))  # optimize calibrates each variant's operating point to it
        if config.evaluate.robustness.enabled:  # a threat model the data cannot meet fails now, not after training
            threat_model(FeatureSchema.load(run.schema), config.data.dataset, config.evaluate.robustness.mutable)
        say("train")
        train_run(run, show_progress=show_progress)
        say("optimize: " + ", ".join(config.optimize.variants))
        optimize_run(run)
        say("evaluate")
        evaluate_run(run, show_progress=show_progress)
        say(f"select: policy '{policy.name}'")
        selection = select_run(run, policy)
        if config.signing.key:  # after evaluate and select: the signatures bind metrics.json and the decision too
            say(f"sign: every variant and the selection with {config.signing.key}")
            sign_all(run.root, config.signing.key, run=Path(out).name)  # built aside, renamed to `out` at the end
            selection = run.read_json(run.selection)
        say("report")
        return report_run(run, name=Path(out).name, selection=selection)

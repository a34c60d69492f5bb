"""What both evaluate stages (classifier and anomaly) check and set before they measure anything."""

from __future__ import annotations

import torch

from rtguard.compute import default_threads
from rtguard.config import RunConfig
from rtguard.data.schema import FeatureSchema
from rtguard.errors import RtguardError
from rtguard.evaluate.threat_model import ThreatModel, threat_model
from rtguard.runfolder import RunFolder


def evaluation_inputs(run: RunFolder, config: RunConfig, schema: FeatureSchema) -> tuple[list[str], int, ThreatModel | None]:
    """The built variants, the thread count (set for torch), and the threat model when robustness is measured.

    Checked before anything is measured or invalidated: a missing variant or a bad feature name
    must not cost the run its old metrics.
    """
    names = run.variant_names()
    if not names:
        raise RtguardError(f"{run.variants} holds no variants: run `rtguard optimize {run.root}` first")
    threads = default_threads(config.evaluate.threads)
    torch.set_num_threads(threads)
    robustness = config.evaluate.robustness
    threat = threat_model(schema, config.data.dataset, robustness.mutable) if robustness.enabled else None
    return names, threads, threat

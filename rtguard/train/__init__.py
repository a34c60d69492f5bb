"""Training stage: fit the reference model of a run folder."""

from __future__ import annotations

from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.threat_model import threat_model
from rtguard.models import save_weights
from rtguard.runfolder import RunFolder, write_json
from rtguard.train.loop import predict_proba, train_classifier

__all__ = ["train_run", "predict_proba"]


def train_run(run: RunFolder, show_progress: bool = True) -> dict:
    """Train on the run's splits, write model.safetensors and train.json; return the record."""
    config = run.load_config()
    schema = FeatureSchema.load(run.require(run.schema, "run the data stage (`rtguard train`) first"))
    splits = Splits.load(run.require(run.splits, "run the data stage (`rtguard train`) first"))
    threat = None
    if config.train.adversarial.method != "none":  # the attack it trains against is the one evaluate measures
        threat = threat_model(schema, config.data.dataset, config.evaluate.robustness.mutable)
    result = train_classifier(schema, splits, config.model, config.train, show_progress=show_progress, threat=threat)
    run.invalidate_after("train")
    save_weights(result.model, run.weights)
    write_json(run.train_record, result.record)
    return result.record

"""Training stage: fit the reference model of a run folder."""

from __future__ import annotations

import shutil

from rtguard.catalog import TREE_FAMILIES
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.errors import ConfigError
from rtguard.evaluate.threat_model import threat_model
from rtguard.models import save_weights
from rtguard.runfolder import RunFolder, write_json
from rtguard.train.anomaly import train_anomaly_run
from rtguard.train.auto_speed import choose_speed
from rtguard.train.checkpoints import read_manifest
from rtguard.train.loop import Shard, train_classifier
from rtguard.train.trees import train_tree_reference


def train_run(run: RunFolder, show_progress: bool = True, resume: bool = False, auto_speed: bool = False,
              shard: Shard = Shard()) -> dict:
    """Train on the run's splits, write model.safetensors and train.json; return the record.

    `resume`: continue from the run's latest verified checkpoint. `auto_speed` (or train.auto_speed.enabled):
    time the speed settings this machine offers first and train with the fastest that keeps quality.
    With several processes (`shard`), rank 0 alone writes.
    """
    config = run.load_config()
    schema = FeatureSchema.load(run.require(run.schema, "run the data stage (`rtguard train`) first"))
    splits = Splits.load(run.require(run.splits, "run the data stage (`rtguard train`) first"))
    if config.task.kind == "anomaly":  # benign rows only, its own loop (train/anomaly.py)
        return train_anomaly_run(run, schema, splits, config)
    if config.model.family in TREE_FAMILIES:  # fitted, not trained by steps (train/trees.py)
        if resume or auto_speed or config.train.auto_speed.enabled or shard.world > 1:
            raise ConfigError(f"a {config.model.family} reference is fitted in one go by its library: resuming, --auto-speed "
                              "and torchrun apply to a network reference only")
        return train_tree_reference(run, schema, splits, config)
    speed_choice = None
    if auto_speed or config.train.auto_speed.enabled:
        config.train, speed_choice = choose_speed(schema, splits, config.model, config.train, shard)
    if not resume and shard.writes and run.checkpoints.exists():
        shutil.rmtree(run.checkpoints)  # they belong to the training this one replaces
    threat = None
    if config.train.adversarial.method != "none":  # the attack it trains against is the one evaluate measures
        threat = threat_model(schema, config.data.dataset, config.evaluate.robustness.mutable)
    result = train_classifier(schema, splits, config.model, config.train, show_progress=show_progress, threat=threat, shard=shard,
                              checkpoints=run.checkpoints if config.train.checkpoints else None, resume=resume)
    if speed_choice is not None:
        result.record["auto_speed"] = speed_choice
    if shard.writes:
        if config.train.checkpoints:
            result.record["checkpoints"] = read_manifest(run.checkpoints)["written"]
        run.invalidate_after("train")
        save_weights(result.model, run.weights)
        write_json(run.train_record, result.record)
    return result.record

"""Training stage: fit the reference model of a run folder (the stage: train/stage.py)."""

from rtguard.train.loop import predict_proba
from rtguard.train.stage import train_run

__all__ = ["train_run", "predict_proba"]

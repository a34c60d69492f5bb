"""Evaluate stage: every variant and the PyTorch baseline, same splits, same process (the stage: evaluate/stage.py).

Importing the package imports torch (the reference runs on it); the serving path never imports it.
"""

from rtguard.evaluate.inputs import evaluation_inputs
from rtguard.evaluate.stage import evaluate_run

__all__ = ["evaluate_run", "evaluation_inputs"]

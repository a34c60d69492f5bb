"""Model factories and weight files (safetensors only: a weight file must not run code; they live in models/factory.py)."""

from rtguard.models.cnn import ResidualCNN
from rtguard.models.factory import build_model, load_model, parameter_counts, save_weights
from rtguard.models.mlp import FlowClassifier, WithProbabilities

__all__ = ["FlowClassifier", "ResidualCNN", "WithProbabilities", "build_model", "save_weights", "load_model", "parameter_counts"]

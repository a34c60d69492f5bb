"""Model factories and weight files (safetensors only: a weight file must not run code)."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from rtguard.config import ModelConfig
from rtguard.data.schema import FeatureSchema
from rtguard.errors import RtguardError
from rtguard.models.cnn import ResidualCNN
from rtguard.models.mlp import FlowClassifier


def build_model(schema: FeatureSchema, config: ModelConfig) -> nn.Module:
    """Raw feature rows in, logits out; both families hold `preprocess` and `body`."""
    if config.family == "cnn":
        return ResidualCNN(schema, config)
    return FlowClassifier(schema, config)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Learned parameters, and how many are non-zero (unstructured pruning zeroes without removing)."""
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "nonzero_params": sum(int(p.count_nonzero()) for p in model.parameters()),
    }


def save_weights(model: nn.Module, path: Path) -> None:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def load_model(schema: FeatureSchema, config: ModelConfig, path: Path) -> nn.Module:
    """Rebuild the architecture from schema + config and load weights in eval mode."""
    model = build_model(schema, config)
    try:
        model.load_state_dict(load_file(str(path)))
    except FileNotFoundError:
        raise RtguardError(f"no weights at {path}: run `rtguard train` first") from None
    except (RuntimeError, OSError, ValueError) as exc:
        raise RtguardError(f"cannot load weights from {path}: {exc}") from None
    return model.eval()

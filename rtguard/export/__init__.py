"""Hand-off to engines that scale past one machine: today, a Triton Inference Server model repository."""

from rtguard.export.triton import export_triton, model_config

__all__ = ["export_triton", "model_config"]

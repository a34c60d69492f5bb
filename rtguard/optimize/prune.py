"""Pruning: whole neurons/channels removed (structured), or single weights zeroed (unstructured)."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from rtguard.config import PruningConfig
from rtguard.errors import RtguardError
from rtguard.optimize.passes import ModelPass, PassContext, training_summary
from rtguard.train.anomaly import fine_tune_detector
from rtguard.train.loop import cross_entropy, fit

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


class FineTuning(PruningConfig, ModelPass):
    """What fine-tuning after pruning minimizes: the reference's own objective (the anomaly recipes set reconstruction)."""

    objective: Literal["cross-entropy", "reconstruction"] = Field(
        "cross-entropy", description="cross-entropy: the classifier's training loop and loss; reconstruction: an anomaly "
        "detector's reconstruction error on benign training rows (rtguard/train/anomaly.py).")
    benign_rows: int | None = Field(None, ge=1, description="reconstruction: benign training rows used at most (anomaly.max_train_rows), "
                                    "the subset the detector was trained on; None uses all.")


class StructuredPruning(FineTuning):
    """Torch-Pruning's DependencyGraph removes the least important (L2) neurons/channels, then fine-tunes.

    The graph couples what must shrink together (a layer's outputs and the next
    layer's inputs; a convolution, its batch norm and both sides of a residual add),
    so the smaller model stays consistent and dense kernels get smaller matrices.
    """

    name: ClassVar[str] = "prune-structured"
    ratio: float = Field(gt=0, lt=1, description="Share of every layer's neurons/channels removed (the output layer is kept).")
    round_to: int | None = Field(None, ge=2, description="Round kept widths to the nearest multiple of this (CPU kernels like 8 or 16).")

    def run(self, model: nn.Module, context: PassContext) -> tuple[nn.Module, dict]:
        import torch_pruning as tp

        names = {module: name for name, module in model.named_modules()}
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.from_numpy(context.splits.x_train[:8]))
        # Never pruned: a classifier's logits, or an autoencoder's reconstruction (as wide as its input).
        head = [m for m in model.body.modules() if isinstance(m, nn.Linear)][-1]

        def groups():
            return graph.get_all_groups(ignored_layers=[head], root_module_types=list(PRUNABLE))

        widths = {}
        for group in groups():  # plan every layer first: nothing is pruned if one layer would vanish
            root = group[0].dep.target.module
            widths[names[root]] = [graph.get_out_channels(root), self._kept(graph.get_out_channels(root), names[root])]
        importance = tp.importance.GroupMagnitudeImportance(p=2)
        for group in groups():
            before, after = widths[names[group[0].dep.target.module]]
            if after < before:
                group.prune(idxs=torch.argsort(importance(group))[: before - after].tolist())
        return model, {"widths": widths, "round_to": self.round_to, **_fine_tune(model, context, self)}

    def _kept(self, width: int, layer: str) -> int:
        kept = int(width * (1 - self.ratio))  # floor, as Torch-Pruning's own pruners do
        if kept < 1:
            raise RtguardError(f"pruning ratio {self.ratio:.0%} would delete layer {layer} (width {width} keeps 0): "
                               "lower the percentage in the variant name")
        if self.round_to:
            kept = min(width, max(self.round_to, round(kept / self.round_to) * self.round_to))
        return kept


class UnstructuredPruning(FineTuning):
    """torch.nn.utils.prune: the smallest-magnitude weights of every layer zeroed, fine-tuned under the mask, made permanent.

    For contrast: the zeros stay in dense tensors, so the ONNX file and ORT's dense
    kernels do the same work as before.
    """

    name: ClassVar[str] = "prune-unstructured"
    ratio: float = Field(gt=0, lt=1, description="Share of every layer's weights set to zero (L1 magnitude, per layer).")

    def run(self, model: nn.Module, context: PassContext) -> tuple[nn.Module, dict]:
        from torch.nn.utils import prune

        layers = [(name, m) for name, m in model.named_modules() if isinstance(m, PRUNABLE)]
        for name, layer in layers:
            if round(self.ratio * layer.weight.numel()) >= layer.weight.numel():
                raise RtguardError(f"pruning ratio {self.ratio:.0%} would zero every weight of layer {name}: "
                                   "lower the percentage in the variant name")
        for _, layer in layers:
            prune.l1_unstructured(layer, "weight", amount=self.ratio)
        tuned = _fine_tune(model, context, self)
        for _, layer in layers:
            prune.remove(layer, "weight")
        zeros = sum(int((layer.weight == 0).sum()) for _, layer in layers)
        total = sum(layer.weight.numel() for _, layer in layers)
        return model, {
            "zeroed_weights": zeros, "weights": total, **tuned,
            "note": f"{zeros / total:.0%} of the weights are zero, but stored densely: ONNX keeps every zero and ORT's "
                    "dense kernels multiply them, so file size and speed stay those of the unpruned model",
        }


def _fine_tune(model: nn.Module, context: PassContext, settings: FineTuning) -> dict:
    """Recover what pruning cost with the reference's own loss: a classifier's cross-entropy, or a detector's reconstruction error."""
    torch.manual_seed(context.train_config.seed)
    if settings.objective == "reconstruction":
        return fine_tune_detector(model, context.splits, context.train_config, settings.benign_rows,
                                  epochs=settings.finetune_epochs, learning_rate=settings.learning_rate)
    objective = cross_entropy(context.splits.y_train, len(context.schema.classes), context.train_config.class_weighting)
    record = fit(model, context.schema, context.splits, context.train_config, objective,
                 epochs=settings.finetune_epochs, learning_rate=settings.learning_rate)
    return training_summary(record)

"""Quantization-aware training as a pass: fake-quantized fine-tuning, exported as QDQ INT8."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from rtguard.config import QatConfig
from rtguard.optimize.passes import ModelPass, PassContext, training_summary
from rtguard.optimize.quantize import int8_settings
from rtguard.train.loop import cross_entropy, fit
from rtguard.train.qat import freeze, prepare_qat


class QuantizationAwareTraining(QatConfig, ModelPass):
    """torch.ao FX fake quantization on the model body (rtguard.train.qat), fine-tuned with the
    reference's loss, then frozen to QuantizeLinear/DequantizeLinear pairs that ORT fuses into integer kernels."""

    name: ClassVar[str] = "qat"

    def run(self, model: nn.Module, context: PassContext) -> tuple[nn.Module, dict]:
        settings = int8_settings(context.machine)
        torch.manual_seed(context.train_config.seed)
        observed = prepare_qat(model, torch.from_numpy(context.splits.x_train[:64]), reduce_range=settings["reduce_range"])
        objective = cross_entropy(context.splits.y_train, len(context.schema.classes), context.train_config.class_weighting)
        record = fit(observed, context.schema, context.splits, context.train_config, objective,
                     epochs=self.epochs, learning_rate=self.learning_rate)
        return freeze(observed), {
            "activations": "uint8 per-tensor" + (", 7-bit" if settings["reduce_range"] else ""),
            "weights": "int8 per-channel symmetric", "batch_norm": "folded before training",
            "reason": "uint8 activations with int8 weights (U8S8), the pairing ORT's integer kernels fuse"
                      + ("; 7-bit activations: without VNNI, U8S8 kernels may saturate" if settings["reduce_range"] else ""),
            **training_summary(record),
        }

    def export_tolerance(self, fp32_tolerance: float) -> float:
        return self.parity_tolerance

    def export_outliers(self) -> float:
        return self.parity_outliers

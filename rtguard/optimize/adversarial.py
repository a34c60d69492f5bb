"""Adversarial fine-tuning as a pass: the reference, hardened against the evasion evaluate measures."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from rtguard.config import AdversarialFinetuneConfig
from rtguard.optimize.passes import ModelPass, PassContext, training_summary
from rtguard.train.adversarial import adversarial_objective
from rtguard.train.loop import cross_entropy, fit


class AdversarialFineTuning(AdversarialFinetuneConfig, ModelPass):
    """Fine-tunes a copy of the reference on clean batches plus their attack flows perturbed toward
    benign (rtguard.train.adversarial), so the report can set its robustness, speed and quality
    beside the reference's and the compressed variants'."""

    name: ClassVar[str] = "adversarial-finetuning"

    def run(self, model: nn.Module, context: PassContext) -> tuple[nn.Module, dict]:
        threat, splits, schema = context.threat(), context.splits, context.schema
        torch.manual_seed(context.train_config.seed)
        clean = cross_entropy(splits.y_train, len(schema.classes), context.train_config.class_weighting)
        objective = adversarial_objective(model, clean, splits.x_train, splits.y_train, threat, self, schema.benign_index)
        record = fit(model, schema, splits, context.train_config, objective, epochs=self.epochs, learning_rate=self.learning_rate)
        return model, {"method": self.method, "epsilon": self.epsilon, "mutable": threat.mutable_names,
                       "threat_model": threat.source, **training_summary(record)}

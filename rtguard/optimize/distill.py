"""Distillation as a pass: the reference teaches a smaller student of its own family."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from rtguard.config import DistillationConfig
from rtguard.errors import RtguardError
from rtguard.models import build_model, parameter_counts
from rtguard.optimize.passes import ModelPass, PassContext, training_summary
from rtguard.train.distill import distill


class Distillation(DistillationConfig, ModelPass):
    """A student built from `student_hidden` (mlp) or `student_channels` (cnn), trained on
    alpha * CE + (1 - alpha) * T^2 * KL against the teacher (rtguard.train.distill)."""

    name: ClassVar[str] = "distillation"

    def run(self, model: nn.Module, context: PassContext) -> tuple[nn.Module, dict]:
        family = context.model_config.family
        setting, widths = ("student_channels", self.student_channels) if family == "cnn" else ("student_hidden", self.student_hidden)
        torch.manual_seed(context.train_config.seed)
        student = build_model(context.schema, context.model_config.model_copy(update={"hidden": self.student_hidden, "channels": self.student_channels}))
        teacher_params, student_params = parameter_counts(model)["params"], parameter_counts(student)["params"]
        if student_params > teacher_params:
            raise RtguardError(f"optimize.distillation.{setting} = {widths} makes a student of {student_params:,} parameters, "
                               f"larger than its teacher ({teacher_params:,}): a student must be smaller")
        record = distill(model, student, context.schema, context.splits, context.train_config, self)
        return student, {"family": family, setting: widths, "teacher_params": teacher_params, "student_params": student_params,
                         **training_summary(record)}

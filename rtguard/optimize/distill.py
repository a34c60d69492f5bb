"""Distillation as a pass: the reference teaches a smaller student of its own family, or a tree model teaches an MLP.

Across families (distilled-gbdt): a LightGBM teacher, fitted on the reference's preprocessed
training rows, hands its class probabilities (as log-probabilities, softmax's inverse) to a
small MLP student, which then exports, quantizes and is attacked like any network.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from rtguard.config import DistillationConfig, TreeModelConfig
from rtguard.errors import RtguardError
from rtguard.models import build_model, parameter_counts
from rtguard.models.preprocessing import preprocessed_rows
from rtguard.optimize.passes import ModelPass, PassContext, training_summary
from rtguard.train.distill import distill, distill_from_logits


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


class TreeTeacherDistillation(DistillationConfig, ModelPass):
    """A LightGBM teacher (`teacher_trees`) fitted on the preprocessed training rows; an MLP student of
    `student_hidden` learns its probabilities (alpha * CE + (1 - alpha) * T^2 * KL, as Distillation)."""

    name: ClassVar[str] = "tree-teacher-distillation"
    teacher_trees: TreeModelConfig

    def run(self, model: nn.Module, context: PassContext) -> tuple[nn.Module, dict]:
        from rtguard.models.trees import fit_tree_model, tree_nodes

        splits, n_classes = context.splits, len(context.schema.classes)
        points = preprocessed_rows(context.schema, splits.x_train)  # `model` is None for a tree reference
        seed = context.train_config.seed
        teacher = fit_tree_model("gbdt", self.teacher_trees, points, splits.y_train, seed, context.train_config.threads or 1)
        probabilities = np.full((len(points), n_classes), 1e-7, dtype=np.float32)
        probabilities[:, teacher.classes_] = np.maximum(teacher.predict_proba(points), 1e-7)
        torch.manual_seed(seed)
        student = build_model(context.schema, context.model_config.model_copy(update={"family": "mlp", "hidden": self.student_hidden}))
        record = distill_from_logits(torch.log(torch.from_numpy(probabilities)), student, context.schema, splits,
                                     context.train_config, self)
        teacher_accuracy = float((probabilities.argmax(1) == splits.y_train).mean())
        return student, {"teacher": "gbdt", "teacher_tree_nodes": tree_nodes(teacher), "teacher_train_accuracy": teacher_accuracy,
                         "student_hidden": self.student_hidden, "student_params": parameter_counts(student)["params"],
                         **training_summary(record)}

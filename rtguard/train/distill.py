"""Knowledge distillation: a smaller student learns from the reference model, its teacher.

loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T)).
T softens both distributions, so the student also learns how the teacher ranks the
wrong classes (a look-alike flow is "almost dos"); T^2 keeps the soft term's gradients
at the scale of the hard one (Hinton et al., 2015).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rtguard.config import DistillationConfig, TrainConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.train.loop import cross_entropy, fit, predict_logits
from rtguard.train.objective import Objective


def distillation_objective(teacher_logits: torch.Tensor, labels: np.ndarray, n_classes: int, weighting: str,
                           temperature: float, alpha: float) -> Objective:
    hard = cross_entropy(labels, n_classes, weighting)
    soft_targets = torch.softmax(teacher_logits / temperature, dim=1)

    def objective(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), soft_targets[rows].to(logits.device), reduction="batchmean")
        return alpha * hard(logits, rows) + (1 - alpha) * temperature**2 * soft

    return objective


def distill(teacher: nn.Module, student: nn.Module, schema: FeatureSchema, splits: Splits,
            config: TrainConfig, settings: DistillationConfig) -> dict:
    """Train `student` in place against the teacher's logits on the training split; return the record."""
    return distill_from_logits(predict_logits(teacher, splits.x_train), student, schema, splits, config, settings)


def distill_from_logits(teacher_logits: torch.Tensor, student: nn.Module, schema: FeatureSchema, splits: Splits,
                        config: TrainConfig, settings: DistillationConfig) -> dict:
    """Train `student` in place against given teacher logits (one row per training row): any family can teach."""
    objective = distillation_objective(teacher_logits, splits.y_train, len(schema.classes), config.class_weighting,
                                       settings.temperature, settings.alpha)
    return fit(student, schema, splits, config, objective, epochs=settings.epochs, learning_rate=settings.learning_rate)

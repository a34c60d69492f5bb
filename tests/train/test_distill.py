import pytest
import torch

from rtguard.config import DistillationConfig, ModelConfig
from rtguard.errors import RtguardError
from rtguard.models import build_model
from rtguard.optimize.distill import Distillation
from rtguard.train.distill import distill, distillation_objective
from rtguard.train.loop import predict_logits


def _loss(student, teacher, context, settings) -> float:
    splits = context.splits
    objective = distillation_objective(predict_logits(teacher, splits.x_train), splits.y_train, len(context.schema.classes),
                                       "sqrt", settings.temperature, settings.alpha)
    return float(objective(predict_logits(student, splits.x_train), torch.arange(len(splits.x_train))))


def test_distillation_lowers_the_students_loss(tiny_context):
    settings = DistillationConfig(epochs=3, temperature=4.0, alpha=0.3)
    torch.manual_seed(0)
    student = build_model(tiny_context.schema, ModelConfig(hidden=[8]))
    before = _loss(student, tiny_context.reference, tiny_context, settings)
    record = distill(tiny_context.reference, student, tiny_context.schema, tiny_context.splits, tiny_context.train_config, settings)
    assert _loss(student, tiny_context.reference, tiny_context, settings) < before
    assert record["epochs_run"] >= 1 and record["validation"]["macro_f1"] > 0


def test_a_student_larger_than_its_teacher_is_an_error(tiny_context):
    with pytest.raises(RtguardError, match=r"optimize\.distillation\.student_hidden = \[64, 64\].*larger than its teacher"):
        Distillation(student_hidden=[64, 64]).run(tiny_context.reference, tiny_context)


def test_the_distilled_student_is_smaller(tiny_context):
    student, chosen = Distillation(student_hidden=[8], epochs=1).run(tiny_context.reference, tiny_context)
    assert chosen["student_params"] < chosen["teacher_params"]
    assert [layer.out_features for layer in student.body if isinstance(layer, torch.nn.Linear)][:-1] == [8]

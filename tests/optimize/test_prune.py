import copy

import numpy as np
import onnxruntime as ort
import pytest
import torch

from rtguard.config import ModelConfig
from rtguard.errors import RtguardError
from rtguard.models import build_model, parameter_counts
from rtguard.optimize.prune import StructuredPruning, UnstructuredPruning
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME


def _model(context, **model):
    return build_model(context.schema, ModelConfig(**model))


def test_structured_pruning_shrinks_the_model_and_keeps_its_outputs(tiny_context):
    model = _model(tiny_context, hidden=[32, 16])
    before = parameter_counts(model)["params"]
    pruned, chosen = StructuredPruning(ratio=0.5, finetune_epochs=1).run(model, tiny_context)
    assert chosen["widths"] == {"body.0": [32, 16], "body.3": [16, 8]}
    assert parameter_counts(pruned)["params"] < before
    rows = torch.from_numpy(tiny_context.splits.x_test[:7])
    assert pruned(rows).shape == (7, len(tiny_context.schema.classes))


def test_rounding_keeps_widths_on_multiples_of_8(tiny_context):
    _, chosen = StructuredPruning(ratio=0.3, round_to=8, finetune_epochs=1).run(_model(tiny_context, hidden=[48, 20]), tiny_context)
    assert chosen["widths"] == {"body.0": [48, 32], "body.3": [20, 16]}  # 33 -> 32, 14 -> 16: the nearest multiple


def test_a_ratio_that_would_delete_a_layer_is_an_error_and_prunes_nothing(tiny_context):
    model = _model(tiny_context, hidden=[64, 4])
    with pytest.raises(RtguardError, match=r"ratio 80% would delete layer body\.3 \(width 4 keeps 0\)"):
        StructuredPruning(ratio=0.8, finetune_epochs=1).run(model, tiny_context)
    assert model.body[0].out_features == 64


def test_structured_pruning_keeps_residual_cnn_consistent(tiny_context):
    model = _model(tiny_context, family="cnn", channels=[8, 16])
    pruned, chosen = StructuredPruning(ratio=0.5, finetune_epochs=1).run(model, tiny_context)
    block = pruned.body.stages[1]
    assert block.conv2.out_channels == block.shortcut[0].out_channels == block.bn2.num_features == 8
    assert pruned(torch.from_numpy(tiny_context.splits.x_test[:3])).shape == (3, len(tiny_context.schema.classes))


def test_unstructured_pruning_zeroes_weights_without_removing_them(tiny_context):
    model = copy.deepcopy(tiny_context.reference)
    pruned, chosen = UnstructuredPruning(ratio=0.5, finetune_epochs=1).run(model, tiny_context)
    counts = parameter_counts(pruned)
    assert counts["params"] == parameter_counts(tiny_context.reference)["params"]
    assert chosen["zeroed_weights"] == pytest.approx(chosen["weights"] / 2, abs=2)
    assert counts["nonzero_params"] < counts["params"] and "stored densely" in chosen["note"]
    assert not any(name.endswith("_orig") for name, _ in pruned.named_parameters())  # made permanent


def test_pruned_variant_exports_and_runs_in_onnx_runtime(build, tiny_context):
    record, path = build("pruned-50", pruning={"finetune_epochs": 1})
    assert record["params"] < parameter_counts(tiny_context.reference)["params"]
    pruning = record["recipe"][0]
    assert pruning["config"]["objective"] == "cross-entropy" and "validation_macro_f1" in pruning["chosen"]  # the classifier's loop
    assert record["cost"]["train_seconds"] > 0 and record["cost"]["produce_seconds"] > record["cost"]["train_seconds"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rows = np.ascontiguousarray(tiny_context.splits.x_test[:5])
    assert session.run([OUTPUT_NAME], {INPUT_NAME: rows})[0].shape == (5, len(tiny_context.schema.classes))


def test_unstructured_pruning_shrinks_neither_the_file_nor_the_dense_kernels(build, reference_export):
    record, path = build("pruned-50-unstructured", pruning={"finetune_epochs": 1})
    assert record["nonzero_params"] < record["params"]
    assert abs(path.stat().st_size - reference_export.path.stat().st_size) < 512
    assert record["kernels"]["precision"] == {"float32": 2} and record["notes"]

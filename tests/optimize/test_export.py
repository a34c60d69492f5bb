import json

import numpy as np
import onnx
import pytest

from rtguard.artifact import ALERT, ATTACK_SCORE
from rtguard.config import ModelConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.errors import ParityError
from rtguard.models import build_model, load_model
from rtguard.optimize.export import check_parity, export_onnx
from rtguard.optimize.quantize import int8_settings
from rtguard.runfolder import RunFolder
from rtguard.runtime.session import INPUT_NAME, OUTPUT_NAME


def test_every_variant_records_parity_and_has_a_dynamic_batch_axis(tiny_run):
    run = RunFolder(tiny_run[0])
    for name in ("onnx-fp32", "int8-dynamic", "int8-static"):
        record = json.loads((run.variant(name) / "variant.json").read_text())
        assert record["source"]["parity"]["max_abs_diff"] <= record["source"]["parity"]["tolerance"]
        graph = onnx.load(run.variant(name) / "model.onnx").graph
        assert [i.name for i in graph.input] == [INPUT_NAME] and [o.name for o in graph.output] == [OUTPUT_NAME, ATTACK_SCORE, ALERT]
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not a fixed batch


def test_quantized_variants_hold_integer_ops(tiny_run):
    run = RunFolder(tiny_run[0])
    static_ops = {n.op_type for n in onnx.load(run.variant("int8-static") / "model.onnx").graph.node}
    dynamic_ops = {n.op_type for n in onnx.load(run.variant("int8-dynamic") / "model.onnx").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= static_ops
    assert "DynamicQuantizeLinear" in dynamic_ops or "MatMulInteger" in dynamic_ops


def test_parity_check_fails_loudly_on_a_different_model(tiny_run, tmp_path):
    run = RunFolder(tiny_run[0])
    config = run.load_config()
    schema = FeatureSchema.load(run.schema)
    splits = Splits.load(run.splits)
    trained = load_model(schema, config.model, run.weights)
    export_onnx(trained, len(schema.features), tmp_path / "m.onnx", opset=20)
    assert check_parity(trained, tmp_path / "m.onnx", splits.x_test, 1e-4)["agreement"] == 1.0
    untrained = build_model(schema, ModelConfig(hidden=config.model.hidden)).eval()
    with pytest.raises(ParityError, match="differs from PyTorch"):
        check_parity(untrained, tmp_path / "m.onnx", splits.x_test, 1e-4)


def test_a_quantized_export_may_round_a_few_boundary_rows_differently_never_more(tiny_run, tmp_path, monkeypatch):
    import rtguard.optimize.export as export

    run = RunFolder(tiny_run[0])
    schema, splits = FeatureSchema.load(run.schema), Splits.load(run.splits)
    trained = load_model(schema, run.load_config().model, run.weights)
    export_onnx(trained, len(schema.features), tmp_path / "m.onnx", opset=20)
    rows = splits.x_selection[:500]  # a few hundred on the tiny data
    exact = export.predict_proba(trained, rows)

    def one_row_off(model, features):  # the PyTorch side, with one row on the other side of a rounding boundary
        shifted = exact.copy()
        shifted[7] = shifted[7][::-1]
        return shifted

    monkeypatch.setattr(export, "predict_proba", one_row_off)
    with pytest.raises(ParityError, match=f"1 of {len(rows)} selection rows beyond tolerance 0.1"):
        check_parity(trained, tmp_path / "m.onnx", rows, 0.1)
    allowed = check_parity(trained, tmp_path / "m.onnx", rows, 0.1, outlier_share=0.01)
    assert allowed["rows_beyond_tolerance"] == 1 and allowed["max_abs_diff"] > 0.1
    with pytest.raises(ParityError, match=r"at most 0.10% of rows may"):
        check_parity(trained, tmp_path / "m.onnx", rows, 0.1, outlier_share=0.001)
    exact[3] = np.nan  # a NaN is never within tolerance
    monkeypatch.setattr(export, "predict_proba", lambda model, features: exact)
    with pytest.raises(ParityError, match=f"1 of {len(rows)} "):
        check_parity(trained, tmp_path / "m.onnx", rows, 0.1)


@pytest.mark.parametrize(
    "machine, per_channel, reduce_range",
    [
        ({"vnni": True, "arch": "x86_64"}, True, False),
        ({"vnni": False, "arch": "x86_64"}, False, True),
        ({"vnni": False, "arch": "aarch64"}, True, False),
    ],
)
def test_int8_settings_follow_the_cpu(machine, per_channel, reduce_range):
    chosen = int8_settings(machine)
    assert (chosen["per_channel"], chosen["reduce_range"]) == (per_channel, reduce_range)
    assert chosen["reason"]


def test_artifacts_carry_no_stack_traces_of_the_build_machine(tiny_run):
    run = RunFolder(tiny_run[0])
    for name in run.variant_names():
        raw = (run.variant(name) / "model.onnx").read_bytes()
        assert b"stack_trace" not in raw and b"rtguard/models" not in raw, name

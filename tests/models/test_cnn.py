import onnx
import pytest
import torch

from rtguard.config import validate_config
from rtguard.data.prepare import prepare
from rtguard.data.stage import load_frames
from rtguard.errors import ConfigError
from rtguard.models import build_model
from rtguard.optimize.export import check_parity, export_onnx
from rtguard.train.loop import train_classifier


def test_the_digits_image_scenario_trains_and_exports(tmp_path):
    config = validate_config({"data": {"dataset": "digits"}, "model": {"family": "cnn", "cnn_input": "image", "channels": [8, 16]},
                              "train": {"epochs": 2, "batch_size": 128}})
    schema, splits, summary = prepare(load_frames(config.data), config.data)
    assert len(schema.features) == 64 and schema.classes == [str(d) for d in range(10)] and summary.rows["test"] > 400
    result = train_classifier(schema, splits, config.model, config.train, show_progress=False)
    assert result.record["validation"]["accuracy"] > 0.5  # ten classes: chance is 0.1
    export_onnx(result.model, 64, tmp_path / "cnn.onnx", opset=20)
    assert check_parity(result.model, tmp_path / "cnn.onnx", splits.x_test, 1e-4)["agreement"] == 1.0
    convolutions = [n for n in onnx.load(tmp_path / "cnn.onnx").graph.node if n.op_type == "Conv"]
    assert convolutions and all(len(a.ints) == 2 for n in convolutions for a in n.attribute if a.name == "kernel_shape")


def test_flows_enter_the_cnn_as_a_sequence(tiny_context):
    model = build_model(tiny_context.schema, tiny_context.model_config.model_copy(update={"family": "cnn", "channels": [4, 8]}))
    assert isinstance(model.body.stem[0], torch.nn.Conv1d)
    assert model(torch.from_numpy(tiny_context.splits.x_test[:3])).shape == (3, len(tiny_context.schema.classes))


def test_image_input_needs_a_square_number_of_features(tiny_context):
    with pytest.raises(ConfigError, match="square number"):
        build_model(tiny_context.schema, tiny_context.model_config.model_copy(update={"family": "cnn", "cnn_input": "image"}))

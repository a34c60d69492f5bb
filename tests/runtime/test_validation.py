"""Every bad model file is refused before ONNX Runtime parses it, with an error that says why."""

from __future__ import annotations

import os

import numpy as np
import pytest
from artifacts import contract_model, linear_model, save_external, write_variant
from onnx import TensorProto, helper, numpy_helper

from rtguard.config import RuntimeConfig
from rtguard.integrity import UnsafeFileError
from rtguard.runtime import ModelRejected, create_session

SETTINGS = RuntimeConfig(threads=1)


def test_a_valid_model_with_external_data_inside_its_folder_loads(tmp_path, rows):
    save_external(linear_model(), tmp_path, "weights.bin")
    session = create_session(tmp_path / "model.onnx", SETTINGS)
    assert session.run(None, {"features": rows})[0].shape == (3, 2)


@pytest.mark.parametrize("location, message", [
    ("../weights.bin", "climbs out of the model's folder with '..'"),
    ("sub/../../weights.bin", "climbs out of the model's folder with '..'"),
    ("/etc/passwd", "is an absolute path"),
    ("C:\\Windows\\win.ini", "is an absolute path"),
])
def test_external_data_outside_the_folder_is_refused(tmp_path, location, message):
    folder = tmp_path / "variant"
    folder.mkdir()
    save_external(linear_model(), folder, location)
    (tmp_path / "weights.bin").write_bytes((folder / "weights.bin").read_bytes())
    with pytest.raises(ModelRejected, match=message):
        create_session(folder / "model.onnx", SETTINGS)


def test_external_data_through_a_symlink_is_refused(tmp_path):
    folder = tmp_path / "variant"
    folder.mkdir()
    save_external(linear_model(), folder, "linked.bin")
    (tmp_path / "outside.bin").write_bytes((folder / "weights.bin").read_bytes())
    (folder / "linked.bin").symlink_to(tmp_path / "outside.bin")
    with pytest.raises(ModelRejected, match="goes through a symbolic link"):
        create_session(folder / "model.onnx", SETTINGS)


def test_external_data_with_a_second_hard_link_is_refused(tmp_path):
    save_external(linear_model(), tmp_path, "weights.bin")
    os.link(tmp_path / "weights.bin", tmp_path / "other-name.bin")
    with pytest.raises(UnsafeFileError, match="2 hard links"):
        create_session(tmp_path / "model.onnx", SETTINGS)


def test_external_data_reading_past_its_file_is_refused(tmp_path):
    model = linear_model()
    save_external(model, tmp_path, "weights.bin")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 4)
    with pytest.raises(ModelRejected, match="reads bytes up to 24 of weights.bin, which holds 4"):
        create_session(tmp_path / "model.onnx", SETTINGS)


def test_custom_domain_operator_is_refused(tmp_path):
    model = contract_model([helper.make_node("Pwn", ["features"], ["probabilities"], domain="evil.custom")])
    model.opset_import.append(helper.make_opsetid("evil.custom", 1))
    path = write_variant(tmp_path / "v", model) / "model.onnx"
    with pytest.raises(ModelRejected, match=r"custom-domain operators \(evil.custom::Pwn\).*never registers custom-op libraries"):
        create_session(path, SETTINGS)


def test_operator_outside_the_allowlist_is_refused_unless_configured(tmp_path, rows):
    model = contract_model([helper.make_node("Slice", ["features", "start", "end", "axis"], ["two"]),
                            helper.make_node("Hardmax", ["two"], ["probabilities"], axis=1)],
                           [numpy_helper.from_array(np.array([v]), name) for name, v in (("start", 0), ("end", 2), ("axis", 1))])
    path = write_variant(tmp_path / "v", model) / "model.onnx"
    with pytest.raises(ModelRejected, match=r"operators outside the allowlist \(Hardmax\).*runtime.extra_ops"):
        create_session(path, SETTINGS)
    session = create_session(path, RuntimeConfig(threads=1, extra_ops=["Hardmax"]))
    assert session.run(None, {"features": rows})[0].tolist() == [[0, 1], [0, 1], [1, 0]]


def test_operators_nested_in_subgraphs_are_checked(tmp_path):
    branch = helper.make_graph([helper.make_node("Pwn", ["features"], ["out"], domain="evil.custom")], "branch", [],
                               [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    model = contract_model([helper.make_node("Constant", [], ["flag"], value=numpy_helper.from_array(np.array(True))),
                            helper.make_node("If", ["flag"], ["probabilities"], then_branch=branch, else_branch=branch)])
    path = write_variant(tmp_path / "v", model) / "model.onnx"
    with pytest.raises(ModelRejected, match=r"evil.custom::Pwn"):
        create_session(path, RuntimeConfig(extra_ops=["If"]))


def test_local_functions_are_refused(tmp_path):
    function = helper.make_function("local", "Twice", ["x"], ["y"], [helper.make_node("Add", ["x", "x"], ["y"])],
                                    [helper.make_opsetid("", 20)])
    model = contract_model([helper.make_node("Twice", ["features"], ["probabilities"], domain="local")])
    model.functions.append(function)
    path = write_variant(tmp_path / "v", model) / "model.onnx"
    with pytest.raises(ModelRejected, match=r"defines local functions \(local::Twice\)"):
        create_session(path, SETTINGS)


def test_truncated_protobuf_is_refused(tmp_path):
    path = write_variant(tmp_path / "v", linear_model()) / "model.onnx"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ModelRejected, match="not a valid ONNX protobuf"):
        create_session(path, SETTINGS)


def test_an_empty_file_is_not_a_model(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(ModelRejected, match="not an ONNX model"):
        create_session(tmp_path / "model.onnx", SETTINGS)


@pytest.mark.parametrize("opset, ir_version, message", [
    (16, 10, r"opset 16, outside the accepted 17..23"),
    (20, 7, r"IR version 7, outside the accepted 8..11"),
    (20, 12, r"IR version 12, outside the accepted 8..11"),
])
def test_versions_outside_the_supported_range_are_refused(tmp_path, opset, ir_version, message):
    model = linear_model()
    model.opset_import[0].version, model.ir_version = opset, ir_version
    path = write_variant(tmp_path / "v", model) / "model.onnx"
    with pytest.raises(ModelRejected, match=message):
        create_session(path, SETTINGS)


def test_a_model_over_the_size_cap_is_refused_unread(tmp_path):
    path = write_variant(tmp_path / "v", linear_model()) / "model.onnx"
    with open(path, "ab") as handle:
        handle.truncate(2 << 20)
    with pytest.raises(UnsafeFileError, match=r"over the 1,048,576-byte limit \(runtime.max_model_mib\)"):
        create_session(path, RuntimeConfig(max_model_mib=1))


def test_a_model_that_is_a_symlink_is_refused(tmp_path):
    target = write_variant(tmp_path / "v", linear_model()) / "model.onnx"
    (tmp_path / "model.onnx").symlink_to(target)
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        create_session(tmp_path / "model.onnx", SETTINGS)


def test_onnx_checker_failures_are_reported(tmp_path):
    model = contract_model([helper.make_node("MatMul", ["features", "undefined"], ["probabilities"])])
    path = write_variant(tmp_path / "v", model) / "model.onnx"
    with pytest.raises(ModelRejected, match=r"fails onnx.checker \(full check\).*undefined"):
        create_session(path, SETTINGS)


def test_a_model_breaking_the_artifact_contract_is_refused(tmp_path):
    model = linear_model()
    model.graph.input[0].name = model.graph.node[0].input[0] = "x"
    path = write_variant(tmp_path / "v", model) / "model.onnx"
    with pytest.raises(ModelRejected, match=r"takes \['x'\].*rtguard artifacts take 'features'"):
        create_session(path, SETTINGS)

"""Check a model file before ONNX Runtime parses it.

ONNX Runtime is a large C++ parser and kernel library; what reaches it should be
small, well-formed, made of operators rtguard itself produces, and read nothing
from outside its own folder. Each check names what failed and the setting that
governs it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, GraphProto, ModelProto, TensorProto

from rtguard.config import RuntimeConfig
from rtguard.integrity.files import check_regular
from rtguard.runtime.errors import ModelRejected
from rtguard.runtime.ops import DEFAULT_DOMAINS, allowed_ops

# scikit-learn's IsolationForest as skl2onnx converts it (rtguard/optimize/anomaly_forest.py): the trees and their
# leaf lookups in ONNX's own ML domain, which ONNX Runtime implements without any custom-op library, and the
# default-domain Sum of the trees' path lengths. The tree-family classifiers (rtguard/optimize/trees.py:
# LightGBM, random forest, decision tree) are one TreeEnsembleClassifier of the same domain.
FOREST_ML_OPS = frozenset({("ai.onnx.ml", "TreeEnsembleRegressor"), ("ai.onnx.ml", "LabelEncoder"),
                           ("ai.onnx.ml", "TreeEnsembleClassifier")})
FOREST_OPS = frozenset({"Sum"})


def validate_model(path: Path, settings: RuntimeConfig) -> None:
    """Raise ModelRejected (or UnsafeFileError) unless the model may be handed to ONNX Runtime."""
    path = Path(path)
    max_bytes = settings.max_model_mib << 20
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise ModelRejected(f"{path} not found") from None
    check_regular(path, info, max_bytes)
    model = _parse(path)
    _check_versions(path, model, settings)
    _check_operators(path, model, allowed_ops(settings.extra_ops) | FOREST_OPS)
    _check_external_data(path, model, max_bytes - info.st_size)
    try:
        onnx.checker.check_model(str(path), full_check=True, check_custom_domain=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelRejected(f"{path} fails onnx.checker (full check): {_first_line(exc)}") from None


def _parse(path: Path) -> ModelProto:
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except DecodeError:
        raise ModelRejected(f"{path} is not a valid ONNX protobuf (truncated or corrupt)") from None
    if model.ir_version == 0 or not model.graph.node:
        raise ModelRejected(f"{path} is not an ONNX model (no IR version or no graph)")
    return model


def _check_versions(path: Path, model: ModelProto, settings: RuntimeConfig) -> None:
    if not settings.min_ir_version <= model.ir_version <= settings.max_ir_version:
        raise ModelRejected(
            f"{path} has ONNX IR version {model.ir_version}, outside the accepted "
            f"{settings.min_ir_version}..{settings.max_ir_version} (runtime.min_ir_version, runtime.max_ir_version)"
        )
    opsets = [entry.version for entry in model.opset_import if entry.domain in DEFAULT_DOMAINS]
    if not opsets:
        raise ModelRejected(f"{path} imports no default-domain opset")
    if not all(settings.min_opset <= version <= settings.max_opset for version in opsets):
        raise ModelRejected(
            f"{path} uses opset {max(opsets)}, outside the accepted {settings.min_opset}..{settings.max_opset} "
            "(runtime.min_opset, runtime.max_opset)"
        )


def _check_operators(path: Path, model: ModelProto, allowed: frozenset[str]) -> None:
    if model.functions:
        names = ", ".join(f"{f.domain}::{f.name}" for f in model.functions)
        raise ModelRejected(f"{path} defines local functions ({names}): their bodies would bypass the operator allowlist")
    custom, unlisted = set(), set()
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.domain not in DEFAULT_DOMAINS:
                if (node.domain, node.op_type) not in FOREST_ML_OPS:
                    custom.add(f"{node.domain}::{node.op_type}")
            elif node.op_type not in allowed:
                unlisted.add(node.op_type)
    if custom:
        raise ModelRejected(
            f"{path} uses custom-domain operators ({', '.join(sorted(custom))}): rtguard never registers "
            "custom-op libraries and loads only default-domain ONNX operators (and the ai.onnx.ml tree ensembles of rtguard's tree models)"
        )
    if unlisted:
        raise ModelRejected(
            f"{path} uses operators outside the allowlist ({', '.join(sorted(unlisted))}); "
            "add them to runtime.extra_ops only if you trust where the model came from"
        )


def _check_external_data(path: Path, model: ModelProto, budget: int) -> None:
    """External data must be regular files inside the model's folder, read through no link."""
    folder, sizes = path.parent, {}
    for tensor in _tensors(model.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        fields = {entry.key: entry.value for entry in tensor.external_data}
        location = fields.get("location", "")
        if location not in sizes:
            sizes[location] = _external_file(path, folder, location, budget).st_size
            budget -= sizes[location]
        end = int(fields.get("offset", 0) or 0) + int(fields.get("length", 0) or 0)
        if end > sizes[location]:
            raise ModelRejected(f"{path}: tensor {tensor.name!r} reads bytes up to {end:,} of {location}, which holds {sizes[location]:,}")


def _external_file(path: Path, folder: Path, location: str, budget: int) -> os.stat_result:
    where = f"{path}: external data {location!r}"
    if not location:
        raise ModelRejected(f"{path}: a tensor is marked external but names no file")
    if PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute() or PureWindowsPath(location).drive:
        raise ModelRejected(f"{where} is an absolute path; external data must lie inside the model's folder")
    parts = PurePosixPath(location.replace("\\", "/")).parts
    if ".." in parts:
        raise ModelRejected(f"{where} climbs out of the model's folder with '..'")
    current = folder
    for part in parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise ModelRejected(f"{where} does not exist") from None
        if stat.S_ISLNK(info.st_mode):
            raise ModelRejected(f"{where} goes through a symbolic link ({current}); external data must be regular files")
    check_regular(current, info, budget)
    return info


def _graphs(graph: GraphProto) -> Iterator[GraphProto]:
    """A graph and every subgraph nested in its nodes' attributes."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                yield from _graphs(attribute.g)
            for subgraph in attribute.graphs:
                yield from _graphs(subgraph)


def _tensors(graph: GraphProto) -> Iterator[TensorProto]:
    """Every tensor that can hold data: initializers, sparse ones, and node attributes, in all subgraphs."""
    for inner in _graphs(graph):
        yield from inner.initializer
        for sparse in inner.sparse_initializer:
            yield from (sparse.values, sparse.indices)
        for node in inner.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
                    yield from (sparse.values, sparse.indices)


def _first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)

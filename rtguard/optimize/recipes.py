"""Named recipes: PyTorch model passes (may be none), then ONNX passes; each yields one variant.

A recipe with model passes exports its own model through the parity-checked export;
one without starts from the reference's export. Which names exist and where they apply
is the catalog's (rtguard/catalog.py); this module only says how each is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rtguard import catalog
from rtguard.config import OptimizeConfig
from rtguard.errors import ConfigError
from rtguard.optimize.adversarial import AdversarialFineTuning
from rtguard.optimize.distill import Distillation, TreeTeacherDistillation
from rtguard.optimize.ensemble import SoftVote
from rtguard.optimize.fp16 import Float16
from rtguard.optimize.graph import GraphOptimization
from rtguard.optimize.mixed import MixedInt8
from rtguard.optimize.passes import ModelPass, OnnxPass
from rtguard.optimize.prune import StructuredPruning, UnstructuredPruning
from rtguard.optimize.qat import QuantizationAwareTraining
from rtguard.optimize.quantize import DynamicInt8, StaticInt8
from rtguard.optimize.trees import TreeModel


@dataclass(frozen=True)
class Recipe:
    onnx_passes: list[OnnxPass]
    model_passes: list[ModelPass] = field(default_factory=list)


NAMED: dict[str, Callable[[OptimizeConfig], Recipe]] = {
    "onnx-fp32": lambda s: Recipe([GraphOptimization()]),
    "int8-dynamic": lambda s: Recipe([DynamicInt8()]),
    "int8-static": lambda s: Recipe([StaticInt8(calibration_method="MinMax")]),
    "int8-static-entropy": lambda s: Recipe([StaticInt8(calibration_method="Entropy")]),
    "int8-static-percentile": lambda s: Recipe([StaticInt8(calibration_method="Percentile")]),
    "mixed-int8": lambda s: Recipe([MixedInt8(**s.mixed_precision.model_dump())]),
    "fp16": lambda s: Recipe([Float16()]),
    "qat-int8": lambda s: Recipe([GraphOptimization()], [QuantizationAwareTraining(**s.qat.model_dump())]),
    "distilled-small": lambda s: Recipe([GraphOptimization()], [Distillation(**s.distillation.model_dump())]),
    "adversarial": lambda s: Recipe([GraphOptimization()], [AdversarialFineTuning(**s.adversarial.model_dump())]),
    "gbdt": lambda s: _trees("gbdt", s.trees.gbdt.model_dump(), s),
    "gbdt-small": lambda s: _trees("gbdt", s.trees.gbdt_small.model_dump(), s),
    "forest": lambda s: _trees("forest", s.trees.forest.model_dump(), s),
    "tree": lambda s: _trees("tree", s.trees.tree.model_dump(), s),
    "tree-distilled": lambda s: _trees("tree", s.trees.tree.model_dump(), s, teacher="reference"),
    "distilled-gbdt": lambda s: Recipe([GraphOptimization()], [TreeTeacherDistillation(
        **s.distillation.model_dump(), teacher_trees=s.trees.gbdt)]),
    "ensemble": lambda s: Recipe([SoftVote(trees=s.trees.gbdt, opset=s.opset, parity_tolerance=s.trees.parity_tolerance)]),
}


def _trees(family: str, settings: dict, s: OptimizeConfig, teacher: str = "labels") -> Recipe:
    """A tree model replacing the reference's network behind its preprocessing; no graph optimization after it
    (ORT's optimizer has nothing to fuse in a tree ensemble)."""
    return Recipe([TreeModel(family=family, teacher=teacher, opset=s.opset, parity_tolerance=s.trees.parity_tolerance, **settings)])


def recipe(name: str, settings: OptimizeConfig) -> Recipe:
    """The recipe a variant name stands for (config.py validated the name)."""
    if name in NAMED:
        return NAMED[name](settings)
    match = catalog.PRUNED_VARIANT.fullmatch(name)
    if match is None:
        raise ConfigError(f"no classifier recipe is named {name!r}: use {catalog.names_for_people()}")
    ratio, kind = int(match["percent"]) / 100, match["kind"]
    if kind == "unstructured":
        return Recipe([GraphOptimization()], [UnstructuredPruning(ratio=ratio, **settings.pruning.model_dump())])
    round_to = int(kind.removeprefix("round")) if kind else None
    return Recipe([GraphOptimization()], [StructuredPruning(ratio=ratio, round_to=round_to, **settings.pruning.model_dump())])

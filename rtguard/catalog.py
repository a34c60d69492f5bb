"""The variant catalog: every variant name, the tasks and references it applies to, the defaults, and why it is refused elsewhere.

One torch-free table read by configuration validation (rtguard/config.py) and by recipe
building (rtguard/optimize/recipes.py, rtguard/optimize/anomaly.py), so a name, a default
or a refusal is written once. A reference is the run's model: the classifier family
(model.family) for the classify task, the detector (anomaly.detector) for the anomaly task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TASKS = ("classify", "anomaly")
TREE_FAMILIES = ("gbdt", "forest", "tree")  # classifier references fitted, not trained (the others: mlp, cnn)
DETECTOR_FAMILIES = ("autoencoder", "kitnet")

# Why a recipe needs a classifier (said when an anomaly run asks for one).
_QAT = "QAT fine-tunes with the classification loop and loss (train/loop.fit); a reconstruction model has neither"
_MIXED = ("it keeps layers in float by their cost in macro-F1 or detection on labelled validation rows, "
          "which a detector trained on benign rows alone cannot use")
_DISTILL = "the student learns the teacher's class distribution (KL on softened logits); an anomaly score has none"
_ADVERSARIAL = ("its attack pushes attack flows toward the benign class of a labelled classifier; an anomaly "
                "detector's evasion is measured by evaluate, not trained against")
_SUPERVISED_TREES = ("it fits a supervised tree model on labelled attack classes; the anomaly task trains on benign "
                     "flows only (its tree baseline is isolation-forest)")
_DETECTOR = "anomaly detectors are trained on benign flows and score novelty: set [task] kind = \"anomaly\""
# Why a pass that works on a network's layers does not apply to a tree reference (model.family gbdt, forest or tree).
_NO_LAYERS = ("a tree ensemble has thresholds and leaf values, not the weight matrices this pass works on; "
              "gbdt-small (fewer, smaller trees) is the tree family's compression")
_NO_GRADIENTS = "it fine-tunes a network by gradient steps, and a tree model has no gradients; it is fitted, not trained by steps"
_NO_FLOAT16 = "ONNX Runtime's tree operator computes in float32 only; there is no network to run in float16"
_SAME_FAMILY = ("it distils the reference into a smaller student of its own family; for a tree reference that is gbdt-small, "
                "and distilled-gbdt is the network student")


def _tree_references(why: str) -> dict[str, str]:
    return dict.fromkeys(TREE_FAMILIES, why)


KITNET_PRUNING = ("its group autoencoders are a few neurons wide, and it trains in two stages with scalings measured "
                  "in between, which fine-tuning one reconstruction loss would not redo; prune the autoencoder detector")


@dataclass(frozen=True)
class Entry:
    """One catalog row: a variant name (or a name pattern), where it applies and why it is refused elsewhere."""

    name: str  # the name, or the pattern's spelling for people (pruned-<percent>[...])
    summary: str
    tasks: tuple[str, ...]  # tasks it applies to
    refused: dict[str, str] = field(default_factory=dict)  # task or reference family -> why it does not apply there
    default_for: tuple[str, ...] = ()  # tasks whose default variant list holds it
    pattern: re.Pattern | None = None

    def matches(self, name: str) -> bool:
        return bool(self.pattern.fullmatch(name)) if self.pattern else name == self.name


# pruned-<percent>: structured pruning of that share of neurons/channels, then fine-tuning;
# -round8/-round16 rounds kept widths to multiples CPU kernels like; -unstructured zeroes weights instead.
PRUNED_VARIANT = re.compile(r"pruned-(?P<percent>[1-9][0-9]?)(?:-(?P<kind>unstructured|round8|round16))?")
_BOTH = TASKS
_CLASSIFY = ("classify",)
_ANOMALY = ("anomaly",)

ENTRIES: tuple[Entry, ...] = (
    Entry("onnx-fp32", "the reference's export, graph-optimized", _BOTH, default_for=_BOTH),
    Entry("int8-dynamic", "dynamic INT8 weights", _BOTH, refused=_tree_references(_NO_LAYERS), default_for=_BOTH),
    Entry("int8-static", "static INT8, MinMax calibration", _BOTH, refused=_tree_references(_NO_LAYERS), default_for=_BOTH),
    Entry("int8-static-entropy", "static INT8, entropy calibration", _BOTH, refused=_tree_references(_NO_LAYERS)),
    Entry("int8-static-percentile", "static INT8, percentile calibration", _BOTH, refused=_tree_references(_NO_LAYERS)),
    Entry("pruned-<percent>[-round8|-round16|-unstructured]", "structured (or unstructured) pruning, then fine-tuning", _BOTH,
          refused={"kitnet": KITNET_PRUNING, **_tree_references(_NO_LAYERS)}, default_for=_BOTH, pattern=PRUNED_VARIANT),
    Entry("distilled-small", "a smaller student of the reference's family distilled from it", _CLASSIFY,
          refused={"anomaly": _DISTILL, **_tree_references(_SAME_FAMILY)}, default_for=_CLASSIFY),
    Entry("qat-int8", "quantization-aware fine-tuning, QDQ INT8", _CLASSIFY, refused={"anomaly": _QAT, **_tree_references(_NO_GRADIENTS)},
          default_for=_CLASSIFY),
    Entry("mixed-int8", "static INT8 with the most sensitive layers kept in float", _CLASSIFY,
          refused={"anomaly": _MIXED, **_tree_references(_NO_LAYERS)}, default_for=_CLASSIFY),
    Entry("fp16", "float16 network behind float32 preprocessing", _BOTH, refused=_tree_references(_NO_FLOAT16), default_for=_BOTH),
    Entry("adversarial", "the reference fine-tuned with adversarial training", _CLASSIFY,
          refused={"anomaly": _ADVERSARIAL, **_tree_references(_NO_GRADIENTS)}, default_for=_CLASSIFY),
    # Tree families as variants: each fits its own model on the reference export's preprocessed rows.
    Entry("gbdt", "LightGBM gradient-boosted trees (optimize.trees.gbdt)", _CLASSIFY,
          refused={"anomaly": _SUPERVISED_TREES}, default_for=_CLASSIFY),
    Entry("gbdt-small", "fewer, smaller boosted trees: the tree analogue of pruning (optimize.trees.gbdt_small)", _CLASSIFY,
          refused={"anomaly": _SUPERVISED_TREES}),
    Entry("forest", "scikit-learn random forest (optimize.trees.forest)", _CLASSIFY, refused={"anomaly": _SUPERVISED_TREES},
          default_for=_CLASSIFY),
    Entry("tree", "scikit-learn decision tree (optimize.trees.tree)", _CLASSIFY, refused={"anomaly": _SUPERVISED_TREES}),
    Entry("tree-distilled", "a decision tree taught the reference's predicted classes: a network or an ensemble distilled into a tree",
          _CLASSIFY, refused={"anomaly": _DISTILL, "tree": "the reference is one decision tree already: its student would be itself"}),
    Entry("distilled-gbdt", "a small MLP student distilled from a LightGBM teacher: trees distilled into a network",
          _CLASSIFY, refused={"anomaly": _DISTILL}),
    Entry("ensemble", "a soft vote of the reference and a LightGBM model (optimize.trees.gbdt), one graph",
          _CLASSIFY, refused={"anomaly": _SUPERVISED_TREES,
                              "gbdt": "it votes the reference with a LightGBM model fitted with the same settings: a copy of itself"}),
    # The anomaly task's own variants: the other detectors, trained on the same benign rows beside the reference.
    Entry("autoencoder", "dense autoencoder detector", _ANOMALY, refused={"classify": _DETECTOR}, default_for=_ANOMALY),
    Entry("kitnet", "KitNET-style ensemble of small autoencoders", _ANOMALY, refused={"classify": _DETECTOR}, default_for=_ANOMALY),
    Entry("isolation-forest", "scikit-learn IsolationForest behind the preprocessing", _ANOMALY,
          refused={"classify": _DETECTOR}, default_for=_ANOMALY),
)

DETECTORS = DETECTOR_FAMILIES


def reference_name(family: str) -> str:
    """The reference's row in metrics and decisions: a network (or detector) on PyTorch, or a tree reference as fitted."""
    return f"{family}-reference" if family in TREE_FAMILIES else "torch-fp32"


def entry(name: str) -> Entry | None:
    """The catalog row a variant name belongs to, or None for an unknown name."""
    return next((row for row in ENTRIES if row.matches(name)), None)


def names_for_people() -> str:
    """Every name and pattern, comma-separated, for help texts and errors."""
    return ", ".join(row.name for row in ENTRIES)


_LABELS = {"mlp": "an MLP", "cnn": "a CNN", "gbdt": "a gbdt", "forest": "a forest", "tree": "a tree", "autoencoder": "an autoencoder",
           "kitnet": "a KitNET"}


def refusal(name: str, task: str, reference: str) -> str | None:
    """Why `name` does not apply to this task and reference, as one sentence, or None when it does."""
    row = entry(name)
    if row is None:
        return f"{name} is not a variant: use {names_for_people()}"
    if name == reference:
        setting = "anomaly.detector" if task == "anomaly" else "model.family"
        return f"{name} is the reference ({setting}); its export is onnx-fp32"
    if task in row.refused:
        return f"{name} does not apply to the {task} task: {row.refused[task]}"
    if reference in row.refused:
        return f"{name} does not apply to {_LABELS.get(reference, reference)} reference: {row.refused[reference]}"
    if task not in row.tasks:
        return f"{name} does not apply to the {task} task: it is built for the {' and '.join(row.tasks)} task only"
    return None


def defaults(task: str, reference: str) -> list[str]:
    """The default variant list of a task and reference: every default entry that applies, in catalog order.

    A pattern contributes its default instance (pruned-50); the reference detector is its own onnx-fp32.
    """
    chosen = []
    for row in ENTRIES:
        name = "pruned-50" if row.pattern is PRUNED_VARIANT else row.name
        if task in row.default_for and refusal(name, task, reference) is None:
            chosen.append(name)
    return chosen

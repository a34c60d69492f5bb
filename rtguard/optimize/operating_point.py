"""A classifier's operating point inside its graph: the alert threshold the ship policy asks for.

Every classifier variant ends with this pass. It runs the variant as built (INT8, FP16,
pruned, ...) on the selection split, takes each flow's attack score (1 - P(benign), all
attack classes together) and sets the threshold where the policy wants it: at most
`target_fpr` of the selection split's benign flows alerting, or at least
`min_detection_rate` of its attack flows. The graph then gives, beside `probabilities`:

    attack_score [batch]  1 - P(benign)
    alert        [batch]  attack_score >= threshold (bool)

and states the threshold in its metadata (rtguard.artifact), so every consumer applies the
same decision. Each variant gets the threshold of its own scores: an INT8 model's
probabilities are not the reference's.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rtguard.artifact import ALERT, ALERT_THRESHOLD_KEY, ATTACK_SCORE, OUTPUT_NAME, attack_scores, point_threshold
from rtguard.compute import graph_output
from rtguard.errors import RtguardError
from rtguard.optimize.passes import OnnxPass, PassContext

_BENIGN_INDEX, _ONE, _THRESHOLD = "operating_point_benign_index", "operating_point_one", "operating_point_threshold"


class OperatingPoint(OnnxPass):
    """Threshold on the attack score calibrated on the selection split, appended to the graph."""

    name: ClassVar[str] = "operating-point"
    mode: Literal["target_fpr", "min_detection_rate"] = "target_fpr"
    target: float = 0.01  # the FPR budget, or the detection rate to reach

    def run(self, source: Path, target: Path, context: PassContext) -> dict:
        model = onnx.load(str(source))
        benign = context.schema.benign_index
        x, y = context.splits.x_selection, context.splits.y_selection
        scores = attack_scores(graph_output(model, OUTPUT_NAME, x), benign)
        benign_rows = y == benign
        threshold = point_threshold(scores[benign_rows], scores[~benign_rows], self.mode, self.target)
        onnx.save(with_alert(model, threshold, benign), str(target))
        alerted = scores >= np.float32(threshold)
        return {"threshold": threshold, "set_by": "policy", "mode": self.mode, "target": self.target, "selection_rows": int(len(y)),
                "selection_false_positive_rate": _share(alerted[benign_rows]),
                "selection_detection_rate": _share(alerted[~benign_rows])}


def with_alert(model: onnx.ModelProto, threshold: float, benign_index: int) -> onnx.ModelProto:
    """Append attack_score and alert after `probabilities`, and state the threshold in the metadata."""
    graph = model.graph
    if [output.name for output in graph.output] != [OUTPUT_NAME]:
        raise RtguardError(f"a classifier graph must give only {OUTPUT_NAME!r} before its operating point is added")
    graph.initializer.extend([
        numpy_helper.from_array(np.array(benign_index, dtype=np.int64), _BENIGN_INDEX),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), _ONE),
        numpy_helper.from_array(np.array(threshold, dtype=np.float32), _THRESHOLD),
    ])
    graph.node.extend([
        helper.make_node("Gather", [OUTPUT_NAME, _BENIGN_INDEX], ["operating_point_p_benign"], name="operating_point_p_benign", axis=1),
        helper.make_node("Sub", [_ONE, "operating_point_p_benign"], [ATTACK_SCORE], name="operating_point_attack_score"),
        helper.make_node("GreaterOrEqual", [ATTACK_SCORE, _THRESHOLD], [ALERT], name="operating_point_alert"),
    ])
    graph.output.extend([helper.make_tensor_value_info(ATTACK_SCORE, TensorProto.FLOAT, ["batch"]),
                         helper.make_tensor_value_info(ALERT, TensorProto.BOOL, ["batch"])])
    set_alert_threshold(model, threshold)
    onnx.checker.check_model(model)
    return model


def set_alert_threshold(model: onnx.ModelProto, threshold: float) -> None:
    """State the decision threshold (attack-probability scale) in the model's metadata."""
    props = {prop.key: prop.value for prop in model.metadata_props}
    helper.set_model_props(model, props | {ALERT_THRESHOLD_KEY: repr(float(threshold))})


def _share(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if len(flags) else None

"""The ship policy: the operating point, and measurable thresholds a variant must meet, from a TOML file.

The operating point (default: at most 1% of benign flows alerting, `target_fpr`) sets each
classifier variant's alert threshold on the selection split when the variant is built.
Checks that always apply: p99 latency at batch 1 (100 ms unless the policy says otherwise),
the macro-F1 a variant may lose vs the reference (0.01, failed only outside noise), and two
absolute floors (macro-F1 and detection at the operating point, 0.5 each; 0 disables
them) that block a useless detector even when the reference is as poor. Every other
threshold is optional: a key left out means the check is not required, and the checklist
still shows what was measured. A required check whose metric a run did not measure is
"not measured", which never counts as a pass. Quality checks read the selection split,
never the test split. Unknown keys are errors that name the key, as in the run configuration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rtguard.config import read_toml, validation_problems
from rtguard.errors import PolicyError
from rtguard.runfolder import RunFolder

# The one list of the metric keys (in report.json's `variants[].metrics`) that the gate
# and the Pareto front read, and who writes each; "later" ones are absent until the stage
# that measures them exists (and a run with evaluate.robustness.enabled = false lacks the
# security evaluation's). A mapping holds one value per attack and strength, keys as
# strings (JSON), e.g. {"pgd": {"0.5": 0.12, "1": 0.31}, "hopskipjump": {"0.5": 0.09, "1": 0.26}}.
METRIC_KEYS = {
    "latency_p99_ms": "batch-1 latency, 99th percentile, milliseconds (evaluate)",
    "throughput_per_s": "rows per second at the configured batch (evaluate)",
    "throughput_by_batch": "{batch: rows per second} over the batch-size sweep (evaluate)",
    "detection_rate": "attack rows that alert at the operating point (evaluate; the gate reads selection.detection_rate)",
    "false_positive_rate": "benign rows that alert at the operating point (evaluate; the gate reads the selection split's)",
    "macro_f1": "macro-averaged F1 of the most likely class over the classes present (evaluate; the gate reads the selection split's)",
    "file_bytes": "size of the artifact (evaluate)",
    "train_seconds": "from training data to this artifact: reference training plus the variant's "
                     "own cost, i.e. fine-tuning, export and passes (derived from train.json and "
                     "variant.json's cost.produce_seconds unless a stage records it)",
    "execution_provider": "the ONNX Runtime execution provider the variant ran with "
                          "(report derives it from metrics.runtime.provider unless recorded)",
    "evasion_rate": "{attack: {epsilon: share of detected attack rows the attack turns benign}}, "
                    "attacks fgsm/pgd (transferred from the reference) and hopskipjump (black-box); "
                    "a plain number is one point (evaluate/robustness.py)",
    "noise_accuracy": "{sigma: accuracy under Gaussian noise on the mutable features} (evaluate/robustness.py)",
    "membership_auc": "membership-inference attack AUC, a number (evaluate/robustness.py)",
    "peak_memory_bytes": "later: peak resident memory while serving the variant",
    "signature_verified": "later (signing): true when the artifact's signature verified",
    "batch_dependence": "share of probed selection rows whose verdict (class or alert) changes when scored in a batch with "
                        "adversarial or random neighbours instead of alone (evaluate/batch_dependence.py)",
}

# Objectives a policy may rank the passing variants by: always measured by evaluate.
Preference = Literal["latency_p99_ms", "throughput_per_s", "file_bytes", "detection_rate", "false_positive_rate"]


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("default", description="Shown in the report beside the verdict.")
    reference: str | None = Field(None, description="The variant the `vs reference` checks compare with; unset: the run's "
                                  "reference (torch-fp32 for a network, gbdt-reference and the like for a tree model).")
    max_latency_p99_ms: float = Field(100.0, gt=0, description="p99 latency at batch 1, milliseconds (0.2 = 200 µs); always checked.")
    min_throughput_per_s: float | None = Field(None, gt=0, description="Rows per second at the run's throughput batch.")
    operating_point: Literal["target_fpr", "min_detection_rate"] = Field(
        "target_fpr", description="What sets each classifier variant's alert threshold, calibrated on the selection split when the "
        "variant is built: the false-positive budget `target_fpr`, or the detection rate `min_detection_rate`.")
    target_fpr: float = Field(0.01, gt=0, lt=0.5, description="Alert budget: the share of benign selection flows allowed to alert.")
    min_detection_rate: float | None = Field(0.5, ge=0, le=1, description="Floor: attack flows alerted at the operating point "
                                             "(selection split); blocks a useless detector, the reference's state included.")
    min_macro_f1: float | None = Field(0.5, ge=0, le=1, description="Floor: macro-F1 over the classes (selection split).")
    max_false_positive_rate: float | None = Field(None, ge=0, le=1, description="At the operating point (selection split).")
    max_macro_f1_loss: float = Field(0.01, ge=0, le=1, description="Macro-F1 a variant may lose vs the reference; always checked, "
                                     "and failed only when the loss is also outside the bootstrap's noise.")
    max_evasion_rate_increase: float | None = Field(None, ge=0, le=1, description="Worst increase over attacks and epsilons.")
    max_noise_accuracy_loss: float | None = Field(None, ge=0, le=1, description="Worst loss over noise levels.")
    max_membership_auc_increase: float | None = Field(None, ge=0, le=1)
    max_file_bytes: int | None = Field(None, gt=0)
    max_peak_memory_bytes: int | None = Field(None, gt=0)
    max_train_seconds: float | None = Field(None, gt=0, description="Training/update time from data to artifact.")
    require_signature: bool = Field(False, description="The artifact's signature must have verified.")
    execution_provider: str | None = Field(None, description="e.g. CPUExecutionProvider, CUDAExecutionProvider.")
    max_batch_dependence: float | None = Field(0.0, ge=0, le=1, description="Share of selection rows whose verdict may change "
                                               "when batched with adversarial neighbours: above it, micro-batching would let one "
                                               "client's rows change another's verdicts, so the variant does not ship.")
    prefer: Preference = Field("detection_rate", description="Which objective decides among the passing variants; "
                               "statistical ties are broken by worst-case evasion rate, then throughput per core, then size.")

    @model_validator(mode="after")
    def _operating_point_defined(self) -> Policy:
        if self.operating_point == "min_detection_rate" and self.min_detection_rate is None:
            raise ValueError("operating_point = \"min_detection_rate\" needs min_detection_rate")
        return self

    def operating_target(self) -> float:
        """The number the operating point is calibrated to: the FPR budget or the detection rate."""
        return self.target_fpr if self.operating_point == "target_fpr" else self.min_detection_rate


def run_policy(run: RunFolder) -> Policy:
    """The run's own policy (policy.toml), or the default."""
    return load_policy(run.policy if run.policy.exists() else None)


def load_policy(path: Path | None) -> Policy:
    """Read a policy file, or the built-in default when path is None."""
    if path is None:
        return Policy()
    raw = read_toml(path, "policy", PolicyError)
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"invalid policy in {path}: {validation_problems(exc)}") from None


def dump_policy(policy: Policy) -> str:
    """The policy as TOML; JSON's scalars (strings, numbers, booleans) are valid TOML values."""
    values = policy.model_dump(exclude_none=True)
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())

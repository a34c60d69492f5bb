"""Typed configuration of a run, loaded from TOML.

Every section forbids unknown keys, so a typo in a config file is an error that names
the key instead of a setting silently ignored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rtguard import catalog
from rtguard.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    dataset: Literal["synthetic", "nsl-kdd", "csv", "digits", "zeek", "suricata", "cicflowmeter"] = Field(
        "synthetic", description="Which loader reads the data (digits: scikit-learn's 8x8 images, an image stand-in; zeek, "
        "suricata, cicflowmeter: a sensor's own log, its features named by rtguard/sensors/mappings.py)."
    )
    path: Path | None = Field(
        None, description="File or folder to read (nsl-kdd: the folder; csv: the training file)."
    )
    test_path: Path | None = Field(
        None, description="csv only: a separate test file; without it the test split is drawn from `path`."
    )
    seed: int = Field(0, description="Seed for generation and splitting.")
    n_flows: int = Field(120_000, ge=100, description="synthetic: number of flows (train + test).")
    labels: Literal["multiclass", "binary"] = Field(
        "multiclass", description="Attack families as classes, or benign vs attack."
    )
    test_fraction: float = Field(0.25, gt=0, lt=1, description="Share held out for test when the data has no test file.")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="Share of training data held out for early stopping.")
    selection_fraction: float = Field(
        0.15, gt=0, lt=1, description="Share of the training data held out for decisions: each variant's operating point, "
        "the policy gate and the choice (the test split is only reported)."
    )
    label_column: str = Field("Label", description="csv: name of the label column.")
    benign_label: str = Field("BENIGN", description="csv: the label value meaning benign traffic.")
    categorical_columns: list[str] | None = Field(
        None, description="csv: categorical columns; None infers them (non-numeric columns)."
    )
    drop_columns: list[str] = Field(
        default_factory=list, description="csv: columns to ignore (ids, addresses, timestamps)."
    )
    skip_bad_rows: bool = Field(False, description="Skip CSV rows with the wrong number of fields (counted) instead of failing.")
    non_finite: Literal["impute", "reject"] = Field(
        "impute", description="NaN/inf in numeric features: impute with the training median (counted) or fail."
    )
    max_vocabulary: int = Field(128, ge=1, description="Most frequent categories kept per column; the rest share the out-of-vocabulary bucket.")


def _positive_widths(widths: list[int]) -> list[int]:
    if not widths or any(w <= 0 for w in widths):
        raise ValueError("must list at least one positive width")
    return widths


class ModelConfig(Section):
    family: Literal["mlp", "cnn", "gbdt", "forest", "tree"] = Field(
        "mlp", description="mlp: dense layers; cnn: a small residual CNN over the preprocessed features; gbdt (LightGBM), forest, "
        "tree (scikit-learn): a tree model fitted on the preprocessed features with optimize.trees.<family>'s settings, "
        "whose variants are the tree family's (rtguard/train/trees.py).")
    hidden: list[int] = Field(default_factory=lambda: [128, 64], description="mlp: widths of the hidden layers.")
    channels: list[int] = Field(default_factory=lambda: [16, 32],
                                description="cnn: channels of the residual stages; each stage after the first halves the length.")
    cnn_input: Literal["sequence", "image"] = Field(
        "sequence", description="cnn: features as a 1-D sequence (Conv1d), or as a square image (Conv2d, e.g. digits 8x8)."
    )
    dropout: float = Field(0.1, ge=0, lt=1)

    _widths = field_validator("hidden", "channels")(_positive_widths)


class AdversarialConfig(Section):
    """Adversarial training: attack flows shaped toward benign inside the threat model join the training batches.

    Uses the threat model of the security evaluation (evaluate.robustness.mutable, else the data
    set's default): only the attacker's own flows move, only on the features it controls, within
    the ranges seen in training. ε is in the same standardized units as evaluate.robustness.epsilons.
    """

    method: Literal["none", "fgsm", "pgd"] = Field(
        "none", description="none; fgsm: one step from a random start (fast, Wong et al. 2020); pgd: several projected steps (Madry et al.)."
    )
    epsilon: float = Field(
        0.5, gt=0, description="L∞ budget of the training attack. On the synthetic default, 0.5 halved black-box evasion at ε 1 "
        "(0.229 to 0.105) for +0.025 false-positive rate; 1.0 removed it (0.000) for +0.037.")
    pgd_steps: int = Field(5, ge=1, description="pgd: iterations (step 2.5·ε/steps); each costs a forward and backward pass.")
    weight: float = Field(0.5, gt=0, le=1, description="Share of the loss from the attacked batch; the rest is the clean batch's loss.")


class AdversarialFinetuneConfig(AdversarialConfig):
    """The adversarial variant: the reference fine-tuned with adversarial training."""

    method: Literal["fgsm", "pgd"] = Field("pgd", description="fgsm: one step from a random start (fast); pgd: several projected steps.")
    epochs: int = Field(3, ge=1, description="Fine-tuning epochs (best validation epoch kept).")
    learning_rate: float = Field(1e-3, gt=0, description="Fine-tuning step size.")


class AutoSpeedConfig(Section):
    """`rtguard train --auto-speed`: time a few steps of each speed setting this machine offers, keep the fastest that keeps quality."""

    enabled: bool = Field(False, description="Measure and choose before training (also `--auto-speed`).")
    steps: int = Field(20, ge=2, description="Optimizer steps per timed round; each candidate warms up on them, then runs 3 rounds in turns "
                                             "with the others (the median counts).")
    compile: bool = Field(True, description="Also time torch.compile candidates (each compiles once: seconds to minutes on a CPU).")
    tolerance: float = Field(
        0.05, ge=0, description="A candidate keeps quality when its validation loss after the timed steps is within this "
        "relative distance of fp32 eager's from the same start."
    )
    min_gain: float = Field(0.05, ge=0, description="A candidate replaces fp32 eager only when at least this much faster (measurement noise).")


class DistributedConfig(Section):
    """Data-parallel training through torchrun (`rtguard train RUN --nproc N`)."""

    address: str = Field("127.0.0.1", description="Rendezvous address the processes meet at; loopback by default, so nothing listens outside this machine.")
    port: int = Field(0, ge=0, le=65535, description="Rendezvous port; 0 picks a free one.")
    backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="auto: nccl on CUDA, gloo on CPU.")
    timeout_s: float = Field(
        120.0, gt=0, description="A collective waiting longer (a rank crashed or hangs) fails the run with an error instead of hanging."
    )


class UpdateConfig(Section):
    """`rtguard update RUN --data NEW`: fine-tune the reference on new labelled traffic, then rebuild every variant."""

    epochs: int = Field(5, ge=1, description="Fine-tuning epochs on the old training rows plus the new ones (best validation epoch kept).")
    learning_rate: float = Field(
        2e-3, gt=0, description="Fine-tuning step size; as high as training's by default, since a new class's output starts untrained "
        "and must be learned within these few epochs (at 5e-4 a rare new family was not learned in 5 epochs)."
    )
    forgetting_tolerance: float = Field(
        0.02, ge=0, description="Largest allowed drop of macro-F1 over the old classes on the old test split; beyond it the update fails."
    )
    label_column: str | None = Field(None, description="Label column of the new CSV; None: data.label_column for csv runs, else \"label\".")


class TrainConfig(Section):
    epochs: int = Field(30, ge=1, description="Upper bound, and the length of the cosine schedule; early stopping usually ends sooner.")
    batch_size: int = Field(512, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(3, ge=1, description="Epochs without improvement of the monitored validation signal before stopping.")
    monitor: Literal["val_loss", "macro_f1"] = Field(
        "val_loss", description="What early stopping watches and which epoch is kept: validation loss (class-weighted "
        "cross-entropy, a signal that keeps moving) or validation macro-F1 (saturates early on easy data, and then the seed "
        "picks the epoch)."
    )
    schedule: Literal["constant", "cosine"] = Field(
        "constant", description="Step size over the epochs: constant, or cosine decay from learning_rate over `epochs` (late "
        "epochs refine instead of bouncing around the minimum; over a few fine-tuning epochs it halves the training done)."
    )
    class_weighting: Literal["none", "balanced", "sqrt"] = Field(
        "sqrt", description="Loss weights by inverse class frequency: full (balanced), tempered (sqrt) or none."
    )
    seed: int = 0
    threads: int | None = Field(
        1, ge=1, description="torch threads; None uses all cores. One is the default: for these small "
        "networks it was faster than two even on an idle 2-core machine (2.6 vs 3.5 ms per step), and "
        "far faster on a busy one.")
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where training runs; auto picks CUDA when present. "
                                                   "The trained model is returned on the CPU.")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="Autocast precision of the forward pass (weights stay fp32); fp16 needs CUDA and uses gradient scaling. "
        "Measure before trusting bf16 on a CPU: without native bf16 kernels it is slower (`--auto-speed` does)."
    )
    accumulation_steps: int = Field(
        1, ge=1, description="Micro-batches per optimizer step: batch_size stays the effective batch, so results match "
        "accumulation 1 up to floating-point noise while memory per step shrinks."
    )
    compile: bool = Field(False, description="torch.compile the training forward/backward (one-time compile cost, recorded).")
    target_fraction: float = Field(
        0.99, gt=0, le=1, description="Time to quality: train.json records when validation macro-F1 first reached this share "
        "of the best value of the run (unless target_macro_f1 is set)."
    )
    target_macro_f1: float | None = Field(None, gt=0, le=1, description="Absolute validation macro-F1 target for time to quality.")
    checkpoints: bool = Field(True, description="`rtguard train` writes a checkpoint (safetensors, sha256 recorded) after every epoch, "
                              "so `--resume` can continue an interrupted run.")
    auto_speed: AutoSpeedConfig = Field(default_factory=AutoSpeedConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    update: UpdateConfig = Field(default_factory=UpdateConfig)


# Variant names, defaults and where each applies live in one table (rtguard/catalog.py); these are views of it.
NAMED_VARIANTS = tuple(row.name for row in catalog.ENTRIES if row.pattern is None and "classify" in row.tasks)
PRUNED_VARIANT = catalog.PRUNED_VARIANT
DEFAULT_VARIANTS = catalog.defaults("classify", "mlp")
DETECTORS = catalog.DETECTORS
ANOMALY_VARIANTS = tuple(row.name for row in catalog.ENTRIES if row.tasks == ("anomaly",))
KITNET_PRUNING = catalog.KITNET_PRUNING


class PruningConfig(Section):
    """Fine-tuning after pruning; the share pruned is in the variant's name (pruned-50: half)."""

    finetune_epochs: int = Field(3, ge=1, description="Fine-tuning epochs after pruning (best validation epoch kept).")
    learning_rate: float = Field(5e-4, gt=0, description="Fine-tuning step size: below training's, the weights are already trained.")


class DistillationConfig(Section):
    """The distilled-small variant: a smaller student of the reference's family learns from the reference."""

    student_hidden: list[int] = Field(default_factory=lambda: [32, 16], description="mlp student: hidden widths.")
    student_channels: list[int] = Field(default_factory=lambda: [8, 16], description="cnn student: stage channels.")
    temperature: float = Field(4.0, gt=0, description="T: softens both distributions so the student sees the teacher's ranking of wrong classes.")
    alpha: float = Field(0.5, ge=0, le=1, description="Weight of hard-label cross-entropy; 1 - alpha weighs T^2 * KL(teacher || student).")
    epochs: int = Field(10, ge=1, description="Upper bound on student epochs; early stopping as in training.")
    learning_rate: float = Field(2e-3, gt=0)

    _widths = field_validator("student_hidden", "student_channels")(_positive_widths)


class QatConfig(Section):
    """The qat-int8 variant: fake-quantization fine-tuning, exported as QDQ INT8."""

    epochs: int = Field(2, ge=1, description="Fine-tuning epochs with fake quantization (best validation epoch kept).")
    learning_rate: float = Field(2e-4, gt=0, description="Small steps: the float weights are trained, QAT only adapts them to the INT8 grid.")
    parity_tolerance: float = Field(
        0.1, gt=0, description="Max |p_torch - p_onnx| for the QDQ export: integer kernels round differently, and one step of the uint8 "
                               "logits moves a probability by a few hundredths."
    )
    parity_outliers: float = Field(
        0.001, ge=0, lt=0.05, description="Share of parity rows allowed beyond parity_tolerance: a row on a quantization boundary "
        "rounds one way in PyTorch and the other in ONNX Runtime (on the full NSL-KDD, 2 of 18,895 selection rows moved by ~0.15).")


class MixedPrecisionConfig(Section):
    """The mixed-int8 variant: static INT8 with the most sensitive layers kept in float."""

    metric: Literal["macro_f1", "detection_rate", "agreement"] = Field(
        "macro_f1", description="Quality measured on the validation split (agreement: share of FP32 predictions kept)."
    )
    tolerance: float = Field(0.005, ge=0, description="Largest allowed drop of the metric vs FP32; layers are kept in float until within it.")


class TreeModelConfig(Section):
    """One tree-family variant's model (rtguard/optimize/trees.py): fitted on the reference export's preprocessed training rows."""

    trees: int = Field(100, ge=1, description="gbdt: boosting rounds; forest: trees; tree: ignored (one tree).")
    max_depth: int = Field(0, ge=0, description="Deepest split; 0: no limit, grown until leaves are pure (tree, forest) or `leaves` is reached (gbdt).")
    leaves: int = Field(31, ge=2, description="gbdt: most leaves per tree (LightGBM's num_leaves).")
    learning_rate: float = Field(0.1, gt=0, description="gbdt: shrinkage of each tree.")
    min_leaf: int = Field(1, ge=1, description="Fewest training rows in a leaf (LightGBM's min_child_samples; scikit-learn's min_samples_leaf).")


class TreesConfig(Section):
    """The tree-family variants. Defaults are the libraries' own, except where a reason is given."""

    gbdt: TreeModelConfig = Field(default_factory=lambda: TreeModelConfig(min_leaf=20),
                                  description="gbdt: LightGBM's defaults (100 rounds, 31 leaves, rate 0.1, 20 rows a leaf).")
    gbdt_small: TreeModelConfig = Field(
        default_factory=lambda: TreeModelConfig(trees=30, leaves=8, learning_rate=0.2, min_leaf=20),
        description="gbdt-small: fewer and smaller boosted trees (the tree analogue of pruning), a larger step to make up for fewer rounds.")
    forest: TreeModelConfig = Field(
        default_factory=lambda: TreeModelConfig(trees=50, max_depth=20),
        description="forest: half scikit-learn's 100 trees and depth at most 20: the ONNX graph's size and latency grow with every node.")
    tree: TreeModelConfig = Field(default_factory=TreeModelConfig, description="tree: scikit-learn's DecisionTreeClassifier defaults.")
    parity_tolerance: float = Field(1e-4, gt=0, description="Max |p_library - p_onnx| on selection rows; thresholds are made float32-exact first.")


class OptimizeConfig(Section):
    variants: list[str] = Field(
        default_factory=lambda: list(DEFAULT_VARIANTS),
        description="Recipes to build, each one variant folder (rtguard/catalog.py says where each applies): "
        + catalog.names_for_people() + ".",
    )
    opset: int = Field(20, ge=17, le=23)
    calibration_samples: int = Field(2000, ge=16, description="Training rows used to calibrate static INT8.")
    parity_tolerance: float = Field(1e-4, gt=0, description="Max |p_torch - p_onnx| allowed for an FP32 export.")
    pruning: PruningConfig = Field(default_factory=PruningConfig)
    distillation: DistillationConfig = Field(default_factory=DistillationConfig)
    qat: QatConfig = Field(default_factory=QatConfig)
    mixed_precision: MixedPrecisionConfig = Field(default_factory=MixedPrecisionConfig)
    adversarial: AdversarialFinetuneConfig = Field(default_factory=AdversarialFinetuneConfig)
    trees: TreesConfig = Field(default_factory=TreesConfig)

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if catalog.entry(n) is None]
        if unknown:
            raise ValueError(f"unknown variants {unknown}: use {catalog.names_for_people()}")
        if len(set(names)) != len(names):
            raise ValueError("a variant is listed twice")
        return names


def _positive_levels(levels: list[float]) -> list[float]:
    if not levels or any(level <= 0 for level in levels) or len(set(levels)) != len(levels):
        raise ValueError("must list at least one level, each positive and listed once")
    return sorted(levels)


class RobustnessConfig(Section):
    """Security evaluation of every variant (rtguard/evaluate/robustness.py): evasion, noise, membership inference.

    Budgets and noise are in the model's standardized space: 1 = one training standard deviation
    of the (log-scaled) feature. The defaults add well under a minute to the default run.
    """

    enabled: bool = Field(True, description="Attack every variant in `evaluate`.")
    mutable: list[str] | None = Field(
        None, min_length=1, description="Features the attacker controls on its own flows; None: the data set's default "
        "threat model (rtguard/evaluate/threat_model.py). Every other feature, and every categorical, stays as it was."
    )
    epsilons: list[float] = Field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0], description="L∞ attack budgets.")
    attack_flows: int = Field(500, ge=1, description="Test attack flows attacked by FGSM/PGD on the reference, then sent to every variant.")
    pgd_steps: int = Field(10, ge=1, description="PGD iterations (step 2.5·ε/steps).")
    blackbox_flows: int = Field(40, ge=1, description="The first of those flows attacked by HopSkipJump, per variant (those it detects).")
    blackbox_iterations: int = Field(10, ge=1, description="HopSkipJump iterations per flow.")
    blackbox_init_eval: int = Field(10, ge=1, description="Queries for HopSkipJump's first gradient estimate (grows with √iteration).")
    blackbox_max_eval: int = Field(100, ge=1, description="Cap on queries per gradient estimate.")
    blackbox_starts: int = Field(128, ge=1, description="Benign training flows, and as many random valid rows, tried as starting points.")
    noise_sigmas: list[float] = Field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0], description="σ of Gaussian noise on the mutable features.")
    noise_rows: int = Field(5000, ge=1, description="Test rows (all classes) scored under noise.")
    membership_rows: int = Field(2000, ge=2, description="Validation flows (non-members) and as many training flows (members); "
                                                         "half fit the attack, half score it.")
    seed: int = 0

    _levels = field_validator("epsilons", "noise_sigmas")(_positive_levels)


class EvaluateConfig(Section):
    latency_calls: int = Field(1000, ge=10, description="Timed batch-1 calls per variant (after warm-up).")
    warmup_calls: int = Field(100, ge=0)
    throughput_batch: int = Field(1024, ge=1)
    throughput_seconds: float = Field(1.0, gt=0, description="Measuring time per variant at the throughput batch size.")
    threads: int | None = Field(None, ge=1, description="Threads for torch and ONNX Runtime; None uses all cores.")
    backends: list[Literal["onnxruntime", "openvino", "tensorrt", "torch-eager", "torch-compile"]] | None = Field(
        None, description="Inference backends every variant is measured on (onnxruntime, openvino, tensorrt, torch-eager, "
        "torch-compile); None: every one installed here. A missing package is reported and skipped.")
    backend_latency_calls: int = Field(
        200, ge=10, description="Timed batch-1 calls per (variant, backend) pair, single-threaded (fewer than latency_calls: many pairs).")
    backend_throughput_seconds: float = Field(
        0.25, gt=0, description="Measuring time per (variant, backend) pair at throughput_batch, all cores.")
    backend_tolerance: float = Field(
        0.001, ge=0, le=1, description="Largest share of test rows a backend may classify differently from the same artifact on "
        "ONNX Runtime (torch backends: from the PyTorch reference); beyond it the pair is flagged and never selected.")
    robustness: RobustnessConfig = Field(default_factory=RobustnessConfig)


class RuntimeConfig(Section):
    """How a variant is checked, loaded and run (rtguard/runtime): limits before speed."""

    threads: int | None = Field(None, ge=1, description="ONNX Runtime intra-op threads; None uses all cores.")
    graph_optimization: Literal["disabled", "basic", "extended", "all"] = Field(
        "all", description="ONNX Runtime graph optimization level applied when a session loads."
    )
    log_level: Literal["verbose", "info", "warning", "error", "fatal"] = Field("error", description="ONNX Runtime log severity.")
    memory_limit_mib: int = Field(
        1024, ge=16, description="Cap on ONNX Runtime's CPU arena, shared by the process's sessions: a call that needs more fails."
    )
    max_model_mib: int = Field(256, ge=1, description="Largest model (graph plus external data) or variant folder that is read at all.")
    extra_ops: list[str] = Field(
        default_factory=list, description="ONNX operators (default domain) allowed beyond those rtguard's exporters and quantizers produce."
    )
    min_opset: int = Field(17, ge=1, description="Oldest default-domain opset a model may import.")
    max_opset: int = Field(23, ge=1, description="Newest default-domain opset a model may import.")
    min_ir_version: int = Field(8, ge=3, description="Oldest ONNX IR version accepted.")
    max_ir_version: int = Field(11, ge=3, description="Newest ONNX IR version accepted.")
    deadline_ms: float = Field(1000.0, gt=0, description="A call running longer is terminated (RunOptions.terminate).")
    max_batch: int = Field(8192, ge=1, description="Most rows one call may carry.")
    out_of_range: Literal["clip", "reject"] = Field(
        "clip", description="Numeric values outside the training range in schema.json: clip them (counted) or reject the call."
    )
    isolate: bool = Field(False, description="Run the session in a worker process with resource limits.")
    worker_memory_mib: int = Field(4096, ge=512, description="Worker address-space limit (RLIMIT_AS).")
    worker_cpu_seconds: int = Field(10, ge=1, description="CPU seconds one call may use in the worker (RLIMIT_CPU, re-armed per call).")

    @field_validator("extra_ops")
    @classmethod
    def _known_ops(cls, names: list[str]) -> list[str]:
        import onnx  # only when extra ops are configured

        unknown = [name for name in names if not onnx.defs.has(name)]
        if unknown:
            raise ValueError(f"not ONNX operators of the default domain: {', '.join(unknown)}")
        return names

    @model_validator(mode="after")
    def _ranges(self) -> RuntimeConfig:
        if self.min_opset > self.max_opset or self.min_ir_version > self.max_ir_version:
            raise ValueError("min_opset/min_ir_version must not exceed max_opset/max_ir_version")
        return self


class SigningConfig(Section):
    """Who signs variants, and whose signatures a verified load accepts (rtguard/integrity)."""

    key: Path | None = Field(None, description="Private key (PEM, from `rtguard keygen`): `rtguard run` signs every evaluated variant.")
    public_key: Path | None = Field(None, description="Public key whose signatures a verified load accepts.")
    allow_unsigned: bool = Field(
        False, description="INSECURE, development only: load variants without verifying a signature (logged as a warning)."
    )


class ServeConfig(Section):
    """How `rtguard serve` answers (rtguard/serve): batching, limits, access control, operations."""

    host: str = Field("127.0.0.1", description="Address to listen on; a non-loopback address needs API keys (or allow_anonymous).")
    port: int = Field(8000, ge=0, le=65535)
    model_name: str = Field(
        "rtguard", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="The name clients address (/v2/models/<name>); kept across hot reloads and used by `rtguard export triton`.",
    )
    backend: Literal["onnxruntime", "openvino"] | None = Field(
        None, description="Inference backend the variant is served through; None: the one selection.json chose (onnxruntime when it names none).")
    batching: bool = Field(True, description="Coalesce requests that arrive together into one session run.")
    batch_window_ms: float = Field(
        1.0, ge=0, le=1000, description="How long the first request of a batch waits for others (event-loop timer: whole milliseconds "
        "under uvloop); 0 batches only what arrives in the same turn of the loop."
    )
    max_batch_rows: int = Field(1024, ge=1, description="Most rows one coalesced run carries; a larger single request runs alone (up to runtime.max_batch).")
    request_deadline_ms: float = Field(
        100.0, gt=0, description="A request not run within this time is answered 503 instead of late; a client's `timeout` parameter (µs) can shorten it."
    )
    max_body_kib: int = Field(8192, ge=1, description="Largest request body accepted, before and after decompression (413 beyond).")
    api_keys_file: Path | None = Field(None, description="File of API keys, one `name:token` (or `token`) a line, readable by its owner only.")
    api_keys_env: str = Field("RTGUARD_API_KEYS", description="Environment variable with comma-separated `name:token` keys, read when set.")
    allow_anonymous: bool = Field(False, description="Serve a non-loopback address without API keys (anyone who reaches the port may score).")
    admin_keys_file: Path | None = Field(None, description="File of admin keys (`name:token` a line, owner-only): the repository API "
                                         "(hot reload) needs one of them, even on loopback; no admin keys: no hot reload.")
    admin_keys_env: str = Field("RTGUARD_ADMIN_KEYS", description="Environment variable with comma-separated `name:token` admin keys, read when set.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Host header names accepted besides the listening address "
                                     "(and localhost on loopback): a request naming any other host is refused (DNS rebinding).")
    release_state: Path | None = Field(None, description="File keeping the highest signed release served per model (rollback "
                                       "protection); default: beside --config as <config>.releases.json.")
    rate_limit_per_s: float = Field(0.0, ge=0, description="Requests per second per client (API key, else address); 0 disables the limit.")
    rate_limit_burst: int = Field(100, ge=1, description="Requests a client may send at once before rate_limit_per_s applies.")
    tls_certfile: Path | None = Field(None, description="PEM certificate chain: serve HTTPS (with tls_keyfile).")
    tls_keyfile: Path | None = Field(None, description="PEM private key of tls_certfile.")
    alert_threshold: float = Field(0.5, gt=0, le=1, description="/score alerts when the attack classes together reach this probability.")
    access_log: bool = Field(True, description="One JSON log line per request (never a key or a body).")
    shutdown_timeout_s: float = Field(10.0, gt=0, description="On SIGTERM, how long in-flight requests may take to finish.")
    keep_alive_s: float = Field(
        75.0, gt=0, description="Idle keep-alive connections close after this; keep it above a load balancer's idle timeout (60 s on many)."
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> ServeConfig:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        return self


class TaskConfig(Section):
    """What the run builds; a table, not a top-level key, because config.toml is written as tables."""

    kind: Literal["classify", "anomaly"] = Field(
        "classify", description="classify: a supervised classifier of the attack classes; anomaly: detectors trained "
        "on benign flows only, alerting on what they never saw (the [anomaly] section)."
    )


class AnomalyConfig(Section):
    """The anomaly task (rtguard/train/anomaly.py, rtguard/optimize/anomaly.py): benign-only training, a calibrated threshold."""

    detector: Literal["autoencoder", "kitnet"] = Field(
        "autoencoder", description="The reference detector (model.safetensors): a dense autoencoder, or a KitNET-style "
        "ensemble of small autoencoders over groups of correlated features."
    )
    target_fpr: float = Field(
        0.01, gt=0, lt=0.5, description="False-positive rate the alert threshold is calibrated to, on the benign validation flows "
        "of each variant's own scores; the threshold is a constant inside the exported graph."
    )
    hidden: list[int] = Field(default_factory=lambda: [32, 8], description="autoencoder: encoder widths, the last one the "
                              "bottleneck; the decoder mirrors them.")
    max_group_size: int = Field(
        5, ge=2, description="kitnet: most features (after one-hot encoding) in one group's autoencoder. Measured on the default "
        "data (20,000 benign rows): AUROC 0.85 with 5, 0.80 with 10 (KitNET's own default, for 100-odd features)."
    )
    kitnet_epochs: int = Field(
        10, ge=1, description="kitnet: epochs of each stage (ensemble, then output layer); KitNET itself learns in one online "
        "pass, and its many small layers make each epoch slow."
    )
    group_compression: float = Field(0.75, gt=0, le=1, description="kitnet: hidden width of a group's autoencoder as a share of its features.")
    forest_trees: int = Field(
        50, ge=1, description="isolation-forest: number of trees. Half scikit-learn's default: path lengths settle well before "
        "100 trees (Liu et al., 2008), and skl2onnx's conversion time and the artifact's latency grow with each tree."
    )
    forest_samples: int = Field(256, ge=2, description="isolation-forest: rows drawn to grow each tree (scikit-learn's default).")
    max_train_rows: int | None = Field(
        20_000, ge=100, description="Benign training rows used at most (a random subset); None uses all. Normal traffic repeats "
        "itself: on the default data the autoencoder's AUROC was 0.898 from 20,000 rows and 0.885 from all 64,800, in a third of the time."
    )

    _widths = field_validator("hidden")(_positive_widths)


class RunConfig(Section):
    task: TaskConfig = Field(default_factory=TaskConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    optimize: OptimizeConfig = Field(default_factory=OptimizeConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    signing: SigningConfig = Field(default_factory=SigningConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @model_validator(mode="after")
    def _variants_fit_the_task(self) -> RunConfig:
        """Each task and reference gets the catalog's default variants; a recipe that does not apply is an error that says why."""
        task = self.task.kind
        reference = self.anomaly.detector if task == "anomaly" else self.model.family
        if "variants" not in self.optimize.model_fields_set:
            self.optimize.variants = catalog.defaults(task, reference)
        for name in self.optimize.variants:
            reason = catalog.refusal(name, task, reference)
            if reason:
                raise ValueError(f"optimize.variants: {reason}")
        if task == "anomaly" and self.train.adversarial.method != "none":
            raise ValueError(f"train.adversarial does not apply to the anomaly task: {catalog.entry('adversarial').refused['anomaly']}")
        if task == "classify" and reference in catalog.TREE_FAMILIES and self.train.adversarial.method != "none":
            raise ValueError(f"train.adversarial does not apply to a {reference} reference: {catalog.entry('adversarial').refused[reference]}")
        return self


def load_config(path: Path | None, task: str | None = None) -> RunConfig:
    """Read a TOML file (or the defaults when path is None) into a validated RunConfig.

    `task` (the command line's --task) sets [task] kind before validation, so what the file leaves
    at its defaults follows that task (the anomaly task's own variants) and what it sets is checked against it.
    """
    raw = {} if path is None else read_toml(path, "config", ConfigError)
    if task is not None:
        raw["task"] = (raw["task"] if isinstance(raw.get("task"), dict) else {}) | {"kind": task}
    if path is None and task is None:
        return RunConfig()
    return validate_config(raw, source=str(path) if path is not None else "--task")


def read_toml(path: Path, what: str, error: type[Exception]) -> dict:
    """A TOML file as a dict; every way it can be unreadable becomes `error` with one clear line."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path} is not valid TOML: {exc}") from None


def validation_problems(exc: ValidationError) -> str:
    """pydantic's errors as `section.key: message; ...`, naming every offending key."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())


def validate_config(raw: dict, source: str = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration in {source}: {validation_problems(exc)}") from None


def with_data_overrides(config: RunConfig, **values) -> RunConfig:
    """Apply command-line data options (those not None) and validate the result again."""
    raw = config.model_dump(mode="json", exclude_none=True)
    raw["data"].update({key: value for key, value in values.items() if value is not None})
    return validate_config(raw, source="command-line options")


def dump_config(config: RunConfig) -> str:
    """The resolved configuration as TOML (written as config.toml in the run folder)."""
    return _to_toml(config.model_dump(mode="json", exclude_none=True))


def _to_toml(tables: dict, prefix: str = "") -> str:
    """Sections as [table]; a section's sub-sections follow it as [table.sub]."""
    lines: list[str] = []
    for table, values in tables.items():
        lines.append(f"[{prefix}{table}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items() if not isinstance(value, dict))
        lines.append("")
        nested = {key: value for key, value in values.items() if isinstance(value, dict)}
        if nested:
            lines.append(_to_toml(nested, prefix=f"{prefix}{table}."))
    return "\n".join(lines)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")

"""Typed configuration of a run, loaded from TOML.

Every section forbids unknown keys, so a typo in a config file is an error that names
the key instead of a setting silently ignored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rtguard.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    dataset: Literal["synthetic", "nsl-kdd", "csv"] = Field(
        "synthetic", description="Which loader reads the data."
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


class ModelConfig(Section):
    hidden: list[int] = Field(default_factory=lambda: [128, 64], description="Widths of the MLP's hidden layers.")
    dropout: float = Field(0.1, ge=0, lt=1)

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, widths: list[int]) -> list[int]:
        if not widths or any(w <= 0 for w in widths):
            raise ValueError("hidden must list at least one positive width")
        return widths


class TrainConfig(Section):
    epochs: int = Field(30, ge=1, description="Upper bound; early stopping usually ends sooner.")
    batch_size: int = Field(512, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(3, ge=1, description="Epochs without validation macro-F1 gain before stopping.")
    class_weighting: Literal["none", "balanced", "sqrt"] = Field(
        "sqrt", description="Loss weights by inverse class frequency: full (balanced), tempered (sqrt) or none."
    )
    seed: int = 0
    threads: int | None = Field(None, ge=1, description="torch threads; None uses all cores.")


class OptimizeConfig(Section):
    variants: list[Literal["onnx-fp32", "int8-dynamic", "int8-static"]] = Field(
        default_factory=lambda: ["onnx-fp32", "int8-dynamic", "int8-static"],
        description="Recipes to build; each yields one variant folder.",
    )
    opset: int = Field(20, ge=17, le=23)
    calibration_samples: int = Field(2000, ge=16, description="Training rows used to calibrate static INT8.")
    parity_tolerance: float = Field(1e-4, gt=0, description="Max |p_torch - p_onnx| allowed for the FP32 export.")


class EvaluateConfig(Section):
    latency_calls: int = Field(1000, ge=10, description="Timed batch-1 calls per variant (after warm-up).")
    warmup_calls: int = Field(100, ge=0)
    throughput_batch: int = Field(1024, ge=1)
    throughput_seconds: float = Field(1.0, gt=0, description="Measuring time per variant at the throughput batch size.")
    threads: int | None = Field(None, ge=1, description="Threads for torch and ONNX Runtime; None uses all cores.")


class RunConfig(Section):
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    optimize: OptimizeConfig = Field(default_factory=OptimizeConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)


def load_config(path: Path | None) -> RunConfig:
    """Read a TOML file (or the defaults when path is None) into a validated RunConfig."""
    if path is None:
        return RunConfig()
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return validate_config(raw, source=str(path))


def validate_config(raw: dict, source: str = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration in {source}: {problems}") from None


def with_data_overrides(config: RunConfig, **values) -> RunConfig:
    """Apply command-line data options (those not None) and validate the result again."""
    raw = config.model_dump(mode="json", exclude_none=True)
    raw["data"].update({key: value for key, value in values.items() if value is not None})
    return validate_config(raw, source="command-line options")


def dump_config(config: RunConfig) -> str:
    """The resolved configuration as TOML (written as config.toml in the run folder)."""
    return _to_toml(config.model_dump(mode="json", exclude_none=True))


def _to_toml(tables: dict) -> str:
    lines: list[str] = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
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

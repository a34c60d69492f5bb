"""The run folder: the only contract between stages.

Files are written atomically (temporary file, then rename), and a stage that
rewrites its outputs removes what later stages derived from the old ones, so a run
folder never looks complete while describing other bytes than it holds.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rtguard.config import RunConfig, dump_config, load_config
from rtguard.errors import RtguardError

STAGES = ("data", "train", "optimize", "evaluate", "report")


class RunFolder:
    def __init__(self, root: Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.toml")
    schema = property(lambda self: self.root / "schema.json")
    data_summary = property(lambda self: self.root / "data.json")
    splits = property(lambda self: self.root / "data" / "splits.npz")
    weights = property(lambda self: self.root / "model.safetensors")
    tree_model = property(lambda self: self.root / "model.trees.onnx")  # a tree reference's trees (model.family gbdt/forest/tree)
    surrogate = property(lambda self: self.root / "surrogate.safetensors")  # the network a tree reference's white-box attacks use
    train_record = property(lambda self: self.root / "train.json")
    checkpoints = property(lambda self: self.root / "checkpoints")  # training checkpoints and their sha256 manifest
    variants = property(lambda self: self.root / "variants")
    baseline_metrics = property(lambda self: self.root / "baseline" / "metrics.json")
    report_json = property(lambda self: self.root / "report.json")
    report_md = property(lambda self: self.root / "report.md")
    failed_variants = property(lambda self: self.variants / "failed.json")  # recipes that could not be built
    report_html = property(lambda self: self.root / "report.html")
    plots = property(lambda self: self.root / "plots")
    policy = property(lambda self: self.root / "policy.toml")  # an input, like config.toml: never invalidated
    selection = property(lambda self: self.root / "selection.json")

    def variant(self, name: str) -> Path:
        return self.variants / name

    def variant_names(self) -> list[str]:
        """Built variants, in the order the run's configuration lists them."""
        configured = self.load_config().optimize.variants
        return [name for name in configured if (self.variant(name) / "model.onnx").is_file()]

    def load_config(self) -> RunConfig:
        self.require(self.config, "create it with `rtguard run` or `rtguard train RUN --config FILE`")
        return load_config(self.config)

    def save_config(self, config: RunConfig) -> None:
        write_text(self.config, dump_config(config))

    def require(self, path: Path, hint: str) -> Path:
        if not path.exists():
            raise RtguardError(f"{path} is missing: {hint}")
        return path

    def read_json(self, path: Path) -> dict:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RtguardError(f"{path} is missing: run the earlier stages first") from None
        except json.JSONDecodeError as exc:
            raise RtguardError(f"{path} is not valid JSON: {exc}") from None

    def invalidate_after(self, stage: str) -> None:
        """Remove outputs of the stages after `stage`: they were derived from the old ones."""
        later = STAGES[STAGES.index(stage) + 1 :]
        doomed: list[Path] = []
        if "train" in later:
            doomed += [self.weights, self.tree_model, self.surrogate, self.train_record, self.checkpoints]
        if "optimize" in later:
            doomed += [self.variants]
        if "evaluate" in later:
            doomed += [self.baseline_metrics.parent, *self.variants.glob("*/metrics.json")]
        if "report" in later:
            # A signature covers metrics.json, so new measurements void it too.
            doomed += [self.report_json, self.report_md, self.report_html, self.plots, self.selection,
                       *self.root.glob("selection.*.json"), *self.variants.glob("*/model.sig")]
        for path in doomed:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def write_text(path: Path, text: str) -> None:
    """Write atomically: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; run folders are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: dict) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


@contextmanager
def building(final: Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; rename it to `final` only if the block succeeds."""
    final = Path(final)
    if final.exists() and not replace:
        raise RtguardError(f"{final} already exists: choose another --out or pass --force")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.partial-"))
    tmp.chmod(0o755)
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)

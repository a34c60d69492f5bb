"""Benchmark (#16): every model family on real NSL-KDD or UNSW-NB15 (binary), beside scikit-learn's default DecisionTree and MLP.

Not a test: it trains and times things. Three parts, all on the same splits of one data set:

1. The reference MLP's training, seed by seed: early stopping on validation macro-F1 (before #16)
   against validation loss (now), and validation loss with the cosine schedule.
2. One rtguard run (default policy; the default variants plus the other tree-family ones; the
   security evaluation on, as the default policy's tie-break reads it) and the variant it ships.
3. Every variant of that run and the two scikit-learn baselines, on the test split: accuracy,
   detection and false-positive rate at argmax and at the operating point (the threshold each
   graph carries, calibrated on the selection split at the policy's 1% FPR; the baselines get
   theirs the same way), and ONNX Runtime speed at batch 1 and 1024 (one thread each).

The baselines are fitted on the rows rtguard trains on (its train split)
and on the features its in-graph preprocessing computes; a second DecisionTree row fits all of
the training file (train, validation and selection splits), as the issue's numbers did.

    .venv/bin/python bench/families.py [--data ../shared/data/nsl-kdd] [--dataset nsl-kdd|unsw-nb15] [--out bench/results] [--seeds 0 1 2]
        [--skip-stability] [--variants NAME ...] [--name families]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from rtguard.artifact import ALERT, INPUT_NAME, OUTPUT_NAME, calibrate_threshold
from rtguard.config import DEFAULT_VARIANTS, validate_config
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.report.table import markdown_grid as markdown_table
from rtguard.runfolder import RunFolder

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nsl-kdd"
EXTRA_TREES = ["gbdt-small", "tree", "tree-distilled", "distilled-gbdt", "ensemble"]  # beside the defaults gbdt and forest
TARGET_FPR = 0.01  # the default policy's operating point
TEST_SPLIT = {"nsl-kdd": "test = KDDTest+, the rest from the training file",
              "unsw-nb15": "every split drawn, stratified, from the official test partition, the only one here"}


DATASETS = {
    "nsl-kdd": lambda data: {"dataset": "nsl-kdd", "path": str(data)},
    # The one UNSW-NB15 partition here (its official test partition): rtguard draws a stratified test split from it.
    "unsw-nb15": lambda data: {"dataset": "csv", "path": str(data / "UNSW_NB15_testing-set.csv" if data.is_dir() else data),
                               "label_column": "label", "benign_label": "0", "drop_columns": ["id", "attack_cat"]},
}


def bench_config(data: Path, variants: list[str], dataset: str = "nsl-kdd", seed: int = 0, **train):
    return validate_config({
        "data": {**DATASETS[dataset](data), "labels": "binary"},
        "train": {"seed": seed, **train},
        "optimize": {"variants": variants},
    })


def rates(predicted_attack: np.ndarray, attack: np.ndarray) -> dict:
    return {"accuracy": float((predicted_attack == attack).mean()), "detection": float(predicted_attack[attack].mean()),
            "fpr": float(predicted_attack[~attack].mean())}


def session(model: onnx.ModelProto | Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def speed(sess: ort.InferenceSession, rows: np.ndarray) -> dict:
    """Batch-1 median latency (µs, 1,000 calls after 100) and batch-1024 rows/s (1 s of calls), one thread."""
    one = rows[:1]
    for _ in range(100):
        sess.run([OUTPUT_NAME], {INPUT_NAME: one})
    times = []
    for index in range(1000):
        row = rows[index % len(rows) : index % len(rows) + 1]
        started = time.perf_counter()
        sess.run([OUTPUT_NAME], {INPUT_NAME: row})
        times.append(time.perf_counter() - started)
    batch = np.resize(rows, (1024, rows.shape[1])).astype(np.float32)
    sess.run([OUTPUT_NAME], {INPUT_NAME: batch})
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < 1.0:
        sess.run([OUTPUT_NAME], {INPUT_NAME: batch})
        calls += 1
    return {"batch1_us": float(np.median(times) * 1e6), "batch1024_rows_s": calls * 1024 / (time.perf_counter() - started)}


def evaluate_graph(sess: ort.InferenceSession, splits: Splits, benign: int, threshold: float | None = None) -> dict:
    """Test metrics at argmax and at the operating point (the graph's alert, or `threshold` on 1 - P(benign))."""
    attack = splits.y_test != benign
    outputs = [o.name for o in sess.get_outputs()]
    probabilities = sess.run([OUTPUT_NAME], {INPUT_NAME: splits.x_test})[0]
    argmax = rates(probabilities.argmax(1) != benign, attack)
    if ALERT in outputs:
        alert = sess.run([ALERT], {INPUT_NAME: splits.x_test})[0].astype(bool)
    else:
        alert = (np.float32(1) - probabilities[:, benign]) >= np.float32(threshold)
    return {"argmax": argmax, "point": rates(alert, attack)}


def train_stability(data: Path, dataset: str, seeds: list[int]) -> list[list[str]]:
    """Test accuracy/detection/FPR (argmax) of the reference MLP per seed and monitor."""
    from rtguard.data.prepare import prepare
    from rtguard.data.stage import load_frames
    from rtguard.train.loop import predict_proba, train_classifier

    rows = []
    settings = [("macro_f1", "constant"), ("val_loss", "constant"), ("val_loss", "cosine")]
    for monitor, schedule in settings:
        results = []
        for seed in seeds:
            config = bench_config(data, ["onnx-fp32"], dataset, seed=seed, monitor=monitor, schedule=schedule)
            schema, splits, _ = prepare(load_frames(config.data), config.data)
            started = time.perf_counter()
            result = train_classifier(schema, splits, config.model, config.train, show_progress=False)
            seconds = time.perf_counter() - started
            predicted = predict_proba(result.model, splits.x_test).argmax(1) != schema.benign_index
            results.append({**rates(predicted, splits.y_test != schema.benign_index), "epochs": result.record["epochs_run"],
                            "best": result.record["best_epoch"], "seconds": seconds})
            print(f"  mlp monitor={monitor} schedule={schedule} seed={seed}: {results[-1]}", flush=True)
        for seed, r in zip(seeds, results):
            rows.append([monitor, schedule, str(seed), f"{r['accuracy']:.3f}", f"{r['detection']:.3f}", f"{r['fpr']:.3f}",
                         f"{r['best']}/{r['epochs']}", f"{r['seconds']:.1f}"])
        accuracy = [r["accuracy"] for r in results]
        rows.append([monitor, schedule, "range", f"{min(accuracy):.3f}–{max(accuracy):.3f}", "", "", "", ""])
    return rows


def baselines(run: RunFolder, splits: Splits, benign: int) -> list[tuple[str, dict, dict]]:
    """scikit-learn's default DecisionTree and MLP (128-64, early stopping) on rtguard's preprocessed features."""
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    from rtguard.models import load_model
    from rtguard.models.trees import merge_classifier
    from rtguard.optimize.export import export_onnx
    from rtguard.optimize.regions import preprocessing_graph

    schema = FeatureSchema.load(run.schema)
    exported = run.root / "reference-export.onnx"  # the raw export: its preprocessing sub-graph, as the tree variants use it
    export_onnx(load_model(schema, run.load_config().model, run.weights), len(schema.features), exported, 20)
    preprocessing, boundary = preprocessing_graph(onnx.load(str(exported)))
    prep = session(preprocessing)
    features = lambda x: prep.run([boundary], {INPUT_NAME: x})[0]  # noqa: E731
    n_classes = int(splits.y_train.max()) + 1
    every_row = (np.concatenate([splits.x_train, splits.x_val, splits.x_selection]),
                 np.concatenate([splits.y_train, splits.y_val, splits.y_selection]))
    models = [
        ("sklearn DecisionTree (train split)", DecisionTreeClassifier(random_state=0), (splits.x_train, splits.y_train)),
        ("sklearn DecisionTree (whole training file)", DecisionTreeClassifier(random_state=0), every_row),
        ("sklearn MLP 128-64 (train split)", MLPClassifier((128, 64), early_stopping=True, random_state=0), (splits.x_train, splits.y_train)),
    ]
    out = []
    for name, estimator, (x, y) in models:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(features(x), y)
        fit_seconds = time.perf_counter() - started
        converted = to_onnx(estimator, features(x[:1]), options={"zipmap": False}, target_opset={"": 20, "ai.onnx.ml": 3})
        graph = merge_classifier(preprocessing, boundary, converted, [int(c) for c in estimator.classes_], n_classes)
        sess = session(graph)
        scores = np.float32(1) - sess.run([OUTPUT_NAME], {INPUT_NAME: splits.x_selection})[0][:, benign]
        threshold = calibrate_threshold(scores[splits.y_selection == benign], TARGET_FPR)
        metrics = evaluate_graph(sess, splits, benign, threshold)
        out.append((name, metrics, {**speed(sess, splits.x_test), "fit_seconds": fit_seconds}))
        print(f"  {name}: {metrics}", flush=True)
    return out


def main() -> int:
    from rtguard.pipeline import run_pipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NSL-KDD: folder with KDDTrain+ and KDDTest+ files; "
                        "unsw-nb15: the folder or the CSV of its test partition")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="nsl-kdd")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where NAME.md goes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-stability", action="store_true", help="leave out part 1 (the MLP per seed)")
    parser.add_argument("--variants", nargs="+", help="variants of the run (default: the default list and every other tree-family one)")
    parser.add_argument("--name", default="families", help="results file name (NAME.md)")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"{args.dataset} not found at {args.data}: pass --data", file=sys.stderr)
        return 2

    started = time.perf_counter()
    stability = [] if args.skip_stability else train_stability(args.data, args.dataset, args.seeds)
    variants = args.variants or [*DEFAULT_VARIANTS, *EXTRA_TREES]
    with tempfile.TemporaryDirectory() as scratch:
        print(f"==> rtguard run on {args.data} (binary): {', '.join(variants)}", flush=True)
        run_pipeline(bench_config(args.data, variants, args.dataset), Path(scratch) / "run", show_progress=False)
        run = RunFolder(Path(scratch) / "run")
        selection = json.loads((run.root / "selection.json").read_text())
        schema, splits = FeatureSchema.load(run.schema), Splits.load(run.splits)
        benign = schema.benign_index
        train = json.loads(run.train_record.read_text())
        failed = json.loads(run.failed_variants.read_text())["failed"] if run.failed_variants.exists() else []
        table = []
        for name in run.variant_names():
            record = json.loads((run.variant(name) / "variant.json").read_text())
            sess = session(run.variant(name) / "model.onnx")
            table.append((name, evaluate_graph(sess, splits, benign), {**speed(sess, splits.x_test),
                                                                      "produce_seconds": record["cost"]["produce_seconds"]}))
            print(f"  {name}: {table[-1][1]}", flush=True)
        table += baselines(run, splits, benign)

    shipped = selection.get("chosen")
    header = ["model", "accuracy", "detection", "FPR", "accuracy @op", "detection @op", "FPR @op", "batch-1 µs", "batch-1024 rows/s", "seconds to build"]
    lines = []
    for name, m, s in table:
        label = f"**{name}** (shipped)" if name == shipped else name
        cost = s.get("produce_seconds", s.get("fit_seconds"))
        lines.append([label, *(f"{m['argmax'][k]:.3f}" for k in ("accuracy", "detection", "fpr")),
                      *(f"{m['point'][k]:.3f}" for k in ("accuracy", "detection", "fpr")),
                      f"{s['batch1_us']:.1f}", f"{s['batch1024_rows_s']:,.0f}", f"{cost:.1f}"])
    load = os.getloadavg()
    text = "\n".join([
        f"# Model families on {args.dataset} (binary)",
        "",
        f"`{' '.join(['.venv/bin/python', *sys.argv])}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (a shared machine: speeds are indicative), "
        f"{time.perf_counter() - started:.0f} s in all.",
        "",
        f"Data: {args.data} (train {len(splits.y_train):,}, validation {len(splits.y_val):,}, selection {len(splits.y_selection):,}, "
        f"test {len(splits.y_test):,} rows; {TEST_SPLIT[args.dataset]}). Reference MLP {train['settings'].get('monitor')}"
        f" monitor, best epoch {train['best_epoch']} of {train['epochs_run']}.",
        "",
        "## Every variant and the baselines, test split",
        "",
        "@op: at the operating point each graph carries (attack score ≥ the threshold calibrated on the selection split at "
        f"{TARGET_FPR:.0%} FPR, the default policy's); baselines calibrated the same way. Speed: ONNX Runtime, one thread.",
        "",
        markdown_table(header, lines),
        "",
        f"Variants configured: {', '.join(variants)}."
        + "".join(f" Not built: {f['variant']} ({f['error']})." for f in failed),
        "",
        f"Shipped under the default policy: **{shipped}** ({selection.get('verdict', '')})",
        "",
        *(["## The reference MLP per seed (test split, argmax)", "",
           markdown_table(["monitor", "schedule", "seed", "accuracy", "detection", "FPR", "best/run epochs", "train s"], stability), ""]
          if stability else []),
    ])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

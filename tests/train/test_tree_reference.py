"""A tree model as the run's reference (model.family gbdt/forest/tree): fitted, exported behind the preprocessing,
evaluated, attacked through a surrogate and chosen among its own family's variants."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest

from rtguard import catalog
from rtguard.config import validate_config
from rtguard.data.schema import FeatureSchema
from rtguard.errors import ConfigError
from rtguard.optimize.regions import preprocessing_graph
from rtguard.runfolder import RunFolder
from rtguard.stream.flows import records_from_rows

VARIANTS = ["onnx-fp32", "forest", "gbdt-small", "distilled-gbdt"]
GBDT = {"model": {"family": "gbdt"},
        "optimize": {"variants": VARIANTS, "distillation": {"student_hidden": [8], "epochs": 2},
                     "trees": {"gbdt": {"trees": 20}, "gbdt_small": {"trees": 5, "leaves": 4}, "forest": {"trees": 5}}}}


@pytest.fixture(scope="module")
def gbdt_run(tmp_path_factory, tiny_settings) -> RunFolder:
    from rtguard.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("runs") / "gbdt"
    run_pipeline(validate_config(tiny_settings | GBDT), out, show_progress=False)
    return RunFolder(out)


def test_the_train_stage_fits_the_trees_and_records_their_cost_and_parity(gbdt_run):
    record = json.loads(gbdt_run.train_record.read_text())
    assert record["family"] == "gbdt" and record["fit_seconds"] > 0 and record["tree_nodes"] > 0
    assert record["parity"]["max_abs_diff"] <= record["parity"]["tolerance"] and record["parity"]["rows"] > 0
    assert gbdt_run.tree_model.is_file() and not gbdt_run.weights.exists()  # data-only ONNX, no network weights
    assert 0 < record["validation"]["macro_f1"] <= 1
    assert gbdt_run.surrogate.is_file() and record["surrogate"]["agreement_on_validation"] > 0.5  # it learned the trees' verdicts


def test_its_export_is_the_reference_as_fitted_and_every_variant_builds(gbdt_run):
    assert sorted(gbdt_run.variant_names()) == sorted(VARIANTS)
    exported = json.loads((gbdt_run.variant("onnx-fp32") / "metrics.json").read_text())
    assert exported["agreement"] == 1.0 and exported["max_abs_prob_diff"] <= 1e-4  # same trees, same probabilities
    model = onnx.load(str(gbdt_run.variant("onnx-fp32") / "model.onnx"))
    preprocessing, boundary = preprocessing_graph(model)  # the trees are the model part, as a network would be
    assert not any("TreeEnsemble" in node.op_type for node in preprocessing.graph.node) and boundary
    assert json.loads((gbdt_run.variant("onnx-fp32") / "variant.json").read_text())["params"] == \
        json.loads(gbdt_run.train_record.read_text())["tree_nodes"]


def test_the_reference_row_is_named_after_the_family_and_attacks_use_a_surrogate(gbdt_run):
    selection = json.loads(gbdt_run.selection.read_text())
    assert selection["reference"] == "gbdt-reference"
    assert selection["variants"][0]["name"] == "gbdt-reference" and not selection["variants"][0]["candidate"]
    baseline = json.loads(gbdt_run.baseline_metrics.read_text())
    assert baseline["backend"] == "trees-as-fitted"
    attacks = baseline["robustness"]["attacks"]
    assert "MLP surrogate" in attacks["pgd"] and "gbdt reference" in attacks["fgsm"]
    assert set(baseline["evasion_rate"]) == {"fgsm", "pgd", "hopskipjump"}
    report = gbdt_run.report_md.read_text()
    assert "with the gradients of an MLP surrogate" in report and "gbdt-reference: the fitted trees behind" in report


def test_its_chosen_variant_is_signed_and_opened_like_any_other(gbdt_run, tmp_path):
    import rtguard
    from rtguard.integrity import generate_keypair, sign_all

    private, public = generate_keypair(tmp_path / "rtguard.key")
    sign_all(gbdt_run.root, private)
    schema = FeatureSchema.load(gbdt_run.schema)
    flows = pd.DataFrame(records_from_rows(np.load(gbdt_run.splits)["x_test"][:50], schema))
    with rtguard.open_run(gbdt_run.root, public_key=public) as detector:
        assert detector.variant == json.loads(gbdt_run.selection.read_text())["chosen"]
        verdicts = detector.predict(flows)
    assert len(verdicts) == 50 and verdicts["alert"].dtype == bool and np.isfinite(verdicts["attack_score"]).all()


def test_passes_that_need_a_network_are_refused_for_a_tree_reference_with_the_reason():
    assert catalog.defaults("classify", "gbdt")[:2] == ["onnx-fp32", "forest"]
    for name in ("int8-dynamic", "fp16", "qat-int8", "pruned-50", "adversarial", "distilled-small", "mixed-int8"):
        assert name not in catalog.defaults("classify", "forest")
        with pytest.raises(ConfigError, match=f"optimize.variants: {name} does not apply to a forest reference: "):
            validate_config({"model": {"family": "forest"}, "optimize": {"variants": [name]}})
    with pytest.raises(ConfigError, match=r"gbdt is the reference \(model.family\)"):
        validate_config({"model": {"family": "gbdt"}, "optimize": {"variants": ["gbdt"]}})
    with pytest.raises(ConfigError, match="ensemble does not apply to a gbdt reference: it votes the reference with"):
        validate_config({"model": {"family": "gbdt"}, "optimize": {"variants": ["ensemble"]}})
    with pytest.raises(ConfigError, match="train.adversarial does not apply to a tree reference"):
        validate_config({"model": {"family": "tree"}, "train": {"adversarial": {"method": "fgsm"}}})


def test_a_tree_reference_is_not_resumed_or_fine_tuned(gbdt_run, tmp_path):
    from rtguard.train.stage import train_run
    from rtguard.train.update import update_run

    with pytest.raises(ConfigError, match="fitted in one go"):
        train_run(gbdt_run, show_progress=False, resume=True)
    with pytest.raises(ConfigError, match="fine-tunes a network reference"):
        update_run(gbdt_run, tmp_path / "new.csv", tmp_path / "updated")
    assert np.isfinite(json.loads(gbdt_run.train_record.read_text())["fit_seconds"])  # the refusals changed nothing

"""Security evaluation of every variant, side by side: evasion, noise and membership inference.

Does quantization, pruning or distillation make a detector easier to evade, or leak more
about its training flows? Every variant meets the same attack flows, the same noisy rows
and the same membership sets (seeded), so a difference between variants is the model's,
not the sample's. Attack flows and noisy rows come from the selection split: the policy
gate reads these numbers, and no decision reads the test split. The sample sizes and query
budgets are recorded beside the numbers, so a
reader can judge how far a difference of a few flows carries.
"""

from __future__ import annotations

import time

import numpy as np
from torch import nn

from rtguard.config import ModelConfig, RobustnessConfig
from rtguard.data.prepare import Splits
from rtguard.data.schema import FeatureSchema
from rtguard.evaluate.attacks import PGD_STEP, BlackBoxBudget, hopskipjump, whitebox_rows
from rtguard.evaluate.predictors import Predictor
from rtguard.evaluate.privacy import LOW_FPR, membership_inference
from rtguard.evaluate.threat_model import ThreatModel

SPACE = ("L∞ in the model's standardized space: log1p for log-scaled features, then (x - center) / scale; "
         "ε = 1 moves each mutable feature by at most one training standard deviation")
OUTCOME_KEYS = ("evasion_rate", "robust_accuracy", "mean_perturbation")  # what outcome() returns, in order
ATTACKS = {  # {} names the network the white-box attacks are crafted on
    "fgsm": "white-box FGSM on {}, its rows transferred to every variant",
    "pgd": "white-box PGD on {}, its rows transferred to every variant",
    "hopskipjump": "black-box HopSkipJump against each variant itself, by queries only",
}
REFERENCE_NETWORK = "the reference (torch-fp32)"
# Trees have no gradients: a tree reference's transfer attacks are crafted on this network instead, trained by the train
# stage on the reference's own verdicts (rtguard/train/trees.py), as an attacker would train a stand-in (Papernot et al. 2016).
SURROGATE_MODEL = ModelConfig(family="mlp")
SURROGATE = "an MLP surrogate trained on the {} reference's predicted classes (trees have no gradients)"


def robustness_metrics(predictors: list[Predictor], reference: nn.Module, threat: ThreatModel, schema: FeatureSchema,
                       splits: Splits, settings: RobustnessConfig, advance=lambda: None,
                       crafted_on: str = REFERENCE_NETWORK) -> dict[str, dict]:
    """{variant: metrics}: evasion_rate, robust_accuracy, mean_perturbation ({attack: {ε: value}}),
    noise_accuracy ({σ: accuracy}), membership_auc, membership_tpr_at_low_fpr, and `robustness`,
    the threat model, sample sizes and budgets behind them. `reference` is the network the white-box
    attacks are crafted on (`crafted_on` says which: a tree reference's is a surrogate)."""
    started = time.perf_counter()
    benign, n_classes = schema.benign_index, len(schema.classes)
    rng = np.random.default_rng(settings.seed)
    flows = _sample(np.flatnonzero(splits.y_selection != benign), settings.attack_flows, rng)
    x, y = splits.x_selection[flows], splits.y_selection[flows]
    crafted = whitebox_rows(reference, threat, x, benign, n_classes, settings.epsilons, settings.pgd_steps) if len(x) else {}
    pool = splits.x_train[_sample(np.flatnonzero(splits.y_train == benign), settings.blackbox_starts, rng)]
    noise_idx = _sample(np.arange(len(splits.y_selection)), settings.noise_rows, rng)
    noisy = {sigma: noisy_rows(threat, splits.x_selection[noise_idx], sigma, rng) for sigma in settings.noise_sigmas}
    members, non_members = _membership_sets(splits, settings.membership_rows, rng)
    budget = BlackBoxBudget(settings.blackbox_iterations, settings.blackbox_init_eval, settings.blackbox_max_eval,
                            settings.blackbox_starts)
    shared_seconds = time.perf_counter() - started

    results = {}
    for predictor in predictors:
        own_start = time.perf_counter()
        predict = lambda rows: predictor.predict(rows).argmax(axis=1)  # noqa: E731
        before = predict(x)
        outcomes = {attack: {eps: outcome(before, predict(rows), y, threat.distance(x, rows), benign)
                             for eps, rows in by_eps.items()} for attack, by_eps in crafted.items()}
        n = settings.blackbox_flows
        blackbox, blackbox_record = _blackbox(predictor, threat, x[:n], y[:n], before[:n], pool, benign, n_classes, budget, settings)
        outcomes |= blackbox
        privacy = membership_inference(predictor.predict, members, non_members, n_classes, settings.seed)
        record = _record(threat, settings, before, benign, len(noise_idx), len(members[0]), blackbox_record, crafted_on)
        results[predictor.name] = {
            **(_by_metric(outcomes) if len(x) else {}),  # no attack flows in the selection split: evasion not measured
            "noise_accuracy": {f"{sigma:g}": float((predict(rows) == splits.y_selection[noise_idx]).mean()) for sigma, rows in noisy.items()},
            "membership_auc": privacy["auc"],
            "membership_tpr_at_low_fpr": privacy["tpr_at_low_fpr"],
            # seconds: this variant's attacks plus the preparation all variants share
            "robustness": record | {"seconds": shared_seconds + time.perf_counter() - own_start},
        }
        advance()
    for metrics in results.values():
        metrics["robustness"]["total_seconds"] = time.perf_counter() - started  # every variant's, together
    return results


def _by_metric(outcomes: dict) -> dict:
    """{attack: {ε: outcome}} as the three metric keys, each {attack: {ε: value}}, ε as a JSON key ("0.5")."""
    return {key: {attack: {f"{eps:g}": values[index] for eps, values in by_eps.items()} for attack, by_eps in outcomes.items()}
            for index, key in enumerate(OUTCOME_KEYS)}


def outcome(before: np.ndarray, after: np.ndarray, truth: np.ndarray, distance: np.ndarray,
            benign: int) -> tuple[float | None, float | None, float | None]:
    """(evasion rate, robust accuracy, mean perturbation) of one attack at one ε.

    Evasion rate: of the flows the variant detected before the attack (any attack class),
    the share it scores benign after; None when it detected none. Robust accuracy: the share
    of all attacked flows still given their true class. Mean perturbation: the mean L∞
    distance of the detected flows' attacked rows from the originals.
    """
    detected = before != benign
    if not len(truth):
        return None, None, None
    robust = float((after == truth).mean())
    if not detected.any():
        return None, robust, None
    return float((after[detected] == benign).mean()), robust, float(distance[detected].mean())


def noisy_rows(threat: ThreatModel, rows: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of σ standardized units on the mutable features, projected onto valid rows."""
    points = threat.to_space(rows)
    points[:, threat.mutable] += sigma * rng.standard_normal((len(rows), int(threat.mutable.sum())))
    return threat.move(rows, points)


def _blackbox(predictor: Predictor, threat: ThreatModel, x: np.ndarray, y: np.ndarray, before: np.ndarray,
              pool: np.ndarray, benign: int, n_classes: int, budget: BlackBoxBudget, settings: RobustnessConfig):
    """HopSkipJump on the detected flows; at each ε a flow evades if the attack found a benign row within ε."""
    detected = before != benign
    result = hopskipjump(predictor.predict, threat, x[detected], pool, benign, n_classes, budget, settings.seed)
    outcomes = {}
    distance = np.zeros(len(x))
    distance[detected] = np.where(result.evades, result.distance, np.inf)
    for eps in settings.epsilons:
        within = distance <= eps  # undetected flows are not attacked: distance 0, prediction unchanged
        outcomes[eps] = outcome(before, np.where(within & detected, benign, before), y, np.where(within, distance, 0.0), benign)
    queries = result.queries
    record = {"flows": len(x), "detected": int(detected.sum()), "evaded_at_any_distance": int(result.evades.sum()),
              "queries_per_flow_mean": float(queries.mean()) if len(queries) else 0.0,
              "queries_per_flow_max": int(queries.max()) if len(queries) else 0}
    return {"hopskipjump": outcomes}, record


def _record(threat: ThreatModel, settings: RobustnessConfig, before: np.ndarray, benign: int, noise_rows: int,
            members: int, blackbox: dict, crafted_on: str) -> dict:
    """What the numbers rest on: who may change what, on how many flows, with what budget."""
    whitebox = {"flows": len(before), "detected": int((before != benign).sum())}
    return {
        "threat_model": {"mutable": threat.mutable_names, "source": threat.source, "space": SPACE},
        "attacks": {attack: text.format(crafted_on) for attack, text in ATTACKS.items()},
        "crafted_on": crafted_on,  # the network FGSM and PGD were crafted on
        "samples": {"fgsm": whitebox, "pgd": whitebox, "hopskipjump": blackbox, "noise_rows": noise_rows},
        "budgets": {
            "epsilons": settings.epsilons, "pgd_steps": settings.pgd_steps, "pgd_step": f"{PGD_STEP} * ε / {settings.pgd_steps}",
            "hopskipjump": {"iterations": settings.blackbox_iterations, "init_eval": settings.blackbox_init_eval,
                            "max_eval": settings.blackbox_max_eval, "start_candidates": 2 * settings.blackbox_starts},
        },
        "membership": {"attack": "ART MembershipInferenceBlackBox, a random forest on class probabilities and true label; "
                                 "half of each set fits it, the other half scores it",
                       "members": members, "non_members": members, "low_fpr": LOW_FPR,
                       "sets": "members from the training split, non-members from the validation split "
                               "(same distribution, never fitted), class by class in equal numbers"},
        "seed": settings.seed,
    }


def _membership_sets(splits: Splits, rows: int, rng: np.random.Generator):
    """Validation flows (non-members) and training flows (members), class by class in equal numbers,
    so the attack cannot win on class frequencies. Not the test split: its drift would tell members
    from non-members without any leakage."""
    drawn = _sample(np.arange(len(splits.y_val)), rows, rng)
    members, non_members = [], []
    for label in np.unique(splits.y_val[drawn]):
        out = drawn[splits.y_val[drawn] == label]
        inside = _sample(np.flatnonzero(splits.y_train == label), len(out), rng)
        members.append(inside)
        non_members.append(out[: len(inside)])
    members, non_members = rng.permutation(np.concatenate(members)), rng.permutation(np.concatenate(non_members))
    return (splits.x_train[members], splits.y_train[members]), (splits.x_val[non_members], splits.y_val[non_members])


def _sample(indices: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n of the indices, drawn without replacement, in their original order."""
    return np.sort(rng.choice(indices, min(n, len(indices)), replace=False)) if len(indices) else indices

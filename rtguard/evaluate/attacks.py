"""Evasion attacks from IBM's Adversarial Robustness Toolbox, run inside the threat model.

Every attack is targeted at the benign class, which is what an intrusion detector's
attacker wants, works in the standardized space of the threat model (so ε means the same
for every feature) and returns valid raw flows (ThreatModel.project).

White-box FGSM and PGD follow the reference's gradients. HopSkipJump only ever calls a
variant's predict function: a quantized model's gradients are meaningless (gradient
masking), so querying the deployed session is the honest test of INT8 and pruned variants.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rtguard.evaluate.threat_model import ThreatModel

WHITEBOX = ("fgsm", "pgd")
# A start scored benign within a batch is checked again alone, as ART will check it: a dynamically
# quantized variant scales its activations per batch, so a row's score can depend on its neighbours.
START_CHECKS = 8
PGD_STEP = 2.5  # PGD step = PGD_STEP * ε / steps: Madry et al.'s choice, lets the iterate cross the ball


class InSpace(nn.Module):
    """The reference seen from the standardized space, so gradient steps are comparable across features."""

    def __init__(self, model: nn.Module, threat: ThreatModel):
        super().__init__()
        self.model = model
        self.register_buffer("log_scale", torch.tensor(threat.log_scale))
        self.register_buffer("center", torch.tensor(threat.center, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(threat.scale, dtype=torch.float32))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        logged = points * self.scale + self.center
        # expm1 only where the feature is log-scaled: elsewhere a large raw value would overflow it, and the
        # inf in the branch torch.where discards still makes the gradient NaN.
        return self.model(torch.where(self.log_scale, torch.expm1(torch.where(self.log_scale, logged, 0.0)), logged))


def whitebox_rows(model: nn.Module, threat: ThreatModel, rows: np.ndarray, benign: int, n_classes: int,
                  epsilons: list[float], pgd_steps: int) -> dict[str, dict[float, np.ndarray]]:
    """{attack: {ε: valid raw rows}}: FGSM and PGD (L∞, targeted at benign) on the reference's gradients."""
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    points = threat.to_space(rows).astype(np.float32)
    low, high = _frame(threat.to_space(threat.lower), threat.to_space(threat.upper), points)
    classifier = PyTorchClassifier(InSpace(model, threat), loss=nn.CrossEntropyLoss(), input_shape=(rows.shape[1],),
                                   nb_classes=n_classes, clip_values=(low, high))
    target = np.eye(n_classes, dtype=np.float32)[np.full(len(rows), benign)]
    mask = threat.mutable.astype(np.float32)
    crafted: dict[str, dict[float, np.ndarray]] = {name: {} for name in WHITEBOX}
    for eps in epsilons:
        attacks = {
            "fgsm": FastGradientMethod(classifier, norm=np.inf, eps=eps, targeted=True, batch_size=512),
            # ART wants a positive step even at ε = 0, where the projection undoes it
            "pgd": ProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=max(PGD_STEP * eps / pgd_steps, 1e-6),
                                            max_iter=pgd_steps, targeted=True, batch_size=512, verbose=False),
        }
        for name, attack in attacks.items():
            step = attack.generate(points, target, mask=mask) - points  # exactly 0 where nothing moved
            crafted[name][eps] = threat.move(rows, threat.to_space(rows) + step)
    return crafted


@dataclass
class BlackBoxBudget:
    iterations: int  # HopSkipJump iterations (boundary step, gradient estimate, step search)
    init_eval: int  # queries for the first gradient estimate (grows with sqrt(iteration))
    max_eval: int  # cap on queries per gradient estimate
    starts: int  # benign flows, and as many random valid rows, tried as starting points


@dataclass
class BlackBoxResult:
    rows: np.ndarray  # final valid raw rows (the original where the attack found no start)
    evades: np.ndarray  # bool: the variant scores the final row benign
    distance: np.ndarray  # L∞ in the standardized space
    queries: np.ndarray  # rows the attack sent to the variant, per flow


def hopskipjump(predict, threat: ThreatModel, rows: np.ndarray, benign_pool: np.ndarray, benign: int, n_classes: int,
                budget: BlackBoxBudget, seed: int) -> BlackBoxResult:
    """Query-only, targeted at benign, one flow at a time so each query is projected onto that flow's valid rows."""
    results = []
    for index, row in enumerate(rows):
        # Seeded per flow: a flow whose search takes another turn on another variant (a float
        # difference at the boundary) must not shift the random draws of every flow after it.
        # ART draws HopSkipJump's random directions from numpy's global generator.
        with _seeded_numpy(seed + index):
            results.append(_one_flow(predict, threat, row, benign_pool, np.random.default_rng([seed, index]), benign,
                                     n_classes, budget))
    final = np.array([r[0] for r in results], dtype=np.float32).reshape(rows.shape)
    evades = np.array([r[1] for r in results], dtype=bool)
    return BlackBoxResult(final, evades, threat.distance(rows, final), np.array([r[2] for r in results]))


def _one_flow(predict, threat: ThreatModel, row: np.ndarray, pool: np.ndarray, rng: np.random.Generator, benign: int,
              n_classes: int, budget: BlackBoxBudget) -> tuple[np.ndarray, bool, int]:
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifier

    sent = [0]
    # The attack sees only the mutable coordinates: the immutable ones cannot move, and their
    # codes and ranges would otherwise set HopSkipJump's step sizes.
    mutable, base = threat.mutable, threat.to_space(row)
    origin = base[None, mutable].astype(np.float32)  # where the attack starts from, in its float32
    low, high = (threat.to_space(bound)[mutable] for bound in threat.bounds(row))

    def valid(moved: np.ndarray) -> np.ndarray:
        """Points over the mutable coordinates -> this flow's valid raw rows."""
        points = np.repeat(base[None], len(moved), axis=0)
        points[:, mutable] += moved - origin  # exactly 0 where nothing moved
        return threat.move(row, points)

    def ask(candidates: np.ndarray) -> np.ndarray:
        sent[0] += len(candidates)
        return predict(candidates)

    # Starting points: benign flows' mutable features pasted onto this flow (what an attacker
    # copies from traffic it sees), and uniform draws from the flow's valid box (ART's own start,
    # seeded here); HopSkipJump walks from the nearest one the variant scores benign. They pass
    # through valid() as every query does, so ART's own check of the start sees the same rows.
    pasted = threat.to_space(threat.project(row, np.where(mutable, pool[: budget.starts], row)))[:, mutable] - base[mutable]
    points = np.concatenate([origin + pasted, rng.uniform(low, high, size=(budget.starts, len(low)))]).astype(np.float32)
    points = points[ask(valid(points)).argmax(axis=1) == benign]
    start = next((p[None] for p in points[np.argsort(np.abs(points - origin).max(axis=1))][:START_CHECKS]
                  if ask(valid(p[None])).argmax(axis=1)[0] == benign), None)
    if start is None:
        return row, False, sent[0]

    low, high = _frame(low, high, origin)
    classifier = BlackBoxClassifier(lambda moved: ask(valid(moved)), input_shape=(len(low),), nb_classes=n_classes,
                                    clip_values=(low, high))
    attack = HopSkipJump(classifier, targeted=True, norm=np.inf, max_iter=budget.iterations, max_eval=budget.max_eval,
                         init_eval=budget.init_eval, batch_size=256, verbose=False)
    target = np.eye(n_classes, dtype=np.float32)[[benign]]
    moved = attack.generate(origin, target, x_adv_init=start)
    final = valid(moved)
    return final[0], bool(ask(final).argmax(axis=1)[0] == benign), sent[0]


def _frame(low: np.ndarray, high: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ART's clip box: the bounds, widened to the points themselves and to a non-empty interval
    (ART rejects min >= max); the real per-flow bounds are enforced by ThreatModel.project."""
    low = np.minimum(low, points.min(axis=0))
    high = np.maximum(np.maximum(high, points.max(axis=0)), low + 1e-3)
    return low.astype(np.float32), high.astype(np.float32)


@contextmanager
def _seeded_numpy(seed: int):
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)

"""Adversarial training: the model also learns from attack flows shaped to look benign.

The perturbation is the evasion the security evaluation measures (rtguard/evaluate): only
the attacker's own flows move (training rows of an attack class), only on the features the
threat model lets it control, within the ranges seen in training, in the standardized
space where ε means the same for every feature, toward the benign class.

ART's adversarial trainers perturb every row and every feature and run their own loop, so
the few lines of FGSM/PGD live here instead and the objective plugs into rtguard's loop:
adversarial training is timed, early-stopped and class-weighted like any other training.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rtguard.config import AdversarialConfig
from rtguard.evaluate.attacks import PGD_STEP, InSpace
from rtguard.evaluate.threat_model import ThreatModel
from rtguard.train.objective import Objective

FAST_FGSM_STEP = 1.25  # step = 1.25·ε from a random start: Wong et al. (2020), "Fast is better than free"


def adversarial_objective(model: nn.Module, clean: Objective, x_train: np.ndarray, y_train: np.ndarray,
                          threat: ThreatModel, settings: AdversarialConfig, benign: int) -> Objective:
    """(1 - weight) · clean loss + weight · loss on the batch with its attack flows perturbed toward benign."""
    return AdversarialObjective(InSpace(model, threat), clean, x_train, y_train, threat, settings, benign)


class AdversarialObjective:
    """The objective the loop calls; `row_weights` are the clean objective's, so a split batch still sums exactly."""

    def __init__(self, space: InSpace, clean: Objective, x_train: np.ndarray, y_train: np.ndarray,
                 threat: ThreatModel, settings: AdversarialConfig, benign: int):
        self.space, self.clean, self.settings, self.benign = space, clean, settings, benign  # space shares the model's parameters
        self.row_weights = getattr(clean, "row_weights", None)
        self.points = torch.from_numpy(threat.to_space(x_train).astype(np.float32))
        self.low, self.high = (torch.from_numpy(threat.to_space(bound).astype(np.float32)) for bound in threat.bounds(x_train))
        self.movable = torch.from_numpy(threat.mutable)[None, :] & torch.from_numpy(y_train != benign)[:, None]

    def __call__(self, logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        index, device = rows.cpu(), logits.device
        self.space.to(device)  # its buffers follow the model to the training device (a no-op once there)
        attacked = perturb(self.space, *(t[index].to(device) for t in (self.points, self.low, self.high, self.movable)),
                           self.settings, self.benign)
        return (1 - self.settings.weight) * self.clean(logits, rows) + self.settings.weight * self.clean(self.space(attacked), rows)


def perturb(space: nn.Module, start: torch.Tensor, low: torch.Tensor, high: torch.Tensor, movable: torch.Tensor,
            settings: AdversarialConfig, benign: int) -> torch.Tensor:
    """L∞ FGSM (random start) or PGD toward `benign`, zero where not `movable`, kept within [low, high].

    The model is in eval mode while the attack runs (batch norm statistics are not updated
    by attack steps) and gradients go to the input only, never to the parameters.
    """
    eps = settings.epsilon
    if settings.method == "fgsm":
        steps, step = 1, FAST_FGSM_STEP * eps
        delta = torch.empty_like(start).uniform_(-eps, eps)
    else:
        steps, step = settings.pgd_steps, PGD_STEP * eps / settings.pgd_steps
        delta = torch.zeros_like(start)
    mask = movable.to(start.dtype)
    target = torch.full((len(start),), benign, dtype=torch.long, device=start.device)
    was_training = space.training
    space.eval()
    try:
        delta = _project(start, delta * mask, low, high, eps)
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(space(start + delta), target)
            (grad,) = torch.autograd.grad(loss, delta)
            delta = _project(start, (delta - step * grad.sign()) * mask, low, high, eps)
    finally:
        space.train(was_training)
    return (start + delta).detach()


def _project(start: torch.Tensor, delta: torch.Tensor, low: torch.Tensor, high: torch.Tensor, eps: float) -> torch.Tensor:
    """Back into the ε-ball and the valid box; a coordinate that may not move has delta 0 already."""
    return torch.clamp(start + delta.detach().clamp(-eps, eps), low, high) - start

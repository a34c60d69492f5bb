"""Membership inference: can an attacker who queries a variant tell its training flows from others?

Compression can raise leakage (a pruned or distilled model may fit its training flows more
tightly), so every variant is attacked alike with ART's MembershipInferenceBlackBox: an
attack model learns from the variant's class probabilities and the true label whether a
flow was a member. Members and non-members are split in halves, one to fit the attack and
one to score it, so the AUC is measured on flows the attack never saw.
"""

from __future__ import annotations

import numpy as np

LOW_FPR = 0.01  # a membership attack matters when it is right about a few flows at a low false-positive rate


def membership_inference(predict, members: tuple[np.ndarray, np.ndarray], non_members: tuple[np.ndarray, np.ndarray],
                         n_classes: int, seed: int) -> dict[str, float]:
    """Attack AUC and the true-positive rate at LOW_FPR; 0.5 and ~LOW_FPR mean nothing leaks."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox
    from art.estimators.classification import BlackBoxClassifier
    from sklearn.metrics import roc_auc_score, roc_curve

    (x_in, y_in), (x_out, y_out) = members, non_members
    half_in, half_out = len(x_in) // 2, len(x_out) // 2
    classifier = BlackBoxClassifier(predict, input_shape=(x_in.shape[1],), nb_classes=n_classes)
    attack = MembershipInferenceBlackBox(classifier, input_type="prediction", attack_model_type="rf")
    attack.attack_model.set_params(random_state=seed, min_samples_leaf=5, n_jobs=1)  # ART leaves its forest unseeded
    attack.fit(x_in[:half_in], y_in[:half_in], x_out[:half_out], y_out[:half_out])
    scores = np.concatenate([attack.infer(x_in[half_in:], y_in[half_in:], probabilities=True),
                             attack.infer(x_out[half_out:], y_out[half_out:], probabilities=True)]).ravel()
    truth = np.r_[np.ones(len(x_in) - half_in), np.zeros(len(x_out) - half_out)]
    fpr, tpr, _ = roc_curve(truth, scores)
    return {"auc": float(roc_auc_score(truth, scores)), "tpr_at_low_fpr": float(tpr[fpr <= LOW_FPR].max())}

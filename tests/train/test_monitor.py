"""Early stopping and the kept epoch follow validation loss (a signal that moves), reproducibly; the cosine schedule."""

from __future__ import annotations

import math

import pytest

from rtguard.train.loop import step_size, train_classifier


def test_the_kept_epoch_is_the_one_with_the_lowest_validation_loss_and_runs_repeat(tiny_context, tiny_config):
    settings = tiny_config.train.model_copy(update={"epochs": 5, "patience": 5})
    first = train_classifier(tiny_context.schema, tiny_context.splits, tiny_config.model, settings, show_progress=False)
    history = first.record["history"]
    assert first.record["settings"]["monitor"] == "val_loss"
    assert first.record["best_epoch"] == min(history, key=lambda entry: entry["val_loss"])["epoch"]
    again = train_classifier(tiny_context.schema, tiny_context.splits, tiny_config.model, settings, show_progress=False)
    assert [entry["val_loss"] for entry in again.record["history"]] == [entry["val_loss"] for entry in history]


def test_macro_f1_can_still_be_monitored(tiny_context, tiny_config):
    settings = tiny_config.train.model_copy(update={"epochs": 3, "monitor": "macro_f1"})
    record = train_classifier(tiny_context.schema, tiny_context.splits, tiny_config.model, settings, show_progress=False).record
    assert record["best_epoch"] == max(record["history"], key=lambda entry: entry["val_macro_f1"])["epoch"]


@pytest.mark.parametrize("epoch,expected", [(1, 1.0), (3, 0.5 * (1 + math.cos(math.pi * 2 / 4))), (4, 0.5 * (1 + math.cos(math.pi * 3 / 4)))])
def test_cosine_decays_from_the_step_size_and_constant_keeps_it(epoch, expected):
    assert step_size(2e-3, epoch, 4, "cosine") == pytest.approx(2e-3 * expected)
    assert step_size(2e-3, epoch, 4, "constant") == 2e-3

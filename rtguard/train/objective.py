"""What a training loop minimises: a loss of (logits, the batch's rows), named once for the loop and its objectives."""

from __future__ import annotations

from collections.abc import Callable

import torch

# (logits of a batch, the batch's row indices into the training split) -> loss, the batch's mean.
# An objective may carry `row_weights` (each training row's weight in that mean); without it rows weigh alike.
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

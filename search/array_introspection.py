"""Introspection of a trial-array member: the statistics its best weights give, measured after the array's fit.

A lone trial's :class:`~search.trial_introspection.TrialIntrospection` watches its fit epoch by epoch; an array
trains its members in one fused model with no per-member probe, so a member gets what can be measured afterwards
from its best epoch's weights (``MemberResult.state``, a single :class:`~models.classifier.RNNClassifier` state):
weight norms per layer, direction and gate, spectral norms of the recurrent weights, and the activation
statistics (saturated gates, dead units, hidden-state norm) of the fixed validation batch in eval mode, and
the gradient statistics the array gathered over the member's fit (``MemberResult.gradients``: global norm before
clipping, mean and max; each role's norm; the fraction of steps clipped). Not available for a member: per-epoch
records of these numbers, and the figures.
"""

from __future__ import annotations

from typing import Any

import torch

from models.classifier import RNNClassifier
from models.config import RNNConfig, TrainConfig
from models.data import SequenceDataModule
from models.introspect import capture, compact, diagnose, fixed_batch, weight_stats
from search.trial_introspection import _rounded


def member_statistics(
    rnn: RNNConfig,
    train: TrainConfig,
    state: dict[str, Any],
    data: SequenceDataModule,
    gradients: dict[str, float] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """The compact statistics of a member's best weights on ``data``'s fixed validation batch with its fit's
    ``gradients`` statistics, and their diagnoses (the keys a lone trial's ``introspection`` attribute has)."""
    model = RNNClassifier(rnn, train)
    model.load_state_dict(state)
    model.eval()
    x, lengths = fixed_batch(data)
    with torch.no_grad():
        row = weight_stats(model.net)
        row.update(capture(model.net, x, lengths).stats)
    row.update(gradients or {})
    stats = _rounded(compact(row))
    return stats, diagnose(stats)

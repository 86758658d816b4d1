"""Introspection of a trial-array member: a lone trial's per-epoch records, measured from the stacked model.

A lone trial's :class:`~search.trial_introspection.TrialIntrospection` watches its fit epoch by epoch. An array
trains its members in one fused model, so :func:`models.array.fit_array` hands each member's weights after every
validation (``on_record``: one :class:`~models.classifier.RNNClassifier` state, on the CPU) with the gradient
statistics of the epoch's steps, and a :class:`MemberProbe` records them with the same
:class:`~models.introspect.Introspection` a lone trial uses: weight norms per layer, direction and gate, spectral
norms of the recurrent weights, the activation statistics (saturated gates, dead units, hidden-state norm) of the
fixed validation batch in eval mode, and the gradient statistics (global norm before clipping, mean and max; each
role's norm; the fraction of steps clipped). At the end of the member's introspected fold the record is stored as
a lone trial's (:func:`search.trial_introspection.store_records`): the statistics of the best epoch and their
diagnoses as user attributes, and with an artifact store the whole record, whose figures are drawn off the trial's
path (``make dashboard`` / ``make figures`` / the report). The same epochs are recorded as a lone trial's
(``Introspection(every_n_epochs=RECORD_EVERY, ends=True)``): every :data:`~models.introspect.callback.RECORD_EVERY`
epochs, the fit's last epoch when it ran its course, and its best epoch from the weights the array kept of it
(``MemberResult.state``); a member's weights are copied out of the stacked model only for those epochs.
Differences from a lone trial: the record replays no validation pass (it runs its own forward on the fixed batch:
a lone trial reuses its validation pass's layer outputs), and a member that diverges mid-epoch has no extra
"diverged" record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore

from models.classifier import RNNClassifier
from models.config import RNNConfig, TrainConfig
from models.datamodule import SequenceDataModule
from models.introspect import Introspection, fixed_batch, weight_histograms
from models.introspect.callback import RECORD_EVERY
from search.trial_introspection import store_records


class MemberProbe:
    """One member's per-epoch introspection: its weights loaded into a single classifier, recorded by an
    :class:`~models.introspect.Introspection` probe on ``data``'s fixed validation batch."""

    def __init__(self, rnn: RNNConfig, train: TrainConfig, data: SequenceDataModule) -> None:
        self.model = RNNClassifier(rnn, train)
        self.model.eval()
        self.probe = Introspection(fixed_batch(data), every_n_epochs=RECORD_EVERY, ends=True)
        self.recorded = False

    def record(
        self, epoch: int, state: Callable[[], dict[str, torch.Tensor]], gradients: dict[str, float], final: bool
    ) -> None:
        """The member after ``epoch`` (``state()``: its weights, asked for only when recorded) with that epoch's
        ``gradients`` statistics; ``final``: the epoch ended its fit (recorded, as a lone fit's last epoch is)."""
        self.probe.epoch_gradients[epoch] = gradients
        if not (self.probe.due(epoch) or final):
            return
        self.model.load_state_dict(state())
        self.probe.record(self.model, epoch, gradients)  # epochs come in order: the record is the newest
        self.recorded = True

    def store(
        self, trial: optuna.Trial, best_epoch: int | None, store: FileSystemArtifactStore | None,
        best_state: dict[str, torch.Tensor] | None = None,
    ) -> None:  # fmt: skip
        """Store the records on ``trial`` as a lone trial's (the best epoch's statistics, recorded now from
        ``best_state`` when not yet; with ``store`` the record and its reserved figures); the weight histograms are
        those of the last recorded weights, as a lone fit's are those it ended with."""
        if not self.recorded:
            return
        if best_epoch is not None and best_state is not None:
            self.probe.record_end(self.model, best_epoch, best_state)
        if self.probe.keep_histograms:
            self.probe.histograms = weight_histograms(self.model.net)
        store_records(trial, self.probe, best_epoch, store)


def member_probes(members: list[Any], data: SequenceDataModule) -> list[MemberProbe]:
    """A probe per member (``members``: objects with ``rnn`` and ``train``)."""
    return [MemberProbe(m.rnn, m.train, data) for m in members]

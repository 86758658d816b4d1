"""WholeFoldsPruner: a cross-validated trial is judged only on whole folds.

A cross-validated trial reports the running mean over its folds at step ``fold * max_epochs + epoch``
(:class:`search.objective.RunningMean`). A pruner that judges it inside a fold compares a configuration that is
still learning with one that has converged, and regularization slows learning: that is its job. In
``studies/lstm-long.yaml`` on ArrowHead (36 training sequences, 5 folds of 278 epochs), Hyperband's first rung
pruned the LSTM-FCN recipe (dropout 0.8 on the RNN's side of the head) at epoch 70 of its first fold with 0.616,
although cross-validated unpruned it scores 0.972 against the baseline's 0.917 (its first fold ends at 0.865
against 0.739; its mean best epoch is 217 against 95). Judged on whole folds, it completed at 0.972, was chosen and
confirmed, and retrained to 84.2 % test accuracy against the baseline's 81.4 % (5 seeds; README, "Quality").
The rule here: while a trial is on its folds, the pruner it wraps
is asked only at a fold's last step (``(step + 1) % fold_steps == 0``; a fold that early-stops reports its
finished running mean there, :func:`search.objective.fold_end_report`), never in the middle of one. Every trial
then runs at least one fold to its end (or its early stopping), and is compared on what it finished.

With one fold (a holdout) there is nothing between folds to judge at: :func:`search.samplers.make_pruner` does not
wrap the pruner then, and pruning inside the one fit stays as it was.
"""

from __future__ import annotations

import optuna


class WholeFoldsPruner(optuna.pruners.BasePruner):
    """Ask ``pruner`` only at the last step of a fold of ``fold_steps`` steps; anywhere else: do not prune."""

    def __init__(self, pruner: optuna.pruners.BasePruner, fold_steps: int) -> None:
        if not isinstance(pruner, optuna.pruners.BasePruner):
            raise TypeError(f"pruner={pruner!r}: allowed: an optuna.pruners.BasePruner")
        if isinstance(fold_steps, bool) or not isinstance(fold_steps, int) or fold_steps < 1:
            raise ValueError(f"fold_steps={fold_steps!r}: allowed: an integer >= 1 (a fold's epochs)")
        self.pruner, self.fold_steps = pruner, fold_steps

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or (step + 1) % self.fold_steps:
            return False
        return self.pruner.prune(study, trial)

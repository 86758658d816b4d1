"""WholeFoldsPruner: a cross-validated trial is judged only on whole folds.

A cross-validated trial reports the running mean over its folds at step ``fold * max_epochs + epoch``
(:class:`search.objective.RunningMean`). A pruner that judges it inside a fold compares a configuration that is
still learning with one that has converged, and regularization slows learning: that is its job. In
``studies/lstm-long.yaml`` on ArrowHead (36 training sequences, 5 folds of 278 epochs), Hyperband's first rung
pruned the LSTM-FCN recipe (dropout 0.8 on the RNN's side of the head) at epoch 70 of its first fold with 0.616,
although cross-validated unpruned it scores 0.972 against the baseline's 0.917 (its first fold ends at 0.865
against 0.739; its mean best epoch is 217 against 95). Judged on whole folds, it completed at 0.972, was chosen and
confirmed, and retrained to 84.2 % test accuracy against the baseline's 81.4 % (5 seeds, the front end's skip
then searched; README, "Quality").
The rule here: while a trial is on its folds, the pruner it wraps
is asked only at a fold's last step (``(step + 1) % fold_steps == 0``; a fold that early-stops reports its
finished running mean there, :func:`search.objective.fold_end_report`), never in the middle of one. Every trial
then runs at least one fold to its end (or its early stopping), and is compared on what it finished.

With one fold (a holdout) there is nothing between folds to judge at: :func:`search.samplers.make_pruner` does not
wrap the pruner then, and pruning inside the one fit stays as it was.

**Not on noise.** Hyperband and successive halving keep the top third of a rung by rank, however small the margin.
With a study's validation folds of a few sequences, a rank is a coin: in ``studies/lstm-long.yaml`` on ArrowHead
(folds of 7 sequences) the baseline and eight other trials ended their first fold at the same accuracy, and the
ranking among them was the tie-break on validation loss (``models.train.score``), which a regularized, less
confident model loses by design: the LSTM-FCN recipe was pruned there at 0.7377 against the baseline's 0.7408.
Kept by the rule below, it completed at 0.9465, the study's best (the baseline 0.9170; retrained by the verdict's
protocol 84.0 % against 79.8 %, 5 seeds; README, "Cross-validation"), for 1.47x the study's epochs. So, given
the sequences a study validates on (``sequences``: the training split, its folds together), a trial that the
wrapped pruner would cut is kept when its running mean is within :func:`tolerance` of the best any trial reported
at the same fold end: one standard error of the best's accuracy over the sequences validated so far, and never
less than one sequence's worth (the reported scores compared to the whole sequences that spans, :func:`margin`). It is the selection's own one-standard-error rule (``search.selection``) applied
before a trial is cut. A trial well below the best is still pruned; with ``val_loss`` as the metric (no accuracy
to take an error of) nothing is kept this way.
"""

from __future__ import annotations

import math

import optuna


def tolerance(best: float, judged: float) -> float:
    """How far below ``best`` (a running mean of validation accuracy over ``judged`` sequences) a trial's running
    mean may be and still not differ from it: the binomial standard error of ``best`` over ``judged`` sequences,
    at least one sequence's worth (a best of 1.0 has no error of its own)."""
    p = min(max(best, 0.0), 1.0)
    return max(math.sqrt(p * (1.0 - p) / judged), 1.0 / judged)


def margin(best: float, judged: float) -> float:
    """How far below ``best`` a trial's reported *score* may be and still be within :func:`tolerance` in accuracy:
    the whole sequences the tolerance spans, plus half a sequence's worth. The values are scores, accuracy less
    its tie-break term (``models.train.score``: larger for a less confident trial, and far below half a sequence),
    while accuracies differ by whole sequences: compared directly, a perfect best cut the trials one sequence below
    by ~7e-5 (the floor of one sequence kept only equal accuracies: 6 of the default study's 10 prunings)."""
    return (math.floor(tolerance(best, judged) * judged + 1e-9) + 0.5) / judged


class WholeFoldsPruner(optuna.pruners.BasePruner):
    """Ask ``pruner`` only at the last step of a fold of ``fold_steps`` steps; anywhere else: do not prune.

    ``sequences`` (the sequences the folds validate on, together), when given with ``folds``, keeps a trial the
    pruner would cut whose value is within :func:`tolerance` of the best value reported at that step (maximized
    studies only: accuracy)."""

    def __init__(
        self, pruner: optuna.pruners.BasePruner, fold_steps: int, sequences: int | None = None, folds: int = 1
    ) -> None:
        if not isinstance(pruner, optuna.pruners.BasePruner):
            raise TypeError(f"pruner={pruner!r}: allowed: an optuna.pruners.BasePruner")
        if isinstance(fold_steps, bool) or not isinstance(fold_steps, int) or fold_steps < 1:
            raise ValueError(f"fold_steps={fold_steps!r}: allowed: an integer >= 1 (a fold's epochs)")
        if sequences is not None and (isinstance(sequences, bool) or not isinstance(sequences, int) or sequences < 1):
            raise ValueError(f"sequences={sequences!r}: allowed: None or an integer >= 1 (the folds' sequences)")
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
            raise ValueError(f"folds={folds!r}: allowed: an integer >= 1")
        self.pruner, self.fold_steps, self.sequences, self.folds = pruner, fold_steps, sequences, folds

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or (step + 1) % self.fold_steps:
            return False
        return self.pruner.prune(study, trial) and not self.within_error(study, trial, step)

    def within_error(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, step: int) -> bool:
        """Whether ``trial``'s value at fold-end ``step`` is within :func:`tolerance` of the best value any trial
        reported there (False without ``sequences`` or for a minimized study)."""
        if self.sequences is None or study.direction != optuna.study.StudyDirection.MAXIMIZE:
            return False
        value = trial.intermediate_values.get(step)
        if value is None or not math.isfinite(value):
            return False
        reported = (t.intermediate_values.get(step) for t in study.get_trials(deepcopy=False))
        best = max([value, *(v for v in reported if v is not None and math.isfinite(v))])
        judged = self.sequences * min(step // self.fold_steps + 1, self.folds) / self.folds
        return value >= best - margin(best, judged)

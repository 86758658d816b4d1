"""review4: the confirmation on a fresh partition with folds of 1,000 validation sequences or more."""

from __future__ import annotations

from pathlib import Path

import optuna

from search.selection import confirm, select
from search.spec import parse_study
from search.verdict import at_epochs, baseline_config, cross_validate
from tests.test_selection import BASE, FIVE, add
from tests.test_verdict import VERDICT

SIZES = [1200, 1200, 1199]
ACC = [1080 / 1200, 1080 / 1200, 1079 / 1199]  # both runs: the same accuracy on every fresh fold


def _first() -> object:
    study = optuna.create_study(direction="maximize")
    add(study, 0.95, FIVE, [0.95, 0.96, 0.94])
    add(study, 0.9, BASE, [0.9] * 3)
    first = select(study, baseline=BASE)
    assert first.baseline is not None  # the best beat the baseline on the study's folds: confirm runs
    return first


def _run(tie_loss: float, acc_curves: bool) -> dict[str, object]:
    run: dict[str, object] = {"fold_curves": [[round(a - tie_loss / (10 * (n + 1)), 6)] for a, n in zip(ACC, SIZES)]}
    if acc_curves:
        run["fold_acc_curves"] = [[round(a, 6)] for a in ACC]
    return run


def test_large_folds_compare_their_accuracies_not_their_tie_breaks() -> None:
    """Folds of >= 1000 sequences: the tie-break is still up to 1 / (n + 1) (~1e-3, not below the 6th decimal as
    at_epochs said), and scores read as accuracies "confirmed" a best whose fresh folds equal the baseline's."""
    first = _first()
    s = confirm(first, at_epochs(_run(0.5, True), 1, SIZES), at_epochs(_run(6.0, True), 1, SIZES),  # type: ignore[arg-type]
                "val_acc", "maximize", 1)  # fmt: skip
    assert s.confirmation is not None and not s.confirmation["confirmed"], s.rule
    assert s.confirmation["difference"] == 0.0
    # a run cached before the accuracy curves were recorded is read as before (its scores): "confirmed"
    old = confirm(first, at_epochs(_run(0.5, False), 1, SIZES), at_epochs(_run(6.0, False), 1, SIZES),  # type: ignore[arg-type]
                  "val_acc", "maximize", 1)  # fmt: skip
    assert old.confirmation is not None and old.confirmation["confirmed"]


def test_a_cross_validation_with_large_folds_records_its_accuracy_curves(tmp_path: Path) -> None:
    spec = parse_study({**VERDICT, "dataset": "synthetic:n=2500,length=4", "budget": {"trials": 1, "max_epochs": 2},
                        "architecture": {"cell": "gru", "hidden_size": 4}}, tmp_path / "v.yaml")  # fmt: skip
    run = cross_validate(spec, baseline_config(spec))  # 2 folds of 1250 validation sequences
    assert len(run["fold_acc_curves"]) == 2 and all(
        len(c) == len(s) for c, s in zip(run["fold_acc_curves"], run["fold_curves"])
    )
    read = at_epochs(run, 2, [1250, 1250])
    assert read["fold_accs"] == [c[1] for c in run["fold_acc_curves"]]
    assert all(abs(a * 1250 - round(a * 1250)) < 1e-6 for a in read["fold_accs"])  # whole sequences
    small = parse_study(VERDICT, tmp_path / "small.yaml")  # small folds: nothing more is stored
    assert "fold_acc_curves" not in cross_validate(small, baseline_config(small))

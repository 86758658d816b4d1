"""The accuracy tie-break's loss: cross-entropy after temperature scaling (models.calibration)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

import search.worker as worker
from models.calibration import calibrated_loss
from models.config import configs_for
from models.data import synthetic_splits
from models.datamodule import SequenceDataModule
from models.train import fit, score
from search.spec import load_study
from search.storage import open_storage
from search.worker import TIE_BREAK, TIE_BREAK_ATTR, ensure_study

ROOT = Path(__file__).resolve().parents[1]


def _case(seed: int = 0, n: int = 60, classes: int = 5, sharp: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    z = torch.randn(n, classes, generator=g) + 1.5 * F.one_hot(y, classes)  # mostly right, some wrong
    return sharp * z, y


def _brute(z: torch.Tensor, y: torch.Tensor) -> float:
    """The minimum over a dense grid of temperatures (1,601 values, 0.58 % apart)."""
    return min(float(F.cross_entropy(z.double() / 10 ** (e / 400), y)) for e in range(-800, 801))


@pytest.mark.parametrize("sharp", [0.05, 0.3, 1.0, 4.0, 30.0])
def test_it_is_the_loss_at_the_best_temperature(sharp: float) -> None:
    z, y = _case(sharp=sharp)
    got, raw = float(calibrated_loss(z, y)), float(F.cross_entropy(z.double(), y))
    assert got <= raw + 1e-12  # T = 1 is tried
    assert math.isclose(got, _brute(z, y), rel_tol=2e-3)  # the refined grid finds the minimum (6 % steps)


@pytest.mark.parametrize("factor", [0.1, 0.25, 0.5, 2.0, 5.0, 10.0])
def test_a_model_only_less_or_more_confident_ties(factor: float) -> None:
    """Softer logits (as mixup or label smoothing train) with the same ranking: the raw loss tells them apart,
    the calibrated loss does not (within the grid's resolution)."""
    z, y = _case()
    raw_a, raw_b = F.cross_entropy(z, y), F.cross_entropy(z * factor, y)
    assert abs(float(raw_a - raw_b)) > 0.05
    assert math.isclose(float(calibrated_loss(z, y)), float(calibrated_loss(z * factor, y)), rel_tol=3e-3)


def test_it_still_ranks_a_better_separating_model_first() -> None:
    z, y = _case()
    worse = z + 3.0 * torch.randn(z.shape, generator=torch.Generator().manual_seed(1))  # the same scale, noisier
    assert float(calibrated_loss(z, y)) < float(calibrated_loss(worse, y))


def test_an_array_of_models_gets_each_one_its_own_temperature() -> None:
    z, y = _case()
    stack = torch.stack([z, z / 7, z * 3 + 0.5 * torch.randn(z.shape, generator=torch.Generator().manual_seed(2))])
    together = calibrated_loss(stack, y)
    assert together.shape == (3,)
    for k in range(3):
        assert float(together[k]) == pytest.approx(float(calibrated_loss(stack[k], y)), rel=1e-12)


@pytest.mark.parametrize(
    ("metric", "acc", "loss", "tie", "expected"),
    [
        ("val_acc", 0.9, 0.5, 0.2, 0.9 - 0.2 / (10 * 11)),  # the tie-break reads the calibrated loss
        ("val_acc", 0.9, 0.5, None, 0.9 - 0.5 / (10 * 11)),  # none given: the raw loss, as before
        ("val_acc", 0.9, 0.5, float("nan"), 0.9 - 1 / 11),  # a non-finite loss: the largest tie-break
        ("val_loss", 0.9, 0.5, 0.2, 0.5),  # metric val_loss: the raw loss, unchanged
    ],
)
def test_score_breaks_accuracy_ties_with_the_calibrated_loss(
    metric: str, acc: float, loss: float, tie: float | None, expected: float
) -> None:
    assert score(metric, acc, loss, 10, tie) == pytest.approx(expected)


def test_a_fit_records_the_calibrated_loss_and_scores_with_it() -> None:
    splits = synthetic_splits(seed=0, n=120, length=12)
    rnn, train = configs_for({"hidden_size": 8, "max_epochs": 3, "mixup": 0.4}, splits)
    data = SequenceDataModule(splits, batch_size=train.batch_size, val_fraction=0.25, seed=0)
    result = fit(rnn, train, data, accelerator="cpu")
    n_val = len(data.val_set)
    for row in result.history:
        assert row["val_loss_t"] <= row["val_loss"] + 1e-9
        assert row["score"] == pytest.approx(
            score("val_acc", row["val_acc"], row["val_loss"], n_val, row["val_loss_t"])
        )
        assert row["score"] != pytest.approx(score("val_acc", row["val_acc"], row["val_loss"], n_val), rel=0, abs=1e-9)


def test_a_validation_epoch_is_calibrated_once_however_many_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a trainer (or with a loader of unknown length) the module cannot tell the last batch: the metrics
    are computed when read, once per epoch, and equal those of the epoch's batches taken as one."""
    import models.classifier as classifier

    calls: list[int] = []

    def counted(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(len(y))
        return calibrated_loss(z, y)

    monkeypatch.setattr(classifier, "calibrated_loss", counted)
    splits = synthetic_splits(seed=0, n=60, length=10)
    rnn, train = configs_for({"hidden_size": 8}, splits)
    model = classifier.RNNClassifier(rnn, train).eval()
    x, lengths, y = (torch.as_tensor(v) for v in (splits.train.X, splits.train.lengths, splits.train.y))
    assert model.val_metrics == {}
    with torch.no_grad():
        for i, start in enumerate(range(0, 60, 16)):
            model.validation_step((x[start : start + 16], lengths[start : start + 16], y[start : start + 16]), i)
        assert calls == []
        batched = dict(model.val_metrics)
        assert model.val_metrics == batched and calls == [60]  # read twice, computed once
        model.validation_step((x, lengths, y), 0)  # the next epoch, one batch
        assert model.val_metrics == pytest.approx(batched, rel=1e-5) and calls == [60, 60]


# ----------------------------------------------------------------------------------------- a study's record of it
def test_a_new_study_records_the_tie_break_from_its_first_trial(tmp_path: Path) -> None:
    spec = load_study(ROOT / "studies" / "smoke.yaml")
    study = ensure_study(spec, open_storage(str(tmp_path / "j.log")))
    assert study.user_attrs[TIE_BREAK_ATTR] == {"loss": TIE_BREAK, "from_trial": 0}


def test_a_study_with_trials_from_before_is_told_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_study(ROOT / "studies" / "smoke.yaml")
    storage = open_storage(str(tmp_path / "j.log"))
    with monkeypatch.context() as m:  # the version before: nothing recorded
        m.setattr(worker, "record_tie_break", lambda study, spec: None)
        old = ensure_study(spec, storage)
    trial = old.ask()  # the baseline, enqueued
    trial.set_user_attr("config", {})  # as regtune records it before a trial trains
    old.tell(trial, 0.9)  # a trial scored with the raw-loss tie-break
    capsys.readouterr()
    study = ensure_study(spec, storage)
    assert study.user_attrs[TIE_BREAK_ATTR] == {"loss": TIE_BREAK, "from_trial": 1}
    assert "its 1 finished trial(s) broke accuracy ties with the raw validation loss" in capsys.readouterr().err
    ensure_study(spec, storage)  # told once
    assert "raw validation loss" not in capsys.readouterr().err

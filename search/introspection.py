"""Introspection of every trial: compact statistics as trial attributes, figures as trial artifacts.

The first fold a trial fits carries a :class:`models.introspect.Introspection` probe on a fixed validation batch.
At the end of that fit the statistics of the *best* epoch are stored on the trial (user attribute
``introspection``, about 70 numbers, plus ``diagnoses``: plain-language findings), so optuna-dashboard shows them;
complete trials also get their figures (weight histograms per gate, gradient norms, saturation per gate,
hidden-state norm against the step) and the full per-epoch history uploaded as Optuna artifacts, so a trial's
page in the dashboard carries its pictures. Pruned and diverged trials keep the statistics of their last record.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import optuna
import pytorch_lightning as pl
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from pytorch_lightning.callbacks import Callback

from models.introspect import Introspection, diagnose, fixed_batch
from models.train import BestEpoch


def artifact_store(study_name: str, artifacts: str | None = None, storage: Any = None) -> FileSystemArtifactStore:
    """Where trial figures go: ``<ARTIFACTS>/figures`` for a shared directory (one store for every study there, as
    optuna-dashboard serves one store); else ``artifacts/`` beside the study's journal file; else
    ``runs/<study>/artifacts``."""
    journal = getattr(getattr(storage, "_backend", None), "_file_path", None)
    if artifacts and "://" not in artifacts:
        base = Path(artifacts) / "figures"
    elif journal:
        base = Path(journal).parent / "artifacts"
    else:
        base = Path("runs") / study_name / "artifacts"
    base.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(base))


def _rounded(stats: dict[str, float]) -> dict[str, float]:
    return {k: float(f"{v:.4g}") for k, v in stats.items()}


class TrialIntrospection(Callback):
    """Wraps an :class:`Introspection` probe for one fit of one trial; stores its results on the trial."""

    def __init__(self, trial: optuna.Trial, data: Any, store: FileSystemArtifactStore | None) -> None:
        self.trial, self.store = trial, store
        self.probe = Introspection(fixed_batch(data))

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.probe.on_fit_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.probe.on_validation_epoch_end(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.probe.on_train_end(trainer, pl_module)
        best = next((c.best for c in trainer.callbacks if isinstance(c, BestEpoch)), None)  # type: ignore[attr-defined]
        self._store(None if best is None else int(best["epoch"]), figures=True)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.probe.on_exception(trainer, pl_module, exception)
        self._store(None, figures=False)

    def _store(self, epoch: int | None, figures: bool) -> None:
        stats = self.probe.summary(epoch)
        if not stats:
            return
        self.trial.set_user_attr("introspection", _rounded(stats))
        self.trial.set_user_attr("diagnoses", diagnose(stats))
        self.trial.set_user_attr("introspection_s", round(self.probe.seconds, 3))
        if figures and self.store is not None:
            with tempfile.TemporaryDirectory() as tmp:
                paths = list(self.probe.figures(tmp).values())
                history = Path(tmp) / "introspection.json"
                history.write_text(json.dumps(self.probe.state()))
                for path in [*paths, history]:
                    upload_artifact(artifact_store=self.store, file_path=str(path), study_or_trial=self.trial)

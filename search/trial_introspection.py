"""Introspection of every trial: compact statistics as trial attributes, figures as trial artifacts.

The first fold a trial fits carries a :class:`models.introspect.Introspection` probe on a fixed validation batch,
recording every :data:`~models.introspect.callback.RECORD_EVERY` epochs and, at the end of the fit, its last and
best epochs (the best from the weights early stopping kept of it).
At the end of that fit the statistics of the *best* epoch are stored on the trial (user attribute
``introspection``, about 70 numbers, plus ``diagnoses``: plain-language findings), so optuna-dashboard shows them;
complete trials also get the full per-epoch history uploaded as an Optuna artifact (``introspection.json``).
Pruned and diverged trials keep the statistics of their last record.

Figures are drawn where they are looked at, never on a trial's path (matplotlib cost about as much as the
training of a short trial: issue 11 measured introspection at 1.86x a study's time, mostly figures): a complete
trial *reserves* its figure artifacts (weight histograms per gate, gradient norms, saturation per gate,
hidden-state norm against the step: their artifact entries exist, so the dashboard lists them) and
:func:`draw_pending` draws them from the trial's ``introspection.json``. ``make dashboard`` runs it in the
background while it serves (new trials' figures appear within seconds of finishing), ``make figures`` draws
them all at once, and the report draws its own.
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
import threading
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

import optuna
import pytorch_lightning as pl
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX, ArtifactMeta
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import TrialState
from pytorch_lightning.callbacks import Callback

from models.introspect import Introspection, diagnose, figure_kinds, figures_from_state, fixed_batch
from models.introspect.callback import RECORD_EVERY
from models.train import BestEpoch


def figures_dir(study_name: str, artifacts: str | None = None, storage: Any = None) -> Path:
    """Where a study's trial figures go: ``<ARTIFACTS>/figures`` for a shared directory (one store for every study
    there); else ``artifacts/`` beside the study's journal file; else ``runs/<study>/artifacts``."""
    journal = getattr(getattr(storage, "_backend", None), "_file_path", None)
    if artifacts and "://" not in artifacts:
        return Path(artifacts) / "figures"
    if journal:
        return Path(journal).parent / "artifacts"
    return Path("runs") / study_name / "artifacts"


def artifact_store(study_name: str, artifacts: str | None = None, storage: Any = None) -> FileSystemArtifactStore:
    """The artifact store of :func:`figures_dir` (created)."""
    base = figures_dir(study_name, artifacts, storage)
    base.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(base))


class DashboardFigures:
    """optuna-dashboard's one artifact store over every study of a storage: a PostgreSQL or SQLite storage keeps
    each study's figures in its own ``runs/<study>/artifacts`` (without ARTIFACTS), so reads look in every study's
    directory there is (looked up again on a miss: a study created while the dashboard serves). Uploads from the
    dashboard go to ``home``. A figure none of them holds is served as a picture that says why (a broken image and
    an HTTP 500 said nothing): its trial ran on another machine or from another working directory (the ops6 probe:
    a worker started elsewhere on the same machine was said to run "on another machine"), or it is being drawn."""

    def __init__(self, storage: Any, artifacts: str | None, home: FileSystemArtifactStore) -> None:
        self.storage, self.artifacts, self.home = storage, artifacts, home
        self.stores: dict[Path, FileSystemArtifactStore] = {Path(home._base_path): home}

    def of(self, study_name: str) -> FileSystemArtifactStore | None:
        """Study ``study_name``'s figure store, if its directory exists here (nothing is created for reading)."""
        base = figures_dir(study_name, self.artifacts, self.storage)
        if base not in self.stores and base.is_dir():
            self.stores[base] = FileSystemArtifactStore(str(base))
        return self.stores.get(base)

    def refresh(self) -> None:
        """Add the store of every study of the storage whose directory exists here."""
        for summary in optuna.get_all_study_summaries(self.storage, include_best_trial=False):
            self.of(summary.study_name)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        for look_again in (False, True):
            if look_again:
                self.refresh()
            for store in list(self.stores.values()):
                try:
                    return store.open_reader(artifact_id)
                except ArtifactNotFound:
                    pass
        return io.BytesIO(_not_here_png(tuple(sorted(str(p.absolute()) for p in self.stores))))

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.home.write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        for store in self.stores.values():
            try:
                store.remove(artifact_id)
            except ArtifactNotFound:
                pass


@functools.lru_cache(maxsize=4)
def _not_here_png(dirs: tuple[str, ...]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(6.4, 2.4))
    where = ", ".join(dirs[:3]) + (", ..." if len(dirs) > 3 else "")
    fig.text(0.03, 0.5, "Figure not drawn (yet).\n\nIf its trial finished seconds ago, reload: it is being drawn.\n"
             f"Else the trial's introspection history is not here ({where}):\nits worker ran on another machine, "
             "or from another directory (without ARTIFACTS,\nfigures go to runs/<study>/artifacts under it). "
             "Give every worker and the dashboard\none shared directory: ARTIFACTS=/shared/dir",
             va="center", fontsize=9)  # fmt: skip
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _rounded(stats: dict[str, float]) -> dict[str, float]:
    return {k: float(f"{v:.4g}") for k, v in stats.items()}


class TrialIntrospection(Callback):
    """Wraps an :class:`Introspection` probe for one fit of one trial; stores its results on the trial."""

    def __init__(self, trial: optuna.Trial, data: Any, store: FileSystemArtifactStore | None) -> None:
        self.trial, self.store = trial, store
        self.probe = Introspection(fixed_batch(data), every_n_epochs=RECORD_EVERY, ends=True)

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

    def state_dict(self) -> dict[str, Any]:  # the probe's records travel in the trial's checkpoints
        return self.probe.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.probe.load_state_dict(state_dict)

    def _store(self, epoch: int | None, figures: bool) -> None:
        store_records(self.trial, self.probe, epoch, self.store if figures else None)


def store_records(
    trial: optuna.Trial, probe: Introspection, epoch: int | None, store: FileSystemArtifactStore | None
) -> None:
    """Store what ``probe`` recorded on ``trial``: the compact statistics of ``epoch`` (the best; None: the last)
    with their diagnoses and the recording time as user attributes, and with ``store`` the whole record
    (``introspection.json``) as an artifact whose figures are reserved, to be drawn off the trial's path."""
    stats = probe.summary(epoch)
    if not stats:
        return
    trial.set_user_attr("introspection", _rounded(stats))
    optimizer = (getattr(trial, "user_attrs", {}).get("config") or {}).get("optimizer")  # set before the fit
    trial.set_user_attr("diagnoses", diagnose(stats, optimizer))
    trial.set_user_attr("introspection_s", round(probe.seconds, 3))
    if store is not None:
        state = probe.state()
        with tempfile.TemporaryDirectory() as tmp:
            history = Path(tmp) / "introspection.json"
            history.write_text(json.dumps(state))
            # the folder made again where it was deleted while the study ran (as the checkpoints' is): Optuna records
            # the artifact on the trial before it writes the file, and every later trial kept a figure never written
            Path(store._base_path).mkdir(parents=True, exist_ok=True)
            history_id = upload_artifact(artifact_store=store, file_path=str(history), study_or_trial=trial)
        reserve_figures(trial, history_id, figure_kinds(state))


FIGURES_ATTR = "regtune:figures"  # trial system attribute: {"history": artifact id, "figures": {kind: artifact id}}


def reserve_figures(trial: optuna.Trial, history_id: str, kinds: list[str]) -> None:
    """Register the figure artifacts of a running trial (drawn later by :func:`draw_pending`): the dashboard lists
    them from now on; their files appear when they are drawn."""
    storage, tid = trial.storage, trial._trial_id
    ids = {kind: str(uuid.uuid4()) for kind in kinds}
    storage.set_trial_system_attr(tid, FIGURES_ATTR, {"history": history_id, "figures": ids})
    for kind, artifact_id in ids.items():
        meta = ArtifactMeta(artifact_id=artifact_id, filename=f"{kind}.png", mimetype="image/png", encoding=None)
        storage.set_trial_system_attr(tid, ARTIFACTS_ATTR_PREFIX + artifact_id, json.dumps(asdict(meta)))


def _missing(store: FileSystemArtifactStore, artifact_id: str) -> bool:
    try:
        store.open_reader(artifact_id).close()
        return False
    except ArtifactNotFound:
        return True


def draw_pending(
    study: optuna.Study, store: FileSystemArtifactStore, stop: threading.Event | None = None,
    missing: list[int] | None = None,
) -> int:  # fmt: skip
    """Draw the reserved figures of ``study``'s finished trials that have none yet (newest trials first); return how
    many trials were drawn. Safe to run from several processes: each file is written whole by the store. The
    numbers of trials whose introspection history is not in ``store`` are appended to ``missing``."""
    drawn = 0
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    for t in sorted(trials, key=lambda t: -t.number):
        if stop is not None and stop.is_set():
            break
        info = t.system_attrs.get(FIGURES_ATTR)
        if not info:
            continue
        todo = {kind: aid for kind, aid in info["figures"].items() if _missing(store, aid)}
        if not todo:
            continue
        try:
            with store.open_reader(info["history"]) as f:
                state = json.loads(f.read())
        except ArtifactNotFound:
            if missing is not None:
                missing.append(t.number)
            continue
        except ValueError:  # a damaged history: nothing to draw from, and the store is the right one
            continue
        with tempfile.TemporaryDirectory() as tmp:
            paths = figures_from_state(state, tmp)
            for kind, aid in todo.items():
                if kind in paths:
                    with open(paths[kind], "rb") as f:
                        store.write(aid, f)
        drawn += 1
    return drawn


def draw_in_background(figures: DashboardFigures, every: float = 5.0) -> threading.Event:
    """Draw pending figures of every study in ``figures``' storage (each into its own store) now and every
    ``every`` seconds, in a daemon thread (what ``make dashboard`` runs while it serves); set the returned event to
    stop it."""
    stop, storage = threading.Event(), figures.storage

    def run() -> None:
        while not stop.is_set():
            try:
                for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
                    store = figures.of(summary.study_name)
                    if store is not None:  # no directory here: none of its histories either
                        draw_pending(optuna.load_study(study_name=summary.study_name, storage=storage), store, stop)
            except Exception:  # a storage hiccup: try again at the next round
                pass
            stop.wait(every)

    threading.Thread(target=run, name="regtune-figures", daemon=True).start()
    return stop

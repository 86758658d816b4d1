"""Trial checkpoints (``ARTIFACTS=``): a re-run trial resumes where its dead worker stopped.

With a checkpoint store, every epoch of every trial ends with a Lightning checkpoint of the fold being trained
(weights, optimizer, epoch counter, the best epoch so far, the random generators and the batch order), and every
finished fold with its result. When a worker dies (SIGKILL, a pre-empted spot GPU, Ctrl-C) its trial is failed
and re-queued with the same parameters and intermediate values (:func:`search.storage.requeue`); the worker that
picks the copy up finds the dead run's checkpoints under the *original* trial number (the copy's system
attribute ``failed_trial``), skips the finished folds and resumes the current one at its next epoch. The trial
records where it resumed in the user attribute ``resumed_from_epoch`` (epochs already trained, over all folds).

Layout, keyed by study name, the study's run scope and the original trial number (so one store can serve many
studies)::

    <ARTIFACTS>/checkpoints/<study>/<scope>/trial-<n>/progress.json   finished folds and the configuration they trained
    <ARTIFACTS>/checkpoints/<study>/<scope>/trial-<n>/fold-<k>.ckpt   the latest epoch of fold k

``<scope>`` (:func:`search.fingerprint.run_scope`) is what a trial's training depends on besides its configuration:
the data by content, the folds, the seed. Two studies of one name on other data (two users' copies of
``studies/lstm.yaml``, one ARTIFACTS) shared ``trial-<n>``: a resumed trial took the other study's finished fold,
trained on the other data, into its mean, and a first run cleared the other study's checkpoints.

``ARTIFACTS`` is a directory every worker can read and write (NFS, a shared disk; written atomically by
rename), or ``s3://bucket/prefix`` through Optuna's ``Boto3ArtifactStore`` (needs ``pip install boto3`` and the
usual AWS credentials in the environment). A trial that finishes (complete, pruned, failed by an error) deletes
its checkpoints; only an interrupted one keeps them, until its lineage is given up after repeated crashes
(:func:`search.retries.give_up` calls :meth:`CheckpointStore.discard`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

PROGRESS = "progress.json"


class _Directory:
    """A shared directory; every file written to a temporary name and renamed, so a kill never leaves half a file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, key: str, local: Path) -> None:
        dest = self.root / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(local, tmp)
            os.replace(tmp, dest)
        except BaseException:  # a full disk, a lost share: no half-written temporary left behind
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def get(self, key: str, local: Path) -> bool:
        src = self.root / key
        if not src.is_file():
            return False
        shutil.copyfile(src, local)
        return True

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                (self.root / key).unlink()

    def delete_all(self, prefix: str) -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def __str__(self) -> str:
        return str(self.root)


class _ArtifactStore:
    """Any Optuna artifact store (``Boto3ArtifactStore`` for S3, ``FileSystemArtifactStore``, ...), flat keys."""

    def __init__(self, store: Any, prefix: str = "", label: str = "") -> None:
        self.store, self.prefix, self.label = store, prefix, label

    def _id(self, key: str) -> str:
        return self.prefix + key.replace("/", "--")

    def put(self, key: str, local: Path) -> None:
        with open(local, "rb") as f:
            self.store.write(self._id(key), f)

    def get(self, key: str, local: Path) -> bool:
        try:
            with self.store.open_reader(self._id(key)) as reader, open(local, "wb") as f:
                shutil.copyfileobj(reader, f)
        except Exception:  # ArtifactNotFound, or a backend's own not-found error
            return False
        return True

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            with contextlib.suppress(Exception):
                self.store.remove(self._id(key))

    def delete_all(self, prefix: str) -> None:  # a study file allows at most 20 folds
        self.delete([f"{prefix}/fold-{k}.ckpt" for k in range(21)] + [f"{prefix}/{PROGRESS}"])

    def __str__(self) -> str:
        return self.label or type(self.store).__name__


class CheckpointStore:
    """Where trials keep their checkpoints: a shared directory, ``s3://bucket/prefix``, or an Optuna artifact store."""

    def __init__(self, location: str | Path | Any, scope: str = "") -> None:
        self.scope = scope  # the study's run scope (:meth:`scoped`): a directory level under the study's name
        if isinstance(location, (str, Path)) and str(location).startswith("s3://"):
            from optuna.artifacts import Boto3ArtifactStore

            bucket, _, prefix = str(location)[len("s3://") :].partition("/")
            self.backend: _Directory | _ArtifactStore = _ArtifactStore(
                Boto3ArtifactStore(bucket), prefix.strip("/") + "/" if prefix.strip("/") else "", str(location)
            )
        elif isinstance(location, (str, Path)):
            self.backend = _Directory(location)
        else:
            self.backend = _ArtifactStore(location)

    def scoped(self, scope: str) -> CheckpointStore:
        """This store, its trials' checkpoints kept under ``scope`` (:func:`search.fingerprint.run_scope`)."""
        out = copy.copy(self)
        out.scope = scope
        return out

    def trial(self, trial: optuna.Trial | optuna.trial.FrozenTrial, study_name: str) -> TrialCheckpoints:
        key, rerun = self._key(trial, study_name)
        return TrialCheckpoints(self.backend, key, rerun=rerun)

    def discard(self, trial: optuna.Trial | optuna.trial.FrozenTrial, study_name: str) -> str:
        """Delete the checkpoints of ``trial``'s whole lineage (a trial given up after repeated crashes: nothing
        will resume them); return where they were."""
        key, _ = self._key(trial, study_name)
        self.backend.delete_all(key)
        return f"{self.backend}/{key}"

    def _key(self, trial: optuna.Trial | optuna.trial.FrozenTrial, study_name: str) -> tuple[str, bool]:
        """The lineage's key (``checkpoints/<study>/<scope>/trial-<original number>``), and whether ``trial`` is a
        re-run."""
        if isinstance(trial, optuna.trial.FrozenTrial):
            attrs = trial.system_attrs
        else:  # Optuna 5's Trial has no system_attrs: read them from its storage
            attrs = trial.study._storage.get_trial_system_attrs(trial._trial_id)
        origin = int(attrs.get("failed_trial", trial.number))
        scope = f"{self.scope}/" if self.scope else ""
        return f"checkpoints/{study_name}/{scope}trial-{origin}", "failed_trial" in attrs

    def __str__(self) -> str:
        return str(self.backend)


#: whether this process removed the temporary folders its machine's dead processes left (once a process)
_swept: list[str] = []


def _temp_prefix() -> str:
    """``regtune-ckpt-<pid namespace>-<pid>-``: a trial's local temporary folder, named by its process. The first
    in a process removes those of this machine's processes that are gone: a SIGKILLed worker left its ~50 KB
    folder in /tmp for good, one a kill (a shared /tmp seen from another pid namespace is not this one's)."""
    import hashlib

    from search.processes import pid_space, remove_if_dead

    space = hashlib.sha1(pid_space().encode()).hexdigest()[:8]
    prefix = f"regtune-ckpt-{space}-"
    if tempfile.gettempdir() not in _swept:
        _swept.append(tempfile.gettempdir())
        for leftover in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
            remove_if_dead(leftover, leftover.name.removeprefix(prefix).split("-", 1)[0])
    return f"{prefix}{os.getpid()}-"


@dataclass
class Resume:
    """What a re-run trial resumes: finished folds' results, the current fold's checkpoint and best score so far,
    and the epochs already trained over all folds (0: from scratch)."""

    folds: list[dict[str, Any]] = field(default_factory=list)
    ckpt_path: str | None = None
    fold_best: float | None = None
    epochs: int = 0


class TrialCheckpoints:
    """The checkpoints of one trial (all its runs share them): what to resume, and the callback that saves."""

    def __init__(self, backend: _Directory | _ArtifactStore, key: str, rerun: bool) -> None:
        self.backend, self.key, self.rerun = backend, key, rerun
        self.tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix()))
        self.folds: list[dict[str, Any]] = []
        self.config: dict[str, Any] = {}
        self.failed = False  # a write failed: no more writes (what is stored stays one consistent earlier state)

    def start(self, config: dict[str, Any]) -> Resume:
        """Begin a run of the trial with ``config``: what an earlier run left to resume. A first run, or a
        configuration that differs from the stored one (a stale directory of an older study of the same name),
        starts from scratch."""
        self.config = config = json.loads(json.dumps(config))
        if not self.rerun:
            self.clear()
            return Resume()
        local = self.tmp / PROGRESS
        if not self.backend.get(f"{self.key}/{PROGRESS}", local):  # (a read error of the store propagates)
            return Resume()
        try:
            progress = json.loads(local.read_text())
            if progress.get("config") != config:
                return Resume()
            folds = [{**f, "epochs_run": int(f["epochs_run"])} for f in progress["folds"]]
        except Exception as exc:  # a damaged file (a disk, a half-synced share): never fail the trial for it
            self.unreadable(PROGRESS, exc, "the trial starts from scratch")
            return Resume()
        self.folds = folds
        out = Resume(folds=list(self.folds), epochs=sum(f["epochs_run"] for f in self.folds))
        name = f"fold-{len(self.folds)}.ckpt"
        ckpt = self.tmp / name
        if self.backend.get(f"{self.key}/{name}", ckpt):
            try:
                state = torch.load(ckpt, map_location="cpu", weights_only=False)
                epochs = int(state["epoch"]) + 1
                best = next(
                    (v.get("best") for k, v in state.get("callbacks", {}).items() if k.startswith("BestEpoch")), None
                )
                fold_best = None if best is None else float(best["score"])
            except Exception as exc:
                self.unreadable(name, exc, f"fold {len(self.folds)} starts from its first epoch")
                return out
            out.epochs += epochs
            out.ckpt_path, out.fold_best = str(ckpt), fold_best
        return out

    def unreadable(self, name: str, exc: BaseException, then: str) -> None:
        """One warning line for a damaged checkpoint file, which is then ignored (and overwritten by the run)."""
        why = " ".join(str(exc).splitlines()[:1]) or type(exc).__name__
        print(f"warning: checkpoint {self.backend}/{self.key}/{name} is unreadable ({type(exc).__name__}: {why}); "
              f"{then}", file=sys.stderr, flush=True)  # fmt: skip

    def write(self, name: str, save: Callable[[], None]) -> None:
        """Run ``save`` (one file written locally, then stored as ``name``); when it fails (a full disk, a lost
        share, an S3 error) say so once and write nothing more for this run: the trial goes on without
        checkpoints, since its result never depends on them. What an earlier epoch stored is left as it is (a
        ``progress.json`` and a fold checkpoint are only ever replaced, so the two still describe one earlier
        point, from which a re-run resumes)."""
        if self.failed:
            return
        try:
            save()
        except Exception as exc:
            self.failed = True
            why = " ".join(str(exc).splitlines()[:1]) or type(exc).__name__
            print(f"warning: cannot write checkpoint {self.backend}/{self.key}/{name} ({type(exc).__name__}: {why}); "
                  "the trial goes on without checkpoints (a re-run resumes from the last one written)",
                  file=sys.stderr, flush=True)  # fmt: skip

    def callback(self, fold: int) -> EpochCheckpoint:
        return EpochCheckpoint(self, fold)

    def fold_done(self, fold: int, best: dict[str, float], epochs_run: int) -> None:
        self.folds = self.folds[:fold] + [{**best, "epochs_run": epochs_run}]
        self._write_progress()
        if not self.failed:  # else the fold's checkpoint stays: progress.json does not know the fold finished
            self.backend.delete([f"{self.key}/fold-{fold}.ckpt"])

    def _write_progress(self) -> None:
        local = self.tmp / PROGRESS

        def save() -> None:
            local.write_text(json.dumps({"config": self.config, "folds": self.folds}))
            self.backend.put(f"{self.key}/{PROGRESS}", local)

        self.write(PROGRESS, save)

    def save_epoch(self, trainer: pl.Trainer, fold: int) -> None:
        if not self.folds and fold == 0 and trainer.current_epoch == 0:
            self._write_progress()  # the configuration, before the first checkpoint needs it
        local = self.tmp / f"fold-{fold}.ckpt"

        def save() -> None:
            trainer.save_checkpoint(local)
            self.backend.put(f"{self.key}/{local.name}", local)

        self.write(local.name, save)

    def clear(self) -> None:
        """Delete the trial's checkpoints (it finished; or a fresh run of a trial number reused by a new study)."""
        self.backend.delete_all(self.key)

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class EpochCheckpoint(Callback):
    """Saves the fold's Lightning checkpoint at every epoch's end; carries the random generators and the batch
    order, so a resumed fold trains the same batches with the same dropout masks as an uninterrupted one."""

    def __init__(self, owner: TrialCheckpoints, fold: int) -> None:
        self.owner, self.fold = owner, fold
        self.pending: torch.Tensor | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.owner.save_epoch(trainer, self.fold)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": _plain(np.random.get_state()),
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        gen = self._batch_generator(self._trainer) if hasattr(self, "_trainer") else None
        if gen is not None:
            state["batches"] = gen.get_state()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the generators now: between this restore and the first batch, a resumed fit draws what an
        uninterrupted one draws between the save and its next batch (the loader's base seed)."""
        torch.set_rng_state(state_dict["torch"])
        kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        self.pending = state_dict.get("batches")

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the batch order's generator: the loader exists now, and draws its first permutation at the first batch
        gen = self._batch_generator(trainer)
        if self.pending is not None and gen is not None:
            gen.set_state(self.pending)
        self.pending = None

    @staticmethod
    def _batch_generator(trainer: pl.Trainer) -> torch.Generator | None:
        loader = trainer.train_dataloader
        sampler = getattr(loader, "sampler", None)
        gen = getattr(sampler, "generator", None)
        return gen if isinstance(gen, torch.Generator) else None


def _plain(numpy_state: Any) -> tuple:
    """NumPy's generator state in types a ``weights_only`` checkpoint load accepts."""
    kind, keys, pos, has_gauss, gauss = numpy_state
    return (str(kind), [int(k) for k in keys], int(pos), int(has_gauss), float(gauss))


def open_checkpoints(location: str | None) -> CheckpointStore | None:
    return CheckpointStore(location) if location else None

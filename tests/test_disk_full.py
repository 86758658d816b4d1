"""A full disk, for real: a file-size limit (``RLIMIT_FSIZE``, the kernel's EFBIG) under the journal, and
``/dev/full`` (the kernel's ENOSPC) under a trial checkpoint's temporary file.

A study whose journal cannot grow stops with one line and resumes from every finished trial once there is room; a
checkpoint that cannot be written never fails its trial (checkpoints only save time).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
import pytorch_lightning as pl
import torch
from optuna.trial import TrialState
from pytorch_lightning.callbacks import Callback

from search import array_checkpoints
from search.checkpoints import CheckpointStore, TrialCheckpoints, _Directory
from search.objective import Objective
from search.spec import load_study
from search.storage import open_storage
from search.worker import ensure_study, run_worker
from tests.helpers import CLI_ENV, ROOT, TINY, checkpoint_dir, glued, load, run_main, write_study, zeroed

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full on this system")


class FullDiskFor(Callback):
    """From the fit's start (after the trial's first run cleared its directory), every write of ``tmp`` (a
    checkpoint's temporary file) lands on ``/dev/full``: ENOSPC from the kernel."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.symlink_to(DEV_FULL)


def _study_with_limit(study: Path, journal: Path, limit: int) -> subprocess.CompletedProcess:
    """``python -m search study`` whose files may not grow past ``limit`` bytes (as on a nearly full disk)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "search", "study", str(study), "--storage", str(journal)], cwd=ROOT,
        capture_output=True, text=True, timeout=300, env={**os.environ, **CLI_ENV}, preexec_fn=cap,
    )  # fmt: skip


@pytest.mark.slow
def test_a_full_disk_under_the_journal_stops_with_one_line_and_the_study_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The study under the size limit is a process of its own (the limit is its rlimit); the whole study that
    measures the journal's size, and the resume, run in this process (run_main: 4-5 s of imports less each)."""
    study = write_study(tmp_path, name="full", budget={"trials": 4, "max_epochs": 4})
    whole = run_main(capsys, "study", str(study), "--storage", str(tmp_path / "whole.log"))
    assert whole.returncode == 0, whole.stderr
    size = (tmp_path / "whole.log").stat().st_size

    journal = tmp_path / "journal.log"
    cut = _study_with_limit(study, journal, size // 2)  # room for about half the study
    assert cut.returncode == 2, cut.stderr  # before: a 50-line traceback and exit 1
    assert "Traceback" not in cut.stderr, cut.stderr
    last = cut.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write {journal}: File too large (EFBIG)"), last
    assert "every trial that finished before is stored" in last and "rerun the same command" in last
    kept = {t.number: t.value for t in load(journal, "full").trials if t.state == TrialState.COMPLETE}
    assert kept, "the journal should hold the trials that finished before the disk filled"

    again = run_main(capsys, "study", str(study), "--storage", str(journal))
    assert again.returncode == 0, again.stderr
    trials = load(journal, "full").trials
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 4
    assert {n: trials[n].value for n in kept} == kept  # nothing finished was lost or changed
    assert "test accuracy" in again.stdout


@needs_dev_full
@pytest.mark.parametrize("name", ["progress.json", "fold-0.ckpt"])
def test_a_checkpoint_that_cannot_be_written_never_fails_its_trial(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str
) -> None:
    study = f"ckfull_{uuid.uuid4().hex[:8]}"
    path = write_study(tmp_path, name=study, base={**TINY, "budget": {"trials": 1, "max_epochs": 4}})
    spec, storage, artifacts = load_study(path), open_storage(str(tmp_path / "journal.log")), tmp_path / "artifacts"
    ensure_study(spec, storage, total=1)
    where = checkpoint_dir(artifacts, spec)
    objective = Objective(spec, accelerator="cpu", checkpoints=CheckpointStore(artifacts),
                          extra_callbacks=lambda trial: [FullDiskFor(where / f".{name}.{os.getpid()}.tmp")])  # fmt: skip

    assert run_worker(spec, storage, 1, objective=objective) == 1  # before: the trial failed with the OSError
    err = capfd.readouterr().err
    assert f"warning: cannot write checkpoint {where}/{name} (OSError: " in err, err
    assert "No space left on device" in err and "the trial goes on without checkpoints" in err
    assert err.count("cannot write checkpoint") == 1  # said once; no more writes for this run
    trial = optuna.load_study(study_name=study, storage=storage).trials[0]  # (the recipes wait)
    assert trial.state == TrialState.COMPLETE and set(trial.intermediate_values) == set(range(4))
    assert not where.exists() or not any(where.iterdir())  # the temporary removed; the finished trial's cleared


@needs_dev_full
def test_an_array_member_checkpoint_that_cannot_be_written_is_skipped_and_its_state_kept(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config = {"hidden_size": 8}
    ckpts = TrialCheckpoints(_Directory(tmp_path), "trial-0", rerun=False)
    ckpts.start(config)
    array_checkpoints.save(ckpts, 0, 1, 0.5, {"w": torch.ones(3)})  # epoch 1 stored
    member = f"fold-0.{array_checkpoints.SUFFIX}"
    (tmp_path / "trial-0" / f".{member}.{os.getpid()}.tmp").symlink_to(DEV_FULL)
    array_checkpoints.save(ckpts, 0, 2, 0.6, {"w": torch.zeros(3)})  # epoch 2: no room, no exception
    array_checkpoints.fold_done(ckpts, 0, {"score": 0.6}, 3)
    assert ckpts.failed and "No space left on device" in capfd.readouterr().err
    assert not (tmp_path / "trial-0" / f".{member}.{os.getpid()}.tmp").exists()
    resume = array_checkpoints.start(TrialCheckpoints(_Directory(tmp_path), "trial-0", rerun=True), config)
    assert resume.folds == [] and resume.epoch == 1  # the last consistent point: fold 0 after epoch 1
    assert torch.equal(resume.state["w"], torch.ones(3))


@pytest.mark.slow
def test_a_file_size_limit_under_a_sqlite_file_stops_at_once_with_one_line_and_the_study_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite meets EFBIG as "disk I/O error": it was retried for 60 s as a lost connection and ended "lost the
    storage ... rerun once the storage answers again", naming neither the limit nor what to do (the faults5 probe).
    Only the study under the limit (its rlimit) needs a process of its own; the others run here (run_main)."""
    study = write_study(tmp_path, name="fullsql", budget={"trials": 4, "max_epochs": 4}, final_seeds=1)
    whole = run_main(capsys, "study", str(study), "--storage", f"sqlite:///{tmp_path / 'whole.db'}")
    assert whole.returncode == 0, whole.stderr
    size = (tmp_path / "whole.db").stat().st_size

    db = tmp_path / "study.db"
    first = run_main(capsys, "worker", str(study), "--storage", f"sqlite:///{db}", "--trials", "1")
    assert first.returncode == 0, first.stderr
    start = db.stat().st_size  # the schema and one trial: the limit falls among the later trials or the verdict
    limit = (start + size) // 2

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cut = subprocess.run(
        [sys.executable, "-m", "search", "study", str(study), "--storage", f"sqlite:///{db}", "--trials", "4"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **CLI_ENV}, preexec_fn=cap,
    )  # fmt: skip
    assert cut.returncode == 2, cut.stderr
    assert "retrying for up to" not in cut.stderr and "Traceback" not in cut.stderr, cut.stderr
    last = cut.stderr.strip().splitlines()[-1]
    assert "disk I/O error (SQLite), under a file-size limit" in last and "(EFBIG)" in last, last
    assert "every trial that finished before is stored" in last and "rerun the same command" in last

    again = run_main(capsys, "study", str(study), "--storage", f"sqlite:///{db}", "--trials", "4")
    assert again.returncode == 0, again.stderr
    trials = optuna.load_study(study_name="fullsql", storage=f"sqlite:///{db}").trials
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 4


@pytest.mark.parametrize("damage", [glued(4), zeroed(4)], ids=["glued line", "zeroed line"])  # its 5th line
def test_a_repair_that_finds_no_room_says_the_file_is_as_it_was(tmp_path: Path, damage: Any) -> None:
    """(the faults9 probe) `make repair` on a nearly full disk said "every trial that finished before is stored, and
    a trial this cut short is re-queued when the study resumes": no trial runs in a repair. It now says what the
    repair writes and that the file is as it was; the file is byte for byte as it was, nothing left beside it."""
    journal = tmp_path / "journal.log"
    study = optuna.create_study(study_name="full", storage=open_storage(str(journal)))
    for _ in range(6):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    damage(journal)
    before = journal.read_bytes()
    study_file = write_study(tmp_path, name="full")

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, len(before) // 2))

    run = subprocess.run(
        [sys.executable, "-m", "search", "repair", str(study_file), "--storage", str(journal)], cwd=ROOT,
        capture_output=True, text=True, timeout=120, env={**os.environ, **CLI_ENV}, preexec_fn=cap,
    )  # fmt: skip
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith(f"error: cannot write {journal}: File too large (EFBIG): the repair writes"), (
        run.stderr
    )
    assert "so the file is as it was. Free space (or lift the limit), then rerun" in run.stderr, run.stderr
    assert "re-queued" not in run.stderr and journal.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.yaml", "journal.log"]

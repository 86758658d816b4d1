"""Trial arrays, the search side (search/arrays.py): K trials of a study trained at once, each told its own outcome.

Real studies on ``tmp_path`` journal files (PostgreSQL where two workers share a study), the real
:mod:`models.array` and real worker processes for the kill and Ctrl-C cases.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from models.config import configs_for
from search import fingerprint as fp
from search.arrays import MIN_ROUNDS, array_plan, array_size, auto_size, memory_cap
from search.objective import Objective
from search.preflight import prepare
from search.samplers import RANDOM_STARTUP
from search.spec import StudyFileError, load_study, parse_study
from search.storage import open_storage
from search.worker import ensure_study, run_worker
from tests.helpers import CLI_ENV, ROOT, load, logs, open_postgres, run_main, start_worker, states, wait_for

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*is already reported:UserWarning", "ignore:Heartbeat of storage:UserWarning"
)
POSTGRES = os.environ.get("REGTUNE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
EPOCHS = 6
#: a small study arrays can run: synthetic data, an 8-unit GRU, two folds, regularizers an array supports
SMALL: dict[str, Any] = {
    "dataset": "synthetic:n=160,length=16",
    "architecture": {"cell": "gru", "hidden_size": 8},
    "budget": {"trials": 3, "max_epochs": EPOCHS},
    "sampler": "random",
    "pruner": "none",
    "cv_folds": 2,
    "recipes": False,
    "introspect": False,
    "search": {
        "dropout": {"low": 0.0, "high": 0.4},
        "kernel_l2": {"low": 1e-5, "high": 1e-2, "log": True, "off": True},
        "lr": {"low": 1e-3, "high": 3e-2, "log": True},
    },
    "fixed": {"batch_size": 32, "clip_norm": 1.0},
}
#: three starting points: the same trials run alone and as one array
POINTS = [
    {"dropout": 0.0, "kernel_l2": 0.0, "lr": 0.01},
    {"dropout": 0.3, "kernel_l2": 1e-3, "lr": 0.02},
    {"dropout": 0.1, "kernel_l2": 1e-4, "lr": 0.003},
]


def write(d: Path, name: str | None = None, **changes: Any) -> Path:
    name = name or f"arr_{uuid.uuid4().hex[:8]}"
    path = d / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "name": name, **changes}))
    return path


def trials_of(storage: Any, name: str) -> list[optuna.trial.FrozenTrial]:
    """The trials of study ``name`` in ``storage`` (a URL, a journal path or a storage); [] before it exists."""
    try:
        if isinstance(storage, (str, Path)):
            return load(storage, name).get_trials(deepcopy=False)
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return []


# --------------------------------------------------------------------------------------------- the study file
@pytest.mark.parametrize(
    "value", [0, -3, 1.5, "big", True, [2], None], ids=["zero", "negative", "float", "word", "bool", "list", "null"]
)
def test_bad_array_size_is_rejected_with_file_key_and_allowed_values(value: Any, tmp_path: Path) -> None:
    with pytest.raises(StudyFileError) as err:
        parse_study({**SMALL, "name": "bad", "array_size": value}, tmp_path / "bad.yaml")
    msg = str(err.value)
    assert str(tmp_path / "bad.yaml") in msg and "array_size" in msg
    assert "integer >= 1" in msg and "auto" in msg and repr(value) in msg


@pytest.mark.parametrize("value, want", [(1, 1), (4, 4), ("auto", "auto"), (None, "auto")], ids=str)
def test_array_size_values_the_study_file_accepts(value: Any, want: Any, tmp_path: Path) -> None:
    raw = {**SMALL, "name": "ok"} | ({} if value is None else {"array_size": value})
    assert parse_study(raw, tmp_path / "ok.yaml").array_size == want


def test_bad_array_size_exits_2_before_the_store_is_touched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # (in this process, run_main: the refusal needs no process of its own; a fresh interpreter cost 4-5 s of imports)
    study = write(tmp_path, "bad", array_size=0)
    journal = tmp_path / "journal.log"
    proc = run_main(capsys, "study", str(study), "--storage", str(journal))
    assert proc.returncode == 2, proc.stderr
    assert "array_size" in proc.stderr and "auto" in proc.stderr
    assert not journal.exists()


def test_array_size_is_free_to_change_on_resume(tmp_path: Path) -> None:
    one, many = load_study(write(tmp_path, "same", array_size=1)), load_study(write(tmp_path, "same", array_size=4))
    assert fp.definition(one) == fp.definition(many)  # not part of what defines the trials
    storage = open_storage(str(tmp_path / "journal.log"))
    ensure_study(one, storage, total=3)
    ensure_study(many, storage, total=3)  # no StudyChangedError: the same study goes on with arrays


def test_array_size_one_and_foreign_objectives_keep_the_single_trial_path(tmp_path: Path) -> None:
    spec = load_study(write(tmp_path, array_size=1))
    assert array_size(spec, Objective(spec, accelerator="cpu"), total=40) == 1
    spec = load_study(write(tmp_path, array_size=5))
    assert array_size(spec, Objective(spec, accelerator="cpu"), total=40) == 5
    with_callbacks = Objective(spec, accelerator="cpu", extra_callbacks=lambda trial: [])
    assert array_size(spec, with_callbacks, total=40) == 1  # Lightning callbacks need a Lightning trainer
    assert array_size(spec, lambda trial: 0.0, total=40) == 1  # any other objective runs alone


@pytest.mark.parametrize(
    "sampler, total, cap",
    [("tpe", 40, min(RANDOM_STARTUP, 40 // MIN_ROUNDS)), ("tpe", 200, RANDOM_STARTUP), ("tpe", 6, 1),
     ("random", 200, 200 // MIN_ROUNDS), ("gp", 100, RANDOM_STARTUP)],
    ids=str,
)  # fmt: skip
def test_auto_size_is_capped_by_memory_the_sampler_and_the_total(
    sampler: str, total: int, cap: int, tmp_path: Path
) -> None:
    spec = load_study(write(tmp_path, sampler=sampler))
    objective = Objective(spec, accelerator="cpu")
    rnn, train = configs_for(spec.base_params(), objective.splits, seed=spec.seed)
    longest = int(objective.splits.train.lengths.max())
    k, why = auto_size(spec, rnn, train, longest, total, "cpu")
    assert k == max(1, min(cap, memory_cap(rnn, train, longest, "cpu")))
    assert why.startswith("auto:") and "memory" in why
    assert array_size(spec, objective, total, "cpu") == k
    assert array_plan(spec, objective, total, "cpu") == (k, "array_size: " + why)  # the worker prints why


#: (id, study changes, whether some trial can be an array member)
MEMBERS = [
    ("front end in every trial", {"search": {**SMALL["search"], "conv_layers": [3, 1]}, "fixed": {"conv_stride": 4}}, False),
    ("front end or none", {"search": {**SMALL["search"], "conv_layers": [0, 1]}, "fixed": {"conv_stride": 4}}, True),
    ("zoneout always on", {"search": {**SMALL["search"], "zoneout": {"low": 0.1, "high": 0.3}}}, False),
    ("zoneout or off", {"search": {**SMALL["search"], "zoneout": {"low": 0.1, "high": 0.3, "off": True}}}, True),
    ("sgd only", {"fixed": {**SMALL["fixed"], "optimizer": "sgd"}}, False),
    # a whole-number range (its low stored as a float): hidden_size=4.0 was refused inside the check, a traceback
    ("width range", {"architecture": {"cell": "gru"}, "search": {**SMALL["search"], "hidden_size": {"low": 4, "high": 8}}}, True),
    ("sgd or adamw", {"search": {**SMALL["search"], "optimizer": ["sgd", "adamw"]}}, True),
    ("mixup always", {"search": {**SMALL["search"], "mixup": [0.2, 0.4]}}, False),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "some"), [c[1:] for c in MEMBERS], ids=[c[0] for c in MEMBERS])
def test_a_study_none_of_whose_trials_can_join_an_array_asks_one_trial_at_a_time(
    tmp_path: Path, changes: dict, some: bool
) -> None:
    """On long data every default trial has the Conv1D front end, which arrays do not run: the worker asked K
    trials at once (TPE proposing them blind), trained them one after another, and sized K from a raw length no
    trial read."""
    spec = load_study(write(tmp_path, sampler="tpe", **changes))
    k, why = array_plan(spec, Objective(spec, accelerator="cpu"), 200, "cpu")
    if some:
        assert k > 1 and "memory" in why, why
    else:
        assert k == 1 and why.startswith("array_size: auto: 1, no trial of this study can be an array member ("), why
    # written: it said "trial arrays of up to 4 trials" where every trial ran alone
    spec = load_study(write(tmp_path, sampler="tpe", array_size=4, **changes))
    k, why = array_plan(spec, Objective(spec, accelerator="cpu"), 200, "cpu")
    assert (k, why) == (4, "array_size: 4") if some else why.startswith("array_size: 4: 1, no trial of this study")
    assert some or k == 1


def test_cpu_k_is_the_same_whatever_ram_is_free_until_the_free_ram_cannot_hold_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # K shapes the study: it follows the machine's total RAM, not the page cache or another process's use of the
    # moment. The free RAM is simulated (this machine's cannot be made scarce safely); the rest is the real rule.
    from models.array import capacity

    spec = load_study(write(tmp_path, sampler="tpe"))
    objective = Objective(spec, accelerator="cpu")
    rnn, train = configs_for(spec.base_params(), objective.splits, seed=spec.seed)
    longest = int(objective.splits.train.lengths.max())
    member = capacity.member_bytes(rnn, train, longest)
    sizes = {}
    for free in (200 * member, 40 * member, 6 * member):
        monkeypatch.setattr(capacity, "free_bytes", lambda device, free=free: free)
        sizes[free // member] = auto_size(spec, rnn, train, longest, 200, "cpu")
    assert sizes[200] == sizes[40] and sizes[200][0] == RANDOM_STARTUP and "lowered" not in sizes[200][1]
    assert sizes[6][0] == 3 and "lowered to 3" in sizes[6][1]  # half the free RAM: 3 members


# --------------------------------------------------------------------------------------------- by value
def _run(spec_path: Path, storage: Any, total: int, **kw: Any) -> list[optuna.trial.FrozenTrial]:
    spec = load_study(spec_path)
    ensure_study(spec, storage, total=total)
    run_worker(spec, storage, total, accelerator="cpu", **kw)
    return sorted(trials_of(storage, spec.name), key=lambda t: t.number)


@pytest.mark.slow
def test_array_members_equal_the_same_trials_run_alone(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "journal.log"))
    alone = _run(write(tmp_path, "alone", array_size=1, starting_points=POINTS), storage, 3)
    array = _run(write(tmp_path, "array", array_size=3, starting_points=POINTS), storage, 3)
    assert [t.state for t in alone] == [TrialState.COMPLETE] * 3 == [t.state for t in array]
    assert all("array" not in t.user_attrs for t in alone)
    for a, b in zip(alone, array, strict=True):
        assert a.params == b.params
        assert b.user_attrs["array"]["size"] == 3 and b.user_attrs["array"]["members"] == [0, 1, 2]
        assert b.value == pytest.approx(a.value, abs=1e-4)
        for key in ("folds", "epochs_run", "best_epoch", "config", "path"):
            assert b.user_attrs[key] == a.user_attrs[key], key
        assert b.user_attrs["fold_scores"] == pytest.approx(a.user_attrs["fold_scores"], abs=1e-4)
        assert b.user_attrs["val_acc"] == pytest.approx(a.user_attrs["val_acc"], abs=1e-9)
        assert set(b.intermediate_values) == set(a.intermediate_values) == set(range(2 * EPOCHS))
        for step, value in a.intermediate_values.items():  # the same running mean over folds, step by step
            assert b.intermediate_values[step] == pytest.approx(value, abs=1e-4), step
        assert b.user_attrs["value_is"] == a.user_attrs["value_is"]
    # each member's wall time is its share of the array's: together they are the array's time (setup aside)
    shares = sum(t.user_attrs["wall_time_s"] for t in array)
    assert 0 < shares <= array[0].user_attrs["array"]["wall_time_s"] + 1e-3


@pytest.mark.slow
def test_members_are_pruned_on_their_own(tmp_path: Path) -> None:
    """Median pruning over 12 trials in arrays of 4: every pruned member carries its reason, stopped early (fewer
    epochs: it stopped costing compute), and its value is its last report, a running mean over folds."""
    storage = open_storage(str(tmp_path / "journal.log"))
    study = write(tmp_path, "pruned", array_size=4, pruner="median", budget={"trials": 12, "max_epochs": EPOCHS})
    trials = _run(study, storage, 12)
    by = states(optuna.load_study(study_name="pruned", storage=storage))
    assert by.get("COMPLETE", 0) + by.get("PRUNED", 0) == 12 and set(by) <= {"COMPLETE", "PRUNED"}, by
    assert [t.user_attrs["array"]["members"] for t in trials[::4]] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, [(t.number, t.state.name, t.value) for t in trials]
    for t in pruned:
        assert t.user_attrs["pruned_reason"].startswith(
            f"pruned at epoch {t.last_step % EPOCHS + 1} (step {t.last_step})"
        )
        assert t.user_attrs["epochs_run"] == t.last_step + 1 < 2 * EPOCHS
        assert t.value == t.intermediate_values[t.last_step]
        assert "running mean over folds" in t.user_attrs["value_is"]
        assert "val_acc" not in t.user_attrs  # only complete trials get the mean over their folds
    for t in trials:
        if t.state == TrialState.COMPLETE:
            assert t.user_attrs["epochs_run"] == 2 * EPOCHS and len(t.user_attrs["fold_scores"]) == 2


@pytest.mark.slow
def test_a_diverging_member_is_pruned_with_its_reason_and_the_others_run_on(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "journal.log"))
    points = [{**POINTS[0], "kernel_l2": 1e9}] + POINTS[1:]  # a penalty whose loss explodes at the first step
    search = {**SMALL["search"], "kernel_l2": {"low": 1e-5, "high": 1e9, "log": True, "off": True}}
    trials = _run(write(tmp_path, "diverge", array_size=3, starting_points=points, search=search), storage, 3)
    diverged, others = trials[0], trials[1:]
    assert diverged.state == TrialState.PRUNED, diverged.user_attrs
    assert diverged.user_attrs["pruned_reason"].startswith("diverged: training loss")
    assert diverged.user_attrs["epochs_run"] == 1
    assert [t.state for t in others] == [TrialState.COMPLETE] * 2
    assert all(t.user_attrs["array"]["size"] == 3 for t in trials)


@pytest.mark.slow
def test_smoke_study_with_arrays_prints_each_member_and_records_it_as_a_lone_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make study`` on the shipped smoke study in arrays of 4: one progress line per member, the summary and
    the verdict; each member's introspection is a lone trial's (per-epoch records of its first fold, the best
    epoch's statistics with gradient keys, figures reserved for a member whose fit ran its course) and its first
    fold's per-epoch rows. (The study runs in this process, run_main: what it prints and records is read, not
    its process; a fresh interpreter cost 4-5 s of imports.)"""
    storage = tmp_path / "journal.log"
    smoke = tmp_path / "smoke.yaml"
    smoke.write_text((ROOT / "studies/smoke.yaml").read_text() + "array_size: 4\n")
    result = run_main(capsys, "study", str(smoke), "--storage", str(storage), "--trials", "8")
    assert result.returncode == 0, result.stderr[-3000:]
    study = load(storage, "smoke")
    trials = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(trials) == 8 and max(t.user_attrs["array"]["size"] for t in trials) > 1
    lines = re.findall(r"^trial (\d+) (complete|pruned)", result.stdout, re.M)
    assert sorted(int(n) for n, _ in lines) == list(range(8)), result.stdout
    assert "best trial #" in result.stdout and study.user_attrs["regtune:final"]["best"]["accs"]
    for t in trials:
        stats = t.user_attrs["introspection"]
        assert {"recurrent.spectral", "sat.z", "dead"} <= set(stats)
        # the gradient statistics the array gathered over the member's first fold, keyed as a lone trial's
        assert {"grad.norm_mean", "grad.norm_max", "grad.clip_fraction", "grad.kernel", "grad.recurrent"} <= set(stats)
        assert stats["grad.steps"] > 0 and 0 < stats["grad.norm_mean"] <= stats["grad.norm_max"]
        assert isinstance(t.user_attrs["diagnoses"], list)
        if t.state == TrialState.COMPLETE:
            assert set(t.system_attrs["regtune:figures"]["figures"]) >= {"weights", "gradients", "saturation"}
        rows = t.user_attrs["epoch_history"]
        assert [r["epoch"] for r in rows] == list(range(len(rows))) and {"val_acc", "train_loss"} <= set(rows[0])
        assert 0 < t.user_attrs["wall_time_s"] <= t.user_attrs["array"]["wall_time_s"]


# --------------------------------------------------------------------------------------------- many workers, faults
@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_running_arrays_reach_exactly_the_total(tmp_path: Path) -> None:
    storage = open_postgres(POSTGRES)
    name, total = f"arrays_{uuid.uuid4().hex[:10]}", 11
    study = write(tmp_path, name, array_size=3, budget={"trials": total, "max_epochs": 3}, pruner="median")
    try:
        procs = [start_worker(tmp_path, f"w{i}", study, POSTGRES, total) for i in range(2)]
        for p in procs:
            assert p.wait(timeout=400) == 0, logs(tmp_path)
        trials = trials_of(storage, name)
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        assert len(finished) == total, [(t.number, t.state.name) for t in trials]
        assert not [t for t in trials if t.state == TrialState.RUNNING]
        assert {t.system_attrs["regtune:pid"] for t in finished} == {p.pid for p in procs}  # both worked
        assert all(t.user_attrs["array"]["size"] >= 1 for t in finished)
        assert max(t.user_attrs["array"]["size"] for t in finished) > 1
        keys = [tuple(sorted(t.params.items())) for t in finished]
        assert len(keys) == len(set(keys))  # no trial ran twice
    finally:
        try:
            optuna.delete_study(study_name=name, storage=storage)
        except KeyError:
            pass


def _member_files(artifacts: Path, name: str) -> list[Path]:
    return list((artifacts / "checkpoints" / name).glob("*/trial-*/fold-*.member"))  # (under the study's run scope)


@pytest.mark.slow
def test_killed_workers_members_resume_from_their_checkpoints(tmp_path: Path) -> None:
    """SIGKILL a worker mid-array: the next worker finds its members dead, re-queues them, and runs them as arrays
    of their own (one per epoch they resume at) from their last checkpointed epoch; their curves continue the dead
    run's."""
    name, artifacts, journal = "killed", tmp_path / "artifacts", str(tmp_path / "journal.log")
    epochs = 12
    study = write(
        tmp_path, name, array_size=3, budget={"trials": 3, "max_epochs": epochs}, starting_points=POINTS,
        fixed={**SMALL["fixed"], "patience": 0},  # every fold runs all its epochs
    )  # fmt: skip
    a = start_worker(tmp_path, "a", study, journal, 3, artifacts=artifacts)

    def midway() -> bool:
        ts = trials_of(journal, name)
        return (
            len(ts) == 3 and all(t.state == TrialState.RUNNING and len(t.intermediate_values) >= 3 for t in ts)
            and len(_member_files(artifacts, name)) == 3
        )  # fmt: skip

    wait_for(midway, 180, "three members to train 3 epochs with checkpoints", tmp_path)
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=10)
    dead = {t.number: t for t in trials_of(journal, name)}
    spec = prepare(str(study)).spec  # as the worker process read it (the defaults applied)
    storage = open_storage(journal)
    assert run_worker(spec, storage, 3, accelerator="cpu", artifacts=str(artifacts)) == 3

    trials = trials_of(journal, name)
    reruns = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(reruns) == 3 and all(dead[n].state == TrialState.RUNNING for n in range(3))
    assert all(trials[n].state == TrialState.FAIL and "died" in trials[n].user_attrs["fail_reason"] for n in range(3))
    for t in reruns:
        origin = dead[t.system_attrs["failed_trial"]]
        assert t.params == origin.params
        assert t.user_attrs["resumed_from_epoch"] >= 2, t.user_attrs  # not from scratch
        assert t.user_attrs["epochs_run"] == 2 * epochs
        assert set(t.intermediate_values) == set(range(2 * epochs))
        for step, value in origin.intermediate_values.items():  # the dead run's curve, continued identically
            assert t.intermediate_values[step] == pytest.approx(value, abs=1e-5), step
    # members resumed at the same epoch share an array (the kill may fall between two members' checkpoints)
    arrays = {tuple(t.user_attrs["array"]["members"]) for t in reruns}
    assert sum(len(a) for a in arrays) == 3
    for members in arrays:
        assert len({t.user_attrs["resumed_from_epoch"] for t in reruns if t.number in members}) == 1
    assert not list((artifacts / "checkpoints" / name).glob("*/trial-0"))  # finished members delete their files


@pytest.mark.slow
def test_ctrl_c_requeues_every_running_member_and_exits_130(tmp_path: Path) -> None:
    name, journal = "ctrlc", str(tmp_path / "journal.log")
    study = write(tmp_path, name, array_size=3, budget={"trials": 3, "max_epochs": 40}, starting_points=POINTS)
    a = start_worker(tmp_path, "a", study, journal, 3)
    wait_for(
        lambda: len(ts := trials_of(journal, name)) == 3 and all(len(t.intermediate_values) >= 2 for t in ts),
        180, "three members to report", tmp_path,
    )  # fmt: skip
    a.send_signal(signal.SIGINT)
    assert a.wait(timeout=60) == 130, logs(tmp_path)
    trials = trials_of(journal, name)
    failed, waiting = trials[:3], trials[3:]
    assert all(t.state == TrialState.FAIL and "interrupted" in t.user_attrs["fail_reason"] for t in failed)
    assert [t.state for t in waiting] == [TrialState.WAITING] * 3
    assert sorted(t.system_attrs["failed_trial"] for t in waiting) == [0, 1, 2]
    assert [t.params for t in waiting] == [t.params for t in failed]
    assert all(t.system_attrs["regtune:interrupts"] == 1 for t in waiting)


def test_an_interrupt_surfacing_as_another_error_requeues_every_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real SIGINT landing inside a call that turns it into its own error (a database driver's: Optuna's
    StorageInternalError), here in the arrays' fit: every member is re-queued and the worker stops, as for a plain
    Ctrl-C, instead of failing the members as crashed and going on."""
    import time

    import models.array
    from search.interrupts import Interrupted

    def cut_short(*args: Any, **kwargs: Any) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the worker's handler raises Interrupted at once
        except Interrupted as exc:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from exc

    name, journal = "ctrlc_inside", str(tmp_path / "journal.log")
    study = write(tmp_path, name, array_size=2, budget={"trials": 2, "max_epochs": 4}, starting_points=POINTS[:2])
    spec = prepare(str(study)).spec
    storage = open_storage(journal)
    ensure_study(spec, storage, total=2)
    monkeypatch.setattr(models.array, "fit_array", cut_short)
    with pytest.raises(Interrupted):
        run_worker(spec, storage, 2, accelerator="cpu")
    trials = trials_of(journal, name)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 2 and all("interrupted" in t.user_attrs["fail_reason"] for t in failed)
    waiting = [t for t in trials if t.state == TrialState.WAITING and "failed_trial" in t.system_attrs]
    assert sorted(t.system_attrs["failed_trial"] for t in waiting) == sorted(t.number for t in failed)
    assert all(t.system_attrs["regtune:interrupts"] == 1 for t in waiting)


# --------------------------------------------------------------------------------------------- reproducible
@pytest.mark.slow
def test_a_study_run_twice_at_once_gives_the_same_trials_and_the_same_verdict(tmp_path: Path) -> None:
    # two `study` runs side by side (each slowing the other), with other string hashes: a seeded study is a
    # function of its file, K and the thread count, never of the machine's load or the process
    spec = write(tmp_path, name="twice", sampler="tpe", pruner="hyperband", introspect=True, final_seeds=2,
                 budget={"trials": 8, "max_epochs": EPOCHS})  # fmt: skip
    runs = []
    for i, hashes in enumerate(("0", "4242")):
        log = open(tmp_path / f"run{i}.log", "w")
        cmd = [sys.executable, "-m", "search", "study", str(spec), "--storage", str(tmp_path / f"run{i}.log.journal")]
        runs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **CLI_ENV, "PYTHONHASHSEED": hashes}))  # fmt: skip
    assert [p.wait(timeout=600) for p in runs] == [0, 0], logs(tmp_path)
    a, b = (sorted(trials_of(str(tmp_path / f"run{i}.log.journal"), "twice"), key=lambda t: t.number) for i in (0, 1))
    assert len(a) == len(b) == 8
    for x, y in zip(a, b):
        assert (x.state, x.params, x.values, x.intermediate_values) == (
            y.state,
            y.params,
            y.values,
            y.intermediate_values,
        )
    verdicts = [(tmp_path / f"run{i}.log").read_text().replace(f"run{i}.log.journal", "").split("test accuracy:", 1)
                for i in (0, 1)]  # fmt: skip
    assert len(verdicts[0]) == 2 and verdicts[0][1] == verdicts[1][1]  # the verdict, number for number
    assert "trial arrays of up to 2 trials on cpu, 1 thread(s)" in verdicts[0][0]


@pytest.mark.slow  # two command-line workers, each waiting out a 3 s grace period
@pytest.mark.parametrize("size", [1, 2], ids=["one at a time", "arrays"])
def test_a_worker_waiting_for_a_trial_running_elsewhere_says_so_once(tmp_path: Path, size: int) -> None:
    """A trial RUNNING on another machine (fresh heartbeat) holds the study's last slot: the worker waits for it
    and says so once, then re-queues it when its heartbeat goes stale and runs it. Trial arrays (the default
    ``array_size: auto``) waited silently: the line was the one-at-a-time loop's alone."""
    import time

    from search.worker import BEAT_ATTR, HOST_ATTR, PID_ATTR, START_ATTR

    raw = {**SMALL, "name": f"wait{size}", "array_size": size, "budget": {"trials": 1, "max_epochs": 2}}
    path = tmp_path / "wait.yaml"
    path.write_text(yaml.safe_dump(raw))
    journal = tmp_path / "journal.log"
    spec = prepare(path).spec
    storage = open_storage(str(journal))
    study = ensure_study(spec, storage, total=1)
    trial = study.ask()
    for key, value in ((HOST_ATTR, "another-machine"), (PID_ATTR, 1), (START_ATTR, "1"), (BEAT_ATTR, time.time())):
        storage.set_trial_system_attr(trial._trial_id, key, value)
    worker = start_worker(
        tmp_path, "w", path, str(journal), 1, env={"REGTUNE_HEARTBEAT_INTERVAL": "1", "REGTUNE_GRACE_PERIOD": "3"}
    )
    line = "waiting for 1 running trial(s) to finish (0/1 finished)"

    def beating_until_it_waits() -> bool:  # the other machine's worker beats until this one says it waits
        storage.set_trial_system_attr(trial._trial_id, BEAT_ATTR, time.time())
        return line in logs(tmp_path) or worker.poll() is not None

    wait_for(beating_until_it_waits, 120, "the worker to say it waits", tmp_path, every=0.5)
    assert worker.wait(timeout=120) == 0, logs(tmp_path)  # the beat goes stale: re-queued, run here
    said = logs(tmp_path)
    assert said.count(line) == 1, said
    assert states(load(journal, spec.name)) == {"COMPLETE": 1, "FAIL": 1}, said


@pytest.mark.parametrize(
    ("trials", "said"), [(1, "trial arrays: none (array_size: auto: "), (8, "trial arrays of up to 2 ")]
)
def test_the_worker_says_k_and_its_threads_whether_or_not_arrays_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trials: int, said: str
) -> None:
    """Two runs reproduce each other only with the same K and thread count (README, "Trial arrays"): with K = 1 from
    ``array_size: auto`` (a study of up to 7 trials) the worker said neither."""
    import torch

    raw = {**SMALL, "name": "k", "budget": {"trials": trials, "max_epochs": 1}}
    spec = prepare(write(tmp_path, **raw)).spec
    storage = open_storage(str(tmp_path / "journal.log"))
    ensure_study(spec, storage, total=trials)
    run_worker(spec, storage, trials, accelerator="cpu")
    err = capsys.readouterr().err
    assert f"study k: {said}" in err and f"on cpu, {torch.get_num_threads()} thread(s)" in err, err

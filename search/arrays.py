"""Trial arrays, the search side: a worker that trains up to K trials of a study at once in one fused model.

:func:`run_arrays` is :func:`search.worker.run_worker`'s loop when the study's resolved ``array_size`` K is above 1
(:func:`array_size`). It keeps the worker's exact-total rules (:mod:`search.worker`, reused, not copied): it asks
only while finished + running trials are below the total, and for at most ``total - finished - running`` trials;
each asked trial gets the rank check (a surplus one is handed back and the batch stops growing), its heartbeat
and its worker's pid. Trials are asked one at a time and their parameters suggested at once, so the sampler's
constant liar (TPE's ``constant_liar=True``) sees the batch's earlier members as RUNNING (counted as bad) while
it proposes the next: the K proposals spread out as K parallel workers' would.

The batch is split into groups that can share one array (:func:`models.array.array_key`, and the same fold and
epoch to resume from); a configuration :func:`models.array.unsupported` names runs alone through the study's
:class:`~search.objective.Objective`, as on the single-trial path. A group runs the study's folds one after the
other, each fold one :func:`models.array.fit_array` call over the members still in it. After every epoch each
member reports the running mean over folds of its best score so far at step ``fold * max_epochs + epoch``
(:class:`search.objective.RunningMean`, as a lone trial reports), asks its own trial's ``should_prune`` and is
stopped alone when told (it stops costing compute at once); a diverging member is pruned with the reason, as a lone
trial is. When the fold's fit returns, the members pruned in it are told PRUNED; the rest go on to the next fold,
and a member that finishes every fold is told COMPLETE with the mean of its folds' best scores.

Each member gets the user attributes a lone trial gets (``config``, ``path``, ``folds``, ``val_acc``, ``val_loss``,
``best_epoch``, ``fold_scores``, ``epochs_run``, ``pruned_reason``, ``value_is``, ``resumed_from_epoch``), plus
``array``: ``{"size", "members", "wall_time_s"}`` (the array it trained in: its initial size, the trial numbers,
the array's whole wall time). ``wall_time_s`` is the member's *share* of the array's time: each epoch's wall time
split equally among the members that trained in it (the sum over members is the array's time).

With ``introspect`` a member gets what a lone trial gets from the first fold this run fits
(:mod:`search.array_introspection`): records of the same epochs (every 8th, the last, the best: weight norms
per gate, spectral norms of the recurrent weights, the activation statistics of the fixed validation batch, the
gradient statistics of the epoch's steps), the best epoch's statistics and their ``diagnoses`` as user
attributes, and, when the fit ran its course, the whole record as an artifact whose figures are drawn off the
trial's path; plus the per-epoch rows of that fold (``epoch_history``: val_acc, val_loss, score, train_loss).

Interrupts and crashes are counted as on the single-trial path: Ctrl-C or SIGTERM fails every member not yet told
and re-queues it (:func:`search.worker.interrupted`), then the worker exits 130 / 143; an error in a group's fit
fails that group's members (counted towards :data:`search.worker.MAX_CONSECUTIVE_FAILURES` once per group); a
killed worker's members are found dead and re-queued like lone trials. With ``ARTIFACTS`` each member stores its
state every epoch (:mod:`search.array_checkpoints`); a re-queued member resumes its finished folds and its last
epoch, in an array of the members that resume the same fold at the same epoch (or alone).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from models.config import DATA_NAMES, RNNConfig, TrainConfig, as_dict, configs_for
from models.datamodule import SequenceDataModule
from search import array_checkpoints
from search.array_introspection import MemberProbe, member_probes
from search.checkpoints import TrialCheckpoints
from search.interrupts import interrupt_behind
from search.objective import Objective, RunningMean, fold_end_report, fold_words, record_folds
from search.progress import DIVERGED
from search.pruning import replayed_until
from search.samplers import RANDOM_STARTUP
from search.spec import Choice, StudySpec
from search.storage import StorageError
from search.worker import (
    DEAD_CHECK_SECONDS,
    FINISHED,
    MAX_CONSECUTIVE_FAILURES,
    POLL_SECONDS,
    TOTAL_ATTR,
    Heartbeat,
    Interrupted,
    StudyError,
    _say_what_the_value_is,
    _shielded,
    _tell,
    claim,
    counts,
    fail_dead_trials,
    interrupted,
    open_study,
    raised_total,
    run_trial,
    start_beat,
    take_trial,
    taken_over,
    tell_wait,
)

#: ``array_size: auto`` never exceeds the sampler's random start-up proposals (TPE, CMA-ES, GP:
#: :data:`search.samplers.RANDOM_STARTUP`) nor a quarter of the study's total: at least this many rounds of
#: results reach the sampler
MIN_ROUNDS = 4
#: samplers whose proposals depend on finished trials (random and QMC do not: only memory and rounds cap K)
MODEL_SAMPLERS = ("tpe", "cmaes", "gp")
#: members a device holds when models.array gives no max_members (a 64-unit LSTM member needs well under 100 MB)
FALLBACK_MEMBERS = {"cpu": 16, "cuda": 64}


# --------------------------------------------------------------------------------------------- K
def device_of(accelerator: str) -> str:
    """The torch device a worker's arrays train on: ``cuda`` where the accelerator is (or may be) a GPU that is
    there, else ``cpu``."""
    if accelerator == "cpu":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def runs_on(device: str) -> str:
    """Where a worker trains, as its first line says it: ``cuda``, or ``cpu, N thread(s)`` (the intra-op thread count
    changes a float sum's order: with K, part of what a run reproduces)."""
    if device != "cpu":
        return device
    import torch

    return f"cpu, {torch.get_num_threads()} thread(s)"


def _arrays_available() -> bool:
    try:
        from models.array import fit_array  # noqa: F401
    except ImportError:
        return False
    return True


def memory_cap(
    rnn: RNNConfig, train: TrainConfig, longest: int, device: str, memory: Literal["free", "total"] = "free"
) -> int:
    """The most members the device's memory holds for this model and the longest training sequence
    (:func:`models.array.max_members`): of its ``"free"`` memory, or of its ``"total"``; where that is not there,
    :data:`FALLBACK_MEMBERS` for the device kind."""
    try:
        from models.array import max_members
        from models.array.capacity import total_bytes
    except ImportError:
        return FALLBACK_MEMBERS["cuda" if device.startswith("cuda") else "cpu"]
    size = total_bytes(device) if memory == "total" else None
    return int(max_members(rnn, train, longest, device=device, memory=size))


def auto_size(
    spec: StudySpec, rnn: RNNConfig, train: TrainConfig, longest: int, total: int, device: str
) -> tuple[int, str]:
    """``array_size: auto``: the largest K that fits the device's memory (:func:`memory_cap`), at most
    :data:`~search.samplers.RANDOM_STARTUP` for a model-based sampler, and at most a :data:`MIN_ROUNDS`-th of the
    total; with why.
    1 (the single-trial path) where :mod:`models.array` is not there.

    K shapes the study (how many trials the sampler proposes before it hears of any, which train and are pruned
    together), so on the CPU the memory cap comes from the machine's total RAM, the same every run, and K is
    lowered below the other caps only when the RAM available now cannot hold them (said in the why). A GPU's K
    follows its free memory (workers share a GPU)."""
    if not _arrays_available():
        return 1, "auto: models.array is not available"
    memory: Literal["free", "total"] = "free" if device.startswith("cuda") else "total"
    caps = {"memory": memory_cap(rnn, train, longest, device, memory),
            f"total/{MIN_ROUNDS}": max(1, total // MIN_ROUNDS)}  # fmt: skip
    if spec.sampler in MODEL_SAMPLERS:
        caps[f"{spec.sampler} random start-up"] = RANDOM_STARTUP
    k = max(1, min(caps.values()))
    why = "auto: the least of " + ", ".join(f"{name} {v}" for name, v in caps.items())
    if memory == "total":
        fits = memory_cap(rnn, train, longest, device, "free")
        if fits < k:
            why += (f"; lowered to {fits}, all that the RAM available now holds (a run with more RAM free runs "
                    f"{k} at once and proposes other trials)")  # fmt: skip
            k = fits
    return k, why


def array_size(spec: StudySpec, objective: Any, total: int, accelerator: str = "auto") -> int:
    """The K a worker runs: :func:`array_plan`'s."""
    return array_plan(spec, objective, total, accelerator)[0]


def array_plan(spec: StudySpec, objective: Any, total: int, accelerator: str = "auto") -> tuple[int, str]:
    """The K a worker runs, with why: 1 (the single-trial path) for an objective that is not the study's own
    :class:`Objective` or that adds Lightning callbacks (arrays run no Lightning trainer); else the study file's
    ``array_size``, or :func:`auto_size`. K shapes the study (how many trials the sampler proposes before it
    hears of any), so the worker prints the reason with it."""
    if type(objective) is not Objective or objective.extra_callbacks is not None:
        return 1, "a custom objective"
    if spec.array_size == 1:
        return 1, "array_size: 1"
    alone = no_member(spec, objective.splits) if _arrays_available() else None
    if alone is not None:  # an array_size written too: "trial arrays of up to 4" where every trial ran alone
        return 1, f"array_size: {spec.array_size}: 1, no trial of this study can be an array member ({alone})"
    if spec.array_size != "auto":
        return int(spec.array_size), f"array_size: {spec.array_size}"
    rnn, train = configs_for(spec.base_params(), objective.splits, seed=spec.seed)
    longest = int(objective.splits.train.lengths.max())
    k, why = auto_size(spec, rnn, train, longest, total, device_of(accelerator))
    return k, "array_size: " + why


#: the searched names whose every choice is tried together when looking for a trial that can be an array member
#: (:func:`no_member`); any other searched name is taken at its least value, the one most likely to be supported
SUPPORT_CHOICES = ("conv_layers", "conv_stride", "optimizer")


def no_member(spec: StudySpec, splits: Any) -> str | None:
    """Why no trial the study can run is an array member (None: some can). On long data every default trial has
    the Conv1D front end, which arrays do not run: the worker asked K trials at once (TPE proposing blind), then
    trained them one after another, with K sized from a raw length no trial read."""
    from models.array import unsupported

    base, least, spread = spec.base_params(), {}, {}
    for name, dim in spec.search.items():
        if isinstance(dim, Choice) and name in SUPPORT_CHOICES:
            spread[name] = list(dim.choices)
        elif isinstance(dim, Choice):
            numbers = [v for v in dim.choices if isinstance(v, (int, float))]  # (a bool is one: False first)
            least[name] = min(numbers) if numbers else dim.choices[0]
        else:
            least[name] = 0 if dim.off else int(dim.low) if dim.integer else dim.low  # (low is stored as a float)
    reasons = []
    for combo in itertools.product(*spread.values()):
        rnn, train = configs_for({**base, **least, **dict(zip(spread, combo))}, splits, seed=spec.seed)
        why = unsupported(rnn, train)
        if why is None:
            return None
        reasons.append(why)
    return reasons[0]


# --------------------------------------------------------------------------------------------- members
@dataclass
class Member:
    """One asked trial of a batch and what its run has gathered so far."""

    trial: optuna.Trial
    rnn: RNNConfig
    train: TrainConfig
    hp: dict[str, Any]
    beat: Heartbeat
    ckpts: TrialCheckpoints | None = None
    resume: array_checkpoints.MemberResume | None = None
    bests: list[dict[str, Any]] = field(default_factory=list)  # finished folds' best rows (and curves)
    epochs: int = 0  # trained over all folds, resumed ones included
    seconds: float = 0.0  # share of the arrays' wall time
    running: RunningMean | None = None
    epoch: int = -1  # the last epoch trained in the current fold
    pruned: str | None = None  # why it was stopped (pruned or diverged)
    told: bool = False
    replayed: int = -1  # search.pruning.replayed_until: a dead run's steps, not judged again
    history: list[dict[str, float]] = field(default_factory=list)  # the introspected fold's rows
    array: dict[str, Any] = field(default_factory=dict)

    @property
    def start_fold(self) -> int:
        return len(self.bests)

    @property
    def start_epoch(self) -> int | None:
        return None if self.resume is None else self.resume.epoch


class _Run:
    """One worker's state while it runs arrays (the study, the objective's data, the hooks)."""

    def __init__(
        self, spec: StudySpec, study: optuna.Study, objective: Objective, device: str,
        on_trial: Callable[[FrozenTrial, dict[str, int]], None] | None, on_epoch: Callable[[int, int], None] | None,
    ) -> None:  # fmt: skip
        self.spec, self.study, self.objective, self.device = spec, study, objective, device
        self.on_trial, self.on_epoch = on_trial, on_epoch
        self.done = 0

    # ----------------------------------------------------------------- asking
    def ask(self, n: int, total: int) -> list[Member]:
        """Up to ``n`` trials, each claimed (heartbeat, pid) and its parameters suggested before the next is asked
        (the constant liar sees it); re-queued trials first. Stops at the first surplus trial (handed back)."""
        members: list[Member] = []
        try:
            for _ in range(n):
                trial = take_trial(self.study, total)  # (a stop meanwhile gives it back: not yet a member)
                if trial is None:
                    break
                beat = start_beat(self.study, trial)  # (a stop while it starts re-queues the trial)
                try:
                    claim(self.study._storage, trial._trial_id)
                except (KeyboardInterrupt, Interrupted):  # mid-claim: re-queued, as run_trial's (not yet a member)
                    beat.__exit__(None, None, None)
                    with _shielded():
                        interrupted(self.study, trial)
                    raise
                try:
                    member = Member(trial, *self._configs(trial), beat=beat, replayed=replayed_until(trial))
                except Exception as exc:  # a configuration the model rejects: failed, as a lone trial is
                    self._fail([Member(trial, None, None, {}, beat)], exc)  # type: ignore[arg-type]
                    continue
                members.append(member)
                self._start(member)
        except BaseException:
            self.interrupt_or_fail(members, sys.exc_info()[1])
            raise
        return members

    def _configs(self, trial: optuna.Trial) -> tuple[RNNConfig, TrainConfig, dict[str, Any]]:
        rnn, train = self.objective.configs(trial)
        return rnn, train, {k: v for k, v in as_dict(rnn, train).items() if k not in DATA_NAMES}

    def _start(self, m: Member) -> None:
        """The attributes a lone trial sets first, and what an earlier run of it left to resume."""
        m.trial.set_user_attr("config", m.hp)
        m.trial.set_user_attr("path", m.rnn.resolved_path)
        m.trial.set_user_attr("folds", self.objective.folds)
        store = self.objective.checkpoints
        if store is None:
            return
        m.ckpts = store.trial(m.trial, self.study.study_name)
        m.resume = array_checkpoints.start(m.ckpts, m.hp)
        keys = ("epoch", "val_acc", "val_loss", "score", "curve")
        m.bests = [{k: f[k] for k in keys if k in f} for f in m.resume.folds]
        m.epochs = m.resume.epochs
        if m.epochs:
            m.trial.set_user_attr("resumed_from_epoch", m.epochs)

    # ----------------------------------------------------------------- running
    def run_batch(self, members: list[Member]) -> list[Exception]:
        """Run the batch's groups one after the other; the errors of the groups that failed."""
        from models.array import array_key, unsupported

        errors: list[Exception] = []
        try:
            groups: dict[tuple, list[Member]] = {}
            alone: list[Member] = []
            for m in members:
                if unsupported(m.rnn, m.train) is not None:
                    alone.append(m)
                else:
                    groups.setdefault((array_key(m.rnn, m.train), m.start_fold, m.start_epoch), []).append(m)
            for group in groups.values():
                error = self._group(group)
                if error is not None:
                    errors.append(error)
            for m in alone:
                m.beat.__exit__(None, None, None)  # run_trial beats for it
                m.told = True  # from here run_trial tells it, or re-queues it when interrupted
                frozen, error = run_trial(self.study, m.trial, self.objective)
                self._finished(frozen)
                if error is not None:
                    errors.append(error)
        except BaseException:
            self.interrupt_or_fail(members, sys.exc_info()[1])
            raise
        finally:
            for m in members:
                m.beat.__exit__(None, None, None)
        return errors

    def _group(self, group: list[Member]) -> Exception | None:
        """Fit one group's folds as arrays; tell each member its outcome. An error fails the group's members
        still running (StorageError and interrupts propagate)."""
        start, numbers = time.perf_counter(), [m.trial.number for m in group]
        for m in group:
            m.array = {"size": len(group), "members": numbers, "start": start}
        try:
            first = group[0].start_fold  # the group's members all start at this fold (and epoch)
            for fold in range(first, self.objective.folds):
                live = [m for m in group if m.pruned is None]
                if not live:
                    break
                self._fold(live, fold, first=fold == first)
                for m in live:
                    if m.pruned is not None:
                        self._tell_pruned(m)
            for m in group:
                if not m.told:
                    self._tell_complete(m)
        except StorageError:
            raise
        except Exception as exc:
            stop = interrupt_behind(exc)
            if stop is not None:  # a signal that surfaced as another error: run_batch re-queues the members
                raise stop from exc
            self._fail([m for m in group if not m.told], exc)
            return exc
        return None

    def _fold(self, live: list[Member], fold: int, first: bool) -> None:
        """One fold of the members still in the group: one ``fit_array``; per epoch each member reports and may be
        pruned; at the end each member's fold best is kept (and checkpointed as a finished fold)."""
        from models.array import fit_array

        spec = self.spec
        data = SequenceDataModule(
            self.objective.splits, batch_size=live[0].train.batch_size, val_fraction=spec.val_fraction,
            folds=self.objective.folds, fold=fold, seed=self.objective.fold_seed, normalize=live[0].train.normalize,
        )  # fmt: skip
        resume = []  # ``first``: the first fold this run fits: resumed, and introspected
        for m in live:
            m.running = RunningMean([b["score"] for b in m.bests], spec.direction)
            m.epoch, m.history = -1, []
            state = m.resume.state if first and m.resume is not None else None
            if state is not None:
                assert m.resume is not None
                m.running.best, m.epoch = m.resume.fold_best, int(m.resume.epoch or 0)
            resume.append(state)
        clock = [time.perf_counter()]
        last_step = self.objective.folds * spec.max_epochs - 1  # the trial's last epoch: never pruned there

        def on_epoch(epoch: int, rows: list[tuple[int, dict[str, float]]]) -> Collection[int]:
            now = time.perf_counter()
            share, clock[0] = (now - clock[0]) / max(len(rows), 1), now
            stop = []
            step = fold * spec.max_epochs + epoch
            for i, row in rows:
                m = live[i]
                m.epochs, m.seconds, m.epoch = m.epochs + 1, m.seconds + share, epoch
                if first:
                    m.history.append({k: round(float(v), 6) for k, v in row.items()})
                assert m.running is not None
                value = m.running(row["score"])
                m.trial.report(value, step)
                if m.replayed < step < last_step and m.trial.should_prune():  # (the last epoch: nothing to save)
                    m.pruned = f"pruned at epoch {epoch + 1} (step {step}) with {value:.4f}"  # 1-based, as the line
                    stop.append(i)
            if self.on_epoch is not None:
                self.on_epoch(step + 1, self.objective.steps)
            return stop

        def on_checkpoint(i: int, state: Any) -> None:
            m = live[i]
            if m.ckpts is not None and m.pruned is None:
                best = None if m.running is None else m.running.best
                array_checkpoints.save(m.ckpts, fold, m.epoch, best, state)

        probes = member_probes(live, data) if first and self.objective.introspect else None

        def on_record(epoch: int, i: int, state: Any, gradients: dict[str, float], final: bool) -> None:
            assert probes is not None
            try:
                probes[i].record(epoch, state, gradients, final)
            except Exception as exc:  # introspection must never fail a trial
                print(f"note: no introspection record for trial {live[i].trial.number}: {exc}", file=sys.stderr)

        results = fit_array(
            [(m.rnn, m.train) for m in live], data, metric=spec.metric, on_epoch=on_epoch,
            on_checkpoint=on_checkpoint if any(m.ckpts is not None for m in live) else None,
            resume=resume if any(s is not None for s in resume) else None, device=self.device,
            on_record=on_record if probes is not None else None,
        )  # fmt: skip
        for k, (m, r) in enumerate(zip(live, results, strict=True)):
            if r.status == "diverged" and m.pruned is None:
                m.pruned = DIVERGED + str(r.reason) + fold_words(fold, self.objective.folds)
                m.epochs += 1  # the epoch it diverged in was trained (a lone trial counts it too)
            if probes is not None:
                self._introspect(m, probes[k], r)
            if m.pruned is None:  # the fold's best row, and its score per epoch (as a lone trial's fold)
                best = {k: float(r.best[k]) for k in ("epoch", "val_acc", "val_loss", "score")}
                m.bests.append({**best, "curve": [round(float(h["score"]), 6) for h in r.history]})
                if m.ckpts is not None:
                    array_checkpoints.fold_done(m.ckpts, fold, m.bests[-1], r.epochs_run)
                if fold < self.objective.folds - 1:  # an early-stopped fold is judged at its last step
                    assert m.running is not None
                    m.pruned = fold_end_report(
                        m.trial, m.running, fold, r.epochs_run, spec.max_epochs, best["score"], m.replayed
                    )

    def _introspect(self, m: Member, probe: MemberProbe, result: Any) -> None:
        """Store the member's records as a lone trial's: a fit that ran its course (done or early-stopped) with
        the best epoch's statistics and the figures; a pruned or diverged one with its last record, no figures."""
        m.trial.set_user_attr("epoch_history", m.history)
        whole = m.pruned is None and result.status in ("done", "early_stopped")
        try:
            probe.store(
                m.trial, int(result.best["epoch"]) if whole else None, self.objective.figures if whole else None,
                result.state if whole else None,
            )  # fmt: skip
        except Exception as exc:  # introspection must never fail a trial
            stored = "introspection" in m.trial.user_attrs  # the statistics are written first, then the figures' file
            what = "no figures (its statistics are stored)" if stored else "no introspection"
            print(f"note: {what} for trial {m.trial.number}: {exc}", file=sys.stderr, flush=True)

    # ----------------------------------------------------------------- telling
    def _attrs(self, m: Member) -> None:
        m.trial.set_user_attr("wall_time_s", round(m.seconds, 3))
        m.trial.set_user_attr("epochs_run", m.epochs)
        if m.array:
            wall = round(time.perf_counter() - m.array["start"], 3)  # the array's time so far
            m.trial.set_user_attr("array", {**{k: v for k, v in m.array.items() if k != "start"}, "wall_time_s": wall})

    def _close(self, m: Member, keep: bool = False) -> None:
        if m.ckpts is not None:
            if not keep:
                array_checkpoints.clear(m.ckpts, self.objective.folds)
            m.ckpts.close()
        m.beat.__exit__(None, None, None)

    def _tell_pruned(self, m: Member) -> None:
        assert m.pruned is not None
        m.trial.set_user_attr("pruned_reason", m.pruned)
        self._attrs(m)
        self._close(m)
        _say_what_the_value_is(self.study._storage, m.trial._trial_id, pruned=True)
        m.told = True
        self._finished(_tell(self.study, m.trial, state=TrialState.PRUNED))

    def _tell_complete(self, m: Member) -> None:
        value = record_folds(m.trial, m.bests)
        self._attrs(m)
        self._close(m)
        _say_what_the_value_is(self.study._storage, m.trial._trial_id, pruned=False)
        m.told = True
        self._finished(_tell(self.study, m.trial, value))

    def _fail(self, members: list[Member], exc: BaseException) -> None:
        for m in members:
            storage, tid = self.study._storage, m.trial._trial_id
            gone = taken_over(self.study, m.trial)  # failed and re-queued by another worker meanwhile
            if gone is not None or isinstance(exc, UpdateFinishedTrialError):
                self._close(m, keep=True)
                m.told = True
                if gone is None:  # the array stopped because another member was taken over: this one runs again
                    interrupted(self.study, m.trial, "its trial array stopped: another member was taken over by "
                                                     "another worker (a stale heartbeat); re-queued")  # fmt: skip
                self._finished(gone or storage.get_trial(tid))
                continue
            storage.set_trial_user_attr(tid, "fail_reason", "".join(traceback.format_exception_only(exc)).strip())
            storage.set_trial_user_attr(tid, "traceback", "".join(traceback.format_exception(exc))[-4000:])
            self._attrs(m)
            self._close(m)
            m.told = True
            self._finished(_tell(self.study, m.trial, state=TrialState.FAIL))

    def _finished(self, frozen: FrozenTrial) -> None:
        if frozen.state in FINISHED:
            self.done += 1
        if self.on_trial is not None:
            self.on_trial(frozen, counts(self.study))

    def interrupt_or_fail(self, members: list[Member], exc: BaseException | None) -> None:
        """The members not yet told when ``exc`` stopped the batch: an interrupt fails and re-queues each (its
        checkpoints kept); a lost storage leaves them RUNNING (their heartbeats stop: they are re-queued as dead);
        any other error fails them."""
        todo = [m for m in members if not m.told]
        if isinstance(exc, (KeyboardInterrupt, Interrupted)):
            with _shielded():
                for m in todo:
                    with contextlib.suppress(StorageError):
                        self._attrs(m)
                    self._close(m, keep=True)
                    interrupted(self.study, m.trial)
                    m.told = True
        elif isinstance(exc, StorageError):
            for m in todo:
                self._close(m, keep=True)
        elif isinstance(exc, Exception):
            self._fail(todo, exc)


# --------------------------------------------------------------------------------------------- the loop
def run_arrays(
    spec: StudySpec,
    storage: BaseStorage,
    total: int,
    size: int,
    worker_index: int,
    accelerator: str,
    on_trial: Callable[[FrozenTrial, dict[str, int]], None] | None,
    on_epoch: Callable[[int, int], None] | None,
    objective: Objective,
    why: str,
) -> int:
    """:func:`search.worker.run_worker`'s loop with arrays of up to ``size`` trials (``why``: how K was chosen);
    return how many trials this worker finished."""
    study = open_study(spec, storage, worker_index, objective)
    run = _Run(spec, study, objective, device_of(accelerator), on_trial, on_epoch)
    print(f"study {spec.name}: trial arrays of up to {size} trials on {runs_on(run.device)} ({why})",
          file=sys.stderr, flush=True)  # fmt: skip
    failures, first, told_wait, next_check = 0, True, False, 0.0
    at_start = study.user_attrs.get(TOTAL_ATTR)
    while True:
        if time.monotonic() >= next_check:  # first: this process's leftovers too; then now and then, as lone trials
            fail_dead_trials(study, objective.checkpoints, own=first, study_file=str(spec.path))
            next_check, first = time.monotonic() + DEAD_CHECK_SECONDS, False
        c = counts(study)
        if c["finished"] + c["running"] >= total:
            total = raised_total(study, total, at_start)
        if c["finished"] >= total:
            return run.done
        free = total - c["finished"] - c["running"]
        if free <= 0:
            told_wait = tell_wait(c, total, told_wait, study._storage)
            time.sleep(POLL_SECONDS)
            continue
        members = run.ask(min(size, free), total)
        if not members:
            time.sleep(POLL_SECONDS)
            continue
        told_wait = False
        before = run.done
        errors = run.run_batch(members)
        failures = 0 if run.done > before else failures + len(errors)
        if failures >= MAX_CONSECUTIVE_FAILURES:
            raise StudyError(f"{failures} trial arrays in a row failed; the last with: {errors[-1]}") from errors[-1]

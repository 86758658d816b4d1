"""The numbers of a study's summary and report, as one JSON-serialisable structure (:class:`StudyData`).

:func:`study_data` reads what ``make study`` prints: trial counts, given-up trials, the best trial (the verdict
is added by the caller, :func:`search.verdict.final_result`, once it is computed). :func:`study_report` adds what
``make report`` shows: the verdict, every recipe retrained like the best, hyperparameter importances, pruning
savings and the introspection refits of the best configuration and the baseline. :func:`comparison` lines up
several reports. Nothing here draws or formats: :mod:`search.report.render` and :mod:`search.report.figures` do.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import statistics
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from models.classifier import DivergedError
from models.config import ARCHITECTURE_NAMES, REGULARIZER_NAMES, configs_for
from models.datamodule import SequenceDataModule
from models.introspect import Introspection, diagnose, fixed_batch
from models.train import fit
from search.folds import folds_of, study_splits
from search.inert_decay import inert_note
from search.progress import SURPLUS, diverged
from search.recipes import BASELINE, USER_POINT, earlier_points, is_baseline, num, same_values, starting_points
from search.retries import gave_up_rows
from search.selection import as_complete, fold_values, same_config, study_best, tied_with, within_one_se
from search.spec import StudySpec, values_of
from search.storage import StorageError, is_requeued, storage_hint
from search.verdict import (
    BATCH_NORM_BIAS,
    REFIT_SEEDS,
    REFIT_SWA,
    SWA_PROTOCOL,
    announce,
    baseline_config,
    cache_entry,
    cached_test_accuracy,
    changed_values,
    choose,
    compare,
    cv_epochs,
    definition_digest,
    epochs_of,
    final_result,
    holm_adjust,
    nothing_config,
    point_config,
    resolution,
    same_runs,
)
from search.worker import counts, dead_trials

RECIPES_ATTR = "regtune:report_recipes"


@dataclass
class StudyData:
    """One study's numbers. The fields after ``final`` are filled by :func:`study_report` only."""

    study: str  # the study's name
    study_file: str  # the study file, as given on the command line
    description: str  # the study file's description, else its dataset
    dataset: str  # the dataset spec
    architecture: dict[str, Any]  # the study's architecture settings
    metric: str  # the objective: val_acc or val_loss
    total: int | None  # the study's total of finished trials (None: not asked)
    counts: dict[str, int]  # trials per state (lower-case), and "finished" = complete + pruned
    gave_up: list[dict[str, Any]]  # trials given up after repeated crashes (:func:`search.retries.gave_up_rows`)
    dashboard: str  # the command that serves optuna-dashboard on the study's storage
    report_dir: str = ""  # where its report was written (search.report.build.report_dir); "" when not written
    unreportable: str = ""  # why there is nothing to report (no complete trial: all pruned, or none finished)
    best_trial: int | None = None  # the chosen ("tuned") trial's number (None: no complete trial)
    best_value: float | None = None  # its objective value
    best_recipe: str | None = None  # its recipe label, if it was a starting point
    best_validation: dict[str, Any] = field(default_factory=dict)  # val_acc, val_loss, folds, path of the best trial
    best_config: dict[str, Any] = field(default_factory=dict)  # its searched values off the defaults or the baseline's
    best_shared: dict[str, Any] = field(default_factory=dict)  # its other non-default values: fixed, the baseline's too
    selection: str = ""  # how it was chosen (search.selection: the best, or the baseline within one standard error)
    top_trial: int | None = None  # the trial with the highest objective (the chosen one, or a busier one)
    top_value: float | None = None  # its objective value
    #: other trials whose folds scored as the top one's (:func:`search.selection.tied_with`): the tie-break ranked them
    tied: list[int] = field(default_factory=list)
    #: the tie broken (or pending) on a fresh partition (:attr:`search.selection.Selection.tie`): the selection's
    #: rule says it, the tie line then does not
    tie: dict[str, Any] | None = None
    final: dict[str, Any] | None = None  # the verdict (:func:`search.verdict.final_result`)
    folds: int | None = None  # cross-validation folds per trial
    regularizers_on: dict[str, Any] = field(default_factory=dict)  # the best's regularizers not at their off value
    #: those of ``regularizers_on`` the study file fixes: the baseline runs them too, nothing the search turned on
    regularizers_fixed: list[str] = field(default_factory=list)
    recipes: list[dict[str, Any]] = field(default_factory=list)  # each recipe retrained like the best
    stale_recipes: list[int] = field(default_factory=list)  # recipe trials of an earlier definition: not compared
    importances: dict[str, dict[str, float]] = field(default_factory=dict)  # evaluator -> parameter -> importance
    moved_together: dict[str, list[str]] = field(default_factory=dict)  # ranked parameter -> those it moved with
    pruning: dict[str, float] = field(default_factory=dict)  # :func:`pruning_summary`
    introspection: dict[str, dict[str, Any]] = field(default_factory=dict)  # best/baseline -> stats, diagnoses, ...
    figures: list[dict[str, str]] = field(default_factory=list)  # {"file", "caption"} of the study-level figures

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Comparison:
    """Several studies' best configurations side by side."""

    studies: list[StudyData]  # in the order given
    regularizers: list[str]  # the regularizers any of their best configurations turned on


# --------------------------------------------------------------------------------------------- statistics
#: complete trials below which no parameter is ranked: with one, fANOVA gave every parameter the same share, and
#: the report's slice plot and comparison named a "top parameter" from that single trial
MIN_RANKED = 4


def importances(study: optuna.Study, metric: str = "val_acc") -> dict[str, dict[str, float]]:
    """fANOVA and PED-ANOVA importances over the complete trials (each may fail on tiny studies: then empty;
    fewer than :data:`MIN_RANKED` complete trials, or nothing but the tie-break to rank by: both empty)."""
    out: dict[str, dict[str, float]] = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    # each note names its study, as the verdict's lines do: a report of three studies printed two notes that named
    # none (the unseen10 probe)
    note = f"note: {study.study_name}: importances:"
    if len(complete) < MIN_RANKED:
        return {"fANOVA": {}, "PED-ANOVA": {}}
    # every trial tied (CBF: 12 trials at 1.0 on every fold): PED-ANOVA gave each parameter the same share, lr and
    # others that no trial varied among them
    if len({t.value for t in complete}) == 1:
        print(
            f"{note} every complete trial scored {complete[0].value:.4f}: nothing to rank by",
            file=sys.stderr,
        )
        return {"fANOVA": {}, "PED-ANOVA": {}}
    if metric == "val_acc" and (same := _same_accuracies(complete)) is not None:
        print(f"{note} every complete trial had the same mean fold accuracy ({same:.4f}): their values "
              "differ by the validation-loss tie-break alone, nothing to rank by", file=sys.stderr)  # fmt: skip
        return {"fANOVA": {}, "PED-ANOVA": {}}
    if _all_within_noise(study, complete, metric):
        print(f"{note} every complete trial is within one standard error of the best over the folds "
              "(the rule that chooses the tuned row): the trials do not differ measurably, nothing to rank by",
              file=sys.stderr)  # fmt: skip
        return {"fANOVA": {}, "PED-ANOVA": {}}
    varied = _varied(complete)
    if not varied:
        print(f"{note} no parameter took two values over the complete trials: nothing to rank",
              file=sys.stderr)  # fmt: skip
        return {"fANOVA": {}, "PED-ANOVA": {}}
    together = moved_together(complete)  # one of each group ranked: its share is the group's
    ranked = [p for p in varied if not any(p in others for others in together.values())]
    evaluators = {
        "fANOVA": optuna.importance.FanovaImportanceEvaluator(seed=0),
        "PED-ANOVA": optuna.importance.PedAnovaImportanceEvaluator(),
    }
    for name, evaluator in evaluators.items():
        try:  # Optuna's own warnings (PED-ANOVA: "Some regimes for parameter ... have less than 2 trials") were
            with warnings.catch_warnings(record=True) as said:  # printed raw, with a site-packages path
                warnings.simplefilter("always")
                out[name] = dict(optuna.importance.get_param_importances(study, evaluator=evaluator, params=ranked))
        except Exception:  # too few trials, or a space PED-ANOVA cannot split
            out[name] = {}
        for message in dict.fromkeys(str(w.message) for w in said if issubclass(w.category, UserWarning)):
            print(f"note: {name} importance: {message}", file=sys.stderr)
    return out


def _all_within_noise(study: optuna.Study, complete: list[FrozenTrial], metric: str) -> bool:
    """Whether every complete trial is within one standard error of the best, paired over the folds
    (:func:`search.selection.within_one_se`, the rule the tuned row is chosen by): UnitTest's five trials were one
    validation sequence of 20 apart, the summary said nothing the search found measurably helps, and the report
    then named dropout the most important parameter (fANOVA 0.766; the unseen6 probe). False with one fold or
    without fold values: nothing to measure the noise by."""
    best = fold_values(study_best(study), metric)
    if best is None or len(best) < 2:
        return False
    direction = study.direction.name.lower()  # (as search.selection.select reads it)
    for t in complete:
        values = fold_values(t, metric)
        if values is None or len(values) != len(best) or not within_one_se(values, best, direction):
            return False
    return True


def _varied(complete: list[FrozenTrial]) -> list[str]:
    """The parameters every complete trial has and that took two values or more among them: a parameter at one
    value in every complete trial (branch_dropout 0 in all four) got a share of its own from PED-ANOVA (0.033, the
    unseen probe)."""
    shared = set.intersection(*(set(t.params) for t in complete)) if complete else set()
    return sorted(p for p in shared if len({repr(t.params[p]) for t in complete}) > 1)


def moved_together(complete: list[FrozenTrial]) -> dict[str, list[str]]:
    """Varied parameters that split the complete trials alike (their values map one to one, each taking at most
    half as many values as there are trials), grouped under the first by name: no trial tells their effects apart.
    A small study whose complete trials are mostly the built-in recipes has ``kernel_l2_on`` and ``recurrent_l2_on``
    equal in every one (the L2 recipe sets both), and fANOVA split one effect between them, 0.359 and 0.160, named
    the 2nd and 3rd most important parameters (the verdict6 probe)."""
    varied, out, grouped = _varied(complete), {}, set()
    for i, p in enumerate(varied):
        col = [repr(t.params[p]) for t in complete]
        if p in grouped or 2 * len(set(col)) > len(complete):
            # values mostly apart (lr and dropout sampled afresh in every trial) map one to one by chance, and
            # their orders still tell them apart: only a few values shared by many trials confound
            continue
        with_p = [
            q for q in varied[i + 1:] if q not in grouped
            and len(set(zip(col, (qs := [repr(t.params[q]) for t in complete])))) == len(set(col)) == len(set(qs))
        ]  # fmt: skip
        if with_p:
            out[p] = with_p
            grouped.update(with_p)
    return out


def _same_accuracies(complete: list[FrozenTrial]) -> float | None:
    """The one mean fold accuracy (``fold_accs``) of trials that all reached it, else None. Their values then differ
    by the tie-break alone (``models.train.score``: a value is the mean over folds of accuracy minus a term under one
    sequence's worth), whichever folds scored what: on UnitTest every trial sat at chance, 0.5 on every fold, and
    the report named dropout "the most important parameter" (0.783) from differences of 4e-7 in the loss (the data
    probe, 2026-12-06); trials at 1.0 / 0.9 and 0.9 / 1.0 tie the same way. Means are compared to 6 decimals, the
    precision ``fold_accs`` are stored with."""
    folds = [t.user_attrs.get("fold_accs") for t in complete]
    if any(not f for f in folds):
        return None
    means = {round(statistics.fmean(float(a) for a in f), 6) for f in folds}  # type: ignore[union-attr]
    return means.pop() if len(means) == 1 else None


def pruning_summary(study: optuna.Study, spec: StudySpec) -> dict[str, float]:
    """Epochs spent, and epochs pruning saved: each pruned trial credited with the mean epochs of a complete one;
    the trials that diverged (stored as pruned, :func:`diverged`) counted apart and credited with nothing (the
    report credited a study with ``pruner: none`` with 42 % of its epochs saved)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ended = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    pruned = [t for t in ended if not diverged(t)]  # a divergence ends a trial by itself: no pruner saved it
    full = statistics.fmean([t.user_attrs.get("epochs_run", 0) for t in complete]) if complete else 0.0
    spent = sum(t.user_attrs.get("epochs_run", 0) for t in complete + ended)
    pruned_spent = sum(t.user_attrs.get("epochs_run", 0) for t in pruned)
    saved = max(0.0, full * len(pruned) - pruned_spent)
    return {
        "complete": len(complete),
        "pruned": len(pruned),
        "diverged": len(ended) - len(pruned),
        "epochs_spent": float(spent),
        "epochs_per_complete_trial": full,
        "epochs_saved": saved,
        "saved_fraction": saved / (spent + saved) if spent + saved else 0.0,
    }


def recipe_results(
    study: optuna.Study,
    spec: StudySpec,
    baseline: dict[str, Any],
    seeds: int,
    stale: list[int] | None = None,
    best: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Test accuracy of each recipe starting point (retrained like the best, same seeds), with the paired p against
    the verdict's ``baseline`` row (:func:`search.verdict.compare`). Cached on the study per seeds and study definition, row by
    row (trial number and state).

    Only recipe trials that ran what the study file's recipe runs now are rows: a change allowed with
    ``--allow-change`` can move the settings a recipe is built on (a widened ``lr`` range moves the baseline's
    lr to the default, and every recipe's with it), and a recipe trial of the earlier settings compared with
    today's baseline measured the lr, not the recipe ("input dropout 0.2": +0.076, "significant", where it had
    been -0.009). Their numbers are appended to ``stale``; the changed study enqueued the recipes again.

    The epochs come from the verdict's rule (:func:`search.verdict.cv_epochs`): a complete recipe trial's own
    curves; a pruned one is cross-validated here, unpruned, as a pruned baseline is. Its curves stop where the
    pruner stopped it (Hyperband: a few epochs of the first fold), and a refit for that many epochs judged the
    recipe by an unfinished training against a baseline trained to its peak."""
    digest = definition_digest(spec)  # hashes the data files: once, not per pruned recipe
    key = f"{seeds}:{digest}:refit-swa-{REFIT_SWA}:cv-epochs-own-patience:refit-seeds-{REFIT_SEEDS}"  # the protocol too
    if "swa_start" in spec.search or spec.fixed.get("swa_start"):  # its own SWA now starts where its folds' did
        key += f":own-swa-from-its-folds:{SWA_PROTOCOL}"  # (rows cached under the earlier best-epoch rule: not read)
    if "batch" in values_of(spec, "norm"):
        key += f":{BATCH_NORM_BIAS}"  # (rows retrained without the RNN's biases under batch norm: not read)
    points = starting_points(spec) + earlier_points(spec)  # (the points a study made before 2026-12-05 ran)
    current = point_configs(spec, points)
    splits = study_splits(spec)
    step, size, base = resolution(spec), len(splits.test), baseline_config(spec)
    shown: set[str] = set()
    cached = study.user_attrs.get(RECIPES_ATTR, {})
    done = cached.get(key, {})
    if isinstance(done, list):  # cached as one list of rows by an earlier version: the same rows, by trial
        done = {str(r["trial"]): r for r in done}
    rows, new = [], False
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    # a point run twice (an older --allow-change enqueued it again) has one row: its complete trial, else its first
    for t in sorted(finished, key=lambda t: (t.state != TrialState.COMPLETE, t.number)):
        label = t.user_attrs.get("recipe")
        if not label or is_baseline(label) or "config" not in t.user_attrs:
            continue
        # judged by configuration: a user point's label holds its index and file name, which a rename or an
        # inserted point changes without changing what it runs
        match = next((name for name, params, config in current if runs_point(t, params, config)), None)
        if match is None or match == BASELINE:
            if stale is not None and match is None:
                stale.append(t.number)
            continue
        if match in shown:
            continue
        shown.add(match)
        # by trial: a finished trial never changes, and a recipe trial that finished after the last report (it
        # was waiting, or another worker's) gets its row now, not never (a report cached once kept its rows)
        row = done.get(str(t.number))
        if row is None or row.get("state") != t.state.name.lower():
            row, new = _recipe_row(study, spec, t, seeds, digest), True
            done[str(t.number)] = row
        # the verdict's best row run again as a recipe (a starting point the search then chose): the same
        # configuration and epochs, so the same runs (verdict.compare's "same"); it is the verdict's own comparison,
        # not one of the recipes Holm corrects for (the page called one set of runs "significant" and "not")
        config = as_complete(t.user_attrs["config"], base)
        is_best = best is not None and same_runs({**row, "config": config}, best)
        test = compare(row, baseline, size, step)
        label = point_label(match, config, base) if match.startswith(USER_POINT) else match
        inert = inert_note(config, row.get("epochs"), len(splits.train))  # "decay 1e-4": too weak to act?
        rows.append({**row, "recipe": label, "p": test["p"], "is_best": is_best, **({"inert": inert} if inert else {}),
                     **({"untested": test["diverged"]} if test.get("diverged") else {}),
                     **({"identical": True} if test.get("identical") else {})})  # fmt: skip
    if new:  # merged with what another process cached meanwhile (rows by trial number)
        latest = study.user_attrs.get(RECIPES_ATTR, {}).get(key, {})
        cache_entry(study, RECIPES_ATTR, key, {**(latest if isinstance(latest, dict) else {}), **done})
    if stale is not None:
        stale.sort()
    return holm(sorted(rows, key=lambda r: r["trial"]))


def point_label(label: str, config: dict[str, Any], base: dict[str, Any]) -> str:
    """A study file's own starting point's row label with the values it runs over the baseline: a built-in recipe's
    label names every value it sets ("recurrent dropout 0.2 (per sequence)"), while "starting point 0 of
    aug.yaml" named none, and a reader of the page could not tell that row ran ema_decay 0.99 and swa_start 0.6
    (the consist8 probe). Names that change nothing in its network are left out, as the best's table leaves them."""
    over = {k: v for k, v in changed_values(config, base).items() if k in base and base[k] != v}
    values = [f"{k} {num(v) if isinstance(v, float) else v}" for k, v in over.items()]
    return f"{label}: {', '.join(values)}" if values else f"{label}: the baseline's values"


def point_configs(
    spec: StudySpec, points: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(label, params, :func:`search.verdict.point_config`) of each point, quietly: an earlier point off today's grid
    (a recipe a study made before the grid rule ran) made Optuna warn "out of the range" three times, raw, with
    install paths, in the report of such a study (the upgrade probe, 2026-12-05)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return [(label, params, point_config(spec, params)) for label, params in points]


def runs_point(t: FrozenTrial, params: dict[str, Any], config: dict[str, Any] | None) -> bool:
    """Whether trial ``t`` ran the starting point of ``params`` (its configuration ``config``, None when the point
    leaves names to the sampler: :func:`search.verdict.point_config`; then the values it was enqueued with)."""
    if config is not None:
        return same_config(t.user_attrs.get("config"), config)
    return same_values(t.system_attrs.get("fixed_params"), params)


def _recipe_row(study: optuna.Study, spec: StudySpec, t: FrozenTrial, seeds: int, digest: str) -> dict[str, Any]:
    """One recipe trial ``t`` retrained by the verdict's protocol (its epochs by :func:`recipe_results`' rule)."""
    config = as_complete(t.user_attrs["config"], baseline_config(spec))  # stored before a field existed: its default
    if t.state == TrialState.COMPLETE:
        epochs, source = epochs_of(spec, t.user_attrs), f"trial #{t.number}"
    else:
        epochs, source = cv_epochs(study, spec, config, digest)
    diverged: list[int] = []
    hits: list[str] = []
    accs = cached_test_accuracy(study, spec, digest, config, epochs, seeds, diverged=diverged, hits=hits)
    return {
        "trial": t.number, "recipe": t.user_attrs["recipe"], "state": t.state.name.lower(), "value": t.value,
        "accs": accs, "hits": hits, "epochs": epochs, "from": source, "diverged": diverged,
        "mean": statistics.fmean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
    }  # fmt: skip


def holm(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with ``p_holm``: each row's p-value adjusted by Holm's step-down over all of them (None where a
    row has no p). Eight recipes tested against the baseline at p < 0.05 call one "significant" by chance with
    probability up to 1 - 0.95^8 = 34 %; Holm keeps that chance (any false "significant") at 5 %."""
    tested = [i for i, r in enumerate(rows) if r.get("p") is not None and not r.get("is_best")]
    adjusted = dict(zip(tested, holm_adjust([rows[i]["p"] for i in tested])))
    # "family": the recipes corrected for (those with a test; the best row's own runs are not one of them)
    return [{**r, "p_holm": adjusted.get(i), "family": len(tested)} for i, r in enumerate(rows)]


def introspect(spec: StudySpec, config: dict[str, Any]) -> tuple[Introspection, int, str | None]:
    """Refit ``config`` on the study's seeded holdout with introspection on; return the record, the best epoch,
    and why the refit diverged (None: it did not). A diverged refit keeps its records up to the divergence (the
    last one marked), read at its last epoch: ``make report`` died with the fit's traceback and wrote nothing,
    where the verdict had already scored that row's diverged seeds 0 and said so."""
    splits = study_splits(spec)
    rnn, train = configs_for(config, splits)
    data = SequenceDataModule(splits, batch_size=train.batch_size, val_fraction=spec.val_fraction, seed=spec.seed,
                              normalize=train.normalize)  # fmt: skip
    probe = Introspection(fixed_batch(data.val_set), time_gradients=True)
    try:
        result = fit(rnn, train, data, metric=spec.metric, callbacks=[probe])
    except DivergedError as exc:
        last = max((int(r["epoch"]) for r in probe.epochs), default=0)
        return probe, last, str(exc)
    return probe, int(result.best["epoch"]), None


# --------------------------------------------------------------------------------------------- building
def network_of(spec: StudySpec) -> dict[str, Any]:
    """The network settings every trial shares, written under ``architecture`` or ``fixed`` (a bidirectional
    2-layer GRU written under fixed was headed "(lstm, 1 layer)" in the comparison)."""
    return {k: v for k, v in spec.base_params().items() if k in ARCHITECTURE_NAMES}


def described(spec: StudySpec) -> str:
    """The study's description, naming its data: a description that does not name the dataset had replaced it in
    the report (the newuser probe: neither the summary nor the page said what the study ran on)."""
    if not spec.description:
        return spec.dataset
    if spec.dataset in spec.description:
        return spec.description
    return f"{spec.description.rstrip().rstrip('.')} (data: {spec.dataset})"


def study_data(
    study: optuna.Study, spec: StudySpec, url: str | None = None, total: int | None = None, artifacts: str | None = None
) -> StudyData:
    """What ``make study`` prints, without the verdict: counts, given-up trials, the best trial; ``artifacts``: the
    ARTIFACTS the run was given, which the dashboard needs too (it drew the figures into a new directory)."""
    where = storage_hint(url, spec.name) + (f" ARTIFACTS={shlex.quote(artifacts)}" if artifacts else "")
    data = StudyData(
        study=spec.name, study_file=str(spec.path), description=described(spec),
        dataset=spec.dataset, architecture=network_of(spec), metric=spec.metric, total=total,
        counts=trial_counts(study), gave_up=gave_up_rows(study, str(spec.path), url),
        dashboard=f"make dashboard STUDY={shlex.quote(str(spec.path))}{where}",
    )  # fmt: skip
    if not data.counts["complete"]:  # the counts say so already: the reason is read only then
        data.unreportable = unreportable(study, spec) or ""
    else:
        base = baseline_config(spec)
        chosen = choose(study, spec)
        best = chosen.chosen
        ua = best.user_attrs
        data.selection, data.top_trial, data.top_value = chosen.rule, chosen.top.number, chosen.top.value
        data.tied, data.tie = tied_with(study, chosen.best, spec.metric), chosen.tie
        data.best_trial, data.best_value, data.best_recipe = best.number, best.value, ua.get("recipe")
        data.best_validation = {"val_acc": ua.get("val_acc", math.nan), "val_loss": ua.get("val_loss", math.nan),
                                "folds": ua.get("folds", 1), "path": ua.get("path")}  # fmt: skip
        shown = changed_values(ua["config"], base)
        # what the baseline runs too is the study's fixed settings, not the search's finding: a smoke study's
        # "Best:" line listed batch_size, cell, clip_norm, ... beside the one dropout that set it apart (newuser8)
        data.best_shared = {k: v for k, v in shown.items() if k not in spec.search and base.get(k, v) == v}
        data.best_config = {k: v for k, v in shown.items() if k not in data.best_shared}
    return data


def trial_counts(study: optuna.Study) -> dict[str, int]:
    """:func:`search.worker.counts`, ``diverged``: the pruned trials that diverged, and ``rerun``: the failed trials that were re-queued (a stop, a dead worker:
    a copy carries their number in its ``retry_history``), which the summary does not call failed: after a Ctrl-C
    and a resume it said "2 failed" where nothing had failed."""
    out = counts(study)
    out["rerun"] = out["surplus"] = 0
    queued = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    # waiting copies of stopped or crashed trials: not the recipes or starting points
    out["requeued"] = sum(map(is_requeued, queued))
    # the study file's own starting points among the rest: a study without any was told its "starting points" waited
    out["own_points"] = sum(
        not is_requeued(t) and str(t.user_attrs.get("recipe", "")).startswith(USER_POINT) for t in queued
    )
    out["diverged"] = sum(map(diverged, study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))))
    out["dead"] = len(dead_trials(study)) if out["running"] else 0  # said as gone, not as still running
    if out["fail"]:
        trials = study.get_trials(deepcopy=False)
        copied = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        failed = [t for t in trials if t.state == TrialState.FAIL]
        out["rerun"] = sum(t.number in copied for t in failed)
        # asked past the total while filling a trial array, and handed back untrained (search.worker._hand_back):
        # a shared study near its total ended with "2 failed" where nothing had failed
        out["surplus"] = sum(t.number not in copied and str(t.user_attrs.get("fail_reason", "")).startswith(SURPLUS)
                             for t in failed)  # fmt: skip
    return out


def check_reportable(study: optuna.Study, spec: StudySpec) -> None:
    """A :class:`StorageError` (one line, exit 2) unless the study has a complete trial (:func:`unreportable`)."""
    why = unreportable(study, spec)
    if why:
        raise StorageError(why)


def unreportable(study: optuna.Study, spec: StudySpec) -> str | None:
    """Why the study has nothing to report (None: it has a complete trial, whose configuration the verdict
    retrains). A study whose finished trials were all pruned says so, with the first pruning reason, where it
    used to print "no complete trial yet" for a study already at its total."""
    c = counts(study)
    if c["complete"]:
        return None
    study_file = shlex.quote(str(spec.path))
    if not c["finished"] and c["running"]:  # make study runs its first trials: "run make study first" misled
        return (
            f"study {spec.name!r} has no finished trial yet: {c['running']} trial(s) are running; wait for the first "
            "to finish (make dashboard shows their progress), then rerun make report (if no worker runs any more: "
            f"make study STUDY={study_file} resumes it)"
        )
    if not c["finished"]:
        failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if failed:  # "no finished trial yet: run make study" sent the user to fail five more
            why = failed[-1].user_attrs.get("fail_reason") or "no reason recorded"
            return (f"study {spec.name!r} has no complete trial: its {len(failed)} trial(s) failed (the last: "
                    f"{' '.join(str(why).splitlines())}); fix the cause in {study_file} (make dashboard shows each "
                    "trial's fail_reason), then make study")  # fmt: skip
        return f"study {spec.name!r} has no finished trial yet: run `make study STUDY={study_file}` first"
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    why = next((t.user_attrs.get("pruned_reason") for t in pruned if t.user_attrs.get("pruned_reason")), None)
    return (
        f"study {spec.name!r} has no complete trial: its {c['finished']} finished trial(s) were all pruned"
        + (f" (the first: {why})" if why else "")
        + f"; a report retrains the best complete one: raise the total (make study STUDY={study_file} "
        f"TRIALS={c['finished'] + 10}) or look at why they were pruned (make dashboard)"
    )


def study_report(
    study: optuna.Study, spec: StudySpec, seeds: int | None = None, url: str | None = None
) -> tuple[StudyData, dict[str, Introspection]]:
    """Every number of the report (the verdict, recipes, importances, pruning, the introspection refits), and the
    refits' records, whose figures :mod:`search.report.build` draws. Exits with one line when nothing is complete."""
    check_reportable(study, spec)
    choose(study, spec, run=True)  # before the selection line: what it compares (a pruned baseline's run, the
    # confirmation on a fresh partition) is run and cached first
    data = study_data(study, spec, url)
    # with the counts (a study still running read "12 complete, 6 pruned" above "6 of 24 trials pruned" read
    # minutes of retraining later)
    data.importances = importances(study, spec.metric)
    if any(data.importances.values()):
        data.moved_together = moved_together(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    data.pruning = pruning_summary(study, spec)
    data.final = final = final_result(study, spec, seeds)
    config = final["best"]["config"]
    nothing = nothing_config(config)[0]
    data.folds = folds_of(spec)
    data.regularizers_on = {n: config[n] for n in REGULARIZER_NAMES if config[n] != nothing[n]}
    data.regularizers_fixed = [n for n in data.regularizers_on if n in spec.fixed]
    data.recipes = recipe_results(study, spec, final["baseline"], final["seeds"], data.stale_recipes, final["best"])
    floor = final.get("majority") or {}
    for row in data.recipes:  # the best row is warned of it (search.verdict's warnings); the recipe rows were not
        if "acc" in floor and isinstance(row.get("mean"), float) and row["mean"] <= floor["acc"]:
            row["majority"] = {"acc": floor["acc"], "label": floor.get("label")}
    probes = {}
    refits: dict[str, tuple[Introspection, int, str | None]] = {}
    for label, cfg in (("best", config), ("baseline", final["baseline"]["config"])):
        key = json.dumps(cfg, sort_keys=True, default=str)  # the baseline chosen as the best: one refit, not two
        if key not in refits:
            announce(spec, f"refitting the {label} configuration on the holdout with introspection (the report's "
                           "measurements and figures)")  # fmt: skip
            refits[key] = introspect(spec, cfg)
        probe, best_epoch, why_diverged = refits[key]
        stats = probe.summary(best_epoch)
        found = diagnose(stats, cfg.get("optimizer"))
        if why_diverged:  # (diagnose names the divergence from its last record; this says why, once)
            found = [f"its introspection refit diverged ({why_diverged}): the measurements are those up to then"] + [
                d for d in found if not d.startswith("the fit diverged")
            ]
        data.introspection[label] = {"stats": stats, "diagnoses": found, "epoch": best_epoch, "figures": {}}
        probes[label] = probe
    return data, probes


def comparison(reports: list[StudyData]) -> Comparison:
    """The regularizers the studies' best configurations turned on, in :data:`REGULARIZER_NAMES` order."""
    names = [n for n in REGULARIZER_NAMES if any(n in r.regularizers_on for r in reports)]
    return Comparison(studies=reports, regularizers=names)

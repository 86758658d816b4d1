"""A finished trial's parameters against the configuration it recorded: a lost parameter record shows.

Every trial regtune runs records its whole configuration (the user attribute ``config``, built from its
parameters) before it trains. A record lost from the middle of a journal file (a whole ``set trial param`` line),
or a parameter row deleted in PostgreSQL, left a finished trial one parameter short, and nothing noticed: the study
resumed, and the sampler, the report and the verdict read the trial as a configuration it did not run.

:func:`mismatched` compares them, without the study file: each parameter a trial holds must give the value its
``config`` records (a regularizer's ``<name>_on`` false: 0), and each name the study searched in every definition
it recorded (``regtune:definition``, and those ``--allow-change`` replaced: a dimension added by a widening was
not searched by the trials before it, which ran its fixed value) must be there, as a parameter or as its switch
off, where an earlier finished trial holds it or the trial was enqueued with it (``fixed_params``): a study made
before definitions were recorded got its definition from the study file of its first run since, which its older
trials need not have searched. A study without a definition is checked by the first rule alone, and so is a name
its ``config`` does not hold (a field added since the trial ran), and so is a trial run before definitions were
recorded (its ``config`` lacks the fields added with them, 2026-12-01): no definition bound it, and a worker of
that version beside a newer one, or its file edited between runs (nothing checked it), left such trials without a
name that trials numbered before them hold. A sampled trial that lost a parameter no
earlier trial holds is not seen (the first finished trials, when none was enqueued)."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import TrialState

from search.space import OFF_SUFFIX

#: study attributes (search.fingerprint): the definition now, and those replaced with --allow-change
_DEFINITION, _HISTORY = "regtune:definition", "regtune:definition_history"
#: names whose config value is not the parameter's: an older version let a study search ``seed``, and the study's
#: own seed won (models.config.configs_for)
_NOT_FROM_PARAMS = frozenset({"seed"})
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # the states checked
#: configuration fields added with the recorded definitions (2026-12-01): every version that records a study's
#: definition writes them into a trial's ``config``; a config without them was written by a version before
_DEFINITION_ERA = frozenset({"conv_layers", "mixup", "swa_start"})


def searched(study_attrs: dict[str, Any]) -> dict[str, bool]:
    """Name -> whether it had an ``off`` switch, for each name searched in every recorded definition of a study
    (its ``off`` switch: in every one too); {} when none is recorded."""
    definitions = [h.get("definition") for h in study_attrs.get(_HISTORY, [])] + [study_attrs.get(_DEFINITION)]
    spaces = [d["search"] for d in definitions if isinstance(d, dict) and isinstance(d.get("search"), dict)]
    if not spaces or len(spaces) != len(definitions):
        return {}
    names = set.intersection(*(set(s) for s in spaces))
    return {n: all(bool(s[n].get("off")) for s in spaces) for n in sorted(names)}


def mismatch(
    trial: optuna.trial.FrozenTrial, names: dict[str, bool], seen: set[str] | frozenset[str] = frozenset()
) -> str | None:
    """What in ``trial``'s parameters disagrees with its ``config`` (``names``: :func:`searched`; ``seen``: the
    parameters of the finished trials before it), or None."""
    config, params = trial.user_attrs.get("config"), trial.params
    if not isinstance(config, dict):
        return None
    for name, value in params.items():
        base = name[: -len(OFF_SUFFIX)] if name.endswith(OFF_SUFFIX) else None
        if (base or name) in _NOT_FROM_PARAMS:
            continue
        if base is not None and base in config and value is False and config[base] != 0:
            return f"{name} false, config {base} {config[base]!r}"
        if base is None and name in config and params.get(name + OFF_SUFFIX) is not False and config[name] != value:
            return f"{name} {value!r}, config {config[name]!r}"
    fixed = trial.system_attrs.get("fixed_params")
    fixed = fixed if isinstance(fixed, dict) else {}
    for name, value in params.items():
        if name in fixed and name not in _NOT_FROM_PARAMS and not _same(fixed[name], value):
            return f"{name} {value!r}, enqueued with {fixed[name]!r}"
    if not _DEFINITION_ERA <= config.keys():  # run before definitions were recorded: none bound its search
        return None
    known = seen | set(fixed)
    for name, switch in names.items():
        if name not in config or name in _NOT_FROM_PARAMS:
            continue
        on = params.get(name + OFF_SUFFIX)
        if switch and on is None and name + OFF_SUFFIX in known:
            return f"no parameter {name + OFF_SUFFIX}"
        if name not in params and on is not False and (name in known or name + OFF_SUFFIX in known):
            return f"no parameter {name}, config {config[name]!r}"
    return None


def _same(fixed: Any, value: Any) -> bool:
    """Whether a parameter's value is the one its trial was enqueued with (Optuna suggests a fixed parameter's value
    as given: only float rounding may differ). A trial that ran another value than it was enqueued with holds the
    records of another run: two journals of one study concatenated (`cat a/journal.log b/journal.log`) put the
    second run's sampled trial, its parameters and its value, on the first run's enqueued baseline, and the report
    listed that configuration as the baseline trial (the faults8 probe)."""
    if isinstance(fixed, bool) or isinstance(value, bool):
        return type(fixed) is type(value) and fixed == value
    if isinstance(fixed, int | float) and isinstance(value, int | float):
        return math.isclose(float(fixed), float(value), rel_tol=1e-9, abs_tol=0.0) or (
            fixed != fixed and value != value
        )
    return bool(fixed == value)


def mismatches(
    trials: list[optuna.trial.FrozenTrial], study_attrs: dict[str, Any]
) -> list[tuple[optuna.trial.FrozenTrial, str]]:
    """(trial, what) for each finished trial of ``trials`` (a study's, with its user attributes ``study_attrs``)
    whose parameters disagree with its ``config``."""
    names, seen = searched(study_attrs), set[str]()
    out = []
    for t in sorted((t for t in trials if t.state in FINISHED), key=lambda t: t.number):
        if (why := mismatch(t, names, seen)) is not None:
            out.append((t, why))
        seen |= set(t.params)
    return out


def mismatched(study: optuna.Study) -> list[tuple[optuna.trial.FrozenTrial, str]]:
    """:func:`mismatches` of ``study``."""
    return mismatches(study.get_trials(deepcopy=False, states=FINISHED), study.user_attrs)

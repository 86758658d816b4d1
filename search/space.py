"""The search space: ``trial.suggest_*`` for every searched name of a study -> a plain dict of values.

A range with ``off: true`` becomes two parameters: ``<name>_on`` (categorical) and, when on, ``<name>`` in
the range; the resolved value is 0 when off.
"""

from __future__ import annotations

from typing import Any

import optuna

from search.spec import Choice, Range, StudySpec

OFF_SUFFIX = "_on"


def suggest(trial: optuna.Trial, spec: StudySpec) -> dict[str, Any]:
    """The searched values of this trial (off values resolved to 0)."""
    values: dict[str, Any] = {}
    for name, dim in spec.search.items():
        if isinstance(dim, Choice):
            values[name] = trial.suggest_categorical(name, dim.choices)
            continue
        if dim.off and not trial.suggest_categorical(name + OFF_SUFFIX, [False, True]):
            values[name] = 0 if dim.integer else 0.0
            continue
        if dim.integer:
            values[name] = trial.suggest_int(name, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log)
        else:
            values[name] = trial.suggest_float(name, dim.low, dim.high, step=dim.step, log=dim.log)
    return values


def resolved_params(trial_params: dict[str, Any], spec: StudySpec) -> dict[str, Any]:
    """The full hyperparameter dict of a finished trial, from its stored Optuna params."""
    values = spec.base_params()
    for name, dim in spec.search.items():
        if isinstance(dim, Range) and dim.off and not trial_params.get(name + OFF_SUFFIX, True):
            values[name] = 0 if dim.integer else 0.0
        elif name in trial_params:
            values[name] = trial_params[name]
    return values


def to_trial_params(point: dict[str, Any], spec: StudySpec, snap: bool = True) -> dict[str, Any]:
    """Translate a starting point (name -> value) into Optuna params, inside the study's space.

    Values outside a searched range are moved to the nearest end (a recipe of dropout 0.2 in a study that
    searches 0.3..0.5 starts at 0.3), and onto its step grid (mixup 0.2 on a 0.15 grid runs 0.15: TPE was handed
    an observation its own distribution cannot draw, and the verdict could choose it); 0 on an ``off`` range
    switches it off. Names not searched are ignored. ``snap`` False: clamped only, as recipes were before
    2026-12-05 (:func:`search.recipes.earlier_points`).
    """
    params: dict[str, Any] = {}
    for name, value in point.items():
        dim = spec.search.get(name)
        if dim is None:
            continue
        if isinstance(dim, Choice):
            if value in dim.choices:
                params[name] = value
            continue
        if dim.off:
            params[name + OFF_SUFFIX] = bool(value)
            if not value:
                continue
        v = min(max(float(value), dim.low), dim.high)
        if dim.step is not None and snap:  # (a step divides its range; clamped again: 0 + 6 * 0.05 is 0.300...04)
            v = min(max(dim.low + round((v - dim.low) / dim.step) * dim.step, dim.low), dim.high)
        params[name] = int(round(v)) if dim.integer else v
    return params


def off_point(spec: StudySpec) -> dict[str, Any]:
    """Optuna params with every searched regularizer at (or nearest to) off."""
    from models.config import REGULARIZER_NAMES

    point: dict[str, Any] = {}
    for name, dim in spec.search.items():
        if name not in REGULARIZER_NAMES:
            continue
        if isinstance(dim, Choice):
            for off in ("none", 0, 0.0):
                if off in dim.choices:
                    point[name] = off
                    break
        else:
            point[name] = 0
    return to_trial_params(point, spec)

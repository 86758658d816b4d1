"""A model-based sampler proposes :data:`search.samplers.RANDOM_STARTUP` trials at random *after* the study's
enqueued starting points (the baseline, the recipes, the file's own points), then its model takes over.

Optuna counts every finished trial towards ``n_startup_trials``, enqueued or not: with its default of 10, the
default study's 10 starting points were TPE's whole start-up, it never proposed at random, and a regularizer whose one
recipe was pruned was hardly proposed again. Each case drives a real study the way a worker does (the starting
points enqueued, every trial's values suggested from the study's search space) and compares its proposals with a
random sampler's of the same seed."""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path
from typing import Any

import optuna
import pytest

from search.recipes import starting_points
from search.samplers import RANDOM_STARTUP, make_sampler
from search.space import suggest
from search.spec import StudySpec, load_study, parse_study
from tests.helpers import ROOT, TINY

#: trials the model proposes after the start-up, checked to be its own (not the random stream's)
AFTER = 4


def _tiny(**changes: Any) -> StudySpec:
    raw = {**TINY, "sampler": "tpe", "fixed": {"batch_size": 32},
           "search": {**TINY["search"], "lr": {"low": 1e-3, "high": 1e-2, "log": True}}}  # fmt: skip
    return parse_study({**raw, **changes}, Path("tiny.yaml"))


def _proposals(spec: StudySpec, sampler: optuna.samplers.BaseSampler, n: int) -> list[dict[str, Any]]:
    """The parameters of the ``n`` trials ``sampler`` proposes after the study's starting points, every trial told
    a score that depends on its parameters (so a model has something to fit)."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    points = starting_points(spec)
    for _, params in points:
        study.enqueue_trial(params)
    proposed = []
    for i in range(len(points) + n):
        trial = study.ask()
        values = suggest(trial, spec)
        study.tell(trial, zlib.crc32(repr(sorted(values.items())).encode()) / 2**32)
        if i >= len(points):
            proposed.append(dict(trial.params))
    return proposed


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize(
    ("spec", "enqueued"),
    [
        (lambda: load_study(ROOT / "studies" / "lstm.yaml"), 10),  # the default study: the baseline + 9 recipes
        (lambda: _tiny(recipes=True), None),  # whatever the recipes of a small space make
        (lambda: _tiny(recipes=False), 0),  # nothing enqueued: Optuna's own 10
        (lambda: _tiny(recipes=False, starting_points=[{"dropout": 0.2}]), 1),  # the file's own point counts too
    ],
    ids=["default study", "tiny, recipes", "tiny, no recipes", "tiny, one point of its own"],
)
def test_tpe_proposes_at_random_for_its_start_up_after_the_starting_points(spec: Any, enqueued: int | None) -> None:
    spec = spec()
    points = len(starting_points(spec))
    assert enqueued is None or points == enqueued
    tpe = _proposals(spec, make_sampler(spec), RANDOM_STARTUP + AFTER)
    random = _proposals(spec, optuna.samplers.RandomSampler(seed=spec.seed), RANDOM_STARTUP + AFTER)
    assert tpe[:RANDOM_STARTUP] == random[:RANDOM_STARTUP]  # the start-up: the random stream, proposal for proposal
    assert tpe[RANDOM_STARTUP:] != random[RANDOM_STARTUP:]  # then the model's own proposals


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_the_start_up_counts_the_enqueued_points_for_every_model_based_sampler() -> None:
    spec = load_study(ROOT / "studies" / "lstm.yaml")
    expected = len(starting_points(spec)) + RANDOM_STARTUP
    for name in ("tpe", "cmaes", "gp"):
        sampler = make_sampler(dataclasses.replace(spec, sampler=name))
        assert sampler._n_startup_trials == expected, name  # type: ignore[attr-defined]

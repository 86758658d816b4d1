"""A finished trial's parameters against the configuration it recorded (search.config_check): a lost parameter
record is named, and what older versions and --allow-change legitimately stored is not."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.config_check import mismatch, searched

NAMES = {"dropout": False, "kernel_l2": True}  # dropout searched plainly, kernel_l2 with an off switch
#: a trial's config as every version that records definitions writes it (conv_layers, mixup and swa_start came with
#: them); LEGACY: as the versions before wrote it (2026-11-27: none of them)
CONFIG = {"dropout": 0.1, "kernel_l2": 0.001, "lr": 0.01, "seed": 0, "conv_layers": -1, "mixup": 0.0, "swa_start": 0.0}
LEGACY = {k: v for k, v in CONFIG.items() if k not in ("conv_layers", "mixup", "swa_start")}


def trial(
    params: dict[str, Any], config: dict[str, Any] | None = CONFIG, fixed: dict[str, Any] | None = None
) -> optuna.trial.FrozenTrial:
    def dist(v: Any) -> Any:
        return CategoricalDistribution([False, True]) if isinstance(v, bool) else (
            IntDistribution(0, 10) if isinstance(v, int) else FloatDistribution(0.0, 1.0)
        )  # fmt: skip

    return optuna.trial.create_trial(
        value=0.5, params=params, distributions={k: dist(v) for k, v in params.items()},
        user_attrs={} if config is None else {"config": config},
        system_attrs={} if fixed is None else {"fixed_params": fixed},
    )  # fmt: skip


CASES = [
    # (id, params, config, searched names, what is named: None for an intact trial)
    ("intact, switch on", {"dropout": 0.1, "kernel_l2_on": True, "kernel_l2": 0.001}, CONFIG, NAMES, None),
    ("intact, switch off", {"dropout": 0.1, "kernel_l2_on": False}, {**CONFIG, "kernel_l2": 0.0}, NAMES, None),
    ("lost value", {"dropout": 0.1, "kernel_l2_on": True}, CONFIG, NAMES, "no parameter kernel_l2, config 0.001"),
    ("lost switch", {"dropout": 0.1, "kernel_l2": 0.001}, CONFIG, NAMES, "no parameter kernel_l2_on"),
    ("lost switch (off)", {"dropout": 0.1}, {**CONFIG, "kernel_l2": 0.0}, NAMES, "no parameter kernel_l2_on"),
    ("lost plain", {"kernel_l2_on": True, "kernel_l2": 0.001}, CONFIG, NAMES, "no parameter dropout, config 0.1"),
    ("edited value", {"dropout": 0.2, "kernel_l2_on": True, "kernel_l2": 0.001}, CONFIG, NAMES,
     "dropout 0.2, config 0.1"),
    ("edited switch", {"dropout": 0.1, "kernel_l2_on": False}, CONFIG, NAMES, "kernel_l2_on false, config kernel_l2"),
    # legitimate: a dimension not searched in every definition (added by a widening), an older version's searched
    # seed (the study's seed won), a field its config predates, a re-queued copy whose switch came out off, no config
    ("added by a widening", {"kernel_l2_on": True, "kernel_l2": 0.001}, CONFIG, {"kernel_l2": True}, None),
    ("switch added by a widening", {"dropout": 0.1, "kernel_l2": 0.001}, CONFIG, {**NAMES, "kernel_l2": False},
     None),
    ("searched seed", {"dropout": 0.1, "kernel_l2_on": True, "kernel_l2": 0.001, "seed": 3}, CONFIG, NAMES, None),
    ("field newer than config", {"dropout": 0.1, "kernel_l2_on": True, "kernel_l2": 0.001}, CONFIG,
     {**NAMES, "zoneout": False}, None),
    ("re-queued, switched off", {"dropout": 0.1, "kernel_l2_on": False, "kernel_l2": 0.001},
     {**CONFIG, "kernel_l2": 0.0}, NAMES, None),
    ("no config", {"x": 0.5}, None, NAMES, None),
    # a trial run before definitions were recorded: no definition bound its search (an older worker beside a newer
    # one, a file edited between runs), so only the parameters it holds are compared
    ("before definitions, without a name", {"kernel_l2_on": True, "kernel_l2": 0.001}, LEGACY, NAMES, None),
    ("before definitions, without a switch", {"dropout": 0.1, "kernel_l2": 0.001}, LEGACY, NAMES, None),
    ("before definitions, edited value", {"dropout": 0.2, "kernel_l2_on": True, "kernel_l2": 0.001}, LEGACY, NAMES,
     "dropout 0.2, config 0.1"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "config", "names", "named"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_trial_is_named_only_where_its_parameters_disagree_with_its_config(
    params: dict[str, Any], config: dict[str, Any] | None, names: dict[str, bool], named: str | None
) -> None:
    seen = {"dropout", "kernel_l2_on", "kernel_l2"}  # an earlier finished trial held them all
    why = mismatch(trial(params, config), names, seen)
    assert why == named if named is None else (why is not None and named in why), why


def test_a_name_no_earlier_trial_holds_is_required_only_of_a_trial_enqueued_with_it() -> None:
    """A study made before definitions were recorded got its definition from a later study file: its first trials
    need not have searched a name it searches. A trial enqueued with the name (the baseline, a recipe) must hold it."""
    lost = {"kernel_l2_on": True, "kernel_l2": 0.001}
    assert mismatch(trial(lost), NAMES, set()) is None  # the first trial, sampled: nothing says it searched dropout
    enqueued = trial(lost, fixed={"dropout": 0.1, "kernel_l2_on": True, "kernel_l2": 0.001})
    assert mismatch(enqueued, NAMES, set()) == "no parameter dropout, config 0.1"


RAN = {"dropout": 0.27, "kernel_l2_on": False}
ENQUEUED = [
    # (id, params the trial holds, the values it was enqueued with, what is named: None for an intact trial)
    ("as enqueued", {"dropout": 0.0, "kernel_l2_on": False}, {"dropout": 0.0, "kernel_l2_on": False}, None),
    ("float rounding", {"dropout": 0.1 + 1e-15, "kernel_l2_on": False}, {"dropout": 0.1, "kernel_l2_on": False}, None),
    ("an int as a float", {"dropout": 0.1, "n": 3}, {"dropout": 0.1, "n": 3.0}, None),
    ("a name it was not enqueued with", {"dropout": 0.1, "kernel_l2_on": False}, {"dropout": 0.1}, None),
    ("another run's value", {**RAN, "kernel_l2_on": False}, {"dropout": 0.0, "kernel_l2_on": False},
     "dropout 0.27, enqueued with 0.0"),
    ("another run's switch", {"dropout": 0.0, "kernel_l2_on": True, "kernel_l2": 0.001},
     {"dropout": 0.0, "kernel_l2_on": False}, "kernel_l2_on True, enqueued with False"),
    ("True is not 1", {"dropout": 0.0, "kernel_l2_on": True, "kernel_l2": 0.001},
     {"dropout": 0.0, "kernel_l2_on": 1, "kernel_l2": 0.001}, "kernel_l2_on True, enqueued with 1"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "fixed", "named"), [c[1:] for c in ENQUEUED], ids=[c[0] for c in ENQUEUED])
def test_a_trial_that_ran_other_values_than_it_was_enqueued_with_is_named(
    params: dict[str, Any], fixed: dict[str, Any], named: str | None
) -> None:
    """An enqueued trial holding parameters other than its ``fixed_params`` holds another run's records (two
    journals of one study concatenated: the second run's sampled trial landed on the first run's enqueued baseline,
    and the report listed it as the baseline; the faults8 probe). Optuna suggests a fixed value as given."""
    config = {**CONFIG, **{k: v for k, v in params.items() if k in CONFIG}}
    if params.get("kernel_l2_on") is False:
        config["kernel_l2"] = 0.0
    assert mismatch(trial(params, config, fixed=fixed), NAMES, set()) == named


def _definition(search: dict[str, Any]) -> dict[str, Any]:
    return {"search": {n: {"kind": "float", "low": 0.0, "high": 0.3, "off": off} for n, off in search.items()}}


def test_only_names_every_recorded_definition_searched_are_required() -> None:
    """--allow-change adds a dimension or an off switch: the trials before it ran without that parameter."""
    old = _definition({"dropout": False, "kernel_l2": True})
    now = _definition({"dropout": True, "kernel_l2": True, "recurrent_dropout": False})
    attrs = {"regtune:definition": now, "regtune:definition_history": [{"definition": old, "fingerprint": "x"}]}
    assert searched(attrs) == {"dropout": False, "kernel_l2": True}
    assert searched({"regtune:definition": now}) == {"dropout": True, "kernel_l2": True, "recurrent_dropout": False}
    assert searched({"regtune:study_file": "s.yaml"}) == {}  # made before definitions were recorded


def _journal_study(tmp_path: Any, rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> optuna.Study:
    """A journal-file study whose definition searches dropout and lr, with finished trials (params, config) in order."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_user_attr("regtune:definition", _definition({"dropout": False, "lr": False}))
    for params, config in rows:
        dists = {n: FloatDistribution(0.0, 1.0) for n in params}
        study.add_trial(optuna.trial.create_trial(value=0.5, params=params, distributions=dists,
                                                  user_attrs={"config": config}))  # fmt: skip
    return optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))))


NOW = {**CONFIG, "lr": 0.004}
LAYOUTS = [
    # (id, finished trials in number order: (params, config), trial numbers named)
    # a study made on 2026-11-27 (lr at its default, not searched), resumed today (lr searched by default) while a
    # worker of the old version still ran: its trials #2 and #3 come after today's #1, which holds lr
    ("older worker beside a newer one", [({"dropout": 0.1}, LEGACY), ({"dropout": 0.1, "lr": 0.004}, NOW),
                                         ({"dropout": 0.3}, {**LEGACY, "dropout": 0.3}), ({"dropout": 0.1}, LEGACY)], []),
    # the same trials all run today: #2 lost its lr record
    ("today's trial lost lr", [({"dropout": 0.1}, LEGACY), ({"dropout": 0.1, "lr": 0.004}, NOW),
                               ({"dropout": 0.1}, NOW), ({"dropout": 0.1, "lr": 0.004}, NOW)], [2]),
]  # fmt: skip


@pytest.mark.parametrize(("rows", "named"), [c[1:] for c in LAYOUTS], ids=[c[0] for c in LAYOUTS])
def test_trials_run_before_definitions_are_not_held_to_one(tmp_path: Any, rows: list[Any], named: list[int]) -> None:
    from search.config_check import mismatched

    assert [t.number for t, _ in mismatched(_journal_study(tmp_path, rows))] == named

"""Starting points a new study enqueues before the sampler takes over: what practitioners already try.

The first is the baseline: the study's fixed settings with every searched regularizer off, and every other
searched name (``lr``, ``recurrent_dropout_mode``, ...) at its default (moved into the searched range), so the
sampler chooses nothing in it. Each recipe then turns on one well-known setting (values from the practitioners'
advice in shared/REGULARIZING_RNNS.md) on top of the baseline, and names every value its meaning depends on
(:data:`DEPENDS`: the recurrent-dropout mode, the input-dropout masks, the optimizer of a decay), so two trials
with the same label run the same regularizers. Labels are written from the values a trial actually runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from models.config import DEPENDS as DEPENDS  # re-exported: each regularizer field's "depends" metadata
from models.config import REGULARIZER_NAMES
from models.config import defaults as default_values
from search.space import off_point, resolved_params, to_trial_params
from search.spec import Choice, StudySpec

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

#: the baseline trial's label: it keeps what the study fixes (clip_norm, a fixed dropout) and a searched range's
#: nearest value to off, so "no regularization", its label until 2026-12-05, was untrue in most studies
BASELINE = "baseline (searched regularizers off)"
BASELINE_LABELS = frozenset({BASELINE, "baseline (no regularization)"})  # studies created before keep theirs


def is_baseline(label: Any) -> bool:
    """Whether a trial's ``recipe`` label marks the enqueued baseline (today's label or an earlier one)."""
    return label in BASELINE_LABELS


USER_POINT = "starting point "  # how the study file's own points are labelled: "starting point 0 of x.yaml"

OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}


def num(v: float) -> str:
    """1e-4 -> '1e-4', 0.2 -> '0.2': a value as a label writes it."""
    if v == 0 or 0.01 <= abs(v) < 1000:
        return f"{v:g}"
    mantissa, exp = f"{v:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"


def _l2(c: dict[str, Any]) -> str:
    k, r = c["kernel_l2"], c["recurrent_l2"]
    return f"L2 {num(k)} on kernel and recurrent weights" if k == r else f"L2 {num(k)} kernel / {num(r)} recurrent"


def _dropout(c: dict[str, Any]) -> str:
    return f"input dropout {num(c['dropout'])} ({'one mask per sequence' if c['dropout_variational'] else 'per step'})"


def _recurrent(c: dict[str, Any]) -> str:
    return f"recurrent dropout {num(c['recurrent_dropout'])} (per {c['recurrent_dropout_mode']})"


def _weight_drop(c: dict[str, Any]) -> str:
    return f"weight drop {num(c['weight_drop'])} with {OPTIMIZER_NAMES[c['optimizer']]}"


def _clip(c: dict[str, Any]) -> str:
    return f"gradient clipping at norm {num(c['clip_norm'])}"


def _decay(c: dict[str, Any]) -> str:
    kind = "coupled" if c["optimizer"] == "adam" else "decoupled"
    return (f"{kind} decay {num(c['kernel_decay'])} kernel / {num(c['recurrent_decay'])} recurrent "
            f"with {OPTIMIZER_NAMES[c['optimizer']]}")  # fmt: skip


def _mixup(c: dict[str, Any]) -> str:
    return f"mixup alpha {num(c['mixup'])} (pairs of sequences and their labels blended)"


#: LSTM-FCN's dropout after the LSTM (Karim et al. 2017): the branch-dropout recipe that is labelled as theirs
LSTM_FCN_BRANCH = 0.8


def _branch(c: dict[str, Any]) -> str:
    rate = c["branch_dropout"]
    whose = " (LSTM-FCN's)" if rate == LSTM_FCN_BRANCH else ""
    return f"RNN-branch dropout {num(rate)} beside the front end's average{whose}"


#: (params, label from the resolved values the trial runs)
RECIPES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], str]]] = [
    ({"kernel_l2": 1e-4, "recurrent_l2": 1e-4}, _l2),
    ({"kernel_l2": 1e-3, "recurrent_l2": 1e-3}, _l2),
    ({"dropout": 0.1, "dropout_variational": False}, _dropout),
    ({"dropout": 0.2, "dropout_variational": False}, _dropout),
    ({"recurrent_dropout": 0.2, "recurrent_dropout_mode": "sequence"}, _recurrent),
    ({"recurrent_dropout": 0.4, "recurrent_dropout_mode": "sequence"}, _recurrent),
    ({"weight_drop": 0.5, "optimizer": "adamw"}, _weight_drop),
    # PyTorch's AdamW default on the kernel, ten times it on the larger recurrent matrix: the 1e-4 / 1e-3 of
    # Keras-style L2 (the L2 recipes above) shrank a JapaneseVowels fold's weights by 0.03 % / 0.3 % over its
    # ~1,000 steps at lr 3e-3, right and wrong on the baseline's very test sequences (the unseen11 probe); these
    # shrink them by up to 3 % / 26 % (search.inert_decay, which says where a row's decay still acts on nothing)
    ({"kernel_decay": 1e-2, "recurrent_decay": 1e-1, "optimizer": "adamw"}, _decay),
    ({"branch_dropout": LSTM_FCN_BRANCH, "conv_skip": True}, _branch),
    # the default searched range's top, search.defaults.BRANCH_RANGE.high (a test keeps them equal; importing it
    # here would load the training stack): which of the two a long dataset wants differs (README, "Quality", "Both
    # ends of RNN-branch dropout as recipes"), and the folds ranked them as the test split did on OSULeaf, ArrowHead,
    # ACSF1
    ({"branch_dropout": 0.9, "conv_skip": True}, _branch),
    # mixup at the low end of the usual 0.2-0.4 (Zhang et al. 2018): on JapaneseVowels alone it moved the untuned
    # LSTM from 96.4 to 98.9 test accuracy (5 seeds) and its folds saw it (README, "Quality", "Mixup")
    ({"mixup": 0.2}, _mixup),
    ({"clip_norm": 1.0}, _clip),  # where a study searches clipping: the fixed 1.0 most studies start from
]


#: recipes an earlier version enqueued, since replaced (a study made then ran them; its report still shows them)
RETIRED_RECIPES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], str]]] = [
    ({"kernel_decay": 1e-4, "recurrent_decay": 1e-3, "optimizer": "adamw"}, _decay),  # until 2026-12-07
]


def other_normalization(spec: StudySpec, base: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The baseline with each other choice of a ``normalize`` the data rule searches (series at home: the
    sequences' scales span orders of magnitude, search.defaults (f)). Every other starting point runs the home
    value, and z-normalizing each sequence removes its own level and scale: where those were the class (noise
    whose loudness is the label), all of a 20-trial study's trials ran series, TPE never proposed channel, and the
    verdict said the models learned nothing (0.43 against 0.76 with channel fixed; the unseen10 probe)."""
    dim = spec.search.get("normalize")
    if "normalize" not in spec.defaulted or not isinstance(dim, Choice):
        return []
    return [(f"the baseline with normalize: {c} (the data rule searches it; its other points run "
             f"{base['normalize']})", {**base, "normalize": c}) for c in dim.choices if c != base.get("normalize")]  # fmt: skip


def baseline_point(spec: StudySpec) -> dict[str, Any]:
    """Optuna params of the baseline: every searched regularizer off (or nearest to off), every other searched
    name at its default, moved into the searched range (a choice list without the default: its first choice; a
    choice list the data-dependent defaults added, e.g. the long-sequence front end: its first, home, value). The
    default is the data's where it chose one (``spec.homes``): a searched ``batch_size`` starts where the study
    without it runs (8 on ItalyPowerDemand), not at TrainConfig's 32, which left a fold 1.4 optimizer steps an
    epoch and a baseline 0.20 below the best (the verdict probe, 2026-12-06)."""
    point = off_point(spec)
    defaults = {**default_values(), **spec.homes}
    for name, dim in spec.search.items():
        if name in point or name + "_on" in point:
            continue
        value = defaults.get(name)
        if isinstance(dim, Choice):
            home = name in spec.defaulted or value not in dim.choices
            point[name] = dim.choices[0] if home else value
            continue
        point.update(to_trial_params({name: value}, spec))  # clamped into the range and onto its grid
    return point


def starting_points(spec: StudySpec) -> list[tuple[str, dict[str, Any]]]:
    """(label, Optuna params) for the trials a new study enqueues, baseline first, duplicates dropped."""
    return _points(spec)[0]


def duplicate_points(spec: StudySpec) -> list[tuple[str, str]]:
    """(label, the label of the earlier point it repeats) for each of the study file's own starting points that
    :func:`starting_points` drops: one that sets what the baseline, a recipe or an earlier point already runs is
    run once, under the earlier label (recipes that coincide in a narrow range are the recipes' business)."""
    return [(label, same) for label, same in _points(spec)[1] if label.startswith(USER_POINT)]


def _points(spec: StudySpec) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    base = baseline_point(spec)
    if spec.recipes:
        out.append((BASELINE, base))
        for recipe, title in RECIPES:
            if any(name in spec.search for name in recipe if name in REGULARIZER_NAMES and name != "optimizer"):
                params = {**base, **to_trial_params(recipe, spec)}
                out.append((title({**default_values(), **resolved_params(params, spec)}), params))
        out += other_normalization(spec, base)
    # the file's own points are laid over the baseline, as the recipes are: over the regularizers' off point alone,
    # a point left lr (searched by default), the recurrent-dropout mode and the long-data front end to the sampler,
    # so `{dropout: 0.1}` was not "the baseline plus input dropout 0.1" and never matched the recipe it repeats
    for i, point in enumerate(spec.starting_points):
        out.append((f"{USER_POINT}{i} of {spec.path.name}", {**base, **to_trial_params(point, spec)}))
    seen: dict[tuple[Any, ...], str] = {}
    unique, dropped = [], []
    for label, params in out:
        key = tuple(sorted(params.items()))
        if key in seen:
            dropped.append((label, seen[key]))
        else:
            seen[key] = label
            unique.append((label, params))
    return unique, dropped


def points_note(spec: StudySpec, total: int, trials: Sequence[FrozenTrial] = ()) -> str | None:
    """A note when a study's ``total`` trials are all its enqueued starting points (the baseline, the recipes, the
    file's own points): the sampler proposes none, so the verdict compares fixed points, not a search. A 12-trial
    study of data longer than 64 steps (the front end's branch-dropout recipes make 11 recipes) said nothing of it
    (the unseen probe, 2026-12-06). ``trials``: the study's, where it exists; none is said where they reach the
    total already (nothing runs) or where the sampler proposed some of them (TRIALS below what a study had run:
    the newuser probe)."""
    points = starting_points(spec)
    if total > len(points):
        return None
    finished = sum(1 for t in trials if t.state.name in ("COMPLETE", "PRUNED"))  # (as the total's)
    if trials and (finished >= total or any("fixed_params" not in t.system_attrs for t in trials)):
        return None
    recipes = sum(1 for label, _ in points if not is_baseline(label) and not label.startswith(USER_POINT))
    users = sum(1 for label, _ in points if label.startswith(USER_POINT))
    what = ", ".join(
        part for part in ("the baseline" if any(is_baseline(label) for label, _ in points) else "",
                          f"{recipes} recipe(s)" if recipes else "", f"{users} of the study file's own" if users else "")
        if part
    )  # fmt: skip
    which = (
        "its one trial is an enqueued starting point"
        if total == 1
        else f"its {total} trials are all enqueued starting points"
    )
    return (f"note: study {spec.name!r}: {which} ({len(points)}: {what}), "
            f"so the sampler proposes none and the verdict compares fixed points, not a search; a total above "
            f"{len(points)} (budget.trials, TRIALS) leaves trials to the sampler")  # fmt: skip


def earlier_points(spec: StudySpec) -> list[tuple[str, dict[str, Any]]]:
    """(label, Optuna params) of the starting points as an earlier version enqueued them where they differ from
    today's: before 2026-12-05, recipes clamped into a stepped range but not moved onto its grid (mixup 0.2 on a 0.15
    grid), and the file's own points laid over the regularizers' off point alone (the sampler chose the rest); before
    2026-12-07, the :data:`RETIRED_RECIPES`. A study made then ran them; its report still shows them as the points
    they are (they were "not compared", blamed on an edit)."""
    today = [params for _, params in starting_points(spec)]
    plain = off_point(spec)
    out = []
    for i, point in enumerate(spec.starting_points):
        params = {**plain, **to_trial_params(point, spec)}
        if params not in today:
            out.append((f"{USER_POINT}{i} of {spec.path.name}", params))
    if not spec.recipes:
        return out
    base = baseline_point(spec)
    retired = [(recipe, title, snap) for recipe, title in RETIRED_RECIPES for snap in (True, False)]
    for recipe, title, snap in [(recipe, title, False) for recipe, title in RECIPES] + retired:
        if any(name in spec.search for name in recipe if name in REGULARIZER_NAMES and name != "optimizer"):
            params = {**base, **to_trial_params(recipe, spec, snap=snap)}
            if params not in today and all(params != p for _, p in out):
                out.append((title({**default_values(), **resolved_params(params, spec)}), params))
    return out


def same_values(have: Any, want: dict[str, Any]) -> bool:
    """Whether ``have`` (a trial's ``fixed_params``) holds exactly the Optuna params ``want``: the same names, numbers
    equal within float rounding (relative 1e-12: regtune computes both from one study file; Optuna's
    ``skip_if_exists`` allows 1e-5), True not taken for 1."""
    if not isinstance(have, dict) or have.keys() != want.keys():
        return False
    return all(_equal(have[k], want[k]) for k in want)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):  # a choice of [true, 1] would merge
        return type(a) is type(b) and a == b
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return bool(a == b)
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0) or (math.isnan(a) and math.isnan(b))

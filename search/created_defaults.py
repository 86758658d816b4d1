"""A study keeps the data-dependent defaults it was created with.

``search.defaults`` chooses some settings from the data when a study file leaves them out (``budget.max_epochs``
and the ``fixed`` values ``patience``, ``batch_size``, ``conv_norm``, ``conv_skip``). Those rules improve between
versions; a study created by an older version must still resume, run its waiting trials and report with the values its
finished trials ran, not be refused as "changed" because today's rule picks another number. So, once a study's
definition is recorded, :func:`keep_created_defaults` puts its recorded values back into the spec for every such
setting the study file leaves to the rules.

Which values were defaults is recorded beside the definition (:data:`DEFAULTED_ATTR`, the names), so a value the
study file wrote and a later edit removed is still a change of the study. A study recorded before that attribute
existed keeps what it recorded for every name the rules choose today, and the note says that those values were
its file's or that version's defaults.

A choice that a rule searched when the study was created and fixes today (:data:`FIXED_SINCE`: ``conv_skip`` with
the long-data front end) is searched again: the study's trials ran both values.

A searched default (``lr``, the front end's dimensions, ``normalize``) the rules chose otherwise keeps what the study
searched too, or stays fixed where the study did not search it (:func:`_keep_search_space`): its trials' distributions
cannot change, and nobody edited the study file.
"""

from __future__ import annotations

from typing import Any

from search.fingerprint import _dimension, _show_dim
from search.spec import Choice, Dimension, Range, StudySpec, _default

#: choices a rule fixes since 2026-12-03 that it searched before (``conv_skip`` with the long-data front end): a
#: study that searched one keeps searching it
FIXED_SINCE = ("conv_skip",)
#: the study's user attribute naming the settings its recorded definition took from the data-dependent rules
DEFAULTED_ATTR = "regtune:defaulted"
#: the study's user attribute holding ``spec.homes`` as the study was created: where its baseline trial started a
#: searched ``batch_size`` (absent for a study created before 2026-12-06: TrainConfig's default, ``{}``)
HOMES_ATTR = "regtune:homes"


def defaulted_names(spec: StudySpec) -> list[str]:
    """The settings of ``spec`` that a later version may choose otherwise and a study keeps: ``max_epochs`` and
    the defaulted fixed values (what :data:`DEFAULTED_ATTR` records)."""
    names = {"max_epochs"} if not spec.epochs_given and "max_epochs" in spec.defaulted else set()
    return sorted(names | ((set(spec.defaulted) - set(spec.search)) & (set(spec.fixed) | {"batch_size"})))


def keep_created_defaults(
    spec: StudySpec, recorded: dict[str, Any] | None, names: list[str] | None = None
) -> list[str]:
    """Put the values the study ``recorded`` (its definition) back into ``spec`` for the settings that were
    defaults then (``names``, from :data:`DEFAULTED_ATTR`; None for a study recorded before it: every name the
    rules choose today) and are still left to the rules, where today's rules give another value. In place, so
    every holder of ``spec`` runs what the study ran. Returns one line per value kept
    (``fixed.patience: 15 (today's default: 38)``), [] when none differ."""
    if not recorded:
        return []
    candidates = set(defaulted_names(spec)) & (set(names) if names is not None else set(defaulted_names(spec)))
    searched = set(recorded.get("search") or {}) | set(recorded.get("architecture") or {})
    candidates -= searched  # a value the old study searched (or set as architecture) was no default
    kept = []
    if "max_epochs" in candidates:
        was = recorded.get("max_epochs")
        if isinstance(was, int) and not isinstance(was, bool) and was > 0 and was != spec.max_epochs:
            kept.append(f"budget.max_epochs: {was} (today's default: {spec.max_epochs})")
            spec.defaulted["max_epochs"] = f"{was}: kept from the study's creation (today's default: {spec.max_epochs})"
            spec.max_epochs = was
    kept += _keep_searched(spec, recorded) + _keep_search_space(spec, recorded)
    fixed = recorded.get("fixed")
    if not isinstance(fixed, dict):
        return kept
    for name in sorted(candidates - {"max_epochs"}):
        now = spec.fixed.get(name, _default(name))
        was = fixed.get(name, _default(name))  # the definition leaves out a value equal to the model's default
        if was is None or was == now or type(was) is not type(now):
            continue
        kept.append(f"fixed.{name}: {was} (today's default: {now})")
        spec.fixed = {**spec.fixed, name: was}
        spec.defaulted[name] = f"{was}: kept from the study's creation (today's default: {now})"
    return kept


def _keep_searched(spec: StudySpec, recorded: dict[str, Any]) -> list[str]:
    """A choice of :data:`FIXED_SINCE` that today's rule fixes and the study searched: searched again, as its
    trials were (the study file names none of it: the rule would not apply otherwise)."""
    kept = []
    for name in FIXED_SINCE:
        dim = (recorded.get("search") or {}).get(name)
        if name not in spec.defaulted or name not in spec.fixed or name in spec.search:
            continue
        if not isinstance(dim, dict) or dim.get("kind") != "choice" or not isinstance(dim.get("choices"), list):
            continue
        now = spec.fixed[name]
        spec.fixed = {k: v for k, v in spec.fixed.items() if k != name}
        spec.search = {**spec.search, name: Choice(list(dim["choices"]))}
        kept.append(f"search.{name}: {dim['choices']} (today's default: fixed {now})")
        spec.defaulted[name] = f"searched: kept from the study's creation (today's default: fixed {now})"
    return kept


def _keep_search_space(spec: StudySpec, recorded: dict[str, Any]) -> list[str]:
    """A searched dimension the rules chose otherwise when the study was created keeps what the study searched: a
    choice list in another order (``conv_kernel`` [0, 8] where the smallest stride is above 8, [8, 0] before
    2026-12-05: the first is the home value its baseline and recipe trials ran), other choices or another range (the
    front end's kernels, channels and blocks of 2026-12-01: ``conv_kernel`` [0, 16] where today's rule gives [8,
    0]), or none (``branch_dropout``, searched by the rules since 2026-12-03: the study ran its fixed value). Its
    trials' distributions cannot change, and such a study was refused as edited (the upgrade probe, 2026-12-06)."""
    kept = []
    searched = recorded.get("search") or {}
    fixed: dict[str, Any] = recorded["fixed"] if isinstance(recorded.get("fixed"), dict) else {}
    for name in sorted(spec.defaulted):
        dim, was = spec.search.get(name), searched.get(name)
        if dim is None or name in FIXED_SINCE:  # (searched then and fixed now: _keep_searched)
            continue
        now = _shown(dim)
        if was is None:  # the rule searches it since: the study ran the value it fixed (or the model's default)
            value = fixed.get(name, _default(name))
            if value is None or name in (recorded.get("architecture") or {}):
                continue
            spec.search = {k: v for k, v in spec.search.items() if k != name}
            spec.fixed = {**spec.fixed, name: value}
            kept.append(f"fixed.{name}: {value} (today's default: searched {now})")
            spec.defaulted[name] = f"{value}: kept from the study's creation (today's default: searched {now})"
            continue
        old = _dimension_of(was)
        if old is None or _shown(old) == now:
            continue
        spec.search = {**spec.search, name: old}
        kept.append(f"search.{name}: {_shown(old)} (today's default: {now})")
        spec.defaulted[name] = f"{_shown(old)}: kept from the study's creation (today's default: {now})"
    return kept


def _dimension_of(recorded: Any) -> Dimension | None:
    """A search dimension from its recorded form (:func:`search.fingerprint.definition`), or None if unreadable."""
    if not isinstance(recorded, dict):
        return None
    if recorded.get("kind") == "choice":
        return Choice(list(recorded["choices"])) if isinstance(recorded.get("choices"), list) else None
    try:
        integer = recorded.get("kind") == "int"
        return Range(low=float(recorded["low"]), high=float(recorded["high"]), log=bool(recorded.get("log", False)),
                     step=None if recorded.get("step") is None else float(recorded["step"]),
                     off=bool(recorded.get("off", False)), integer=integer)  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


def _shown(dim: Dimension) -> str:
    """``[8, 0]`` for a choice list (as the notes printed it), ``{low: 0.0, high: 0.9}`` for a range: as a refusal
    shows it (:func:`search.fingerprint._show_dim`)."""
    if isinstance(dim, Choice):
        return str(list(dim.choices))
    return _show_dim(_dimension(dim))


def kept_note(name: str, kept: list[str], legacy: bool) -> str:
    """The one-line note a command prints when a study keeps values of its creation."""
    which = (
        "the values it was created with (its study file's, or that version's defaults)"
        if legacy
        else "the defaults it was created with"
    )
    return (f"note: study {name!r} keeps {which}: " + "; ".join(kept)
            + "; a study under a new name runs today's")  # fmt: skip

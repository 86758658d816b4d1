"""A study keeps the data-dependent defaults it was created with.

``search.defaults`` chooses some settings from the data when a study file leaves them out (``budget.max_epochs``
and the ``fixed`` values ``patience``, ``batch_size``, ``conv_norm``). Those rules improve between versions; a
study created by an older version must still resume, run its waiting trials and report with the values its
finished trials ran, not be refused as "changed" because today's rule picks another number. So, once a study's
definition is recorded, :func:`keep_created_defaults` puts its recorded values back into the spec for every such
setting the study file does not write. What the study file writes is compared as before: an edit of the file is
still a change.

Searched defaults (``lr``, the front end's dimensions, ``normalize``) are compared as before: a changed default
search space is reported as a change of the study.
"""

from __future__ import annotations

from typing import Any

from search.spec import StudySpec, _default


def keep_created_defaults(spec: StudySpec, recorded: dict[str, Any] | None) -> list[str]:
    """Put the values the study ``recorded`` (its definition) back into ``spec`` for the defaulted settings
    whose rule now gives another value; in place, so every holder of ``spec`` runs what the study ran. Returns
    one line per value kept (``fixed.patience: 15 (today's default: 60)``), [] when none differ."""
    if not recorded:
        return []
    kept = []
    if not spec.epochs_given and "max_epochs" in spec.defaulted:
        was = recorded.get("max_epochs")
        if isinstance(was, int) and not isinstance(was, bool) and was > 0 and was != spec.max_epochs:
            kept.append(f"budget.max_epochs: {was} (today's default: {spec.max_epochs})")
            spec.defaulted["max_epochs"] = f"{was}: kept from the study's creation (today's default: {spec.max_epochs})"
            spec.max_epochs = was
    fixed = recorded.get("fixed")
    if not isinstance(fixed, dict):
        return kept
    # a defaulted fixed value (batch_size is only written where the rule leaves the model's default)
    names = (set(spec.fixed) | set(fixed)) & set(spec.defaulted) - set(spec.search)
    for name in sorted(names):
        now = spec.fixed.get(name, _default(name))
        was = fixed.get(name, _default(name))  # the definition leaves out a value equal to the model's default
        if was is None or was == now or type(was) is not type(now):
            continue
        kept.append(f"fixed.{name}: {was} (today's default: {now})")
        spec.fixed = {**spec.fixed, name: was}
        spec.defaulted[name] = f"{was}: kept from the study's creation (today's default: {now})"
    return kept

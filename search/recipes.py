"""Starting points a new study enqueues before the sampler takes over: what practitioners already try.

The first is the baseline with no regularization at all; each recipe then turns on one well-known setting
(values from the practitioners' advice in shared/REGULARIZING_RNNS.md). Only names the study searches are
used; each recipe starts from the baseline, so it differs from it in its own settings only.
"""

from __future__ import annotations

from typing import Any

from search.space import off_point, to_trial_params
from search.spec import StudySpec

BASELINE = "baseline (no regularization)"
RECIPES: list[tuple[str, dict[str, Any]]] = [
    ("L2 1e-4 on kernel and recurrent weights", {"kernel_l2": 1e-4, "recurrent_l2": 1e-4}),
    ("L2 1e-3 on kernel and recurrent weights", {"kernel_l2": 1e-3, "recurrent_l2": 1e-3}),
    ("input dropout 0.1", {"dropout": 0.1}),
    ("input dropout 0.2", {"dropout": 0.2}),
    ("recurrent dropout 0.2", {"recurrent_dropout": 0.2}),
    ("recurrent dropout 0.4", {"recurrent_dropout": 0.4}),
    ("weight drop 0.5 with AdamW", {"weight_drop": 0.5, "optimizer": "adamw"}),
    ("decoupled decay 1e-4 kernel / 1e-3 recurrent with AdamW",
     {"kernel_decay": 1e-4, "recurrent_decay": 1e-3, "optimizer": "adamw"}),
]  # fmt: skip


def starting_points(spec: StudySpec) -> list[tuple[str, dict[str, Any]]]:
    """(label, Optuna params) for the trials a new study enqueues, baseline first, duplicates dropped."""
    base = off_point(spec)
    out: list[tuple[str, dict[str, Any]]] = [(BASELINE, base)] if spec.recipes else []
    if spec.recipes:
        for label, recipe in RECIPES:
            if any(name in spec.search for name in recipe):
                out.append((label, {**base, **to_trial_params(recipe, spec)}))
    for i, point in enumerate(spec.starting_points):
        out.append((f"starting point {i} of {spec.path.name}", {**base, **to_trial_params(point, spec)}))
    seen, unique = set(), []
    for label, params in out:
        key = tuple(sorted(params.items()))
        if key not in seen:
            seen.add(key)
            unique.append((label, params))
    return unique

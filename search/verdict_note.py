"""The verdict on optuna-dashboard's study page: its note names the trial the verdict chose.

optuna-dashboard badges the trial with the best objective value "Best Trial"; regtune's verdict may choose
another (the baseline when the best is within one standard error of it, or not confirmed on a fresh partition).
A dashboard reader took the badged trial for the answer. The study's note (Markdown, kept in the study's system
attributes on every storage) gets a section after :data:`MARK` that says which trial was chosen, why, and what it
scored on the test split; what a user wrote above the marker is kept, and nothing is written when nothing changed.
"""

from __future__ import annotations

import sys
from typing import Any

import optuna

#: the line above regtune's section of the study note (what is above it is the user's)
MARK = "<!-- regtune: the verdict (rewritten by make study; write above this line) -->"


def verdict_text(res: dict[str, Any]) -> str:
    """The note's section: the chosen trial, the rule, the test rows' means and the difference, the warnings."""
    from search.verdict import describe_difference, warnings_of

    selection = res.get("selection") or {}
    chosen, top = selection.get("chosen"), selection.get("top")
    best, base = res.get("best") or {}, res.get("baseline") or {}
    lines = [f"**regtune's verdict: trial #{chosen}**, chosen as {selection.get('rule', 'the best trial')}."]
    if top is not None and top != chosen:
        lines.append(f"Trial #{top} has the best objective value (the dashboard's \"Best Trial\"), but the verdict "
                     f"retrained and tested trial #{chosen}.")  # fmt: skip
    if best and base:
        lines.append(f"Test accuracy over {len(best.get('accs', []))} seeds: {best['mean']:.4f} against the "
                     f"baseline's {base['mean']:.4f}; difference {describe_difference(res['paired'])}."
                     if res.get("paired") else f"Test accuracy: {best['mean']:.4f}.")  # fmt: skip
    lines += [f"Warning: {w}." for w in warnings_of(res)]
    return "\n\n".join(lines)


def note_verdict(study: optuna.Study, res: dict[str, Any]) -> None:
    """Rewrite regtune's section of ``study``'s dashboard note with :func:`verdict_text` (the user's text kept)."""
    try:
        from optuna_dashboard import get_note, save_note

        body = get_note(study) or ""
        own = body.split(MARK, 1)[0].rstrip()
        new = (f"{own}\n\n" if own else "") + f"{MARK}\n\n{verdict_text(res)}"
        if new != body:
            save_note(study, new)
    except Exception as exc:  # the terminal and the report say the same
        print(f"note: could not write the verdict into the dashboard's study note: {exc}", file=sys.stderr)

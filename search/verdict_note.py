"""The verdict on optuna-dashboard's study page: its note names the trial the verdict chose.

optuna-dashboard badges the trial with the best objective value "Best Trial"; regtune's verdict may choose
another (the baseline when the best is within one standard error of it, or not confirmed on a fresh partition).
A dashboard reader took the badged trial for the answer. The study's note (Markdown, kept in the study's system
attributes on every storage) gets a section under :data:`MARK` that says which trial was chosen, why, as of how
many finished trials, and what it scored on the test split. What a user wrote above it is kept; a section whose
marker line was deleted is still found by its heading; nothing is written when nothing changed. Written by each
`make study` that prints a verdict (workers that only join a shared study print none).
"""

from __future__ import annotations

import sys
from typing import Any

import optuna

#: the line above regtune's section of the study note (the dashboard shows it: notes are Markdown without HTML)
MARK = "*regtune's verdict below, rewritten by each `make study`; write your notes above this line*"
HEADING = "**regtune's verdict: "


def verdict_text(res: dict[str, Any], finished: int, latest: int | None = None) -> str:
    """The note's section: the chosen trial and why, the test rows' means and the difference, the warnings;
    ``latest``: the trial with the best objective value now, when a worker finished it while the verdict ran."""
    from search.verdict import describe_difference, warnings_of

    selection = res.get("selection") or {}
    chosen, top = selection.get("chosen"), selection.get("top")
    best, base = res.get("best") or {}, res.get("baseline") or {}
    lines = [f"{HEADING}trial #{chosen}** (as of {finished} finished trials), chosen as "
             f"{selection.get('rule', 'the best trial')}."]  # fmt: skip
    tie = selection.get("tie") or {}  # the dashboard badges the study's first; a fresh partition chose another
    if latest is not None and not tie.get("pending") and latest == tie.get("first") != tie.get("chosen"):
        lines.append(f"Trial #{latest} has the best objective value (the dashboard's \"Best Trial\") only by the study's "
                     f"order among trials tied on the folds' accuracy (the loss tie-break, then the trial number): trial "
                     f"#{tie['chosen']}, tied with it, scored higher on a fresh partition of the training split (above)"
                     + (f"; the verdict retrained and tested trial #{chosen}." if chosen != tie["chosen"] else "."))  # fmt: skip
    elif latest is not None and latest not in (top, chosen):  # the dashboard badges it: say it came after
        lines.append(f"Trial #{latest} finished while this verdict was computed and has the best objective value "
                     "now (the dashboard's \"Best Trial\"): the next `make study` judges it.")  # fmt: skip
    elif top is not None and top != chosen:
        lines.append(f"Trial #{top} has the best objective value (the dashboard's \"Best Trial\"), but the verdict "
                     f"retrained and tested trial #{chosen}.")  # fmt: skip
    seeds = len(best.get("accs", []))
    over = f"over {seeds} seed{'s' if seeds != 1 else ''}"
    paired = res.get("paired") or {}
    if best and paired.get("same"):
        lines.append(f"The chosen configuration is the baseline's: test accuracy {best['mean']:.4f} {over}.")
    elif best and base and paired:
        lines.append(f"Test accuracy {over}: {best['mean']:.4f} against the baseline's {base['mean']:.4f}; "
                     f"difference {describe_difference(paired)}.")  # fmt: skip
    elif best:
        lines.append(f"Test accuracy {over}: {best['mean']:.4f}.")
    lines += [f"Warning: {w}." for w in warnings_of(res)]
    return "\n\n".join(lines)


def note_verdict(study: optuna.Study, res: dict[str, Any], finished: int) -> None:
    """Rewrite regtune's section of ``study``'s dashboard note with :func:`verdict_text` (the user's text kept)."""
    from search.interrupts import interrupt_behind
    from search.selection import study_best

    try:
        from optuna_dashboard import get_note, save_note

        body = get_note(study) or ""
        cut = body.find(MARK)
        if cut < 0:  # the marker line deleted in the dashboard: the section is still regtune's
            cut = body.find(HEADING)
        own = (body if cut < 0 else body[:cut]).rstrip()
        try:
            latest: int | None = study_best(study).number  # the selection's top (exact ties by lineage)
        except ValueError:  # no complete trial
            latest = None
        new = (f"{own}\n\n" if own else "") + f"{MARK}\n\n{verdict_text(res, finished, latest)}"
        if new != body:
            save_note(study, new)
    except Exception as exc:  # the terminal and the report say the same
        stop = interrupt_behind(exc)
        if stop is not None:  # a Ctrl-C that surfaced as a database error: a stop, not a note
            raise stop from exc
        print(f"note: could not write the verdict into the dashboard's study note: {exc}", file=sys.stderr)

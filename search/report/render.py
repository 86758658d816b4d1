"""Presentation: the text ``make study`` prints, the report's HTML page and Markdown summary, and the comparison
page, each rendered from :class:`~search.report.data.StudyData` by a jinja2 template in ``templates/``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from models.config import ARCHITECTURE_NAMES
from models.data import quoted
from search.report.data import MIN_RANKED, Comparison, StudyData
from search.selection import trial_list
from search.verdict import SIGNIFICANCE, describe_difference, keeps_text, p_text, untested, warnings_of

#: the compact statistics compared between the best configuration and the baseline, with their captions
KEY_STATS = [
    ("recurrent.spectral", "largest singular value of the whole recurrent matrices"),
    ("recurrent.spectral_gate_max", "largest singular value of a recurrent gate block"),
    ("kernel.l2", "kernel (input) weight norm"),
    ("recurrent.l2", "recurrent weight norm"),
    ("kernel.max_unit", "largest per-unit incoming kernel norm (what kernel_max_norm caps)"),
    ("recurrent.max_unit", "largest per-unit incoming recurrent norm (what recurrent_max_norm caps)"),
    ("head.l2", "softmax head weight norm"),
    ("sat.hidden", "fraction of saturated hidden outputs"),
    ("dead", "fraction of dead hidden units"),
    ("hnorm.fade", "hidden-state norm: peak / last step"),
    ("tgrad.least", "the loss's gradient in the tenth of the sequence it reaches least, against an even share"),
    ("tgrad.early", "the loss's gradient in a sequence's first tenth / its last tenth (median)"),
    ("grad.norm_mean", "mean gradient norm before clipping"),
    ("grad.recurrent", "mean recurrent gradient norm"),
    ("grad.clip_fraction", "fraction of steps clipping cut"),
]

#: the introspection figures of each refit, in page order, with their captions
FIGURE_CAPTIONS = {
    "weights": "Weight histograms per gate, kernel against recurrent, at the end of training.",
    "gradients": "Gradient norm before clipping per epoch, per component, with the fraction of steps clipped.",
    "saturation": "Fraction of saturated gate activations per gate and epoch on a fixed validation batch.",
    "hidden_norm": "Hidden-state norm against the time step (first and last epoch): does information fade?",
    "time_gradient": "The loss's gradient on each tenth of the sequence, against an even share (first and last "
    "epoch): does it reach the earliest steps, or vanish over time?",
}


# --------------------------------------------------------------------------------------------- filters
def fmt(value: Any, spec: str | None = None) -> str:
    """``format(value, spec)``; without a spec a float shows 3 significant digits, anything else ``str``."""
    if spec is not None:
        return format(value, spec)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def percent(share: float) -> str:
    """A share as a percentage without its sign: ``52``, or 2 significant digits below 1 % (a 1,000-class split's
    majority share, 0.1 %, printed as "0%": the unseen8 probe)."""
    return f"{100 * share:.0f}" if share == 0 or 100 * share >= 1 else f"{100 * share:.2g}"


def md_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: a ``|`` ended the cell and ``<b>`` in a class name was read as
    HTML by a Markdown viewer (the page escapes both; the unseen8 probe)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def md_text(text: str) -> str:
    """``text`` safe in a Markdown paragraph: ``<b>`` in a class name that a warning quotes was read as HTML there, as
    in a table cell (:func:`md_cell`; the unseen11 probe)."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def accuracy(row: dict[str, Any], pad: bool = False) -> str:
    """A row's test accuracy, ``mean ± std`` over its seeds; one seed has no spread, so its mean alone (``pad``:
    as wide as the two, for aligned columns); "diverged" where every seed's retraining diverged (0.0000 ± 0.0000
    read as a measured accuracy)."""
    gone = row.get("diverged") or ()
    if gone and len(gone) == len(row.get("accs") or ()):  # no seed trained: no accuracy to show
        return "diverged".ljust(15 * pad)
    if len(row.get("accs") or ()) == 1:
        return f"{row['mean']:.4f}" + " " * 9 * pad
    return f"{row['mean']:.4f} ± {row['std']:.4f}"


def verdict(p: float | None) -> str:
    """The paired test's verdict on a p-value: significant or not (at :data:`SIGNIFICANCE`)."""
    if p is None:
        return "no test (1 seed)"
    return f"significant (p {pvalue(p)} < {SIGNIFICANCE})" if p < SIGNIFICANCE else f"not significant (p {pvalue(p)})"


def pvalue(p: float) -> str:
    """``= 0.023``, or ``= 2.5e-29`` below 0.001 (never ``= 0.000``: the page said p = 0.000 where the terminal
    said p=2.5e-29), or ``< 1e-300`` where the t tail underflowed to 0."""
    return f"= {p_text(p, '.3f')}" if p >= 0.001 else f"= {p:.2g}" if p > 0 else "< 1e-300"


def paired_verdict(paired: dict[str, Any]) -> str:
    """:func:`verdict` of a paired comparison; none for a row compared with its own runs (the baseline chosen as
    the tuned row: "not significant (p = 1.000)" judged a comparison the verdict says was not made)."""
    if paired.get("same"):
        return "— (the same runs: nothing to compare)"
    if paired.get("identical"):
        return "— (right and wrong on the same test sequences: nothing differs)"
    if paired.get("diverged"):
        return diverged_test(paired["diverged"])
    if paired.get("p") is None and untested(paired) == "1 test sequence":
        return "no test (1 test sequence)"
    if paired.get("family", 1) > 1:  # one of the verdict's further comparisons (search.verdict.adjust_further)
        word = "significant" if paired["p_holm"] < SIGNIFICANCE else "not significant"
        return (f"{word} after Holm's correction over {paired['family']} further comparisons (p "
                f"{pvalue(paired['p_holm'])}; unadjusted {pvalue(paired['p']).removeprefix('= ')})")  # fmt: skip
    return verdict(paired.get("p"))


def diverged_test(seeds: list[int]) -> str:
    """Why a comparison has no test: seeds that diverged (:func:`search.verdict.compare`)."""
    return f"no test (seed(s) {', '.join(map(str, seeds))} diverged)"


def recipe_verdict(row: dict[str, Any], tested: int) -> str:
    """A recipe row's paired test against the baseline, judged after Holm's correction over the recipes tested
    (:func:`search.report.data.holm`; ``tested`` for rows cached before the family was recorded), the unadjusted p
    beside it; the best row's own runs (a starting point the search chose) are judged once, as the best row."""
    said = _recipe_test(row, tested)
    if row.get("inert"):  # "nothing differs" beside a decay that shrank the weights by 0.0075 %: why
        said += f"; its {row['inert']}"
    if floor := row.get("majority"):  # a recipe row no better than no model at all (the best row is warned of it)
        said += (f"; at or below always answering {quoted(floor['label'])} ({floor['acc']:.4f}, the majority class): "
                 "its models learned no more than the class balance gives")  # fmt: skip
    return said


def _recipe_test(row: dict[str, Any], tested: int) -> str:
    p, adjusted = row.get("p"), row.get("p_holm")
    if row.get("is_best"):
        return "the best row's runs: judged there, once (chosen on the folds, the test split unseen)"
    tested = row.get("family", tested)
    if row.get("untested"):
        return diverged_test(row["untested"])
    if row.get("identical"):  # "+0.0000 ..., not significant (p = 1.000)" read like a measured zero (studies7)
        return "— (right and wrong on the same test sequences as the baseline, seed by seed: nothing differs)"
    if p is None:
        return "no test (1 test sequence)" if len(row.get("accs") or ()) > 1 else "no test (1 seed)"
    if adjusted is None:  # a row from before the correction
        return verdict(p)
    word = "significant" if adjusted < SIGNIFICANCE else "not significant"
    return f"{word} after Holm's correction over {tested} recipes (p {pvalue(adjusted)}; unadjusted {pvalue(p).removeprefix('= ')})"


def recipe_leads(d: StudyData) -> list[str]:
    """A sentence for each recipe row that tested above the chosen row, significant against the baseline after
    Holm's correction: the verdict chose on the training split alone, and the page showed such a recipe beside "nothing
    the search found measurably helps" with no word between them (input dropout 0.2 at +0.017, Holm p = 0.002, on
    1,197 test sequences; the newdata probe, 2026-12-06). Choosing it for that score would make the test split a
    validation set; it is a lead for the next study."""
    final, leads = d.final or {}, []
    best, base = final.get("best") or {}, final.get("baseline") or {}
    for r in d.recipes:
        adjusted, mean = r.get("p_holm"), r.get("mean")
        if r.get("is_best") or adjusted is None or adjusted >= SIGNIFICANCE or not isinstance(mean, float):
            continue
        if any(not isinstance(row.get("mean"), float) or mean <= row["mean"] for row in (best, base)):
            continue  # (a two-sided p: a recipe significantly below the baseline is no lead)
        if r.get("state") == "complete" and isinstance(r.get("value"), float) and isinstance(d.best_value, float):
            folds = f"on the study's folds it scored {r['value']:.4f} against the chosen trial #{d.best_trial}'s {d.best_value:.4f}"
        else:
            folds = f"its trial was {r.get('state', 'not complete')} on the study's folds"
        leads.append(
            f"The recipe {quoted(str(r['recipe']))} (trial #{r['trial']}) tested above the chosen configuration "
            f"({mean:.4f} against {best['mean']:.4f}; significant against the baseline after Holm's correction), but the "
            f"verdict did not choose it: {folds}, and the choice is made on the training split alone, before any test "
            "row. Choosing it now for its test score would make the test split a validation set and its number biased "
            "upwards: take it as a lead for the next study (fix or narrow its settings there) and judge it on new data"
        )  # fmt: skip
    return leads


def gate_keys(introspection: dict[str, dict[str, Any]]) -> list[str]:
    """The per-gate statistics either refit has (``sat.<gate>``, ``recurrent.<x>.<gate>``, ``kernel.<x>.<gate>``)."""
    keys = {k for rec in introspection.values() for k in rec["stats"]}
    return sorted(
        k for k in keys
        if k.split(".")[0] in ("sat", "recurrent", "kernel") and len(k.split(".")) == 3 - (k[:4] == "sat.")
        and k != "sat.hidden"
    )  # fmt: skip


def ranked_name(name: str, together: dict[str, list[str]]) -> str:
    """A ranked parameter's name, with the parameters that moved with it in every complete trial
    (:func:`search.report.data.moved_together`): its share is theirs together."""
    others = together.get(name)
    return f"{name} (with {', '.join(others)}: moved together in every complete trial)" if others else name


def importance_names(importances: dict[str, dict[str, float]]) -> list[str]:
    """Every parameter some evaluator scored, the most important (fANOVA) first."""
    fanova = importances.get("fANOVA", {})
    return sorted({k for d in importances.values() for k in d}, key=lambda k: (-fanova.get(k, 0), k))


#: complete trials below which the importances are called a rough estimate: a forest over a handful of points, most
#: of them enqueued recipes that each turn on one regularizer, splits on whatever separated two of them
FEW_FOR_IMPORTANCE = 20


def importance_caveat(importances: dict[str, dict[str, float]], complete: int) -> str:
    """What a reader of the importances must know first, "" when nothing: that they rest on few complete trials, and
    where the two evaluators rank another parameter first. A smoke study's summary printed fANOVA's
    "recurrent_dropout 0.642" alone from 6 complete trials, where PED-ANOVA ranked dropout first at 0.933 (the
    newuser8 probe)."""
    said = []
    if complete < FEW_FOR_IMPORTANCE:
        said.append(f"from {complete} complete trials only: a rough estimate")
    firsts = {k: max(v, key=lambda n: v[n]) for k, v in importances.items() if v}
    if len(set(firsts.values())) > 1:
        said.append("the evaluators rank different parameters first (" + ", ".join(f"{k}: {n}" for k, n in firsts.items())
                    + "): neither ranking is a finding")  # fmt: skip
    return "; ".join(said)


def comparison_table(cmp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Head and rows of the comparison: the regularizers each best configuration turned on, and test accuracies."""
    head = [""]
    for r in cmp.studies:
        tested = ((r.final or {}).get("best") or {}).get("config") or {}  # searched names: what the best ran
        arch = {**r.architecture, **{k: tested[k] for k in ARCHITECTURE_NAMES if k in tested}}
        width = f", {arch['hidden_size']} units" if "hidden_size" in arch else ""
        head.append(f"{r.study} ({arch.get('cell', 'lstm')}{', bi' if arch.get('bidirectional') else ''}"
                    f", {arch.get('num_layers', 1)} layer{'s' if arch.get('num_layers', 1) != 1 else ''}{width})")  # fmt: skip
    finals = [r.final or {} for r in cmp.studies]
    # the dataset first (three datasets read as one task's architectures), and each study's warnings last (a best
    # row no better than always answering one class showed its regularizers as a finding); how each was measured
    # (a 2-seed study beside a 1-seed one differed only by a missing "±")
    rows = [["dataset", *[r.dataset for r in cmp.studies]]]
    rows.append(["measured on", *[f"{f.get('seeds', '?')} seed(s), {r.folds or 1} fold(s), test split of "
                                  f"{f.get('test_size', '?')}" for r, f in zip(cmp.studies, finals)]])  # fmt: skip
    # a value the study file fixes is marked: both studies of a comparison that chose their baseline showed
    # "clip_norm 1" under "the regularizers it turned on", where the search had turned on nothing (the consist8 probe)
    rows += [[n, *[(fmt(r.regularizers_on[n]) + (" (fixed)" if n in r.regularizers_fixed else ""))
                   if n in r.regularizers_on else "off" for r in cmp.studies]]
             for n in cmp.regularizers]  # fmt: skip
    rows.append(["test accuracy, best", *[accuracy(f["best"]) for f in finals]])
    rows.append(["test accuracy, baseline (searched regularizers off)",
                 *[accuracy(f["baseline"]) for f in finals]])  # fmt: skip
    rows.append(["difference (paired)", *[describe_difference(f["paired"]) for f in finals]])
    rows.append(["of it: the regularizers (best - best with them off)",
                 *[describe_difference(f["paired_regularizers"]) if f.get("paired_regularizers") else
                   "no such row (the best differs from the baseline only in regularizers, or not at all)"
                   for f in finals]])  # fmt: skip
    rows.append(["majority class (always one class; no model)",  # as the accuracies above: 0.525 beside 0.9875
                 *[fmt(f["majority"]["acc"], ".4f") if f.get("majority") else "n/a" for f in finals]])  # fmt: skip
    rows.append(["top parameter (fANOVA)", *[next(iter(r.importances.get("fANOVA", {})), "n/a") for r in cmp.studies]])
    rows.append(["warnings (the study's report says more)",
                 *["; ".join(f"({i}) {w}" for i, w in enumerate(warnings_of(f), 1)) or "none" for f in finals]])  # fmt: skip
    return head, rows


# --------------------------------------------------------------------------------------------- environments
def stale_note(trials: list[int]) -> str:
    """Why recipe trials of an earlier study definition have no row (:func:`search.report.data.recipe_results`)."""
    numbers = ", ".join(f"#{n}" for n in trials)
    return (f"Not compared: recipe trial(s) {numbers}, which ran settings that none of the study file's current "
            "starting points (baseline, recipes, its own) runs: an earlier version of the file, changed with "
            "--allow-change")  # fmt: skip


def failed(counts: dict[str, int]) -> str:
    """``2 failed``, or ``0 failed, 2 re-run (stopped or crashed, re-queued)`` for trials a copy re-ran, and
    ``2 handed back (...)`` for trials asked past the total and never trained."""
    rerun, surplus = counts.get("rerun", 0), counts.get("surplus", 0)
    head = f"{counts['fail'] - rerun - surplus} failed"
    if rerun:
        head += f", {rerun} re-run (stopped or crashed, re-queued)"
    return head + (f", {surplus} handed back (asked past the total by a trial array, never trained)" if surplus else "")


def running(counts: dict[str, int]) -> str:
    """The trials running when the report began; those whose worker is gone (``dead``:
    :func:`search.worker.dead_trials`) are said to be re-queued by the next run, not to finish (the faults probe: a
    SIGKILLed worker's trial was "still running ... rerun it once they finish")."""
    n, dead = counts.get("running", 0), counts.get("dead", 0)
    if not dead:
        return (
            f"{n} still running when this report began: it is of the trials finished then (rerun it once they finish)"
        )
    gone = (
        "all with their worker gone"
        if dead == n
        else f"{dead} of them with {'its' if dead == 1 else 'their'} worker gone"
    )
    return (f"{n} running when this report began, {gone} (killed or crashed: the next make study or make worker "
            f"re-queues {'it' if dead == 1 else 'them'} and runs {'it' if dead == 1 else 'them'} again, or gives up "
            "one past its crash limit): the report is of the trials finished then (rerun it once they have run)")  # fmt: skip


def waiting(counts: dict[str, int]) -> str:
    """The waiting trials by kind: ``2 enqueued trial(s) (the recipes)`` (``(the study file's starting points)``,
    or ``(1 recipe(s), 1 of the study file's starting points)``) and ``1 re-queued trial(s) (stopped or crashed, to
    run again)``. A dead worker's re-queued trial left waiting by a full study was called a recipe that did not run
    (the ops6 probe); a study file without starting points was told "your starting points" waited (studies7)."""
    requeued = counts.get("requeued", 0)
    enqueued = counts.get("waiting", 0) - requeued
    own = min(counts.get("own_points", 0), enqueued)
    kinds = (
        "the recipes" if not own
        else "the study file's starting points" if own == enqueued
        else f"{enqueued - own} recipe(s), {own} of the study file's starting points"
    )  # fmt: skip
    parts = [f"{enqueued} enqueued trial(s) ({kinds})"] if enqueued else []
    if requeued:
        parts.append(f"{requeued} re-queued trial(s) (stopped or crashed, to run again)")
    return " and ".join(parts)


def tie_note(d: StudyData, who: str = "it") -> str:
    """The sentence (without its subject) that names the trials the chosen one tied with on the folds' accuracy
    (:func:`search.selection.tied_with`), ``who`` the one the tie-break ranked first; "" without a tie, or when the
    baseline was chosen over the top trial (its ties do not matter), or when the selection's rule says how the tie
    was broken on a fresh partition (:func:`search.selection.tie_text`). The summary, summary.md and the page say it."""
    if not d.tied or d.top_trial != d.best_trial or d.tie:
        return ""
    return (f"tied on the folds' accuracy with {len(d.tied)} other trial(s) ({trial_list(d.tied)}): only the "
            f"tie-break ranked {who} first, so the folds cannot tell these apart, and their retrained test accuracies "
            "may differ")  # fmt: skip


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("search.report", "templates"),
        autoescape=autoescape,
        extensions=["jinja2.ext.do"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=fmt,
        waiting=waiting,
        running=running,
        accuracy=accuracy,
        verdict=verdict,
        paired_verdict=paired_verdict,
        recipe_verdict=recipe_verdict,
        difference=describe_difference,
        keeps=keeps_text,
        percent=percent,
        md_cell=md_cell,
        md_text=md_text,
        json=json.dumps,
        quoted=quoted,
        failed=failed,
    )
    env.globals.update(stale_note=stale_note, recipe_leads=recipe_leads)
    env.globals.update(SIGNIFICANCE=SIGNIFICANCE, KEY_STATS=KEY_STATS, FIGURE_CAPTIONS=FIGURE_CAPTIONS,
                       gate_keys=gate_keys, importance_names=importance_names, importance_caveat=importance_caveat, ranked_name=ranked_name, tie_note=tie_note,
                       warnings_of=warnings_of, min_ranked=MIN_RANKED)  # fmt: skip
    return env


_ENVS: dict[bool, jinja2.Environment] = {}


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` (HTML escaped for ``*.html.j2``)."""
    html = template.endswith(".html.j2")
    if html not in _ENVS:
        _ENVS[html] = _environment(html)
    return _ENVS[html].get_template(template).render(**context)


# --------------------------------------------------------------------------------------------- documents
def page(data: StudyData) -> str:
    """The report's HTML page (``index.html`` in :func:`search.report.build.report_dir`)."""
    return render("report.html.j2", d=data)


def markdown(data: StudyData) -> str:
    """The report's Markdown summary (``summary.md``, also printed by ``make report``)."""
    return render("summary.md.j2", d=data)


def comparison_page(cmp: Comparison, where: Path | None = None) -> str:
    """The comparison page; ``where``: its directory (the links to each study's report are relative to it)."""
    head, rows = comparison_table(cmp)
    links = [
        (r.study, os.path.relpath(Path(r.report_dir) / "index.html", where) if r.report_dir and where
         else f"../{r.study}/report/index.html")
        for r in cmp.studies
    ]  # fmt: skip
    return render("comparison.html.j2", head=head, rows=rows, studies=links)


def comparison_markdown(cmp: Comparison) -> str:
    """The comparison as a Markdown table, each cell :func:`md_cell`: a warning quoting a class name with a ``|``
    (or a dataset path with one) split its cell and shifted the row's columns, and ``<b>`` was read as HTML (the
    unseen11 probe; the page escapes both)."""
    head, rows = comparison_table(cmp)
    return render("comparison.md.j2", head=[md_cell(h) for h in head], rows=[[md_cell(c) for c in r] for r in rows])


def gave_up_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The given-up trials as text: a heading line, then one line per trial with its retry command (none: [])."""
    return render("gave_up.txt.j2", rows=rows).splitlines()


def result_lines(res: dict[str, Any], best_label: str) -> list[str]:
    """The verdict's rows as text, one per line: the template ``make study``'s summary includes (tests read it)."""
    return render("verdict.txt.j2", res=res, best_label=best_label).splitlines()


def print_summary(data: StudyData, compute_verdict: Callable[[], dict[str, Any]]) -> int:
    """Print the summary of ``make study``: counts, given-up trials and the best trial at once, then the verdict
    (``compute_verdict()`` may retrain for minutes). 1 when no trial is complete (nothing to report), else 0."""
    print(render("summary.txt.j2", d=data, part="head"), end="", flush=True)
    if data.best_trial is None:
        return 1
    data.final = compute_verdict()
    print(render("summary.txt.j2", d=data, part="verdict"), end="", flush=True)
    return 0

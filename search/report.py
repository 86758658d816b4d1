"""The regularization report: why a configuration wins.

``python -m search report studies/a.yaml [studies/b.yaml ...]`` writes, per study, a self-contained HTML page
with its PNG figures and a Markdown summary under ``runs/<study>/report/``; with several studies it also writes
``runs/comparison/index.html``: the best regularizers per architecture side by side.

Every number on the page is computed here or read from the study; the test accuracies follow the protocol of
:mod:`search.final` (retrained on the whole training split, evaluated once on the test split, several seeds).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from models.config import REGULARIZER_NAMES, split_params  # noqa: E402
from models.data import SequenceDataModule  # noqa: E402
from models.introspect import Introspection, diagnose, fixed_batch  # noqa: E402
from models.train import fit  # noqa: E402
from search.final import (  # noqa: E402
    changed_values,
    definition_digest,
    describe_difference,
    final_result,
    keeps_text,
    nothing_config,
    paired,
    test_accuracy,
)
from search.objective import folds_of, study_splits  # noqa: E402
from search.recipes import BASELINE  # noqa: E402
from search.retries import gave_up_rows  # noqa: E402
from search.spec import StudySpec  # noqa: E402
from search.storage import mask_url, open_storage  # noqa: E402

RECIPES_ATTR = "regtune:report_recipes"
SIGNIFICANCE = 0.05  # paired t-test over seeds: p below this is called significant
SLICES = 4  # slice plots of the most important parameters

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
    ("grad.norm_mean", "mean gradient norm before clipping"),
    ("grad.recurrent", "mean recurrent gradient norm"),
    ("grad.clip_fraction", "fraction of steps clipping cut"),
]


@dataclass
class StudyReport:
    spec: StudySpec
    outdir: Path
    counts: dict[str, int]
    best: optuna.trial.FrozenTrial
    final: dict[str, Any]
    recipes: list[dict[str, Any]] = field(default_factory=list)
    importances: dict[str, dict[str, float]] = field(default_factory=dict)
    pruning: dict[str, float] = field(default_factory=dict)
    introspection: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    gave_up: list[dict[str, Any]] = field(default_factory=list)  # trials given up after repeated crashes


# --------------------------------------------------------------------------------------------- statistics
def welch_p(a: list[float], b: list[float]) -> float:
    """Two-sided Welch's t-test p-value between two samples of per-seed accuracies (1.0 when undefined)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return 1.0
    if statistics.pstdev(a) == 0 and statistics.pstdev(b) == 0:
        return 1.0 if statistics.fmean(a) == statistics.fmean(b) else 0.0
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return 1.0 if math.isnan(p) else p


def importances(study: optuna.Study) -> dict[str, dict[str, float]]:
    """fANOVA and PED-ANOVA importances over the complete trials (each may fail on tiny studies: then empty)."""
    out: dict[str, dict[str, float]] = {}
    evaluators = {
        "fANOVA": optuna.importance.FanovaImportanceEvaluator(seed=0),
        "PED-ANOVA": optuna.importance.PedAnovaImportanceEvaluator(),
    }
    for name, evaluator in evaluators.items():
        try:
            out[name] = dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
        except Exception:  # too few trials, or a space PED-ANOVA cannot split
            out[name] = {}
    return out


def pruning_summary(study: optuna.Study, spec: StudySpec) -> dict[str, float]:
    """Epochs spent, and epochs pruning saved: each pruned trial credited with the mean epochs of a complete one."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    full = statistics.fmean([t.user_attrs.get("epochs_run", 0) for t in complete]) if complete else 0.0
    spent = sum(t.user_attrs.get("epochs_run", 0) for t in complete + pruned)
    pruned_spent = sum(t.user_attrs.get("epochs_run", 0) for t in pruned)
    saved = max(0.0, full * len(pruned) - pruned_spent)
    return {
        "complete": len(complete),
        "pruned": len(pruned),
        "epochs_spent": float(spent),
        "epochs_per_complete_trial": full,
        "epochs_saved": saved,
        "saved_fraction": saved / (spent + saved) if spent + saved else 0.0,
    }


def recipe_results(study: optuna.Study, spec: StudySpec, baseline: list[float], seeds: int) -> list[dict[str, Any]]:
    """Test accuracy of each recipe starting point (retrained like the best, same seeds), with the paired p against
    the baseline's per-seed accuracies ``baseline``. Cached on the study per seeds and study definition."""
    key = f"{seeds}:{definition_digest(spec)}"
    cached = study.user_attrs.get(RECIPES_ATTR, {})
    if key in cached:
        return [{**r, "p": paired(r["accs"], baseline)["p"]} for r in cached[key]]
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        label = t.user_attrs.get("recipe")
        if not label or label == BASELINE or "config" not in t.user_attrs:
            continue
        epochs = int(round(t.user_attrs.get("best_epoch", len(t.intermediate_values) - 1))) + 1
        accs = test_accuracy(spec, t.user_attrs["config"], max(1, min(epochs, spec.max_epochs)), seeds)
        rows.append(
            {
                "trial": t.number, "recipe": label, "state": t.state.name.lower(), "value": t.value, "accs": accs,
                "mean": statistics.fmean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "p": paired(accs, baseline)["p"],
            }
        )  # fmt: skip
    study.set_user_attr(RECIPES_ATTR, {**cached, key: rows})
    return rows


def introspect(spec: StudySpec, config: dict[str, Any]) -> tuple[Introspection, int]:
    """Refit ``config`` on the study's seeded holdout with introspection on; return the record and best epoch."""
    splits = study_splits(spec)
    rnn, train = split_params(config, input_size=splits.train.X.shape[2], num_classes=len(splits.classes))
    data = SequenceDataModule(splits, batch_size=train.batch_size, val_fraction=spec.val_fraction, seed=spec.seed)
    probe = Introspection(fixed_batch(data.val_set))
    result = fit(rnn, train, data, metric=spec.metric, callbacks=[probe])
    return probe, int(result.best["epoch"])


# --------------------------------------------------------------------------------------------- figures
def slice_plots(study: optuna.Study, names: list[str], path: Path) -> Path | None:
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = [n for n in names if any(n in t.params for t in trials)][:SLICES]
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        pts = [(t.params[name], t.value) for t in trials if name in t.params and t.value is not None]
        xs = [p[0] for p in pts]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            ax.scatter(xs, [p[1] for p in pts], s=14, alpha=0.7)
            dist = next(t.distributions[name] for t in trials if name in t.params)
            if getattr(dist, "log", False):
                ax.set_xscale("log")
        else:
            labels = sorted({str(x) for x in xs})
            ax.scatter([labels.index(str(x)) for x in xs], [p[1] for p in pts], s=14, alpha=0.7)
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel("objective")
        ax.grid(alpha=0.3)
    fig.suptitle("Slice plots: objective against the most important parameters (complete trials)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def history_plot(study: optuna.Study, spec: StudySpec, path: Path) -> Path:
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for state, marker in (("COMPLETE", "o"), ("PRUNED", "x")):
        pts = [(t.number, t.value) for t in trials if t.state.name == state and t.value is not None]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, s=18, label=state.lower())
    best: float | None = None
    bests: list[tuple[int, float]] = []
    for t in sorted((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.number):
        value = float(t.value)  # type: ignore[arg-type]
        better = best is None or (value > best if spec.direction == "maximize" else value < best)
        best = value if better else best
        bests.append((t.number, best if best is not None else value))
    if bests:
        ax.step(*zip(*bests), where="post", color="k", lw=1, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(spec.metric)
    ax.set_title("Optimization history")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------- building
def build(study: optuna.Study, spec: StudySpec, outdir: Path, seeds: int | None = None) -> StudyReport:
    outdir.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(1 for t in trials if t.state == s) for s in TrialState}
    if not counts["complete"]:
        raise SystemExit(f"study {spec.name!r} has no complete trial yet: run `make study STUDY={spec.path}` first")
    final = final_result(study, spec, seeds)
    best = study.best_trial
    rep = StudyReport(spec, outdir, counts, best, final, gave_up=gave_up_rows(study, str(spec.path)))
    rep.recipes = recipe_results(study, spec, final["baseline"]["accs"], final["seeds"])
    rep.importances = importances(study)
    rep.pruning = pruning_summary(study, spec)
    rep.figures.append((history_plot(study, spec, outdir / "history.png").name,
                        "Objective per trial (o complete, x pruned at its last reported value) and the best so far."))  # fmt: skip
    order = sorted(rep.importances.get("fANOVA", {}).items(), key=lambda kv: -kv[1])
    top = [name for name, _ in order] or sorted(best.params)
    sp = slice_plots(study, top, outdir / "slices.png")
    if sp is not None:
        rep.figures.append(
            (sp.name, f"Objective against the {min(SLICES, len(top))} most important parameters (fANOVA).")
        )
    for label, config in (
        ("best", best.user_attrs["config"]),
        ("baseline", final["baseline"]["config"]),
    ):
        probe, best_epoch = introspect(spec, config)
        stats = probe.summary(best_epoch)
        paths = probe.figures(outdir, prefix=f"{label}_")
        rep.introspection[label] = {"stats": stats, "diagnoses": diagnose(stats), "epoch": best_epoch,
                                    "figures": {k: p.name for k, p in paths.items()}}  # fmt: skip
    (outdir / "report.json").write_text(json.dumps(_jsonable(rep), indent=1, default=str))
    (outdir / "summary.md").write_text(markdown(rep))
    (outdir / "index.html").write_text(page(rep))
    return rep


def _jsonable(rep: StudyReport) -> dict[str, Any]:
    return {
        "study": rep.spec.name, "counts": rep.counts, "best_trial": rep.best.number, "best_value": rep.best.value,
        "best_config": changed_values(rep.best.user_attrs["config"]), "final": rep.final, "recipes": rep.recipes,
        "importances": rep.importances, "pruning": rep.pruning, "introspection": rep.introspection,
        "gave_up": rep.gave_up,
    }  # fmt: skip


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _verdict(p: float | None) -> str:
    if p is None:
        return "no test (1 seed)"
    return f"significant (p = {p:.3f} < {SIGNIFICANCE})" if p < SIGNIFICANCE else f"not significant (p = {p:.3f})"


def markdown(rep: StudyReport) -> str:
    f, s = rep.final, rep.spec
    p = f["paired"]["p"]
    lines = [
        f"# {s.name}: regularization report",
        "",
        f"{s.description or s.dataset} — {rep.counts['complete']} complete, {rep.counts['pruned']} pruned, "
        f"{rep.counts['fail']} failed trials; objective {s.metric}.",
        "",
        f"**Best: trial #{rep.best.number}** (objective {rep.best.value:.4f}): "
        + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(changed_values(rep.best.user_attrs["config"]).items())),
        "",
        f"| configuration | test accuracy (mean ± std over {f['seeds']} seeds) | epochs | vs. baseline (paired) |",
        "|---|---|---|---|",
        f"| best (trial #{rep.best.number}) | {f['best']['mean']:.4f} ± {f['best']['std']:.4f} | {f['best']['epochs']} | "
        f"{describe_difference(f['paired'])}, {'' if p is not None and p < SIGNIFICANCE else 'not '}significant |",
        f"| baseline (keeps {keeps_text(f['baseline']['keeps'])}) | {f['baseline']['mean']:.4f} ± "
        f"{f['baseline']['std']:.4f} | {f['baseline']['epochs']} | — |",
    ]
    if f.get("nothing"):
        lines.append(f"| nothing at all (also off: {', '.join(f['nothing']['off'])}) | {f['nothing']['mean']:.4f} ± "
                     f"{f['nothing']['std']:.4f} | {f['nothing']['epochs']} | best vs it: "
                     f"{describe_difference(f['paired_nothing'])} |")  # fmt: skip
    for r in rep.recipes:
        lines.append(f"| recipe: {r['recipe']} (trial #{r['trial']}, {r['state']}) | {r['mean']:.4f} ± {r['std']:.4f} | "
                     f"— | {r['mean'] - f['baseline']['mean']:+.4f}, {_verdict(r['p'])} |")  # fmt: skip
    lines += ["", "## Diagnoses (from the measurements at the best epoch, refit on the holdout)", ""]
    for label in ("best", "baseline"):
        found = rep.introspection.get(label, {}).get("diagnoses", [])
        lines.append(f"- **{label}**: " + ("; ".join(found) if found else "nothing flagged"))
    imp = rep.importances.get("fANOVA") or rep.importances.get("PED-ANOVA") or {}
    which = "fANOVA" if rep.importances.get("fANOVA") else "PED-ANOVA"
    if imp:
        lines += ["", f"## Most important parameters ({which})", ""]
        lines += [f"- {k}: {v:.3f}" for k, v in list(imp.items())[:8]]
    if rep.gave_up:
        lines += ["", "## Given up after repeated crashes (among the failed trials; checkpoints deleted)", ""]
        lines += [f"- trial #{g['trial']}{' (' + g['recipe'] + ')' if g['recipe'] else ''}: {g['reason']}; "
                  f"run it again: `{g['retry']}`" for g in rep.gave_up]  # fmt: skip
    pr = rep.pruning
    lines += ["", f"Pruning: {pr['pruned']} of {pr['pruned'] + pr['complete']} trials pruned; "
              f"{pr['epochs_spent']:.0f} epochs spent, about {pr['epochs_saved']:.0f} saved "
              f"({100 * pr['saved_fraction']:.0f}%)."]  # fmt: skip
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}figure{margin:1.5em 0}figcaption{color:#555;font-size:.9em}img{max-width:100%}
.diag li{margin:.3em 0}.num{text-align:right;font-variant-numeric:tabular-nums}"""


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def page(rep: StudyReport) -> str:
    f, s = rep.final, rep.spec
    p = f["paired"]["p"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(s.name)} report</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(s.name)}: which regularizers, and why</h1>",
             f"<p>{html.escape((s.description or s.dataset).rstrip('.'))}. Architecture: {html.escape(json.dumps(s.architecture))}. "
             f"Trials: {rep.counts['complete']} complete, {rep.counts['pruned']} pruned, {rep.counts['fail']} failed. "
             f"Objective: {s.metric} ({'accuracy with ties broken by validation loss' if s.metric == 'val_acc' else 'validation loss'}), "
             f"mean over {folds_of(s)} fold(s).</p>"]  # fmt: skip
    parts.append("<h2>Result on the test split</h2>")
    parts.append(
        f"<p>Each configuration is retrained on the whole training split for the epoch count its own cross-validated "
        f"run found best (mean best epoch over folds, plus one) and evaluated once on the {f['test_size']} test "
        f"sequences, with the same {f['seeds']} seeds (seed s: the same initialization and data order in every row); "
        f"the test split was never seen by the search. The baseline is the study's fixed settings with every searched "
        f"regularizer off: the enqueued baseline trial. Differences are paired over seeds: mean per-seed difference, "
        f"its 95% t interval and the paired t-test (significant at p &lt; {SIGNIFICANCE}).</p>"
    )
    rows = [[f"best (trial #{rep.best.number})", f"{f['best']['mean']:.4f} ± {f['best']['std']:.4f}",
             f["best"]["epochs"], describe_difference(f["paired"]), _verdict(p)],
            [f"baseline: searched regularizers off (keeps {keeps_text(f['baseline']['keeps'])}; {f['baseline']['from']})",
             f"{f['baseline']['mean']:.4f} ± {f['baseline']['std']:.4f}", f["baseline"]["epochs"], "—", "—"]]  # fmt: skip
    if f.get("nothing"):
        rows.append([f"nothing at all (also off: {', '.join(f['nothing']['off'])}; {f['nothing']['from']})",
                     f"{f['nothing']['mean']:.4f} ± {f['nothing']['std']:.4f}", f["nothing"]["epochs"],
                     f"best vs it: {describe_difference(f['paired_nothing'])}", "—"])  # fmt: skip
    for r in rep.recipes:
        rows.append([f"recipe: {r['recipe']} (trial #{r['trial']}, {r['state']})", f"{r['mean']:.4f} ± {r['std']:.4f}",
                     "—", f"{r['mean'] - f['baseline']['mean']:+.4f}", _verdict(r["p"])])  # fmt: skip
    head = ["configuration", "test accuracy", "epochs", "difference to the baseline", "paired test"]
    parts.append(_table(head, rows))
    parts.append("<h3>Best configuration (values that differ from the defaults)</h3>")
    changed = sorted(changed_values(rep.best.user_attrs["config"]).items())
    parts.append(_table(["hyperparameter", "value"], [[k, v] for k, v in changed]))
    parts.append("<h2>Diagnoses</h2><p>Derived from the measurements below, at the best epoch of a refit on the "
                 "seeded holdout; each names the number and threshold it comes from.</p>")  # fmt: skip
    for label in ("best", "baseline"):
        found = rep.introspection.get(label, {}).get("diagnoses", [])
        items = "".join(f"<li>{html.escape(d)}</li>" for d in found) or "<li>nothing flagged</li>"
        parts.append(f"<h3>{label}</h3><ul class='diag'>{items}</ul>")
    parts.append("<h2>Introspection: best against no regularization</h2>")
    stats = [[caption, key, _fmt(rep.introspection["best"]["stats"].get(key, "n/a")),
              _fmt(rep.introspection["baseline"]["stats"].get(key, "n/a"))] for key, caption in KEY_STATS]  # fmt: skip
    gates = sorted({k for label in ("best", "baseline") for k in rep.introspection[label]["stats"]
                    if k.split(".")[0] in ("sat", "recurrent", "kernel") and len(k.split(".")) == 3 - (k[:4] == "sat.")
                    and k != "sat.hidden"})  # fmt: skip
    for key in gates:
        stats.append([f"per gate: {key}", key, _fmt(rep.introspection["best"]["stats"].get(key, "n/a")),
                      _fmt(rep.introspection["baseline"]["stats"].get(key, "n/a"))])  # fmt: skip
    parts.append(_table(["measure", "key", "best", "no regularization"], stats))
    captions = {
        "weights": "Weight histograms per gate, kernel against recurrent, at the end of training.",
        "gradients": "Gradient norm before clipping per epoch, per component, with the fraction of steps clipped.",
        "saturation": "Fraction of saturated gate activations per gate and epoch on a fixed validation batch.",
        "hidden_norm": "Hidden-state norm against the time step (first and last epoch): does information fade?",
    }
    for kind, caption in captions.items():
        for label in ("best", "baseline"):
            name = rep.introspection[label]["figures"].get(kind)
            if name:
                parts.append(f"<figure><img src='{name}' alt='{label} {kind}'><figcaption>{label}: "
                             f"{html.escape(caption)}</figcaption></figure>")  # fmt: skip
    parts.append("<h2>Hyperparameter importance</h2>")
    parts.append("<p>Both Optuna evaluators are shown: fANOVA (a random-forest variance decomposition over the "
                 "complete trials) and PED-ANOVA (how the top-quantile trials' distribution of each parameter "
                 "differs from all trials'). Conditional values (a regularizer's range when it is on) are not in "
                 "every trial, so fANOVA scores their <code>_on</code> switch.</p>")  # fmt: skip
    names = sorted(
        {k for d in rep.importances.values() for k in d}, key=lambda k: -rep.importances.get("fANOVA", {}).get(k, 0)
    )
    parts.append(_table(["parameter", "fANOVA", "PED-ANOVA"],
                        [[n, rep.importances.get("fANOVA", {}).get(n, "n/a"), rep.importances.get("PED-ANOVA", {}).get(n, "n/a")] for n in names]))  # fmt: skip
    for name, caption in rep.figures:
        parts.append(f"<figure><img src='{name}' alt='{name}'><figcaption>{html.escape(caption)}</figcaption></figure>")
    pr = rep.pruning
    parts.append("<h2>Pruning</h2>")
    parts.append(_table(["", "value"], [
        ["complete trials", pr["complete"]], ["pruned trials", pr["pruned"]], ["epochs spent", pr["epochs_spent"]],
        ["epochs per complete trial", pr["epochs_per_complete_trial"]],
        ["epochs saved by pruning (pruned trials credited with a complete trial's epochs)", pr["epochs_saved"]],
    ]))  # fmt: skip
    if rep.gave_up:
        parts.append("<h2>Given up after repeated crashes</h2><p>These trials crashed (dead worker, lost heartbeat) "
                     "more often than the re-run limit; they are among the failed trials above and their checkpoints "
                     "were deleted.</p>")  # fmt: skip
        parts.append(_table(["trial", "recipe", "reason", "run it again"],
                            [[g["trial"], g["recipe"] or "", g["reason"], g["retry"]] for g in rep.gave_up]))  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------- comparison
def comparison(reports: list[StudyReport], outdir: Path) -> Path:
    """The best regularizers per architecture side by side."""
    outdir.mkdir(parents=True, exist_ok=True)
    configs = {r.spec.name: r.best.user_attrs["config"] for r in reports}
    base = {r.spec.name: nothing_config(r.best.user_attrs["config"])[0] for r in reports}
    names = [n for n in REGULARIZER_NAMES if any(configs[s][n] != base[s][n] for s in configs)]
    head = ["", *[f"{r.spec.name} ({r.spec.architecture.get('cell', 'lstm')}"
                  f"{', bi' if r.spec.architecture.get('bidirectional') else ''}"
                  f"{', ' + str(r.spec.architecture.get('num_layers', 1)) + ' layers'})" for r in reports]]  # fmt: skip
    rows: list[list[Any]] = []
    for n in names:
        rows.append([n, *[(_fmt(configs[r.spec.name][n]) if configs[r.spec.name][n] != base[r.spec.name][n] else "off")
                          for r in reports]])  # fmt: skip
    rows.append(
        ["test accuracy, best", *[f"{r.final['best']['mean']:.4f} ± {r.final['best']['std']:.4f}" for r in reports]]
    )
    rows.append(["test accuracy, baseline (searched regularizers off)",
                 *[f"{r.final['baseline']['mean']:.4f} ± {r.final['baseline']['std']:.4f}" for r in reports]])  # fmt: skip
    rows.append(["difference (paired)", *[describe_difference(r.final["paired"]) for r in reports]])
    rows.append(["top parameter (fANOVA)", *[next(iter(r.importances.get("fANOVA", {})), "n/a") for r in reports]])
    links = "".join(
        f"<li><a href='../{r.spec.name}/report/index.html'>{html.escape(r.spec.name)}</a></li>" for r in reports
    )
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>regtune comparison</title><style>{_CSS}</style>"
           f"</head><body><h1>Which regularizers for which architecture</h1><p>Best configuration of each study: "
           f"the regularizers it turned on (off = at its off value).</p>{_table(head, rows)}<ul>{links}</ul></body></html>")  # fmt: skip
    (outdir / "index.html").write_text(doc)
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(map(str, r)) + " |" for r in rows
    ]
    (outdir / "summary.md").write_text("\n".join(md) + "\n")
    return outdir / "index.html"


def main(args: argparse.Namespace) -> int:
    reports = []
    for path in args.studies:
        from search.preflight import prepare

        prepared = prepare(path, args.storage)  # the spec as the study ran it: with the data-dependent defaults
        spec, url = prepared.spec, prepared.url
        try:
            study = optuna.load_study(study_name=spec.name, storage=open_storage(url))
        except KeyError:
            raise SystemExit(
                f"no study {spec.name!r} in {mask_url(url)}: run `make study STUDY={path}` first"
            ) from None
        outdir = Path("runs") / spec.name / "report"
        print(f"report for {spec.name} -> {outdir}/index.html", flush=True)
        rep = build(study, spec, outdir)
        print(markdown(rep))
        reports.append(rep)
    if len(reports) > 1:
        out = comparison(reports, Path("runs") / "comparison")
        print((out.parent / "summary.md").read_text())
        print(f"comparison -> {out}")
    return 0

"""Search efficiency: best validation accuracy vs. epochs spent, TPE + Hyperband pruning against random search without
pruning, on the same budget of *epochs* and the same seeds (JapaneseVowels, the LSTM study's search space).

Both arms are built from ``studies/lstm.yaml`` (same search space, fixed values and metric), made cheaper so the
whole benchmark fits in about ten minutes on two loaded CPU cores:

- architecture ``hidden_size: 32`` (the study file: 64), ``budget.max_epochs: 15`` (30), ``cv_folds: 3`` (5):
  a full trial is 3 folds x 15 epochs = 45 epochs (fewer when the study's early-stopping patience of 8 ends a fold);
- ``recipes: false`` in both arms, so no known-good starting points are enqueued: the comparison is about the
  search alone;
- arm ``tpe+hyperband``: ``sampler: tpe`` (multivariate, 10 random startup trials), ``pruner: hyperband``
  (:func:`search.samplers.make_pruner`: judged at the end of each fold only, the first rung at the first fold's end,
  reduction factor 3, over the 45 steps of a trial);
- arm ``random``: ``sampler: random``, ``pruner: none``.

A seed ``s`` is the study's ``seed`` in both arms: the sampler's seed, the cross-validation folds and the model
initialisation are the same, so the arms differ only by their sampler and pruner (TPE's 10 startup trials even
draw the same points as the random arm's first 10).

Each arm runs trials (in-memory Optuna storage, :class:`search.objective.Objective`, one at a time) until it has
trained ``--epochs-budget`` epochs in all: every trained epoch of every fold is counted when it starts; the epoch
that would pass the budget is not started, and the trial it belongs to is closed as failed (unfinished work that
returns nothing), so each arm spends exactly the budget. The recorded curve is (cumulative epochs, best validation
accuracy of the completed trials so far); pruned trials cost epochs but give no value. The accuracy is a trial's
mean over the 3 folds of each fold's best epoch (the trial attribute ``val_acc``), in steps of 1/270. The search
itself maximizes the study's objective, that accuracy with ties broken by validation loss
(:func:`models.train.score`); its curve is kept too (``curve_score``), but the comparison uses the accuracy: the
loss tie-break would make "the same best value" hinge on a 1e-4 difference in validation loss.

"Epochs to reach" compares the two accuracy curves at a common target, the lower of the two arms' final best
accuracies (each arm reaches it): ``saved = epochs(random) - epochs(tpe+hyperband)``, positive when TPE + pruning
got there first, and as a percentage of the random arm's epochs. Also reported: the best accuracy of each arm at
each quarter of the budget. Results: ``runs/bench/search_efficiency.json`` and ``.png``.

``python -m bench.search_efficiency [--epochs-budget N] [--seeds 0 1 2] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import torch
from pytorch_lightning.callbacks import Callback

from bench import shipped
from search.objective import Objective
from search.samplers import make_pruner, make_sampler
from search.spec import StudySpec, parse_study, read_study

STUDY_FILE = shipped("studies/lstm.yaml")
OUT = Path("runs/bench/search_efficiency.json")
OUT_QUICK = Path("runs/bench/search_efficiency_quick.json")

#: the two arms: name -> (sampler, pruner)
ARMS: dict[str, tuple[str, str]] = {"tpe+hyperband": ("tpe", "hyperband"), "random": ("random", "none")}
TPE, RANDOM = "tpe+hyperband", "random"

#: the cheaper study: overrides of studies/lstm.yaml (full run, and --quick)
FULL: dict[str, Any] = {"hidden_size": 32, "max_epochs": 15, "cv_folds": 3, "budget": 1000, "seeds": [0, 1, 2]}
QUICK: dict[str, Any] = {"hidden_size": 16, "max_epochs": 5, "cv_folds": 2, "budget": 120, "seeds": [0]}
#: accuracies are multiples of 1/270 (float32 means): equal within this
EPS = 1e-6


class BudgetSpent(Exception):
    """The arm's epoch budget is spent: the running trial stops before its next epoch and is closed as failed."""


class EpochBudget(Callback):
    """Counts every epoch an arm trains (all trials, all folds) when it starts; refuses to start one past the budget.

    Counted at the epoch's start, not its end: a pruned epoch (the pruner decides after its validation) was trained
    in full and counts."""

    def __init__(self, budget: int) -> None:
        self.budget, self.spent = budget, 0

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self.spent >= self.budget:
            raise BudgetSpent(f"epoch budget {self.budget} spent")
        self.spent += 1


def make_spec(arm: str, seed: int, hidden_size: int, max_epochs: int, cv_folds: int) -> StudySpec:
    """``studies/lstm.yaml`` with the benchmark's overrides, parsed (and validated) like a study file."""
    raw = read_study(STUDY_FILE)  # the project's reader (YAML 1.2 booleans)
    sampler, pruner = ARMS[arm]
    raw.update(
        name=f"bench-{arm.replace('+', '-')}-seed{seed}", sampler=sampler, pruner=pruner, seed=seed,
        cv_folds=cv_folds, recipes=False, starting_points=[],  # nothing enqueued: the samplers alone
        architecture={**raw.get("architecture", {}), "hidden_size": hidden_size},
        budget={**raw["budget"], "max_epochs": max_epochs},
    )  # fmt: skip
    return parse_study(raw, STUDY_FILE)


def run_arm(spec: StudySpec, budget: int, accelerator: str, verbose: bool) -> dict[str, Any]:
    """Run trials until ``budget`` epochs are trained; return the trials and the curve."""
    counter = EpochBudget(budget)
    objective = Objective(spec, accelerator=accelerator, extra_callbacks=lambda trial: [counter])
    study = optuna.create_study(
        study_name=spec.name, storage=optuna.storages.InMemoryStorage(),
        direction="minimize" if spec.direction == "minimize" else "maximize",
        sampler=make_sampler(spec), pruner=make_pruner(spec, objective.folds, objective.sequences),
    )  # fmt: skip
    better = max if spec.direction == "maximize" else min
    trials: list[dict[str, Any]] = []
    curve: list[list[float | None]] = [[0, None]]  # (cumulative epochs, best validation accuracy so far)
    curve_score: list[list[float | None]] = [[0, None]]  # (cumulative epochs, best objective value so far)
    state: dict[str, Any] = {"spent": 0, "best": None, "acc": None}
    start = time.perf_counter()

    def record(trial: optuna.trial.FrozenTrial) -> None:
        epochs = counter.spent - state["spent"]
        state["spent"] = counter.spent
        value = trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None
        acc = trial.user_attrs.get("val_acc") if value is not None else None
        if value is not None:
            state["best"] = value if state["best"] is None else better(state["best"], value)
            state["acc"] = acc if state["acc"] is None else max(state["acc"], acc)
        row = {
            "number": trial.number, "state": trial.state.name.lower(), "value": value, "epochs": epochs,
            "epochs_run_attr": trial.user_attrs.get("epochs_run"), "cum_epochs": counter.spent,
            "best_so_far": state["best"], "val_acc": acc, "best_acc_so_far": state["acc"],
            "wall_s": round(time.perf_counter() - start, 2), "params": trial.params,
        }  # fmt: skip
        trials.append(row)
        curve.append([counter.spent, state["acc"]])
        curve_score.append([counter.spent, state["best"]])
        if verbose:
            v = "-" if acc is None else f"{acc:.4f}"
            print(f"    {spec.name} #{trial.number:3d} {row['state']:8s} acc {v:>6s} epochs {epochs:3d} "
                  f"cum {counter.spent:5d} best acc {_fmt(state['acc'], '.4f')}", flush=True)  # fmt: skip

    def stop_when_spent(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        record(trial)
        if counter.spent >= budget:
            study.stop()

    try:
        study.optimize(objective, callbacks=[stop_when_spent], gc_after_trial=False)
    except BudgetSpent:  # the last trial was cut short by the budget: failed, recorded with its epochs
        record(study.trials[-1])
    wall = time.perf_counter() - start
    states = [t["state"] for t in trials]
    complete = [t for t in trials if t["value"] is not None]
    best_trial = better(complete, key=lambda t: t["value"]) if complete else None
    return {
        "study": spec.name, "sampler": spec.sampler, "pruner": spec.pruner, "seed": spec.seed,
        "epochs_spent": counter.spent, "wall_s": round(wall, 1),
        "trials": len(trials), "complete": states.count("complete"), "pruned": states.count("pruned"),
        "failed": states.count("fail"), "best_val_acc": state["acc"], "best_score": state["best"],
        "best_trial": best_trial["number"] if best_trial else None,
        "best_params": best_trial["params"] if best_trial else None,
        "curve": curve, "curve_score": curve_score, "trial_rows": trials,
    }  # fmt: skip


def best_at(curve: list[list[Any]], epochs: int) -> float | None:
    """The curve's best value after ``epochs`` epochs (trials finished by then)."""
    best = None
    for e, b in curve:
        if e > epochs:
            break
        best = b
    return best


def epochs_to_reach(curve: list[list[Any]], target: float) -> int | None:
    """The first cumulative epoch count at which the curve's best accuracy reaches ``target`` (None: never)."""
    for epochs, best in curve:
        if best is not None and best >= target - EPS:
            return int(epochs)
    return None


COMPARISON_KEYS = (
    "target",
    "target_from",
    "epochs_tpe",
    "epochs_random",
    "saved",
    "saved_pct",
    "tpe_better",
    "best_diff",
    "tpe_to_random_final",
    "random_to_tpe_final",
    "best_at",
)


def _quarters(budget: int) -> list[int]:
    return sorted({max(1, round(budget * q / 4)) for q in (1, 2, 3, 4)})  # fmt: skip


def compare(arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Epochs each arm needed to reach the lower of the two final best values; epochs saved by TPE + pruning."""
    tpe, rnd = arms[TPE], arms[RANDOM]
    a_tpe, a_rnd = tpe["best_val_acc"], rnd["best_val_acc"]
    if a_tpe is None or a_rnd is None:
        return dict.fromkeys(COMPARISON_KEYS)
    target = min(a_tpe, a_rnd)
    tie = abs(a_tpe - a_rnd) <= EPS
    e_tpe = epochs_to_reach(tpe["curve"], target)
    e_rnd = epochs_to_reach(rnd["curve"], target)
    saved = e_rnd - e_tpe if e_tpe is not None and e_rnd is not None else None
    # each arm's own final best, reached by the other arm (None: never, within the budget)
    tpe_to_random_final = epochs_to_reach(tpe["curve"], a_rnd)
    random_to_tpe_final = epochs_to_reach(rnd["curve"], a_tpe)
    return {
        "target": target, "target_from": "both" if tie else RANDOM if a_tpe > a_rnd else TPE,
        "epochs_tpe": e_tpe, "epochs_random": e_rnd, "saved": saved,
        "saved_pct": round(100.0 * saved / e_rnd, 1) if saved is not None and e_rnd else None,
        "tpe_better": a_tpe > a_rnd + EPS, "best_diff": a_tpe - a_rnd,
        "tpe_to_random_final": tpe_to_random_final, "random_to_tpe_final": random_to_tpe_final,
        "best_at": {
            str(e): {TPE: best_at(tpe["curve"], e), RANDOM: best_at(rnd["curve"], e)}
            for e in _quarters(rnd["epochs_spent"])
        },
    }  # fmt: skip


def _fmt(v: Any, spec: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def print_table(seeds: dict[int, dict[str, Any]], summary: dict[str, Any], budget: int) -> None:
    print(f"\nbudget {budget} epochs per arm; best val_acc = mean over folds (score: with the loss tie-break)")
    head = f"{'seed':>4} {'arm':14} {'val_acc':>7} {'score':>7} {'epochs':>6} {'trials':>6} {'compl':>5} {'pruned':>6} {'wall s':>7}"
    print(head)
    print("-" * len(head))
    for seed, res in seeds.items():
        for arm in (TPE, RANDOM):
            a = res["arms"][arm]
            print(
                f"{seed:>4} {arm:14} {_fmt(a['best_val_acc'], '.4f'):>7} {_fmt(a['best_score'], '.4f'):>7} "
                f"{a['epochs_spent']:>6} {a['trials']:>6} {a['complete']:>5} {a['pruned']:>6} {a['wall_s']:>7.1f}"
            )  # fmt: skip
    print()
    print("epochs to reach the common target (the lower final best val_acc): saved = random's epochs - tpe+hb's")
    print("tpe->rnd: epochs TPE+pruning took to reach random's final best (- = never); rnd->tpe: the reverse")
    head = (
        f"{'seed':>4} {'target':>7} {'(from)':14} {'ep tpe+hb':>9} {'ep random':>9} {'saved':>6} {'saved %':>7}"
        f" | {'tpe->rnd':>8} {'rnd->tpe':>8}"
    )
    print(head)
    print("-" * len(head))
    for seed, res in seeds.items():
        c = res["comparison"]
        print(
            f"{seed:>4} {_fmt(c['target'], '.4f'):>7} {_fmt(c['target_from']):14} {_fmt(c['epochs_tpe']):>9} "
            f"{_fmt(c['epochs_random']):>9} {_fmt(c['saved']):>6} {_fmt(c['saved_pct']):>7}"
            f" | {_fmt(c['tpe_to_random_final']):>8} {_fmt(c['random_to_tpe_final']):>8}"
        )  # fmt: skip
    if len(seeds) > 1:
        m = summary
        print(
            f"{'mean':>4} {'':>7} {'':14} {_fmt(m['mean_epochs_tpe'], '.1f'):>9} "
            f"{_fmt(m['mean_epochs_random'], '.1f'):>9} {_fmt(m['mean_saved'], '.1f'):>6} "
            f"{_fmt(m['mean_saved_pct'], '.1f'):>7}"
        )  # fmt: skip
    print("\nbest val_acc so far at equal epochs (tpe+hyperband / random)")
    marks = _quarters(budget)
    print(f"{'seed':>4} " + " ".join(f"{f'@{e}':>15}" for e in marks))
    for seed, res in seeds.items():
        at = res["comparison"]["best_at"] or {}
        cells = [at.get(str(e), {}) for e in marks]
        print(f"{seed:>4} " + " ".join(f"{_fmt(c.get(TPE), '.4f'):>7}/{_fmt(c.get(RANDOM), '.4f'):<7}" for c in cells))
    print(
        f"\nmean best val_acc: tpe+hyperband {_fmt(summary['mean_best_tpe'], '.4f')}, "
        f"random {_fmt(summary['mean_best_random'], '.4f')} over seeds {list(seeds)}; TPE+pruning higher on "
        f"{summary['tpe_better_seeds']}, tied on {summary['tied_seeds']}"
    )


def summarize(seeds: dict[int, dict[str, Any]]) -> dict[str, Any]:
    def mean(values: list[Any]) -> float | None:
        values = [v for v in values if v is not None]
        return round(statistics.fmean(values), 4) if values else None

    comps = [r["comparison"] for r in seeds.values()]
    return {
        "seeds": list(seeds),
        "mean_best_tpe": mean([r["arms"][TPE]["best_val_acc"] for r in seeds.values()]),
        "mean_best_random": mean([r["arms"][RANDOM]["best_val_acc"] for r in seeds.values()]),
        "mean_epochs_tpe": mean([c["epochs_tpe"] for c in comps]),
        "mean_epochs_random": mean([c["epochs_random"] for c in comps]),
        "mean_saved": mean([c["saved"] for c in comps]),
        "mean_saved_pct": mean([c["saved_pct"] for c in comps]),
        "seeds_tpe_reached_random_final": sum(1 for c in comps if c["tpe_to_random_final"] is not None),
        "tpe_better_seeds": sum(1 for c in comps if c["tpe_better"]),
        "tied_seeds": sum(1 for c in comps if c["target_from"] == "both"),
    }


def plot(seeds: dict[int, dict[str, Any]], path: Path, budget: int, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(seeds)
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 4.2), squeeze=False, sharey=True)
    for ax, (seed, res) in zip(axes[0], seeds.items()):
        for arm, color in ((TPE, "tab:blue"), (RANDOM, "tab:orange")):
            pts = [(e, b) for e, b in res["arms"][arm]["curve"] if b is not None]
            if not pts:
                continue
            xs = [e for e, _ in pts] + [res["arms"][arm]["epochs_spent"]]
            ys = [b for _, b in pts] + [pts[-1][1]]
            ls = "-" if arm == TPE else "--"  # dashed: the curves coincide while neither arm has pruned or used TPE
            ax.step(xs, ys, where="post", color=color, ls=ls, label=arm)
            ax.plot([e for e, _ in pts], [b for _, b in pts], "o", color=color, ms=3)
        c = res["comparison"]
        if c["target"] is not None:
            ax.axhline(c["target"], color="grey", lw=0.8, ls=":")
            for e, color in ((c["epochs_tpe"], "tab:blue"), (c["epochs_random"], "tab:orange")):
                if e is not None:
                    ax.axvline(e, color=color, lw=0.8, ls="--")
            if c["saved"] is not None:
                ax.set_title(f"seed {seed}: {c['saved']} epochs saved ({c['saved_pct']} %)", fontsize=10)
        ax.set_xlim(0, budget)
        ax.set_xlabel("epochs spent (all trials, all folds)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("best validation accuracy so far (fold mean)")
    axes[0][0].legend(loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.search_efficiency", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs-budget", type=int, default=None, help=f"epochs per arm (default {FULL['budget']})")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help=f"study seeds (default {FULL['seeds']})")
    parser.add_argument("--quick", action="store_true", help=f"a fast sanity check: {QUICK}")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1; 0 = torch's)")
    parser.add_argument("--accelerator", default="cpu", help="Lightning accelerator (default cpu)")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON path (default {OUT}; --quick: {OUT_QUICK})")
    parser.add_argument("--verbose", action="store_true", help="one line per trial")
    args = parser.parse_args(argv if argv is not None else [])
    preset = QUICK if args.quick else FULL
    budget = args.epochs_budget or preset["budget"]
    seeds = args.seeds if args.seeds is not None else preset["seeds"]
    out = args.out or (OUT_QUICK if args.quick else OUT)

    # one intra-op thread: on a shared 2-core machine torch's default (2 threads) made these tiny epochs 10-20x slower
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # TPE's ``group``
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the budget-cut trial's "failed" warning is expected

    results: dict[int, dict[str, Any]] = {}
    spec = None
    start = time.perf_counter()
    try:
        for seed in seeds:
            arms: dict[str, dict[str, Any]] = {}
            for arm in (TPE, RANDOM):
                spec = make_spec(arm, seed, preset["hidden_size"], preset["max_epochs"], preset["cv_folds"])
                print(f"  seed {seed} {arm}: budget {budget} epochs ...", flush=True)
                arms[arm] = run_arm(spec, budget, args.accelerator, args.verbose)
                a = arms[arm]
                print(
                    f"  seed {seed} {arm}: best val_acc {_fmt(a['best_val_acc'], '.4f')} after {a['trials']} trials "
                    f"({a['complete']} complete, {a['pruned']} pruned), {a['wall_s']} s",
                    flush=True,
                )  # fmt: skip
            assert spec is not None
            results[seed] = {"arms": arms, "comparison": compare(arms)}
    finally:
        torch.set_num_threads(threads)
        optuna.logging.set_verbosity(verbosity)
    assert spec is not None
    summary = summarize(results)
    print_table(results, summary, budget)

    setup = {
        "study_file": str(STUDY_FILE), "dataset": spec.dataset, "architecture": spec.architecture,
        "max_epochs": spec.max_epochs, "cv_folds": spec.cv_folds, "steps_per_trial": (spec.cv_folds or 1) * spec.max_epochs,
        "fixed": spec.fixed, "search": sorted(spec.search), "metric": spec.metric, "recipes": False,
        "arms": {arm: {"sampler": s, "pruner": p} for arm, (s, p) in ARMS.items()},
        "epochs_budget": budget, "seeds": seeds, "quick": args.quick, "threads": args.threads or threads,
        "accelerator": args.accelerator,
    }  # fmt: skip
    report = {
        "benchmark": "search_efficiency", "setup": setup, "summary": summary,
        "seeds": {str(s): r for s, r in results.items()}, "wall_s": round(time.perf_counter() - start, 1),
        "host": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                 "optuna": optuna.__version__},
    }  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    title = (
        f"JapaneseVowels LSTM (hidden {spec.architecture.get('hidden_size')}, {spec.cv_folds}-fold CV, "
        f"{spec.max_epochs} epochs): TPE+Hyperband vs random, {budget} epochs each"
    )
    plot(results, out.with_suffix(".png"), budget, title)
    print(f"\nwrote {out} and {out.with_suffix('.png')} ({report['wall_s']} s)")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

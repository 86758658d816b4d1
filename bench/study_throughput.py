"""Study throughput: finished trials per minute on the default study with 1 and 2 local workers.

The default study (``studies/lstm.yaml``: a one-layer LSTM on JapaneseVowels and its regularizer search space;
a built-in copy when the file is absent) with a budget cut to fit a benchmark: ``--epochs`` epochs, one holdout
fold, no pruner, no recipes. Both runs train the *same* trials: ``--trials`` parameter sets drawn once (seeded)
from the study's search space and enqueued in order, so 1 and 2 workers do identical work and only the
parallelism differs. Each run is ``python -m search worker <study> --trials N --workers W`` on a fresh journal
file, exactly as ``make worker WORKERS=W`` (or ``make study``) starts it; ``worker_plan`` gives each of the W
workers ``cores / W`` threads.

Runs: ``1 worker`` with one thread, ``2 workers`` with one thread each (``worker_plan`` on 2 cores), and with
``--all-cores`` also ``1 worker, all cores`` (one process using every core as threads: what ``make study`` with
one worker does; small RNNs gain little from intra-op threads and lose a lot when the cores are busy). Trials
per minute are counted from the first trial's start to the last trial's end in the storage (process start-up
excluded), and each run reports how many cores *other* processes kept busy meanwhile (``/proc/stat`` less the
runs' own CPU time): on a shared machine that column says how noisy it is. The target is a speed-up of at least
1.7x for 2 workers on 2 cores over that span. The command's wall time with start-up is reported beside it, and
the ratio of the two commands' wall times: with W workers the parent and then each worker import torch and
Lightning and load the data, in series, so on a small study the 2-worker command can take longer than the
1-worker one although its trials run faster. The study is created as the worker sees it (``search.preflight``'s
data-dependent defaults applied), or the worker refuses it as changed. The machine may be shared: label the
numbers as noisy when it is. Results go to ``runs/bench/study_throughput.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bench import child_env, shipped, write_result

if TYPE_CHECKING:
    from search.spec import StudySpec

OUT = Path("runs/bench/study_throughput.json")
DEFAULT_STUDY = shipped("studies/lstm.yaml")
TARGET = 1.7
#: the default study's essentials, for a checkout where studies/lstm.yaml is absent
BUILTIN: dict[str, Any] = {
    "name": "lstm-japanese-vowels",
    "dataset": "JapaneseVowels",
    "architecture": {"cell": "lstm", "hidden_size": 64, "num_layers": 1, "bidirectional": False},
    "budget": {"trials": 40, "max_epochs": 30},
    "metric": "val_acc",
    "search": {
        "kernel_l2": {"low": 1e-6, "high": 1e-2, "log": True, "off": True},
        "recurrent_l2": {"low": 1e-6, "high": 1e-2, "log": True, "off": True},
        "dropout": {"low": 0.0, "high": 0.5},
        "recurrent_dropout": {"low": 0.0, "high": 0.5},
        "weight_drop": {"low": 0.0, "high": 0.6},
        "norm": ["none", "layer"],
    },
    "fixed": {"clip_norm": 1.0, "optimizer": "adamw", "lr": 0.003, "batch_size": 32},
}
RUNS = (("1 worker", 1, "1"), ("2 workers", 2, None))
ALL_CORES = ("1 worker, all cores", 1, None)


def bench_study(tmp: Path, trials: int, epochs: int) -> tuple[Path, str]:
    from search.spec import read_study  # YAML 1.2, as a study file is read: the range key `off` stays a key

    raw = read_study(DEFAULT_STUDY) if DEFAULT_STUDY.exists() else dict(BUILTIN)
    source = str(DEFAULT_STUDY) if DEFAULT_STUDY.exists() else "built-in JapaneseVowels LSTM"
    raw.update(name="study-throughput", budget={"trials": trials, "max_epochs": epochs}, cv_folds=1, pruner="none",
               recipes=False, starting_points=[])  # fmt: skip
    path = tmp / "study-throughput.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, source


def bench_spec(study_file: Path) -> StudySpec:
    """The study as the worker sees it: parsed and given its data-dependent defaults (``search.preflight.prepare``:
    the searched lr, patience, batch size from the training size). A spec without them (``load_study`` alone)
    makes a study the worker refuses as changed ("no longer matches study")."""
    from search.preflight import prepare

    return prepare(study_file).spec


def parameter_sets(spec: StudySpec, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` parameter sets from the study's search space (seeded): the trials every run enqueues."""
    import optuna

    from search.space import suggest

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        suggest(trial, spec)
        out.append(dict(trial.params))
        study.tell(trial, 0.0)
    return out


def create_run_study(spec: StudySpec, params: list[dict[str, Any]], journal: Path) -> None:
    """Create the study in a fresh ``journal`` the way the worker would (``ensure_study``) and enqueue ``params``."""
    from search.storage import open_storage
    from search.worker import ensure_study

    study = ensure_study(spec, open_storage(str(journal)), total=len(params))
    for p in params:
        study.enqueue_trial(p)


def _busy_seconds() -> float:
    """CPU seconds all processes on this machine have used since boot (``/proc/stat``; 0 where it is absent)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run(
    study_file: Path, spec: StudySpec, params: list[dict[str, Any]], workers: int, threads: str | None, tmp: Path
) -> dict:
    import optuna

    from search.storage import open_storage

    journal = tmp / f"w{workers}-t{threads or 'auto'}" / "journal.log"
    create_run_study(spec, params, journal)
    env = child_env({k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "REGTUNE_WORKER_INDEX")},
                    CI="1", **({"OMP_NUM_THREADS": threads} if threads else {}))  # fmt: skip
    cmd = [sys.executable, "-m", "search", "worker", str(study_file), "--storage", str(journal),
           "--trials", str(len(params)), "--workers", str(workers)]  # fmt: skip
    busy0, usage0 = _busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    others = max(0.0, _busy_seconds() - busy0 - ours) / wall  # cores other processes kept busy meanwhile
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    trials = optuna.load_study(study_name=spec.name, storage=open_storage(str(journal))).get_trials()
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    times = [(t.datetime_start, t.datetime_complete) for t in done if t.datetime_start and t.datetime_complete]
    span = (max(e for _, e in times) - min(b for b, _ in times)).total_seconds()
    mean_trial = sum((e - b).total_seconds() for b, e in times) / len(times)
    return {"finished": len(done), "span_s": round(span, 2), "wall_s": round(wall, 2),
            "trials_per_min": round(60 * len(done) / span, 2), "cpu_s": round(ours, 1),
            "other_load_cores": round(others, 2), "trial_s_mean": round(mean_trial, 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.study_throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24, help="trials per run (the same ones in every run)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per trial (one holdout fold)")
    parser.add_argument("--all-cores", action="store_true", help="also run 1 worker with every core as threads")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="regtune-throughput-") as tmp_name:
        tmp = Path(tmp_name)
        study_file, source = bench_study(tmp, args.trials, args.epochs)
        spec = bench_spec(study_file)
        params = parameter_sets(spec, args.trials)
        for label, workers, threads in RUNS + ((ALL_CORES,) if args.all_cores else ()):
            row = {"run": label, "workers": workers, "threads_per_worker": threads or "cores / workers",
                   **run(study_file, spec, params, workers, threads, tmp)}  # fmt: skip
            row["trials_per_min_wall"] = round(60 * row["finished"] / row["wall_s"], 2)
            rows.append(row)
            print(f"  {label:<20} {row['trials_per_min']:>6.1f} trials/min ({row['finished']} trials in "
                  f"{row['span_s']:.1f} s; {row['wall_s']:.1f} s with start-up)", flush=True)  # fmt: skip
    one, two = rows[0], rows[1]
    speedup = two["trials_per_min"] / one["trials_per_min"]
    command = one["wall_s"] / two["wall_s"]  # > 1: the 2-worker command finishes sooner
    print(f"\nfinished trials per minute, {source} cut to {args.epochs} epochs x 1 fold, no pruning, "
          f"{args.trials} identical trials per run, {os.cpu_count()} cores")  # fmt: skip
    print(f"{'run':<22}{'trials/min':>11}{'(with start-up)':>16}{'mean trial s':>14}{'span s':>9}{'wall s':>9}"
          f"{'others busy':>13}")  # fmt: skip
    for r in rows:
        print(f"{r['run']:<22}{r['trials_per_min']:>11.1f}{r['trials_per_min_wall']:>16.1f}{r['trial_s_mean']:>14.2f}"
              f"{r['span_s']:>9.1f}{r['wall_s']:>9.1f}{r['other_load_cores']:>8.2f} cores")  # fmt: skip
    verdict = "meets" if speedup >= TARGET else "misses"
    print(f"speed-up of 2 workers over 1 over the trials' span (start-up excluded): {speedup:.2f}x ({verdict} the "
          f"{TARGET}x target)")  # fmt: skip
    print(f"the whole command (python -m search worker, start-up included): {one['wall_s']:.1f} s with 1 worker, "
          f"{two['wall_s']:.1f} s with 2: {command:.2f}x"
          + ("" if command >= 1 else " -- 2 workers make the command SLOWER at this size: the parent and then each "
             "worker pay the start-up (imports, data) in series, which a longer study amortizes"))  # fmt: skip
    if max(r["other_load_cores"] for r in rows) > 0.3:
        print(
            "  noisy: other processes kept cores busy during the runs (column 'others busy'); the 2-worker run "
            "needs both cores to itself"
        )
    meta = {
        "study": source, "epochs": args.epochs, "trials": args.trials, "cpus": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(), "speedup": round(speedup, 3),
        "speedup_with_startup": round(command, 3), "target": TARGET,
        "note": "wall-clock timings on a possibly shared machine: compare runs, not machines",
    }  # fmt: skip
    write_result(args.out, {"meta": meta, "rows": rows})
    return rows


if __name__ == "__main__":
    main()

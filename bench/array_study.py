"""Trial arrays at the study level: the default study run whole with ``array_size`` 1 (one trial at a time, today's
path) and K (arrays of K trials trained at once, :mod:`search.arrays`), in this one session.

Each run is a fresh process running the study in one worker with the study's own sampler seed
(:func:`bench.seeded_study`: ``search.api.run_study``; ``python -m search worker`` would draw a random seed offset
and search another trajectory per run) to its total, without the final test-split
refits, which are the verdict's cost and the same for every K) on a copy of ``studies/lstm.yaml`` with its own
name, ``--trials`` trials and ``--max-epochs`` epochs (the same for every K: the study file's own default is chosen
from the data). Reported per run: finished trials per minute and epochs per second over the span from the first
trial's start to the last trial's end (process start-up excluded; the wall time with it is given too), the best
value reached, the trials pruned, and the ratios of each K to K = 1. Pruning makes trial lengths differ from run to
run (and K changes what TPE proposes), so epochs per second is the fairer speed and trials per minute what a user
feels. Results go to ``runs/bench/array_study.json``.

:func:`run_study` is shared with :mod:`bench.gpu_check` (the GPU variant: also several workers on one GPU).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import child_env, seeded_study, shipped, write_result

OUT = Path("runs/bench/array_study.json")
STUDY = shipped("studies/lstm.yaml")


def study_copy(tmp: Path, label: str, size: int, epochs: int | None, study: Path = STUDY) -> Path:
    """``study`` under the name ``<its name>-<label>`` with ``array_size: size`` (and ``max_epochs`` if given)."""
    from search.spec import read_study  # YAML 1.2, as a study file is read: the key `off` stays the word

    raw = read_study(study)
    raw["name"] = f"{raw['name']}-{label}"
    raw["array_size"] = size
    if epochs is not None:
        raw["budget"] = {**raw.get("budget", {}), "max_epochs": epochs}
    path = tmp / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_study(
    path: Path,
    trials: int,
    tmp: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run the study file ``path`` to ``trials`` finished trials with ``workers`` local worker processes; its rates."""
    import optuna

    from search.storage import open_storage

    name = yaml.safe_load(path.read_text())["name"]
    journal = tmp / name / "journal.log"
    if workers == 1:  # the study's own seed: every K searches from the same start (workers need their own seeds)
        cmd = seeded_study(path, journal, trials)
    else:
        cmd = [sys.executable, "-m", "search", "worker", str(path), "--storage", str(journal), "--trials",
               str(trials), "--workers", str(workers)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=child_env({**os.environ, "CI": "1", **(env or {})}), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    study = optuna.load_study(study_name=name, storage=open_storage(str(journal)))
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]
    times = [(t.datetime_start, t.datetime_complete) for t in done if t.datetime_start and t.datetime_complete]
    span = (max(e for _, e in times) - min(b for b, _ in times)).total_seconds()
    epochs = sum(int(t.user_attrs.get("epochs_run", 0)) for t in done)
    sizes = [int(t.user_attrs["array"]["size"]) for t in done if "array" in t.user_attrs]
    return {
        "finished": len(done), "pruned": sum(t.state.name == "PRUNED" for t in done), "epochs": epochs,
        "span_s": round(span, 2), "wall_s": round(wall, 2), "trials_per_min": round(60 * len(done) / span, 2),
        "epochs_per_s": round(epochs / span, 2), "best_value": round(study.best_value, 4),
        "mean_array": round(sum(sizes) / len(sizes), 2) if sizes else 1.0,
    }  # fmt: skip


def baseline_first(sizes: list[int]) -> list[int]:
    """The array sizes to run, ``1`` (the baseline every ratio divides by) first, each once, the rest in order."""
    return [1, *dict.fromkeys(k for k in sizes if k != 1)]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.array_study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--max-epochs", type=int, default=30, help="the same for every K (0: the study file's)")
    parser.add_argument("--sizes", default="1,4,8", help="array sizes, comma-separated; 1 is the baseline")
    parser.add_argument("--study", type=Path, default=STUDY)
    parser.add_argument("--threads", type=int, default=0,
                        help="OMP_NUM_THREADS of every run (0: the worker's own choice, all cores)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv if argv is not None else [])
    sizes = baseline_first([int(s) for s in args.sizes.split(",")])
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="regtune-array-study-") as name:
        tmp = Path(name)
        for k in sizes:
            path = study_copy(tmp, f"k{k}", k, args.max_epochs or None, args.study)
            env = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else None
            row = {"array_size": k, **run_study(path, args.trials, tmp, env=env)}
            rows.append(row)
            print(f"  array_size {k:>3}  {row['trials_per_min']:>7.2f} trials/min {row['epochs_per_s']:>7.1f} epochs/s  "
                  f"best {row['best_value']:.4f}  ({row['finished']} trials, {row['pruned']} pruned, {row['epochs']} "
                  f"epochs in {row['span_s']:.1f} s; mean array {row['mean_array']})", flush=True)  # fmt: skip
    base = rows[0]
    for row in rows:
        row["trials_per_min_ratio"] = round(row["trials_per_min"] / base["trials_per_min"], 2)
        row["epochs_per_s_ratio"] = round(row["epochs_per_s"] / base["epochs_per_s"], 2)
    print(f"\n{args.study} ({args.trials} trials, max_epochs {args.max_epochs or 'from the study'}), {os.cpu_count()} "
          "cores; ratios to array_size 1:")  # fmt: skip
    for row in rows[1:]:
        print(
            f"  array_size {row['array_size']:>3}: {row['trials_per_min_ratio']:.2f}x trials/min, "
            f"{row['epochs_per_s_ratio']:.2f}x epochs/s, best {row['best_value']:.4f} vs {base['best_value']:.4f}"
        )
    write_result(args.out, {"meta": {"study": str(args.study), "trials": args.trials, "max_epochs": args.max_epochs,
                                     "threads": args.threads, "cpus": os.cpu_count()}, "rows": rows})  # fmt: skip
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])

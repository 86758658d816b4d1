"""``python -m bench [NAME ...]``: run the benchmark modules in order (all of them by default).

Each module in :data:`MODULES` has a ``main(argv)`` that prints its table, writes its JSON under ``runs/bench/``
and returns its results; ``python -m bench.NAME --help`` lists a module's own options. Append new benchmarks
to the list. A benchmark that fails is reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

MODULES = [
    "bench.study_level",  # whole studies, same search: regtune (array_size 1 / arrays, introspection on/off) vs hand-written
    "bench.models_speed",  # 20 epochs on JapaneseVowels: a bare nn.LSTM loop vs models.train.fit, by regularizer
    "bench.introspection_overhead",  # fit with and without the Introspection callback
    "bench.search_efficiency",  # TPE+Hyperband vs random search without pruning, same epoch budget
    "bench.study_throughput",  # trials per minute of a small study
    "bench.storage_throughput",  # Optuna storage operations per second (PostgreSQL, gRPC proxy)
    "bench.long_sequences",  # seconds per epoch and peak memory for 250..4000 steps, with the Conv1D front end
    "bench.quality",  # six UEA/UCR datasets: tuned vs baseline vs untuned LSTM vs 1-NN-DTW and published FCN/ResNet
    "bench.storage_sim",  # N = 1..256 simulated workers (ask, report every epoch, tell) on one PostgreSQL, direct and proxy
    "bench.array_study",  # the default study whole, array_size 1 vs 4 vs 8: trials/min, epochs/s, best value
    "bench.arrays",  # epochs/s of K single fits vs one trial array of K (K = 1..16), the default study's model
    "bench.decay_response",  # decoupled decay 0..3 on the baseline, CV and test split: where it acts, how far up it helps
]


def selected(names: list[str]) -> list[str]:
    if not names:
        return list(MODULES)
    full = [n if n.startswith("bench.") else f"bench.{n}" for n in names]
    unknown = [n for n in full if n not in MODULES]
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s) {unknown}; allowed: {', '.join(m.removeprefix('bench.') for m in MODULES)}"
        )
    return full


def run(names: list[str]) -> int:
    failed = []
    for name in selected(names):
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            importlib.import_module(name).main([])
        except Exception:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - start:.1f} s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))

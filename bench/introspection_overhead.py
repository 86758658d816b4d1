"""Introspection overhead: 20 epochs on JapaneseVowels with and without :class:`models.introspect.Introspection`.

Variants, all :func:`models.train.fit` with the default LSTM (hidden 64, batch 32, the same 216 train / 54
validation split and batch order):

- ``plain``: no introspection;
- ``group_gradients``: only the per-component gradient norms the callback switches on
  (``track_group_gradients=True``: paid inside every training step, in :mod:`models.classifier`);
- ``introspection``: the callback on its default fixed validation batch, recording every epoch (weights,
  spectral norms, gradient summary, activation statistics; weight histograms at train end).

Runs are interleaved (each repeat runs every variant once) after one untimed warm-up of each. The headline is
the median wall-clock time with the callback over the median without it (target <= 1.10); the ratio of the
fastest runs, the CPU-time ratio (process CPU seconds) and the callback's own CPU time as a share of a plain
epoch's are reported beside it, being steadier on a busy machine (where a run can stall many times over when
another process takes a core from torch's threads; ``--threads 1`` avoids that). ``callback_*``
is the time spent inside the callback per recorded epoch. Results go to ``runs/bench/introspection_overhead.json``;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from bench import write_result

DATASET = "JapaneseVowels"
EPOCHS = 20
BATCH = 32
HIDDEN = 64
TARGET = 1.10
OUT = Path("runs/bench/introspection_overhead.json")
VARIANTS = ("plain", "group_gradients", "introspection")


def load_data() -> Any:
    from models.datamodule import SequenceDataModule

    return SequenceDataModule(DATASET, batch_size=BATCH, val_fraction=0.2, seed=0)


def run_fit(data: Any, variant: str) -> dict[str, Any]:
    from models.config import RNNConfig, TrainConfig
    from models.introspect import Introspection, fixed_batch
    from models.train import fit

    rnn = RNNConfig(input_size=data.input_size, num_classes=data.num_classes, cell="lstm", hidden_size=HIDDEN)
    train = TrainConfig(batch_size=BATCH, max_epochs=EPOCHS, patience=0, seed=0)
    callbacks = [Introspection(fixed_batch(data))] if variant == "introspection" else []
    start, cpu = time.perf_counter(), time.process_time()
    result = fit(rnn, train, data, callbacks=callbacks, accelerator="cpu", track_group_gradients=variant != "plain")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert result.epochs_run == EPOCHS, result.epochs_run
    info: dict[str, Any] = {"seconds": seconds, "cpu_seconds": cpu, "val_acc": result.history[-1]["val_acc"]}
    if callbacks:
        cb = callbacks[0]
        info.update(callback_s=cb.seconds, callback_cpu_s=cb.cpu_seconds, recorded_epochs=len(cb.epochs),
                    summary_numbers=len(cb.summary()), fixed_batch=int(cb.x.shape[0]))  # fmt: skip
    return info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.introspection_overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each variant (interleaved)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1, as bench.models_speed and README's numbers; 0 = "
                             "torch's default, every core)")  # fmt: skip
    args = parser.parse_args(argv if argv is not None else [])
    if args.threads:
        torch.set_num_threads(args.threads)

    from search.cli import quiet_libraries

    quiet_libraries()

    data = load_data()
    for variant in VARIANTS:  # warm-up: imports, allocator, first-call costs
        run_fit(data, variant)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            runs[variant].append(run_fit(data, variant))

    wall = {v: statistics.median(r["seconds"] for r in rs) for v, rs in runs.items()}
    cpu = {v: statistics.median(r["cpu_seconds"] for r in rs) for v, rs in runs.items()}
    ratio, cpu_ratio = wall["introspection"] / wall["plain"], cpu["introspection"] / cpu["plain"]
    probe = runs["introspection"]
    callback_ms = statistics.median(1000 * r["callback_s"] / r["recorded_epochs"] for r in probe)
    callback_cpu_ms = statistics.median(1000 * r["callback_cpu_s"] / r["recorded_epochs"] for r in probe)
    result = {
        "ratio": round(ratio, 3),
        "cpu_ratio": round(cpu_ratio, 3),
        "target": TARGET,
        "meets_target": ratio <= TARGET,
        "ratio_of_minimums": round(min(r["seconds"] for r in probe) / min(r["seconds"] for r in runs["plain"]), 3),
        "ratio_group_gradients_only": round(wall["group_gradients"] / wall["plain"], 3),
        "cpu_ratio_group_gradients_only": round(cpu["group_gradients"] / cpu["plain"], 3),
        "median_s": {k: round(v, 4) for k, v in wall.items()},
        "median_cpu_s": {k: round(v, 4) for k, v in cpu.items()},
        "runs_s": {k: [round(r["seconds"], 4) for r in rs] for k, rs in runs.items()},
        "overhead_ms_per_epoch": round(1000 * (wall["introspection"] - wall["plain"]) / EPOCHS, 2),
        "overhead_cpu_ms_per_epoch": round(1000 * (cpu["introspection"] - cpu["plain"]) / EPOCHS, 2),
        "callback_ms_per_epoch": round(callback_ms, 2),
        "callback_cpu_ms_per_epoch": round(callback_cpu_ms, 2),
        # the callback's own CPU time over a plain epoch's CPU time: the steadiest estimate of its cost
        "callback_share_of_plain_cpu": round(callback_cpu_ms / (1000 * cpu["plain"] / EPOCHS), 3),
        "plain_ms_per_epoch": round(1000 * wall["plain"] / EPOCHS, 2),
        "summary_numbers": probe[-1]["summary_numbers"],
        "fixed_batch": probe[-1]["fixed_batch"],
        "val_acc": {k: round(rs[-1]["val_acc"], 4) for k, rs in runs.items()},
    }
    meta = {
        "dataset": DATASET, "epochs": EPOCHS, "batch_size": BATCH, "hidden_size": HIDDEN, "cell": "lstm",
        "repeats": args.repeats, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(), "device": "cpu",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip

    print(f"{EPOCHS} epochs on {DATASET} (216 train / 54 val), LSTM hidden {HIDDEN}, batch {BATCH}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} repeats, "
          f"load average {meta['load_average'][0]}")  # fmt: skip
    print(f"{'variant':<18}{'median s':>10}{'ms/epoch':>10}{'CPU s':>9}{'x plain':>9}{'CPU x':>8}")
    for v in VARIANTS:
        print(f"{v:<18}{wall[v]:>10.3f}{1000 * wall[v] / EPOCHS:>10.1f}{cpu[v]:>9.3f}"
              f"{wall[v] / wall['plain']:>9.3f}{cpu[v] / cpu['plain']:>8.3f}")  # fmt: skip
    verdict = "" if result["meets_target"] else " MISS"
    print(f"introspection / plain: {ratio:.3f} (target <= {TARGET:g}{verdict}), CPU time {cpu_ratio:.3f}; "
          f"inside the callback {callback_ms:.1f} ms ({callback_cpu_ms:.1f} ms CPU, "
          f"{100 * result['callback_share_of_plain_cpu']:.1f}% of a plain epoch's CPU) per epoch")  # fmt: skip

    write_result(args.out, {"meta": meta, **result})
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

"""Long sequences: seconds per training epoch and peak memory against the sequence length.

Synthetic univariate data (64 sequences, lengths in [L/2, L]) for L in 250, 500, 1000, 2000, 4000; an LSTM with
64 units trained by :func:`models.train.fit` (batch 32, a 20 % validation pass each epoch), in two variants:

- ``front end``: the long-sequence default of :mod:`search.defaults` at its home point: three Conv1D blocks with
  masked BatchNorm, 128 channels, first kernel 8, the stride chosen from the median length
  (:func:`search.defaults.conv_strides`, the smallest one), mean pooling, so the RNN sees about the same number
  of steps at every length;
- ``plain``: no front end, the RNN reads every step.

Each (variant, length) runs in its own subprocess: peak memory is that process's ``ru_maxrss`` after training
minus its ``ru_maxrss`` once the data is built and the libraries are imported (the training's own peak). The
epoch time is the median of the timed epochs (the first epoch is a warm-up). The table reports seconds per
epoch per 1,000 steps relative to the shortest length: with the front end this ratio must not grow (time at
most linear in the length). Timings are not asserted anywhere. Results go to ``runs/bench/long_sequences.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import child_env, write_result

LENGTHS = (250, 500, 1000, 2000, 4000)
VARIANTS = ("front end", "plain")
OUT = Path("runs/bench/long_sequences.json")
N, EPOCHS = 64, 4


def measure(length: int, variant: str, epochs: int) -> dict[str, Any]:
    """One run, in this process: build data, train ``epochs`` epochs, time them and the memory peak."""
    import resource

    import torch
    from pytorch_lightning.callbacks import Callback

    from models.config import split_params
    from models.data import synthetic_splits
    from models.datamodule import SequenceDataModule
    from search.defaults import conv_strides, long_length, median_length

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    splits = synthetic_splits(seed=0, n=N, classes=2, length=length, channels=1)
    median = median_length(splits)
    strides = conv_strides(median, long_length(splits))
    front = {  # the default front end's home point (search/defaults.py): what a long study's baseline runs
        "conv_layers": 3, "conv_stride": strides[0], "conv_kernel": 8, "conv_channels": 128, "conv_norm": "batch",
        "pooling": "mean",
    }  # fmt: skip
    params: dict[str, Any] = {**(front if variant == "front end" else {}), "max_epochs": epochs, "patience": 0}
    rnn, train = split_params(params, input_size=1, num_classes=2)
    data = SequenceDataModule(splits, batch_size=32, val_fraction=0.2, seed=0)

    class Clock(Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.start = time.perf_counter()

        def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.sanity_checking and hasattr(self, "start"):
                self.times.append(time.perf_counter() - self.start)

    from models.train import fit

    clock = Clock()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fit(rnn, train, data, callbacks=[clock])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timed = clock.times[1:] or clock.times
    return {
        "length": length, "variant": variant, "median_length": median, "rnn_steps": -(-length // params.get("conv_stride", 1)),
        "conv_stride": params.get("conv_stride", 1), "epoch_s": statistics.median(timed), "epochs_timed": len(timed),
        "peak_mb": round(max(0, after - before) / 1024, 1), "rss_mb": round(after / 1024, 1),
    }  # fmt: skip


def run_child(length: int, variant: str, epochs: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.long_sequences", "--child", str(length), variant, "--epochs", str(epochs)]
    env = child_env(OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"{variant} at {length} steps failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.long_sequences", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="epochs per run; the first is a warm-up")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", nargs=2, metavar=("LENGTH", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(int(args.child[0]), args.child[1], args.epochs)))
        return []

    lengths = sorted(set(args.lengths))  # the shortest first: every ratio below divides by it
    rows = [run_child(length, variant, args.epochs) for variant in args.variants for length in lengths]
    print(f"\nseconds per epoch ({N} univariate sequences, LSTM 64, batch 32, {os.environ.get('OMP_NUM_THREADS', '1')} "
          f"thread(s)); peak = the training's ru_maxrss growth")  # fmt: skip
    print(f"{'variant':<10}{'length':>7}{'stride':>7}{'RNN steps':>10}{'s/epoch':>9}{'s/epoch/1k steps':>18}"
          f"{'vs shortest':>12}{'peak MB':>9}")  # fmt: skip
    for variant in args.variants:
        mine = [r for r in rows if r["variant"] == variant]
        first = mine[0]["epoch_s"] / mine[0]["length"]
        for r in mine:
            r["s_per_1k_steps"] = 1000 * r["epoch_s"] / r["length"]
            r["ratio_vs_shortest"] = (r["epoch_s"] / r["length"]) / first
            print(f"{variant:<10}{r['length']:>7}{r['conv_stride']:>7}{r['rnn_steps']:>10}{r['epoch_s']:>9.3f}"
                  f"{r['s_per_1k_steps']:>18.3f}{r['ratio_vs_shortest']:>12.2f}{r['peak_mb']:>9.1f}")  # fmt: skip
    front = [r for r in rows if r["variant"] == "front end"]
    if front:
        worst = max(r["ratio_vs_shortest"] for r in front)
        verdict = "at most linear" if worst <= 1.25 else "WORSE than linear"
        print(f"front end: time per step at most {worst:.2f}x the shortest length's -> {verdict}")
    write_result(args.out, {"n": N, "epochs": args.epochs, "rows": rows})
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])

"""Study level: what a whole study costs, regtune against a hand-written Optuna + Lightning study of the same job.

The job (issue 11): an LSTM with 64 units on JapaneseVowels, one seeded 20 % holdout, ``--trials`` trials of
``--epochs`` epochs, TPE + median pruning over the learning rate, the output dropout and a decoupled weight decay,
no early stopping. Three runs, each a fresh process started the way a user starts it, in this one session:

- **hand-written**: the ~60-line study an ML engineer writes with Optuna and ``pytorch_lightning`` (an ``nn.LSTM``,
  a head, ``AdamW``, a pruning callback of its own, the default Trainer) — :func:`handwritten`;
- **regtune, introspection off**: ``python -m search study`` on the same job as a study file (``introspect: false``);
- **regtune, introspection on**: the same with ``introspect: true`` (what ships by default).

Reported per run: finished trials per minute and epochs per second over the span from the first trial's start to
the last trial's end (process start-up excluded; the wall time with it is given too), and the ratios of the
regtune runs to the hand-written one and of introspection on to off. Pruning makes the trials' lengths differ from
run to run, so epochs per second is the fairer speed and trials per minute what a user feels; both are given.
This is the number that counts; ``bench.models_speed`` and ``bench.introspection_overhead`` are per-epoch
diagnostics. Results go to ``runs/bench/study_level.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import seeded_study, write_result

OUT = Path("runs/bench/study_level.json")


def study_dict(trials: int, epochs: int, introspect: bool) -> dict[str, Any]:
    """The hand-written study's job as a regtune study file."""
    return {
        "name": f"study-level-{'on' if introspect else 'off'}",
        "dataset": "JapaneseVowels",
        "architecture": {"cell": "lstm", "hidden_size": 64, "num_layers": 1, "pooling": "last"},
        "budget": {"trials": trials, "max_epochs": epochs},
        "sampler": "tpe",
        "pruner": "median",
        "metric": "val_acc",
        "cv_folds": 1,
        "val_fraction": 0.2,
        "seed": 0,
        "recipes": False,
        "final_seeds": 1,
        "introspect": introspect,
        "search": {
            "lr": {"low": 1e-4, "high": 1e-2, "log": True},
            "output_dropout": {"low": 0.0, "high": 0.5},
            "kernel_decay": {"low": 1e-5, "high": 1e-1, "log": True},
        },
        "fixed": {"optimizer": "adamw", "batch_size": 32, "patience": 0},
    }


# --------------------------------------------------------------------------------------------- hand-written
def handwritten(trials: int, epochs: int, out: Path) -> None:
    """The hand-written study (run in its own process by :func:`run_handwritten`); writes its timings as JSON."""
    import numpy as np
    import optuna
    import pytorch_lightning as pl
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from models.data import load_splits, train_val_indices

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    splits = load_splits("JapaneseVowels")
    tr, va = train_val_indices(splits.train.y, 0.2, seed=0)
    X, L, y = splits.train.X, splits.train.lengths, splits.train.y
    valid = (np.arange(X.shape[1])[None, :] < L[:, None])[..., None]
    mean = X[tr][valid[tr].squeeze(-1)].mean(0)
    std = X[tr][valid[tr].squeeze(-1)].std(0) + 1e-8
    Xs = np.where(valid, (X - mean) / std, 0.0).astype(np.float32)

    def loader(idx: np.ndarray, shuffle: bool) -> DataLoader:
        ds = TensorDataset(torch.from_numpy(Xs[idx]), torch.from_numpy(L[idx]), torch.from_numpy(y[idx]))
        return DataLoader(ds, batch_size=32, shuffle=shuffle)

    class Net(pl.LightningModule):
        def __init__(self, lr: float, dropout: float, decay: float) -> None:
            super().__init__()
            self.lr, self.decay = lr, decay
            self.lstm = nn.LSTM(X.shape[2], 64, batch_first=True)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(64, len(splits.classes))
            self.correct, self.seen, self.last_acc = 0, 0, 0.0

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            last = out[torch.arange(len(x)), lengths - 1]
            return self.head(self.drop(last))

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, lengths, target = batch
            return nn.functional.cross_entropy(self(x, lengths), target)

        def on_validation_epoch_start(self) -> None:
            self.correct, self.seen = 0, 0

        def validation_step(self, batch: Any, _: int) -> None:
            x, lengths, target = batch
            self.correct += int((self(x, lengths).argmax(1) == target).sum())
            self.seen += len(target)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.decay)

    class Pruning(pl.Callback):
        def __init__(self, trial: optuna.Trial) -> None:
            self.trial = trial

        def on_validation_epoch_end(self, trainer: pl.Trainer, module: Any) -> None:
            acc = module.correct / max(module.seen, 1)
            module.last_acc = acc
            self.trial.report(acc, trainer.current_epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned()

    epochs_run = 0

    class Count(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            nonlocal epochs_run
            epochs_run += 1

    def objective(trial: optuna.Trial) -> float:
        net = Net(
            trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            trial.suggest_float("output_dropout", 0.0, 0.5),
            trial.suggest_float("weight_decay", 1e-5, 1e-1, log=True),
        )
        trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Pruning(trial), Count()])  # fmt: skip
        trainer.fit(net, loader(tr, True), loader(va, False))
        return float(net.last_acc)

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=0), pruner=optuna.pruners.MedianPruner()
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    span = time.perf_counter() - start
    done = sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    out.write_text(json.dumps({"finished": done, "span_s": span, "epochs": epochs_run, "best": study.best_value}))


def _env(threads: int) -> dict[str, str]:
    """The runs' environment; ``threads``: their OMP_NUM_THREADS (0: each run's own choice)."""
    env = {**{k: v for k, v in os.environ.items() if k != "REGTUNE_WORKER_INDEX"}, "CI": "1", "PYTHONPATH": "."}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_handwritten(trials: int, epochs: int, tmp: Path, threads: int = 0) -> dict[str, Any]:
    out = tmp / "handwritten.json"
    start = time.perf_counter()
    code = f"from bench.study_level import handwritten; from pathlib import Path; handwritten({trials}, {epochs}, Path({str(out)!r}))"
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(threads), capture_output=True)
    wall = time.perf_counter() - start
    r = json.loads(out.read_text())
    return _rates(r["finished"], r["epochs"], r["span_s"], wall, r["best"])


def run_regtune(trials: int, epochs: int, introspect: bool, tmp: Path, threads: int = 0) -> dict[str, Any]:
    import optuna

    from search.storage import open_storage

    raw = study_dict(trials, epochs, introspect)
    path = tmp / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    journal = tmp / raw["name"] / "journal.log"
    # the study to its total without the final test-split refit: that is the verdict's cost, not the search's (the
    # hand-written study has none); with the study's own seed, so the on and off runs search the same trials
    cmd = seeded_study(path, journal, trials)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(threads), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"regtune study failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    study = optuna.load_study(study_name=raw["name"], storage=open_storage(str(journal)))
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]
    times = [(t.datetime_start, t.datetime_complete) for t in done if t.datetime_start and t.datetime_complete]
    span = (max(e for _, e in times) - min(b for b, _ in times)).total_seconds()
    epochs_run = sum(int(t.user_attrs.get("epochs_run", 0)) for t in done)
    return _rates(len(done), epochs_run, span, wall, study.best_value)


def _rates(finished: int, epochs: int, span: float, wall: float, best: float) -> dict[str, Any]:
    return {"finished": finished, "epochs": epochs, "span_s": round(span, 2), "wall_s": round(wall, 2),
            "trials_per_min": round(60 * finished / span, 1), "epochs_per_s": round(epochs / span, 1),
            "best_val_acc": round(best, 4)}  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.study_level", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1,
                        help="run the three studies this many times, interleaved (regtune off/on in alternating "
                             "order)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=0,
                        help="OMP_NUM_THREADS of every run (0: each run's own choice, all cores); 1 leaves a core "
                             "to other work and keeps the runs comparable on a shared machine")  # fmt: skip
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="regtune-study-level-") as name:
        for rep in range(args.repeats):
            tmp = Path(name) / str(rep)
            tmp.mkdir()
            runs = [
                (
                    "regtune, introspection off",
                    lambda tmp=tmp: run_regtune(args.trials, args.epochs, False, tmp, args.threads),
                ),
                (
                    "regtune, introspection on",
                    lambda tmp=tmp: run_regtune(args.trials, args.epochs, True, tmp, args.threads),
                ),
            ]
            if rep % 2:  # off-on, then on-off: a run's place in the sequence (caches, the machine's load) cancels
                runs.reverse()
            first = (
                "hand-written Optuna + Lightning",
                lambda tmp=tmp: run_handwritten(args.trials, args.epochs, tmp, args.threads),
            )
            for label, fn in [first, *runs]:
                row = {"run": label, "repeat": rep, **fn()}
                rows.append(row)
                print(f"  {label:<34} {row['trials_per_min']:>6.1f} trials/min {row['epochs_per_s']:>6.1f} epochs/s "
                      f"({row['finished']} trials, {row['epochs']} epochs in {row['span_s']:.1f} s)", flush=True)  # fmt: skip

    def med(label: str, key: str) -> float:
        vals = sorted(r[key] for r in rows if r["run"] == label)
        return vals[len(vals) // 2]

    hand, off, on = (med(label, "epochs_per_s") for label in (
        "hand-written Optuna + Lightning", "regtune, introspection off", "regtune, introspection on"))  # fmt: skip
    ratios = {
        "regtune_off_vs_handwritten_speed": round(off / hand, 3),
        "regtune_on_vs_handwritten_speed": round(on / hand, 3),
        "introspection_cost": round(off / on, 3),  # > 1: introspection makes the study this much slower
    }
    # paired: each repeat's off and on runs ran back to back, under the same load; the median of their ratios
    pairs = [
        next(r for r in rows if r["run"] == "regtune, introspection off" and r["repeat"] == rep)["epochs_per_s"]
        / next(r for r in rows if r["run"] == "regtune, introspection on" and r["repeat"] == rep)["epochs_per_s"]
        for rep in range(args.repeats)
    ]
    ratios["introspection_cost_paired"] = round(statistics.median(pairs), 3)
    ratios["introspection_cost_per_repeat"] = [round(p, 3) for p in pairs]  # type: ignore[assignment]
    print(f"\nLSTM 64 on JapaneseVowels, {args.trials} trials x {args.epochs} epochs, TPE + median pruning, "
          f"{os.cpu_count()} cores, median of {args.repeats}")  # fmt: skip
    print(f"  regtune (introspection off) runs {ratios['regtune_off_vs_handwritten_speed']:.2f}x the hand-written "
          f"study's epochs/s; with introspection {ratios['regtune_on_vs_handwritten_speed']:.2f}x")  # fmt: skip
    print(f"  introspection costs {ratios['introspection_cost']:.2f}x at the study level (target <= 1.05x); "
          f"paired by repeat {ratios['introspection_cost_paired']:.2f}x (each: "
          f"{', '.join(f'{p:.2f}' for p in pairs)})")  # fmt: skip
    write_result(args.out, {"meta": {"trials": args.trials, "epochs": args.epochs, "repeats": args.repeats,
                                     "cpus": os.cpu_count(), **ratios}, "rows": rows})  # fmt: skip
    return rows


if __name__ == "__main__":
    main()

"""Study level: what a whole study costs, regtune against a hand-written Optuna + Lightning study of the same job.

The job (issue 11): an LSTM with 64 units on JapaneseVowels, one seeded 20 % holdout, ``--trials`` trials of
``--epochs`` epochs, TPE + median pruning over the learning rate, the output dropout and a decoupled weight decay,
no early stopping. Both sides run the same search: regtune's TPE settings (``search.samplers``: multivariate,
grouped, constant liar, 10 start-up trials, seed 0), its median pruner (5 start-up trials, a warm-up of
``min(5, epochs // 4)`` epochs, no prune at the last epoch), the same reported value (the running best of the
accuracy with the temperature-scaled tie-break, ``models.train.score``) and torch seeded per trial with the study's
seed, as ``models.train.fit`` does. Five runs per repeat, each a fresh process, in an order that rotates from
repeat to repeat:

- **hand-written**: the study an ML engineer writes with Optuna and ``pytorch_lightning`` (an ``nn.LSTM``, a head,
  ``AdamW``, a pruning callback of its own, the default Trainer) -- :func:`handwritten`;
- **regtune, array_size 1**, introspection off and on: one trial at a time through Lightning, as the hand-written
  study trains (the one-to-one comparison, and the path of every trial that arrays cannot take);
- **regtune, arrays**, introspection off and on: the default ``array_size: auto``, which trains K trials at once in
  one fused model (K = 5 for 20 trials); the hand-written study has no such thing.

Each regtune run is ``search.api.run_study(..., verdict=False)`` with the study's own seed (``bench.seeded_study``):
the search without the verdict that ``python -m search study`` runs after it (the hand-written study has none).
Reported per run: epochs/s and trials/min over the span from the first trial's start to the last trial's end, and
the process's wall time from start to exit (imports, data, the search; the verdict excluded), with trials/min over
it: what the user waits for. The ratios to the hand-written study are of medians over ``--repeats``. Pruning makes
the trials' lengths differ between the two sides even with the same search settings (their models and data
pipelines are different code), so epochs/s is the fairer speed and whole-process trials/min what a user feels.
``bench.models_speed`` and ``bench.introspection_overhead`` are per-epoch diagnostics. Results go to
``runs/bench/study_level.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import child_env, seeded_study, write_result

OUT = Path("runs/bench/study_level.json")


def study_dict(trials: int, epochs: int, introspect: bool, arrays: bool = True) -> dict[str, Any]:
    """The hand-written study's job as a regtune study file; ``arrays`` False: ``array_size: 1``."""
    return {
        "name": f"study-level-{'arrays' if arrays else 'k1'}-{'on' if introspect else 'off'}",
        **({} if arrays else {"array_size": 1}),
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
    """The hand-written study (run in its own process by :func:`run_handwritten`); writes its timings as JSON.

    Regtune's search settings, written out as a user would who copied them: the sampler and pruner of
    ``search.samplers``, the reported value of ``search.pruning`` (the running best of ``models.train.score``)
    and a per-trial ``seed_everything`` (``models.train.fit``)."""
    import numpy as np
    import optuna
    import pytorch_lightning as pl
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from models.calibration import calibrated_loss
    from models.data import load_splits, train_val_indices

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    splits = load_splits("JapaneseVowels")
    tr, va = train_val_indices(splits.train.y, 0.2, seed=0)
    X, L, y = splits.train.X, splits.train.lengths, splits.train.y
    valid = (np.arange(X.shape[1])[None, :] < L[:, None])[..., None]
    mean = X[tr][valid[tr].squeeze(-1)].mean(0)
    std = X[tr][valid[tr].squeeze(-1)].std(0) + 1e-8
    Xs = np.where(valid, (X - mean) / std, 0.0).astype(np.float32)
    n_val = len(va)

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
            self.outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
            self.best = -float("inf")

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            last = out[torch.arange(len(x)), lengths - 1]
            return self.head(self.drop(last))

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, lengths, target = batch
            return nn.functional.cross_entropy(self(x, lengths), target)

        def on_validation_epoch_start(self) -> None:
            self.outputs = []

        def validation_step(self, batch: Any, _: int) -> None:
            x, lengths, target = batch
            self.outputs.append((self(x, lengths), target))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            # the searched kernel_decay, as regtune applies it: the input-to-hidden weights only (AdamW's
            # weight_decay over self.parameters() decayed the recurrent weights, the biases and the head too)
            kernel = [self.lstm.weight_ih_l0]
            rest = [p for p in self.parameters() if p is not self.lstm.weight_ih_l0]
            groups = [{"params": kernel, "weight_decay": self.decay}, {"params": rest, "weight_decay": 0.0}]
            return torch.optim.AdamW(groups, lr=self.lr)

    class Pruning(pl.Callback):
        """Reports the running best of accuracy less a tie-break below one sample's worth (the temperature-scaled
        cross-entropy); never prunes at the last epoch."""

        def __init__(self, trial: optuna.Trial) -> None:
            self.trial = trial

        def on_validation_epoch_end(self, trainer: pl.Trainer, module: Any) -> None:
            logits = torch.cat([o for o, _ in module.outputs])
            target = torch.cat([t for _, t in module.outputs])
            acc = float((logits.argmax(1) == target).float().mean())
            tie = float(calibrated_loss(logits, target))
            module.best = max(module.best, acc - min(tie, 10.0) / (10.0 * (n_val + 1)))
            self.trial.report(module.best, trainer.current_epoch)
            if trainer.current_epoch < epochs - 1 and self.trial.should_prune():
                raise optuna.TrialPruned()

    epochs_run = 0

    class Count(pl.Callback):
        def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            nonlocal epochs_run
            epochs_run += 1

    def objective(trial: optuna.Trial) -> float:
        pl.seed_everything(0, workers=False, verbose=False)
        # in regtune's order (its study file's, sorted): the seeded sampler then proposes the same start-up trials
        decay = trial.suggest_float("kernel_decay", 1e-5, 1e-1, log=True)
        lr = trial.suggest_float("lr", 1e-4, 1e-2, log=True)
        net = Net(lr, trial.suggest_float("output_dropout", 0.0, 0.5), decay)
        trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Pruning(trial), Count()])  # fmt: skip
        trainer.fit(net, loader(tr, True), loader(va, False))
        return float(net.best)

    sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, group=True, constant_liar=True, n_startup_trials=10)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min(5, epochs // 4))
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    span = time.perf_counter() - start
    done = sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    out.write_text(json.dumps({"finished": done, "span_s": span, "epochs": epochs_run, "best": study.best_value}))


def _env(threads: int) -> dict[str, str]:
    """The runs' environment; ``threads``: their OMP_NUM_THREADS (0: each run's own choice)."""
    # this checkout first on the path, whatever the working directory (``.`` only worked from the repository root)
    env = child_env({k: v for k, v in os.environ.items() if k != "REGTUNE_WORKER_INDEX"}, CI="1")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_handwritten(trials: int, epochs: int, tmp: Path, threads: int = 0) -> dict[str, Any]:
    out = tmp / "handwritten.json"
    start = time.perf_counter()
    code = f"from bench.study_level import handwritten; from pathlib import Path; handwritten({trials}, {epochs}, Path({str(out)!r}))"
    cpu0 = _child_cpu()
    proc = subprocess.run([sys.executable, "-c", code], env=_env(threads), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"hand-written study failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    r = json.loads(out.read_text())
    return {**_rates(r["finished"], r["epochs"], r["span_s"], wall, r["best"]), "cpu_s": round(_child_cpu() - cpu0, 1)}


def _child_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: a run's own work, which other processes'
    load disturbs less than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_regtune(
    trials: int, epochs: int, introspect: bool, tmp: Path, threads: int = 0, arrays: bool = True
) -> dict[str, Any]:
    import optuna

    from search.storage import open_storage

    raw = study_dict(trials, epochs, introspect, arrays)
    path = tmp / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    journal = tmp / raw["name"] / "journal.log"
    # the study to its total without the verdict (cross-validated rows, refits on the training split): the
    # hand-written study has none; with the study's own seed, so the on and off runs search the same trials
    cmd = seeded_study(path, journal, trials)
    start = time.perf_counter()
    cpu0 = _child_cpu()
    proc = subprocess.run(cmd, env=_env(threads), capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu = _child_cpu() - cpu0
    if proc.returncode:
        raise RuntimeError(f"regtune study failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    study = optuna.load_study(study_name=raw["name"], storage=open_storage(str(journal)))
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]
    times = [(t.datetime_start, t.datetime_complete) for t in done if t.datetime_start and t.datetime_complete]
    span = (max(e for _, e in times) - min(b for b, _ in times)).total_seconds()
    epochs_run = sum(int(t.user_attrs.get("epochs_run", 0)) for t in done)
    k = re.search(r"trial arrays of up to (\d+) trial", proc.stdout + proc.stderr)
    return {
        **_rates(len(done), epochs_run, span, wall, study.best_value),
        "k": int(k.group(1)) if k else 1,
        "cpu_s": round(cpu, 1),
    }


def _rates(finished: int, epochs: int, span: float, wall: float, best: float) -> dict[str, Any]:
    return {"finished": finished, "epochs": epochs, "span_s": round(span, 2), "wall_s": round(wall, 2),
            "trials_per_min": round(60 * finished / span, 1), "epochs_per_s": round(epochs / span, 1),
            "trials_per_min_wall": round(60 * finished / wall, 1), "best_score": round(best, 4)}  # fmt: skip


HAND = "hand-written Optuna + Lightning"
#: label -> (arrays, introspect) of the regtune runs
REGTUNE = {
    "regtune array_size 1, introsp. off": (False, False),
    "regtune array_size 1, introsp. on": (False, True),
    "regtune arrays, introsp. off": (True, False),
    "regtune arrays, introsp. on": (True, True),
}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.study_level", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3,
                        help="run the five studies this many times, interleaved (the order rotates by one each "
                             "repeat); ratios are of medians")  # fmt: skip
    parser.add_argument("--threads", type=int, default=0,
                        help="OMP_NUM_THREADS of every run (0: each run's own choice, all cores); 1 leaves a core "
                             "to other work and keeps the runs comparable on a shared machine")  # fmt: skip
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    labels = [HAND, *REGTUNE]
    with tempfile.TemporaryDirectory(prefix="regtune-study-level-") as name:
        for rep in range(args.repeats):
            tmp = Path(name) / str(rep)
            tmp.mkdir()
            order = labels[rep % len(labels) :] + labels[: rep % len(labels)]  # a run's place in the sequence cancels
            for label in order:
                if label == HAND:
                    res = run_handwritten(args.trials, args.epochs, tmp, args.threads)
                else:
                    arrays, introspect = REGTUNE[label]
                    res = run_regtune(args.trials, args.epochs, introspect, tmp, args.threads, arrays)
                row = {"run": label, "repeat": rep, "load1": round(os.getloadavg()[0], 2), **res}
                rows.append(row)
                print(f"  {label:<36} {row['epochs_per_s']:>6.1f} epochs/s over the span, {row['wall_s']:>6.1f} s "
                      f"wall ({row['finished']} trials, {row['epochs']} epochs, span {row['span_s']:.1f} s, "
                      f"best {row['best_score']:.4f}, CPU {row['cpu_s']:.1f} s, load {row['load1']})", flush=True)  # fmt: skip

    def vals(label: str, key: str) -> list[float]:
        return [r[key] for r in rows if r["run"] == label]

    def med(label: str, key: str) -> float:
        return float(statistics.median(vals(label, key)))

    def paired(off: str, on: str) -> list[float]:  # each repeat's off and on runs, under about the same load
        return [a / b for a, b in zip(vals(off, "epochs_per_s"), vals(on, "epochs_per_s"), strict=True)]

    summary: list[dict[str, Any]] = []
    for label in labels:
        eps, wall = med(label, "epochs_per_s"), med(label, "wall_s")
        summary.append({
            "run": label, "k": max(vals(label, "k")) if label != HAND else 1,
            "epochs_per_s": eps, "epochs_per_s_range": [min(vals(label, "epochs_per_s")), max(vals(label, "epochs_per_s"))],
            "wall_s": wall, "wall_s_range": [min(vals(label, "wall_s")), max(vals(label, "wall_s"))],
            "trials_per_min_wall": med(label, "trials_per_min_wall"), "epochs": med(label, "epochs"),
            "cpu_s": med(label, "cpu_s"), "cpu_ms_per_epoch": round(1000 * med(label, "cpu_s") / med(label, "epochs"), 1),
            "speed_vs_hand": round(eps / med(HAND, "epochs_per_s"), 3),  # epochs/s over the trials' span
            "command_vs_hand": round(med(HAND, "wall_s") / wall, 3),  # trials/min over the whole process
        })  # fmt: skip
    intro = {
        "array_size 1": statistics.median(paired(*list(REGTUNE)[:2])),
        "arrays": statistics.median(paired(*list(REGTUNE)[2:])),
    }
    k = summary[-1]["k"]
    print(f"\nLSTM 64 on JapaneseVowels, {args.trials} trials x {args.epochs} epochs, TPE + median pruning with the "
          f"same settings on both sides, {os.cpu_count()} cores, OMP_NUM_THREADS {args.threads or 'unset'}, "
          f"medians of {args.repeats} [min-max]; arrays: K = {k} trials trained at once")  # fmt: skip
    print(f"{'run':<36}{'epochs/s (span)':>22}{'x hand':>8}{'wall s (process)':>22}{'trials/min':>11}{'x hand':>8}"
          f"{'epochs':>8}{'CPU s':>7}")  # fmt: skip
    for r in summary:
        lo, hi = r["epochs_per_s_range"]
        wl, wh = r["wall_s_range"]
        print(f"{r['run']:<36}{r['epochs_per_s']:>7.1f} [{lo:.1f}-{hi:.1f}]{r['speed_vs_hand']:>9.2f}"
              f"{r['wall_s']:>8.1f} [{wl:.1f}-{wh:.1f}]{r['trials_per_min_wall']:>10.1f}{r['command_vs_hand']:>8.2f}"
              f"{r['epochs']:>8.0f}{r['cpu_s']:>7.1f}")  # fmt: skip
    print(
        "  epochs/s: over the span from the first trial's start to the last trial's end; wall s and trials/min: "
        "the whole process (start-up, data, search), regtune's verdict excluded (the hand-written study has none); "
        "CPU s: the process's user + system time (less disturbed by other load than wall time)"
    )
    hand_epochs = med(HAND, "epochs")
    if any(abs(r["epochs"] / hand_epochs - 1) > 0.1 for r in summary):
        print(f"  the searches trained different numbers of epochs (hand-written {hand_epochs:.0f}; column 'epochs'): "
              "pruning acts on each side's own learning curves, so trials/min also counts that difference and "
              "epochs/s is the fairer speed")  # fmt: skip
    print(f"  introspection costs {intro['array_size 1']:.2f}x with array_size 1 and {intro['arrays']:.2f}x with "
          f"arrays (epochs/s off / on, paired per repeat, median; target <= 1.05x)")  # fmt: skip
    meta = {"trials": args.trials, "epochs": args.epochs, "repeats": args.repeats, "threads": args.threads,
            "cpus": os.cpu_count(), "array_k": k,
            "introspection_cost_paired": {key: round(v, 3) for key, v in intro.items()},
            "note": "epochs/s over the trials' span; wall_s and trials_per_min_wall over the whole process with "
                    "start-up, regtune's verdict excluded"}  # fmt: skip
    write_result(args.out, {"meta": meta, "summary": summary, "rows": rows})
    return rows


if __name__ == "__main__":
    main()

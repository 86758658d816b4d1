"""Decoupled decay's response: where does a decay start to act, and how far up does it still help?

For each dataset, the study file's baseline configuration (its fixed settings, every searched regularizer off, lr at
its default: :func:`search.verdict.baseline_config`) with ``kernel_decay`` and ``recurrent_decay`` both set to
each value of ``--decays``, run by the verdict's own protocol: cross-validated on the study's folds
(:func:`search.verdict.cross_validate`), then retrained on the whole training split for the epochs its folds chose
(:func:`search.verdict.epochs_of`) with ``--seeds`` seeds and scored on the test split
(:func:`search.verdict.test_accuracy`). A decay multiplies its weights by ``1 - lr x decay`` a step, so over ~1,000
steps at lr 3e-3 one under ~3e-3 shrinks them by under 1 % (:mod:`search.inert_decay`). The shipped studies'
search range (1e-5..1 since 2026-12-07, 0.1 at the top before) came from this table. Results go to
``runs/bench/decay_response.json``; nothing is stored in a study.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench import write_result

DECAYS = (0.0, 0.1, 0.3, 1.0, 3.0)
DATASETS = ("JapaneseVowels", "ItalyPowerDemand", "GunPoint")
STUDY = Path(__file__).resolve().parent.parent / "studies" / "lstm.yaml"
OUT = Path("runs/bench/decay_response.json")


def response(study: Path, dataset: str, decays: tuple[float, ...], seeds: int) -> list[dict[str, Any]]:
    """One row per decay: its cross-validated value, the refit's epochs and its test accuracies."""
    from search.preflight import prepare_spec
    from search.spec import (  # YAML 1.2, as a study file is read: the range key `off` stays a key
        parse_study,
        read_study,
    )
    from search.verdict import baseline_config, cross_validate, epochs_of, test_accuracy

    raw = read_study(study)
    spec = parse_study({**raw, "dataset": dataset, "name": "decay-response"}, study)  # (no study is stored)
    spec = prepare_spec(spec).spec  # the data-dependent defaults (folds, epochs, batch) applied
    base = baseline_config(spec)
    rows = []
    for decay in decays:
        config = {**base, "kernel_decay": decay, "recurrent_decay": decay}
        start = time.perf_counter()
        run = cross_validate(spec, config)
        row: dict[str, Any] = {"dataset": dataset, "study": study.name, "decay": decay, "lr": config.get("lr")}
        if "diverged" in run:
            row["diverged"] = run["diverged"]
        else:
            epochs = epochs_of(spec, run)
            accs = test_accuracy(spec, config, epochs, seeds)
            row.update(cv=run["value"], epochs=epochs, test=accs, test_mean=sum(accs) / len(accs))
        row["seconds"] = round(time.perf_counter() - start, 1)
        print(_line(row), flush=True)
        rows.append(row)
    return rows


def _line(row: dict[str, Any]) -> str:
    if "diverged" in row:
        return f"{row['dataset']:<18} decay {row['decay']:<6g} diverged: {row['diverged']}"
    return (f"{row['dataset']:<18} decay {row['decay']:<6g} CV {row['cv']:.3f}  {row['epochs']:>3} epochs  test "
            f"{100 * row['test_mean']:.1f} ({', '.join(f'{100 * a:.1f}' for a in row['test'])})  {row['seconds']} s")  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.decay_response", description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, default=STUDY, help=f"the study file (default {STUDY.name})")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), help=f"default: {' '.join(DATASETS)}")
    parser.add_argument("--decays", nargs="+", type=float, default=list(DECAYS), help="default: 0 0.1 0.3 1 3")
    parser.add_argument("--seeds", type=int, default=3, help="retraining seeds per decay (default 3)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.seeds < 1 or any(d < 0 for d in args.decays):
        parser.error(f"--seeds {args.seeds} / --decays {args.decays}: allowed: seeds >= 1, decays >= 0")
    rows = [r for d in args.datasets for r in response(args.study, d, tuple(args.decays), args.seeds)]
    write_result(args.out, {"study": str(args.study), "rows": rows})
    return rows


if __name__ == "__main__":
    main()

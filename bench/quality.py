"""Quality: what a regtune study buys on UEA/UCR datasets, next to an untuned LSTM and the published models.

For each dataset (all shipped in the installed sktime wheel; short multivariate, short univariate and long ones)
the benchmark runs a real regtune study — the default study file (``studies/lstm.yaml``: its architecture, search
space and fixed settings) with only the dataset, the name and the trial budget changed, so the size-based folds
and the long-sequence defaults (``search/defaults.py``) apply exactly as they would for a user — with
``python -m search study``, then reads the verdict that the study itself printed (``search/verdict.py``: every row
retrained on the whole training split for its cross-validated epoch count, the same seeds, evaluated once on the
test split). Its rows:

- **tuned**: the best trial of the study;
- **baseline**: the study's fixed settings with every regularizer off (the enqueued baseline trial);
- **untuned LSTM**: the same network with nothing at all (no regularizer, no clipping): the plain LSTM a user
  would write by hand, trained by the same protocol (with ``--study studies/lstm-fcn.yaml``, the same LSTM-FCN);
  where the study fixes no regularizer (one that searches clipping, as ``studies/rnn.yaml`` does) that is the
  baseline itself, marked "(the baseline)".

``--study`` runs another study file the same way (each row names its study): ``studies/lstm-fcn.yaml`` is the
LSTM-FCN variant of the default study.

Next to them: **1-NN-DTW** measured here (full warping window, dependent DTW over channels on the archive's raw
values: the archive's standard straw man) and the published accuracies of FCN and ResNet from the deep-learning
time-series review (Ismail Fawaz et al., DMKD 2019; companion repository hfawaz/dl-4-tsc, mean over 10 runs on
the UCR 2015 / UEA archives, single runs on UCR 2018 where that is all there is) as listed in
``shared/REFERENCES.md``. Studies are resumable: a rerun continues each study where it stopped (``--trials``
raises the budget). Results go to ``runs/bench/quality.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench import child_env, shipped, write_result

OUT = Path("runs/bench/quality.json")
ROOT = Path("runs/bench/quality")
DEFAULT_STUDY = shipped("studies/lstm.yaml")

#: published test accuracies (%) from the deep-learning TSC review (Ismail Fawaz et al. 2019), via
#: shared/REFERENCES.md: FCN, ResNet (None where the review reports none)
PUBLISHED: dict[str, dict[str, float | None]] = {
    "JapaneseVowels": {"FCN": 99.3, "ResNet": 99.2},
    "ItalyPowerDemand": {"FCN": 96.1, "ResNet": 96.3},
    "GunPoint": {"FCN": 100.0, "ResNet": 99.1},
    "ArrowHead": {"FCN": 84.3, "ResNet": 84.5},
    "OSULeaf": {"FCN": 97.7, "ResNet": 97.9},
    "BasicMotions": {"FCN": None, "ResNet": None},
    "ACSF1": {"FCN": None, "ResNet": 92.5},
}
#: the default table: short multivariate, short univariate, long univariate (> 400 steps)
DATASETS = ("JapaneseVowels", "BasicMotions", "ItalyPowerDemand", "GunPoint", "ArrowHead", "OSULeaf")
#: a dataset's kind in the table, from its median training length (steps) and channels: long above this ...
LONG_KIND = 400
SHORT_KIND = 100  # ... short at most this (BasicMotions: 100 steps, short multivariate)


def kind_of(length: float, channels: int) -> str:
    """The table's "kind" column (any dataset, shipped or a file): "long univariate", "short multivariate", ..."""
    size = "long " if length > LONG_KIND else "short " if length <= SHORT_KIND else ""
    return size + ("multivariate" if channels > 1 else "univariate")


# --------------------------------------------------------------------------------------------- 1-NN-DTW
def dtw_distances(
    query: np.ndarray, qlen: np.ndarray, ref: np.ndarray, rlen: np.ndarray, chunk: int = 16
) -> np.ndarray:
    """Full-window DTW distances (squared Euclidean step cost summed over channels: "dependent" DTW) between every
    query and every reference series, ``(n_query, n_ref)``; series of different lengths end at their own last step.

    Computed by anti-diagonals in torch: each diagonal of the dynamic programme is one vector operation over all
    pairs of a chunk of queries, so the Python loop runs ``Tq + Tr`` times per chunk, not ``Tq * Tr``."""
    import torch

    R = torch.from_numpy(ref).double()
    rl = torch.from_numpy(rlen).long()
    Tq, Tr = query.shape[1], ref.shape[1]
    out = np.empty((len(query), len(ref)))
    inf = float("inf")
    for s in range(0, len(query), chunk):
        Q = torch.from_numpy(query[s : s + chunk]).double()
        ql = torch.from_numpy(qlen[s : s + chunk]).long()
        q, m = len(Q), len(R)
        end_k = ql[:, None] + rl[None, :] - 2  # the diagonal on which each pair's last cell lies
        end_i = (ql - 1)[:, None].expand(q, m)
        result = torch.full((q, m), inf, dtype=torch.float64)
        prev2 = torch.full((q, m, Tq), inf, dtype=torch.float64)  # D on diagonal k-2, indexed by row i
        prev1 = torch.full((q, m, Tq), inf, dtype=torch.float64)  # D on diagonal k-1
        for k in range(Tq + Tr - 1):
            lo, hi = max(0, k - Tr + 1), min(k, Tq - 1)
            i = torch.arange(lo, hi + 1)
            cost = ((Q[:, None, i, :] - R[None, :, k - i, :]) ** 2).sum(-1)  # (q, m, len)
            cur = torch.full((q, m, Tq), inf, dtype=torch.float64)
            if k == 0:
                cur[:, :, 0] = cost[:, :, 0]
            else:
                left = prev1[:, :, i]  # (i, j-1)
                up = torch.where(i > 0, prev1[:, :, (i - 1).clamp(min=0)], torch.tensor(inf, dtype=torch.float64))
                diag = torch.where(i > 0, prev2[:, :, (i - 1).clamp(min=0)], torch.tensor(inf, dtype=torch.float64))
                cur[:, :, i] = cost + torch.minimum(torch.minimum(left, up), diag)
            done = end_k == k
            if done.any():
                result[done] = cur.gather(2, end_i[..., None]).squeeze(-1)[done]
            prev2, prev1 = prev1, cur
        out[s : s + q] = result.numpy()
    return out


def dtw_1nn_accuracy(dataset: str) -> float:
    """Test accuracy of the 1-nearest-neighbour classifier under full-window DTW, on the raw series."""
    from models.data import load_splits

    splits = load_splits(dataset)
    tr, te = splits.train, splits.test
    d = dtw_distances(te.X.astype(np.float64), te.lengths, tr.X.astype(np.float64), tr.lengths)
    return float((tr.y[d.argmin(1)] == te.y).mean())


# --------------------------------------------------------------------------------------------- studies
def study_file(dataset: str, trials: int, root: Path, seeds: int | None = None, study: Path = DEFAULT_STUDY) -> Path:
    """``study`` (default: the default study) with only the dataset, the name and the budget's trials changed (and
    ``final_seeds``, the verdict's retraining seeds, when given)."""
    from search.spec import read_study  # YAML 1.2, as a study file is read: the range key `off` stays a key

    raw = read_study(study)
    label = "" if study == DEFAULT_STUDY else f"{study.stem}-"
    raw["name"] = f"quality-{label}{dataset.lower()}"
    raw["dataset"] = dataset
    raw["description"] = f"bench.quality: the default study on {dataset}"
    raw["budget"] = {**raw.get("budget", {}), "trials": trials}
    if seeds is not None:
        raw["final_seeds"] = seeds
    path = root / f"{label}{dataset}" / "study.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_study(path: Path, trials: int, log: Path) -> tuple[int, float]:
    """``python -m search study`` as a user runs it (resumes when the journal exists); exit code and wall time."""
    journal = path.parent / "journal.log"
    cmd = [sys.executable, "-m", "search", "study", str(path), "--storage", str(journal), "--trials", str(trials)]
    start = time.perf_counter()
    with open(log, "a") as f:
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=child_env(CI="1")).returncode
    return code, time.perf_counter() - start


def verdict(path: Path) -> dict[str, Any]:
    """The study's cached verdict rows (computed by the study run itself; computed now if missing)."""
    import optuna

    from search.preflight import prepare
    from search.storage import open_storage
    from search.verdict import final_result
    from search.worker import keep_defaults

    prepared = prepare(path, str(path.parent / "journal.log"))
    spec = prepared.spec
    study = optuna.load_study(study_name=spec.name, storage=open_storage(str(path.parent / "journal.log")))
    note = keep_defaults(study, spec)  # a study an older version created: the epochs and patience its trials ran
    if note:
        print(note, file=sys.stderr, flush=True)
    res = final_result(study, spec)
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return {
        "result": res,
        "counts": counts,
        "best_params": study.best_trial.params,  # the top trial's (the verdict's "selection" says which it retrained)
        "best_value": study.best_value,
        "max_epochs": spec.max_epochs,
        "patience": spec.fixed.get("patience"),
        "epochs_trained": sum(int(t.user_attrs.get("epochs_run", 0)) for t in study.get_trials(deepcopy=False)),
    }


def _row(res: dict[str, Any], key: str) -> dict[str, Any] | None:
    r = res.get(key)
    if not isinstance(r, dict) or "mean" not in r:
        return None
    return {"mean": round(100 * r["mean"], 2), "std": round(100 * r["std"], 2), "epochs": r.get("epochs")}


def untuned(res: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The untuned LSTM's row and the tuned row's paired difference to it: the "nothing at all" row, or the
    baseline where the study fixes no regularizer (``studies/rnn.yaml`` searches clipping), so that the baseline
    already is the plain LSTM and the verdict shows no separate row."""
    if res.get("nothing"):
        return _row(res, "nothing"), res.get("paired_nothing")
    base = _row(res, "baseline")
    return ({**base, "is_baseline": True} if base else None), res.get("paired")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), help=f"default: {' '.join(DATASETS)}")
    parser.add_argument("--trials", type=int, default=40, help="trials per study (the default study's budget)")
    parser.add_argument("--study", type=Path, default=DEFAULT_STUDY,
                        help=f"the study file each dataset's study is a copy of (default {DEFAULT_STUDY})")  # fmt: skip
    parser.add_argument("--no-dtw", action="store_true", help="skip the 1-NN-DTW column")
    parser.add_argument(
        "--seeds", type=int, default=None, help="the verdict's retraining seeds (final_seeds; default: the study's, 3)"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="where the studies live (resumable)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--keep-rows",
        action="store_true",
        help="merge into --out: keep its rows of datasets (and trial budgets) not run now",
    )
    args = parser.parse_args(argv)
    from models.data import shipped_datasets

    shipped = shipped_datasets()
    unknown = [d for d in args.datasets if d not in shipped]
    if unknown:  # a file path made a study name Optuna refused, and the bench exited 0 with empty rows
        parser.error(f"--datasets: {', '.join(unknown)}: not a UEA/UCR dataset of the installed sktime wheel (the "
                     f"published references are for those); allowed: {', '.join(shipped)}")  # fmt: skip

    rows: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    if args.keep_rows and args.out.exists():
        import json

        kept = json.loads(args.out.read_text()).get("rows", [])
        now = {(d, args.trials, str(args.study)) for d in args.datasets}
        kept = [r for r in kept if (r["dataset"], r["trials"], r.get("study", str(DEFAULT_STUDY))) not in now]
    for ds in args.datasets:
        path = study_file(ds, args.trials, args.root, args.seeds, args.study)
        code, wall = run_study(path, args.trials, path.parent / "study.log")
        row: dict[str, Any] = {"dataset": ds, "study": str(args.study),
                               "trials": args.trials, "study_exit": code, "study_wall_s": round(wall, 1)}  # fmt: skip
        from models.data import load_splits

        s = load_splits(ds)
        median, channels = float(np.median(s.train.lengths)), int(s.train.X.shape[2])
        row.update(kind=kind_of(median, channels), length=int(median), channels=channels,
                   n_train=len(s.train), n_test=len(s.test))  # fmt: skip
        if code == 0:
            v = verdict(path)
            res = v["result"]
            plain, paired_plain = untuned(res)
            row.update(tuned=_row(res, "best"), baseline=_row(res, "baseline"), untuned=plain,
                       counts=v["counts"], best_params=v["best_params"], seeds=res.get("seeds"),
                       best_cv=round(v["best_value"], 4), max_epochs=v["max_epochs"], patience=v["patience"],
                       epochs_trained=v["epochs_trained"], paired=res.get("paired"),
                       paired_untuned=paired_plain, selection=res.get("selection"),
                       regularizers_off=_row(res, "unregularized"), paired_regularizers=res.get("paired_regularizers"),
                       paired_settings=res.get("paired_settings"))  # fmt: skip
            if "comparison" in res:
                row["comparison"] = res["comparison"]
        if not args.no_dtw:
            start = time.perf_counter()
            row["dtw_1nn"] = round(100 * dtw_1nn_accuracy(ds), 2)
            row["dtw_s"] = round(time.perf_counter() - start, 1)
        row.update({k: v for k, v in PUBLISHED.get(ds, {}).items()})
        rows.append(row)
        print(_line(row), flush=True)
        write_result(args.out, {"meta": {"trials": args.trials, "cpus": os.cpu_count()}, "rows": kept + rows})
    print()
    print(table(kept + rows))
    failed = [f"{r['dataset']} (exit {r['study_exit']})" for r in rows if r["study_exit"] != 0]
    if failed:  # their rows hold no numbers: the benchmark fails (python -m bench reports it and goes on)
        raise RuntimeError(f"bench.quality: the study of {', '.join(failed)} failed; its log: study.log beside it")
    return rows


def _fmt(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return f"{r['mean']:.1f} ± {r['std']:.1f}" + (" (the baseline)" if r.get("is_baseline") else "")


def _line(row: dict[str, Any]) -> str:
    return (
        f"  {row['dataset']:<17} tuned {_fmt(row.get('tuned'))}  baseline {_fmt(row.get('baseline'))}  "
        f"untuned {_fmt(row.get('untuned'))}  1NN-DTW {row.get('dtw_1nn', '-')}  FCN {row.get('FCN') or '-'}  "
        f"(study {row['study_wall_s']:.0f} s, exit {row['study_exit']})"
    )


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table the README shows."""
    head = (
        "| dataset | kind | length | study | trials | tuned regtune | baseline (study's fixed, no reg.) | "
        "untuned (nothing at all) | 1-NN-DTW (here) | FCN | ResNet |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        study = Path(r.get("study", str(DEFAULT_STUDY))).name
        lines.append(
            f"| {r['dataset']} | {r['kind']} | {r['length']} | {study} | {r['trials']} | {_fmt(r.get('tuned'))} | "
            f"{_fmt(r.get('baseline'))} | {_fmt(r.get('untuned'))} | {r.get('dtw_1nn', '-')} | "
            f"{r.get('FCN') or '-'} | {r.get('ResNet') or '-'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Preflight: every bad study input is one ``error:`` line with exit code 2, before the store is touched.

Each bad input drives ``study FILE --storage DIR/journal.log`` through the command line's ``main`` in process
(the failures happen before any training: milliseconds each), and one case of each kind also through the real
``python -m search`` as a subprocess (an interpreter start each, ~5 s of CPU).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from models.data import DataError, FoldsError, SequenceSet, Splits, check_splits, load_splits, synthetic_splits
from search.cli import main
from search.folds import study_splits
from search.preflight import PreflightError, check_storage_url, prepare
from search.storage import StorageError, open_storage
from tests.helpers import ROOT, TINY, run_cli

N, T, C = 12, 5, 2  # sequences, steps, channels of the tiny .npz datasets


def arrays(
    n: int = N, k: int = 2, seed: int = 0
) -> dict[str, Any]:  # Any: numpy's stubs reject savez(**dict[str, ndarray])
    rng = np.random.default_rng(seed)
    return {"X": rng.normal(size=(n, T, C)).astype(np.float32), "y": np.arange(n) % k}


def npz(d: Path, name: str = "data.npz", test: dict[str, Any] | None = None, **override: Any) -> str:
    """A .npz with an inline test split; ``override`` replaces training arrays (None drops one)."""
    train = {**arrays(), **override}
    t = test if test is not None else arrays(n=6, seed=1)
    np.savez(d / name, **{k: v for k, v in train.items() if v is not None}, X_test=t["X"], y_test=t["y"])
    return str(d / name)


def nan_X(d: Path) -> str:
    X = arrays()["X"]
    X[3, 2, 1] = np.nan
    return npz(d, X=X)


def malformed_ts(d: Path) -> str:
    (d / "bad_TRAIN.ts").write_text("@problemName bad\n@classLabel true a b\n@data\n1,2,3:a\n1,2:zz:q\n")
    (d / "bad_TEST.ts").write_text("@problemName bad\n@classLabel true a b\n@data\n1,2,3:a\n")
    return str(d / "bad_TRAIN.ts")


def not_a_zip(d: Path) -> str:
    (d / "text.npz").write_text("X,y\n1,0\n")
    return str(d / "text.npz")


def csv_beside(d: Path) -> str:
    (d / "data.csv").write_text("x,y\n1,0\n")
    return "./data.csv"  # relative: beside the study file, not in the test's cwd


def upper_suffix(d: Path, name: str = "up.NPZ") -> str:
    """A .npz (or, with a _TRAIN.TS name, a .ts pair) saved with an upper-case suffix, as Windows tools may name it."""
    if name.endswith(".NPZ"):
        npz(d, "tmp.npz")
        (d / "tmp.npz").rename(d / name)
    else:
        for split in ("TRAIN", "TEST"):
            (d / name.replace("TRAIN", split)).write_text("@problemName u\n@timeStamps false\n@univariate true\n"
                                                          "@classLabel true a b\n@data\n1,2,3:a\n3,2,1:b\n")  # fmt: skip
    return f"./{name}"


def train_only(d: Path) -> str:
    np.savez(d / "alone_train.npz", **arrays())
    return str(d / "alone_train.npz")


# id: (dataset builder, words the error line holds, extra study keys, storage URL or None = DIR/journal.log)
Case = tuple[Callable[[Path], str], list[str], dict[str, object], str | None]
CASES: dict[str, Case] = {
    "npz-nan": (nan_X, ["data.npz", "X contains NaN/Inf", "sequence 3"], {}, None),
    "npz-rank-4": (lambda d: npz(d, X=np.zeros((N, T, C, 1), np.float32)), ["X has rank 4", "expected N x T x C"], {}, None),
    # 0 and 5 are class names (any whole numbers but 0..K-1 are): the test split's 1 is not one of them
    "npz-labels-not-0..K-1": (lambda d: npz(d, y=np.arange(N) % 2 * 5), ["y_test holds labels ['1']", "allowed: ['0', '5']"], {}, None),
    "npz-test-label-unknown": (
        lambda d: npz(d, test={"X": arrays(n=3)["X"], "y": np.array([0, 1, 7])}),
        ["y_test holds label 7", "allowed: 0..1"], {}, None,
    ),
    "npz-length-0": (lambda d: npz(d, lengths=np.r_[0, [T] * (N - 1)]), ["lengths must be 12 integers in 1..5"], {}, None),
    "npz-length-above-T": (lambda d: npz(d, lengths=np.r_[[T] * (N - 1), T + 1]), ["lengths", "sequence 11 has 6"], {}, None),
    "npz-empty": (lambda d: npz(d, X=np.zeros((0, T, C), np.float32), y=np.zeros(0, np.int64)), ["X is empty"], {}, None),
    "npz-not-a-zip": (not_a_zip, ["text.npz", "not a .npz archive"], {}, None),
    "npz-no-test-split": (train_only, ["no test split", "alone_test.npz", "alone_train_test.npz"], {}, None),
    "unknown-name": (lambda d: "NoSuchDataset", ["'NoSuchDataset' is not shipped", "allowed:", "JapaneseVowels"], {}, None),
    "ts-malformed": (malformed_ts, ["bad_TRAIN.ts: cannot parse as a .ts file"], {}, None),
    "synthetic-n-abc": (lambda d: "synthetic:n=abc", ["synthetic option n='abc' is not an integer", ">= 4"], {}, None),
    "one-class": (
        lambda d: npz(d, y=np.zeros(N, np.int64), test={"X": arrays(n=3)["X"], "y": np.zeros(3, np.int64)}),
        ["one class ('0', 12 sequences)", "at least two"], {}, None,
    ),
    "too-few-for-cv-folds-5": (
        lambda d: npz(d, y=(np.arange(N) >= 9).astype(np.int64)),
        ["cv_folds: 5", "class '1' has 3 training sequences", "allowed: cv_folds: 3 or fewer"], {"cv_folds": 5}, None,
    ),
    "npz-beyond-float32": (lambda d: npz(d, X=np.full((N, T, C), 1e39)), ["holds values up to 1e+39", "float32"], {}, None),
    "missing-path": (lambda d: "absent.npz", ["dataset: absent.npz: no such file", "looked in"], {}, None),
    # a shell variable is read as written: "no such file" alone (the unseen11 probe)
    "path-with-a-variable": (lambda d: "$HOME/absent.npz", ["dataset: $HOME/absent.npz: no such file", "($HOME is not "
                             "expanded: a study file's path is read as written; write the path out, or start it with ~ "
                             "for your home)"], {}, None),
    "path-with-a-braced-variable": (lambda d: "/x/${DATA}/absent.npz", ["absent.npz: no such file", "(${DATA} is not "
                                    "expanded"], {}, None),
    # (the unseen10 probe) the file's suffix left out, a test split saved N x C x T, one-hot labels: each said what
    # was wrong and not the way out
    "path-without-suffix": (lambda d: npz(d)[: -len(".npz")], ["data: no such file (", "data.npz exists: give the "
                                                                "file's whole name)"], {}, None),
    # relative to the study file, as a dataset path is read: the hint looked in the current directory only (review10)
    "relative-path-without-suffix": (lambda d: (npz(d), "./data")[1], ["data: no such file (", "/data.npz exists: give"],
                                     {}, None),
    "npz-test-transposed": (
        lambda d: npz(d, test={"X": arrays(n=6)["X"].swapaxes(1, 2), "y": np.arange(6) % 2}),
        ["X_test has 5 channels; the training X has 2 (its 2 steps", "the training X or this one; np.swapaxes(that "
         "array, 1, 2) gives N x T x C)"], {}, None,
    ),
    "npz-one-hot-y": (lambda d: npz(d, y=np.eye(2, dtype=np.int64)[np.arange(N) % 2]),
                      ["y has shape (12, 2); expected (12,)", "(it is one-hot: save y.argmax(axis=1))"], {}, None),
    "starting-point-outside-range": (
        lambda d: npz(d), ["starting_points[0].dropout: 0.5 is outside the searched range", "allowed: 0..0.3 (if a study of this name",
                           "already ran it: change the point, then run study once with --allow-change)"],
        {"starting_points": [{"dropout": 0.5}]}, None,
    ),
    "starting-point-lr-outside-default": (
        lambda d: npz(d), ["starting_points[0].lr: 0.5 is outside the searched range", "allowed: 0.0003..0.01",
                           "!a study made before"],  # lr was refused in a starting point then: no such study
        {"starting_points": [{"lr": 0.5}]}, None,
    ),
    "starting-point-front-end-on-short-data": (
        lambda d: npz(d), ["starting_points[0].conv_stride: is not searched for this dataset", "allowed: dropout, lr"],
        {"starting_points": [{"conv_stride": 4}]}, None,
    ),
    "starting-point-off-grid": (
        lambda d: npz(d), ["starting_points[0].dropout: 0.15 is off the searched grid", "0..0.4 in steps of 0.2"],
        {"search": {"dropout": {"low": 0.0, "high": 0.4, "step": 0.2}}, "starting_points": [{"dropout": 0.15}]},
        None,
    ),
    "starting-point-1-for-true": (
        lambda d: npz(d), ["starting_points[0].dropout_variational: dropout_variational=1: allowed values are true, false"],
        {"search": {"dropout": {"low": 0.0, "high": 0.3}, "dropout_variational": [True, False]},
         "starting_points": [{"dropout_variational": 1}]}, None,
    ),
    "starting-point-empty": (
        lambda d: npz(d), ["starting_points[1]: is empty; give the searched names it sets", "allowed: dropout"],
        {"starting_points": [{"dropout": 0.1}, {}]}, None,
    ),
    "starting-point-fixed-name": (
        lambda d: npz(d), ["starting_points[0].lr: is not a searched name (the study fixes it)"],
        {"starting_points": [{"lr": 0.01}], "fixed": {"lr": 0.01}}, None,
    ),
    "nothing-searched": (  # ran its trials, all one configuration, and a verdict of the baseline against itself
        lambda d: npz(d), ["search: nothing is searched (lr fixed, no search section)", "allowed: a search section"],
        {"search": {}, "fixed": {"lr": 0.01}}, None,
    ),
    # (2026-12-05) a file of another kind beside the study file was "no such file" (looked for in the cwd)
    "relative-csv": (csv_beside, ["data.csv: a .csv file, not a .npz/.ts file (convert it: np.savez("], {}, None),
    # (the unseen8 probe) a .npz or .ts named with an upper-case suffix was told to convert itself with np.savez
    "upper-case-npz": (upper_suffix, ["up.NPZ: its suffix .NPZ is upper case; regtune reads .npz and .ts in lower "
                                      "case: rename it to up.npz", "!np.savez"], {}, None),
    "upper-case-ts": (lambda d: upper_suffix(d, "u_TRAIN.TS"), ["u_TRAIN.TS: its suffix .TS is upper case", "rename it "
                                                                 "to u_TRAIN.ts", "!np.savez"], {}, None),
    "storage-unknown-scheme": (lambda d: npz(d), ["--storage/STORAGE=foo://h/x", "unknown scheme 'foo'"], {}, "foo://h/x"),
    "storage-bad-port": (
        lambda d: npz(d), ["postgresql://u:***@h:5x/db", "port must be a number"], {}, "postgresql://u:pw@h:5x/db",
    ),
    # (the stores13 probe) "could not convert string to float: 'abc'", naming nothing allowed
    "storage-sqlite-timeout": (
        lambda d: npz(d), ["--storage/STORAGE=sqlite:///pf-timeout.db?timeout=abc: timeout='abc' is not a number of "
                           "seconds in range; allowed: timeout=SECONDS, one number from 0 to 2147483", "!journal file"],
        {}, "sqlite:///pf-timeout.db?timeout=abc",
    ),
    # (the stores13 probe) "the directory file:/tmp of the SQLite file does not exist (sqlite:/// + a relative path"
    "storage-sqlite-uri-form": (
        lambda d: npz(d), ["SQLite's URI form (sqlite:///file:...?uri=true) is not taken", "give the same file as "
                           "sqlite:////tmp/pf-uri.db;", "allowed: a journal file path"],
        {}, "sqlite:///file:/tmp/pf-uri.db?uri=true",
    ),
}  # fmt: skip


def write_study(d: Path, case: str, dataset: str, **extra: object) -> Path:
    raw = {
        "name": f"pf-{case}", "dataset": dataset, "architecture": {"cell": "gru", "hidden_size": 8},
        "budget": {"trials": 2, "max_epochs": 1}, "cv_folds": 1, "introspect": False, "recipes": False,
        "search": {"dropout": {"low": 0.0, "high": 0.3}}, **extra,
    }  # fmt: skip
    path = d / f"{case}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One directory per case: its data, its study file; the journal would be DIR/journal.log."""
    out = {}
    for case, (build, _, extra, _) in CASES.items():
        d = tmp_path_factory.mktemp(case)
        out[case] = write_study(d, case, build(d), **extra)
    return out


def storage_of(case: str, study: Path) -> str:
    return CASES[case][3] or str(study.parent / "journal.log")


def check_error(case: str, study: Path, code: int, out: str, err: str) -> None:
    """Exit 2, one ``error: FILE: FIELD: ...`` line holding the case's words, no traceback, nothing written."""
    assert code == 2, (code, err[-3000:])
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if not CASES[case][3]:
        assert lines[0].startswith(f"error: {study}: "), lines[0]  # names the study file, then the field
    for word in CASES[case][1]:
        assert (word[1:] not in lines[0]) if word.startswith("!") else (word in lines[0]), (word, lines[0])
    assert not (study.parent / "journal.log").exists() and not (ROOT / "runs" / f"pf-{case}").exists()
    assert out == ""  # nothing was started: no "study ... in ..." line


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_no_store(
    case: str, studies: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["study", str(studies[case]), "--storage", storage_of(case, studies[case])])
    out = capsys.readouterr()
    check_error(case, studies[case], code, out.out, out.err)


@pytest.mark.parametrize(
    ("path", "hint"),
    [("$HOME/x.npz", "$HOME"), ("${DATA}/x.npz", "${DATA}"), ("%USERPROFILE%/x.npz", "%USERPROFILE%"),
     ("runs/$5 run.npz", None), ("a%20b%20c.npz", None), ("price$/x.npz", None)],
)  # fmt: skip
def test_only_a_shell_variables_name_gets_the_not_expanded_hint(path: str, hint: str | None) -> None:
    """(review11) "$5 run.npz" and a URL-escaped "a%20b%20c.npz" are file names, not variables: no hint for them."""
    from search.preflight import _variable_hint

    said = _variable_hint(path)
    assert said.startswith(f" ({hint} is not expanded") if hint else said == "", said


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("dataset: {d}/my data/run #1.npz", True),  # the path cut at " #": "my data/run: no such file" alone
        ("dataset: {d}/absent.npz   # my own data", False),  # a comment after a path that is not there: no hint
        ('dataset: "{d}/absent #1.npz"', False),  # quoted: YAML keeps the whole path
    ],
    ids=["cut at the comment", "a real comment", "quoted"],
)
def test_a_dataset_path_cut_at_a_yaml_comment_is_said_to_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, hint: bool
) -> None:
    """(the unseen10 probe) an unquoted dataset path holding " #" was cut there by YAML, and the error named the cut
    path as "no such file" with no word of quoting."""
    (tmp_path / "my data").mkdir()
    npz(tmp_path / "my data", "run #1.npz")
    study = write_study(tmp_path, "hash", "PLACEHOLDER")
    study.write_text(study.read_text().replace("dataset: PLACEHOLDER", line.format(d=tmp_path)))
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and ("a space then # starts a YAML comment" in err) == hint, err
    assert not hint or "quote it: dataset: " in err


#: one case of each kind, through the real command line: a data file, a parser, a data check, the folds, a URL
SUBPROCESS_CASES = ["npz-nan", "ts-malformed", "one-class", "too-few-for-cv-folds-5", "storage-bad-port"]


@pytest.mark.slow
def test_bad_input_through_python_m_search(studies: dict[str, Path]) -> None:
    def run(case: str) -> subprocess.CompletedProcess:
        return run_cli("study", str(studies[case]), "--storage", storage_of(case, studies[case]))

    with ThreadPoolExecutor(2) as pool:  # each stops before training: an interpreter start each
        results = dict(zip(SUBPROCESS_CASES, pool.map(run, SUBPROCESS_CASES)))
    for case, r in results.items():
        check_error(case, studies[case], r.returncode, r.stdout, r.stderr)


def test_validate_reports_every_bad_file_and_summarizes_a_good_one(
    studies: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.savez(tmp_path / "pair_train.npz", **arrays(), lengths=np.r_[[3] * 6, [T] * 6])
    np.savez(tmp_path / "pair_test.npz", **arrays(n=4, k=2, seed=3))
    good = write_study(tmp_path, "good", str(tmp_path / "pair_train.npz"))
    bad = [p for case, p in studies.items() if not CASES[case][3]]  # validate checks the default storage
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr()
    assert out.err == ("note: pair: the test split holds 4 sequences: one is 25 points of test accuracy, the smallest "
                       "difference its rows can show\n")  # fmt: skip
    ok, chosen, budget = out.out.splitlines()  # the summary, what the data-dependent defaults chose, the budget
    assert ok.startswith(f"{good}: ok (pf-good: ") and ok.endswith(
        f"data {tmp_path / 'pair_train.npz'}: 12 train / 4 test sequences, length 3..5, 2 channels, 2 classes, 1 fold; "
        "not compared with the study's store, if it has one: make study does that)"
    )
    assert chosen.startswith("  chosen from the data: ") and "batch_size 8" in chosen, chosen
    # 12 sequences, one holdout of 0.2: 10 train a fit, 2 batches of 8 an epoch
    assert budget.startswith("  budget: at most 2 trials x 1 fold x ") and "epochs of 2 batches of 8;" in budget, budget

    assert main(["validate", str(good), *map(str, bad)]) == 2
    out = capsys.readouterr()
    errors = [line for line in out.err.strip().splitlines() if not line.startswith("note: pair: ")]
    assert len(errors) == len(bad) and len(out.out.strip().splitlines()) == 3
    for path, line in zip(bad, errors):
        assert line.startswith(f"error: {path}: "), line
    for p in bad:
        assert not (p.parent / "journal.log").exists()


def test_a_class_no_validation_part_holds_is_named_before_the_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """99/1: a holdout keeps the lone sequence of the rare class in training, every trial scored 1.0, and nothing
    said the search never saw that class until the verdict advised a larger budget."""
    y = np.array([0] * 39 + [1])
    np.savez(tmp_path / "rare.npz", X=arrays(n=40)["X"], y=y, X_test=arrays(n=4)["X"], y_test=np.array([0, 0, 1, 1]))
    path = write_study(tmp_path, "rare", str(tmp_path / "rare.npz"))
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert 'note: the search\'s validation part holds no sequence of class "1" (too few training sequences' in err, err


RAREST_FOLDS = [  # training sequences per class -> the folds validate shows, and why where the rarest class cut them
    ([10, 10], "cv_folds 5"),  # the size rule alone: nothing more to say
    ([10, 3], "cv_folds 3 (the rarest class has 3 training sequences: no more folds than that)"),
    ([10, 10, 1], "cv_folds 1 (the rarest class has 1 training sequence: one holdout)"),
]


@pytest.mark.parametrize(("counts", "shown"), RAREST_FOLDS, ids=[s for _, s in RAREST_FOLDS])
def test_validate_says_when_the_rarest_class_cut_the_folds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], counts: list[int], shown: str
) -> None:
    """35 classes of 4 sequences and one of 1 showed "cv_folds 1": a holdout instead of 5 folds, and nothing said
    one class's single sequence chose it (the unseen7 probe)."""
    y = np.repeat(np.arange(len(counts)), counts)
    test = arrays(n=2 * len(counts), k=len(counts), seed=1)
    np.savez(tmp_path / "d.npz", X=arrays(n=len(y))["X"], y=y, X_test=test["X"], y_test=test["y"])
    path = write_study(tmp_path, "rarest", str(tmp_path / "d.npz"))
    raw = yaml.safe_load(path.read_text())
    del raw["cv_folds"]  # left to the data
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path)]) == 0
    chosen = capsys.readouterr().out.splitlines()[1]
    assert chosen.startswith("  chosen from the data: ") and (chosen.endswith(shown) or f"{shown};" in chosen), chosen


def test_validate_says_what_the_data_chose(capsys: pytest.CaptureFixture[str]) -> None:
    """A long dataset gets a searched front end from its data; validate showed none of it, so a user could not see
    before a run which strides and kernels the search would try (the unseen-data probe)."""
    assert main(["validate", str(ROOT / "studies" / "lstm-long.yaml")]) == 0
    _, chosen, budget = capsys.readouterr().out.splitlines()
    assert chosen.startswith("  chosen from the data: lr searched 0.0003..0.01 (log); conv_layers searched 3 / 1 / 0")
    assert "conv_stride searched 4 / 8 / 16" in chosen and "conv_kernel searched 8 / 0" in chosen
    assert "max_epochs 100" in chosen and "cv_folds 5" in chosen and "never ends a fold" not in chosen
    # OSULeaf: 200 sequences, 5 folds of 40: 160 train a fold, 10 batches of 16; 24 trials x 5 folds x 100 epochs
    assert budget == ("  budget: at most 24 trials x 5 folds x 100 epochs = 12,000 epochs of 10 batches of 16; early "
                      "stopping and pruning end most trials sooner")  # fmt: skip


def test_study_says_what_the_data_chose_when_it_creates_a_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``study`` on a new dataset ran with the folds, batch size, epochs and lr range the data chose and said none of
    them before training (only ``validate`` did; the verdict, at the end, listed some): the unseen-data probe. A
    resumed study, which may keep the defaults it was created with, is not told again."""
    raw = {**TINY, "name": "chosen", "budget": {"trials": 1, "max_epochs": 1}, "final_seeds": 1}
    raw["fixed"] = {}  # lr and batch_size left to the data
    path = tmp_path / "chosen.yaml"
    path.write_text(yaml.safe_dump(raw))
    store = str(tmp_path / "journal.log")
    assert main(["study", str(path), "--storage", store]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if "(a new study: none named 'chosen'" in line)
    assert lines[at + 1].startswith("  chosen from the data: lr searched 0.0003..0.01 (log); "), lines[at + 1]
    assert "batch_size 16" in lines[at + 1], lines[at + 1]
    # max_epochs 1 written, patience from the data (the data probe: 125 against 4, unsaid)
    assert "(not below max_epochs 1: early stopping never ends a fold)" in lines[at + 1], lines[at + 1]
    assert lines[at + 2].startswith("  budget: at most 1 trial x "), lines[at + 2]
    assert main(["study", str(path), "--storage", store]) == 0
    assert "chosen from the data" not in capsys.readouterr().out


@pytest.mark.parametrize("study", ["", " "])
def test_an_empty_study_is_named_as_such(study: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`make study STUDY=` passes '': Path('') is '.', and the error said "error: .: is a directory"."""
    assert main(["validate", study]) == 2
    assert "error: the study file is empty (STUDY=); allowed: a study file" in capsys.readouterr().err


def test_validate_refuses_a_missing_dataset_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_study(tmp_path, "gone", str(tmp_path / "gone.npz"))
    assert main(["validate", str(path)]) == 2
    assert f"error: {path}: dataset: {tmp_path / 'gone.npz'}: no such file" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- in process
def test_train_and_test_npz_pair_loads(tmp_path: Path) -> None:
    train, test = arrays(), arrays(n=4, seed=3)
    np.savez(tmp_path / "pair_train.npz", **train)
    np.savez(tmp_path / "pair_test.npz", **test)
    splits = load_splits(str(tmp_path / "pair_train.npz"))
    np.testing.assert_array_equal(splits.train.X, train["X"])
    np.testing.assert_array_equal(splits.test.y, test["y"])
    assert splits.name == "pair" and splits.classes == ["0", "1"]
    with pytest.raises(DataError, match="a test split; give the training file .*pair_train.npz"):
        load_splits(str(tmp_path / "pair_test.npz"))


def test_prepare_caches_the_splits_for_the_objective(tmp_path: Path) -> None:
    path = write_study(tmp_path, "cache", "synthetic:n=40,length=8")
    p = prepare(path, str(tmp_path / "journal.log"))
    assert (p.url, p.folds, len(p.splits.train)) == (str(tmp_path / "journal.log"), 1, 40)
    assert study_splits(p.spec) is p.splits
    assert not (tmp_path / "journal.log").exists()


SYNTHETIC_BAD = [
    ("synthetic:n=abc", "synthetic option n='abc' is not an integer; allowed: n = an integer >= 4"),
    ("synthetic:classes=1", "synthetic option classes=1 is too small; allowed: classes >= 2"),
    ("synthetic:n=1000000000000", "too large; allowed: n x length x channels <= 100,000,000 values"),
    ("synthetic:n=10,classes=20", "and classes <= n"),
    ("synthetic:length=2.5", "length='2.5' is not an integer"),
    ("synthetic:n", "synthetic option n='' is not an integer"),
    ("synthetic:n=10,n=20", "'n' is given twice"),
    ("synthetic:size=3", "unknown synthetic option 'size'; allowed: n, classes, length, channels"),
]


@pytest.mark.parametrize(("source", "message"), SYNTHETIC_BAD, ids=[s for s, _ in SYNTHETIC_BAD])
def test_bad_synthetic_options(source: str, message: str) -> None:
    with pytest.raises(DataError) as err:
        load_splits(source)
    assert message in str(err.value)


def test_npz_files_that_are_not_archives(tmp_path: Path) -> None:
    np.save(tmp_path / "bare.npy", np.zeros(3))
    (tmp_path / "bare.npy").rename(tmp_path / "bare.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 truncated")
    for name, message in (("bare", "holds one bare array"), ("empty", "an empty file"), ("cut", "not a .npz archive")):
        with pytest.raises(DataError, match=message):
            load_splits(str(tmp_path / f"{name}.npz"))


def _splits(y: list[int], test_y: list[int], k: int, X: np.ndarray | None = None) -> Splits:
    def seqs(labels: list[int]) -> SequenceSet:
        return SequenceSet(np.zeros((len(labels), 3, 1), np.float32), np.full(len(labels), 3), np.array(labels))

    train = seqs(y)
    if X is not None:
        train.X = X
    return Splits(train, seqs(test_y), [str(i) for i in range(k)], "toy")


def test_check_splits() -> None:
    check_splits(_splits([0, 1] * 5, [0, 1], 2), folds=5)
    check_splits(synthetic_splits(n=60), folds=3)
    with pytest.raises(DataError, match=r"toy: the training split holds one class \('0', 4 sequences\)"):
        check_splits(_splits([0] * 4, [0], 2), folds=1)
    with pytest.raises(DataError, match="the test split holds label 2; allowed: 0..1"):
        check_splits(_splits([0, 1], [2], 2), folds=1)
    with pytest.raises(DataError, match="class '2' has no training sequence"):
        check_splits(_splits([0, 1], [0], 3), folds=1)
    X = np.zeros((2, 3, 1), np.float32)
    X[1, 2, 0] = np.inf
    with pytest.raises(DataError, match="training split contains NaN/Inf"):
        check_splits(_splits([0, 1], [0], 2, X), folds=1)
    with pytest.raises(FoldsError, match="class '1' has 1 training sequence; 3-fold.*allowed: cv_folds: 1"):
        check_splits(_splits([0, 0, 0, 1], [0], 2), folds=3)


URLS_OK = ["{d}/journal.log", "{d}/new/dir/journal.log", "postgresql://postgres@127.0.0.1:5432/test",
           "postgresql+psycopg2://u:pw@h/db", "grpc://127.0.0.1:13000", "sqlite:///{d}/x.db", "file://{d}/j.log",
           "postgresql://postgres:pa%40s%2Fs@127.0.0.1/test", "postgresql://h/db?user=a@b",
           "postgresql://u@h/db?host=/var/run/postgresql", "file://localhost{d}/j.log", "sqlite:///{d}/at@dir.db",
           "postgresql://postgres@localhost:5432", "sqlite:///~backup.db", "sqlite:///{d}/x.db?timeout=0",
           "sqlite:///{d}/x.db?timeout=2.5", "sqlite:///{d}/x.db?timeout=2147483", "sqlite:///{d}/x.db?uri=false"]  # fmt: skip
URLS_BAD = [
    ("foo://h", "unknown scheme 'foo'"),
    ("postgresql:/h/db", "postgresql: must be followed by //"),
    ("postgresql://h:port/db", "port must be a number"),
    ("grpc://h:99999", "port must be a number"),
    ("grpc://:13000", "needs a host"),
    ("sqlite://", "in-memory SQLite"),
    # SQLite's URI form (uri=true): a whole study ran, exit 0, and the next command found none (stores12 probe)
    ("sqlite:///file::memory:?cache=shared&uri=true", "in-memory SQLite"),
    ("sqlite:///file:mem1?mode=memory&cache=shared&uri=true", "in-memory SQLite"),
    ("sqlite:///file:m?vfs=memdb&uri=TRUE", "in-memory SQLite"),
    ("sqlite:///file:?uri=1", "in-memory SQLite"),  # a temporary file, deleted when the connection closes
    ("sqlite:///{d}/no/x.db", "of the SQLite file does not exist"),
    # SQLite's URI form naming a file: "the directory file:{d} of the SQLite file does not exist" (stores13 probe)
    ("sqlite:///file:{d}/x.db?uri=true", "SQLite's URI form (sqlite:///file:...?uri=true) is not taken"),
    ("sqlite:///file://localhost{d}/a%20b.db?mode=rwc&uri=on", "give the same file as sqlite:///{d}/a b.db"),
    ("sqlite:///file:x.db?uri=true", "give the same file as sqlite:///x.db"),
    ("sqlite:///{d}/x.db?uri=true&mode=ro", "give the same file as sqlite:///{d}/x.db;"),  # opened "x.db?mode=ro"
    ("sqlite:///no-such-dir/x.db", "an absolute path takes four slashes, sqlite:////no-such-dir/x.db)"),
    ("{d}", "is a directory"),
    ("{d}/file.txt/journal.log", "is a file, so the journal's directory cannot be created"),
    ("/dev/null", "is a character device, not a regular file"),  # Optuna's fsync raised a traceback
    ("sqlite:///{d}", "is a directory or a device, not a file"),  # "unable to open database file"
    ("file://runs/x/journal.log", "'runs' was read as a host name"),  # it wrote /x/journal.log
    # a password's reserved character split the URL early: "failed to resolve host 'ss'" showed part of it
    ("postgresql://postgres:p@ss@127.0.0.1/db", "holds a character that URLs reserve"),
    ("postgresql://postgres:p@ss/w%rd@127.0.0.1/db", "holds a character that URLs reserve"),
    ("postgresql://postgres:pa/ss@127.0.0.1/db", "@ as %40, / as %2F"),  # "the port must be a number"
    ("postgresql://postgres:pa?ss@127.0.0.1/db", "holds a character that URLs reserve"),
    ("postgresql://postgres:pa#ss@127.0.0.1/db", "holds a character that URLs reserve"),
    ("postgresql://u:a?b=c@h/db", "holds a character that URLs reserve"),  # an = before the @: "the port must"
    # a '[' or ']' before the path: urlsplit's "Invalid IPv6 URL", a traceback from every command (stores12 probe)
    ("postgresql://postgres:pa[ss@127.0.0.1/db", "holds a '[' or ']' that is no IPv6 host's"),
    ("postgresql://postgres:pa]ss@127.0.0.1/db", "[ as %5B, ] as %5D"),
    ("postgresql://u@[::1/db", "holds a '[' or ']' that is no IPv6 host's"),
    ("grpc://[::1:13000", "holds a '[' or ']' that is no IPv6 host's"),
    ("file://[x/j.log", "holds a '[' or ']' that is no IPv6 host's"),
    ("mysql+nosuchdriver://u@h/db", "unknown database driver in 'mysql+nosuchdriver'"),
    ("postgres://u@h/db", "unknown scheme 'postgres' (PostgreSQL is spelled postgresql:// here"),
    # an upper-case scheme was "unknown scheme 'SQLITE'" beside an allowed list that holds it in lower case
    ("SQLITE:///{d}/x.db", "unknown scheme 'SQLITE' (schemes are written in lower case here: sqlite://)"),
    ("PostgreSQL://u@h/db", "(schemes are written in lower case here: postgresql://)"),
    ("Postgres://u@h/db", "(PostgreSQL is spelled postgresql:// here"),
    ("GRPC://h:13000", "(schemes are written in lower case here: grpc://)"),
    ("postgresql://u@h/db/", "the database name 'db/' ends in '/': drop the trailing slash"),  # the server's FATAL
    ("sqlite:///~/x.db", "'~' is not expanded in a sqlite:/// URL; write the path out: sqlite:///" + str(Path.home())),
    # Optuna's open raised a bare FileNotFoundError / OSError (exit 1, a traceback) for these two
    ("{d}/dangling.log", "is a symbolic link that points into a directory that does not exist ({d}/nowhere)"),
    ("{d}/loop.log", "is a symbolic link that cannot be followed (too many levels of symbolic links)"),
    ("{d}/a-fifo", "is a FIFO (named pipe), not a regular file"),  # "a device, pipe or socket": which?
    ("{d}/null.log", "is a symbolic link to /dev/null, a character device, not a regular file"),
]


#: a SQLite URL's timeout that is no number of seconds SQLite can wait: negative, huge, inf and nan were taken and
#: meant no wait at all for another worker's write (busy timeout 0), 'abc' was "could not convert string to float"
SQLITE_TIMEOUTS_BAD = [("abc", "timeout='abc'"), ("-1", "timeout='-1'"), ("nan", "timeout='nan'"),
                       ("inf", "timeout='inf'"), ("1e9", "timeout='1e9'"), ("", "timeout=''"),
                       ("5&timeout=10", "timeout is given 2 times ('5', '10')")]  # fmt: skip


@pytest.mark.parametrize(("value", "said"), SQLITE_TIMEOUTS_BAD, ids=[v for v, _ in SQLITE_TIMEOUTS_BAD])
def test_a_sqlite_timeout_that_is_no_number_of_seconds_is_refused(tmp_path: Path, value: str, said: str) -> None:
    url = f"sqlite:///{tmp_path}/x.db?timeout={value}"
    with pytest.raises(PreflightError) as err:
        check_storage_url(url, "--storage/STORAGE")
    assert str(err.value) == (
        f"--storage/STORAGE={url}: {said}{' is not a number of seconds in range' if 'given' not in said else ''}; "
        "allowed: timeout=SECONDS, one number from 0 to 2147483 (how long a write waits for another process's lock "
        "on the file; SQLite's default is 5)"
    )
    assert not (tmp_path / "x.db").exists()


def test_storage_url_syntax(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("")
    (tmp_path / "dangling.log").symlink_to(tmp_path / "nowhere" / "x.log")
    (tmp_path / "loop.log").symlink_to(tmp_path / "loop2.log")
    (tmp_path / "loop2.log").symlink_to(tmp_path / "loop.log")
    os.mkfifo(tmp_path / "a-fifo")  # (no .log name: the check below looks for made files)
    (tmp_path / "null.log").symlink_to("/dev/null")
    for url in URLS_OK:
        check_storage_url(url.format(d=tmp_path), "--storage/STORAGE")
    for url, message in URLS_BAD:
        with pytest.raises(PreflightError) as err:
            check_storage_url(url.format(d=tmp_path), "--storage/STORAGE")
        message = message.format(d=tmp_path)
        assert message in str(err.value) and "; allowed: a journal file path" in str(err.value), str(err.value)
        if url.startswith("postgresql://postgres:p"):  # no part of the password shown
            assert str(err.value).startswith("--storage/STORAGE=postgresql://postgres:***@127.0.0.1/db: the user")
    assert not any(p.name.endswith((".db", ".log")) and not p.is_symlink() for p in tmp_path.rglob("*"))
    (tmp_path / "later.log").symlink_to(tmp_path / "not-yet.log")  # a link to a journal not made yet: fine
    check_storage_url(str(tmp_path / "later.log"), "--storage/STORAGE")
    for link, words in (("dangling.log", "points into a directory that does not exist"), ("loop.log", "cannot be")):
        with pytest.raises(StorageError, match=f"journal file .*{link} is a symbolic link that {words}"):
            open_storage(str(tmp_path / link))  # from Python, past the commands' check
    assert not (tmp_path / "nowhere").exists()


def test_a_journal_in_a_folder_that_is_a_dangling_link_names_the_link_and_its_target(tmp_path: Path) -> None:
    """``--storage lnk/j.log``, ``lnk`` a link to a directory that does not exist (an unmounted share): "cannot make
    its directory lnk (File exists)" (the faults probe, 2026-12-06). Now the README's rule for a dangling link: the
    link, where it points, and that nothing was created; by the commands' check and by open_storage alike."""
    (tmp_path / "lnk").symlink_to(tmp_path / "share" / "runs")
    journal = tmp_path / "lnk" / "sub" / "j.log"
    words = f"is under {tmp_path / 'lnk'}, a symbolic link that points to a directory that does not exist"
    with pytest.raises(PreflightError) as err:
        check_storage_url(str(journal), "--storage/STORAGE")
    assert words in str(err.value) and f"-> {tmp_path / 'share' / 'runs'}" in str(err.value), str(err.value)
    with pytest.raises(StorageError) as err2:
        open_storage(str(journal))
    assert words in str(err2.value) and "nothing was created" in str(err2.value), str(err2.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lnk"]


def test_a_writable_journal_in_a_read_only_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Optuna makes the journal's lock file beside it: a writable journal in a read-only directory passed, then
    study and report ended with ``PermissionError: ... journal.log.lock``. The directory's permission is what
    ``os.access`` answers here (root, which this machine's tests run as, passes every permission check: the
    answer for the directory is the one thing replaced)."""
    import search.preflight as preflight

    journal = tmp_path / "journal.log"
    journal.write_text("")
    real = os.access
    monkeypatch.setattr(preflight.os, "access", lambda p, mode: False if Path(p) == tmp_path else real(p, mode))
    with pytest.raises(PreflightError, match=f"the directory {tmp_path} is not writable .the journal's lock file") as e:
        check_storage_url(str(journal), "--storage/STORAGE")
    assert "allowed:" not in str(e.value)  # the URL is right: a list of URL forms read as if it were malformed


def test_report_out_under_a_file_and_repair_of_a_directory_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report --out FILE/sub ended in NotADirectoryError (after its retraining); repair STORAGE=DIR said "no
    journal file DIR"."""
    from search import cli

    (tmp_path / "afile").write_text("")
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({"name": "s", "dataset": "synthetic", "budget": {"trials": 1}}))
    assert cli.main(["report", str(study), "--out", str(tmp_path / "afile" / "sub")]) == 2
    assert f"is not a directory ({tmp_path / 'afile'} is a file)" in capsys.readouterr().err
    assert cli.main(["repair", str(study), "--storage", str(tmp_path)]) == 2
    assert f"--storage/STORAGE={tmp_path}: is a directory; give the journal file" in capsys.readouterr().err


def test_a_report_directory_that_cannot_be_written_is_one_line_before_any_retraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report --out DIR` in a directory of someone else's ended in a PermissionError traceback from mkdir, after
    the retraining. Root (these tests' user) may write anywhere, so the permission is denied by os.access here."""
    import os

    from search.report.build import check_writable

    check_writable(tmp_path / "new" / "s", "--out")  # writable: nothing said
    denied = tmp_path / "theirs"
    denied.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: real(p, mode) and Path(p).resolve() != denied.resolve())
    with pytest.raises(PreflightError, match=rf"--out {denied / 's'}: cannot write the report there \({denied.resolve()} is "
                                             r"not writable\); give a directory you can write"):  # fmt: skip
        check_writable(denied / "s", "--out")
    (denied / "s").mkdir()  # the report folder exists and is writable, its parent not: the new folder is written
    with pytest.raises(PreflightError, match=rf"\({denied.resolve()} is not writable\)"):  # beside it, renamed
        check_writable(denied / "s", "--out")


def test_a_port_in_use_is_one_line() -> None:
    """`make dashboard PORT=...` on a port another server held printed "Listening on ..." and a 39-line traceback;
    `make proxy` 31 lines."""
    import socket

    from search.cli import check_port

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(PreflightError, match=rf"cannot listen on 127.0.0.1:{port}: it is in use \(another server "
                                                 r"listens there\); allowed: another PORT=\.\.\."):  # fmt: skip
            check_port("127.0.0.1", port, "PORT")
    check_port("127.0.0.1", port, "PORT")  # free again: nothing said


def test_a_host_that_does_not_resolve_blames_host_and_an_empty_host_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`make dashboard HOST=256.1.1.1` said to change PORT; an empty HOST ('' binds every interface) or PORT printed
    argparse's usage block (the Makefile did not quote them)."""
    from search.cli import check_port

    with pytest.raises(PreflightError, match=r"host '256.1.1.1': .*; allowed: HOST=127.0.0.1 \(this machine only\)"):
        check_port("256.1.1.1", 8080, "PORT")
    assert main(["dashboard", "--host", " ", "--port", "8080"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --host/HOST is empty: allowed: 127.0.0.1 (this machine only), 0.0.0.0 (every interface), or a name"
    )


def test_a_dataset_and_a_journal_under_home_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dataset: ~/mine.npz` was "no such file"; STORAGE='~/x/j.log' (quoted, or from a script) made a directory
    named ~ in the current one. Both read ~ as the shell does."""
    from search.spec import load_study
    from search.storage import resolve_url

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    npz(tmp_path / "home", "mine.npz")
    study = write_study(tmp_path, "home", "~/mine.npz")
    assert load_study(study).dataset == str(tmp_path / "home" / "mine.npz")
    assert resolve_url("~/runs/j.log", "s") == str(tmp_path / "home" / "runs" / "j.log")
    moved = tmp_path / "home" / "s.yaml"  # STUDY='~/s.yaml' (quoted) too
    moved.write_text(study.read_text())
    assert main(["validate", "~/s.yaml"]) == 0


@pytest.mark.parametrize("command", ["retry", "figures", "dashboard"])
def test_every_command_checks_its_storage_first(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`retry` and `figures` skipped the check `study`, `worker` and `report` make: a directory for STORAGE was a
    30-line IsADirectoryError (exit 1), and `dashboard` called it "no such file". `dashboard` also left a `~`
    unexpanded, and told the user to `make study` a study that existed."""
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({"name": "s", "dataset": "synthetic:n=40,length=6", "budget": {"trials": 2}}))
    (tmp_path / "adir").mkdir()
    assert main([command, str(study), "--storage", str(tmp_path / "adir")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: --storage/STORAGE={tmp_path / 'adir'}: is a directory"), err
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("REGTUNE_STORAGE", "~/nothere/journal.log")
    assert main([command, str(study)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "nothere" / "journal.log") in err[0] and "~" not in err[0], err


@pytest.mark.parametrize("command", ["study", "worker", "report", "retry", "figures", "dashboard"])
def test_an_empty_storage_flag_is_refused_not_read_as_the_default(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newuser8 probe: `study s.yaml --storage ''` (a script's unset variable) ran the whole study in the
    default journal, where `validate ''` refuses an empty study path. An empty --storage is one line, exit 2, and
    nothing is created."""
    monkeypatch.chdir(tmp_path)
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({"name": "s", "dataset": "synthetic:n=40,length=6", "budget": {"trials": 2}}))
    assert main([command, str(study), "--storage", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --storage/STORAGE='': empty; give a storage URL"), err
    assert "or leave it out for the default runs/s/journal.log" in err[0], err
    assert not (tmp_path / "runs").exists()


def test_a_worker_of_study_workers_n_leaves_the_notes_to_its_parent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``study --workers 2`` printed each data note three times: once from the parent, once from each worker (whose
    stderr is the terminal's); the check that meant to keep the workers quiet read a variable main() had removed."""
    import search.worker

    y = np.array([0] * 39 + [1])
    np.savez(tmp_path / "rare.npz", X=arrays(n=40)["X"], y=y, X_test=arrays(n=4)["X"], y_test=np.array([0, 0, 1, 1]))
    path = write_study(tmp_path, "rare", str(tmp_path / "rare.npz"))
    monkeypatch.setattr(search.worker, "run_worker", lambda *a, **k: 0)  # no trial: only what is said
    storage = str(tmp_path / "journal.log")
    monkeypatch.setenv("REGTUNE_WORKER_INDEX", "0")
    assert main(["worker", str(path), "--storage", storage, "--trials", "1", "--in-process"]) == 0
    assert "validation part holds no sequence" not in capsys.readouterr().err
    monkeypatch.delenv("REGTUNE_WORKER_INDEX")  # the process the user started: says it
    assert main(["worker", str(path), "--storage", storage, "--trials", "1", "--in-process"]) == 0
    assert "validation part holds no sequence" in capsys.readouterr().err


def _readme_quote(start: str) -> str:
    """The README's back-quoted example that begins with ``start``, its line breaks read as spaces."""
    text = " ".join((ROOT / "README.md").read_text().split())
    at = text.index(start)
    return text[at : text.index("`", at)]


def _nan_at_3_5_0() -> dict[str, Any]:
    """The data of the README's NaN example: sequence 3, step 5 of its 20, channel 0."""
    rng = np.random.default_rng(0)
    X, Xt = rng.normal(size=(12, 20, 2)), rng.normal(size=(6, 20, 2))
    X[3, 5, 0] = np.nan
    return {"X": X, "y": np.arange(12) % 2, "X_test": Xt, "y_test": np.arange(6) % 2}


@pytest.mark.parametrize("where", ["file", "arrays"])
def test_the_readme_quotes_the_nan_error_as_it_is_printed(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's two NaN examples (a data file through `make study`, arrays through run_study) are the real lines:
    they had lost the step and channel the message names (the journey probe, 2026-12-06)."""
    data = _nan_at_3_5_0()
    if where == "file":
        monkeypatch.chdir(tmp_path)
        (tmp_path / "studies").mkdir()
        (tmp_path / "data").mkdir()
        np.savez(tmp_path / "data" / "mine.npz", **data)
        write_study(tmp_path / "studies", "mine", "data/mine.npz")
        assert main(["validate", "studies/mine.yaml"]) == 2
        assert capsys.readouterr().err.strip() == _readme_quote("error: studies/mine.yaml: dataset: data/mine.npz: X ")
    else:
        from search.api import run_study

        with pytest.raises(DataError) as caught:
            run_study({k: v for k, v in TINY.items() if k != "dataset"}, data=data, storage=tmp_path / "j.log")
        assert f"DataError: {caught.value}" == _readme_quote("DataError: data: X ")
        assert not (tmp_path / "j.log").exists()


def test_a_journals_lock_file_given_as_the_journal_is_refused(tmp_path: Path) -> None:
    """``STORAGE=runs/s/journal.log.lock`` (a tab completion too far): the study was written into Optuna's lock file
    of runs/s/journal.log, and the next run on that journal waited 30 s for "its" lock and deleted the file, study
    and all (the faults5 probe). A ``.lock`` name with no journal beside it is just a file name."""
    (tmp_path / "journal.log").write_text("")
    with pytest.raises(
        PreflightError, match=r"is the lock file of the journal .*journal\.log .*give the journal's own"
    ):
        check_storage_url(str(tmp_path / "journal.log.lock"), "--storage/STORAGE")
    check_storage_url(str(tmp_path / "other.lock"), "--storage/STORAGE")
    check_storage_url(str(tmp_path / ".lock"), "--storage/STORAGE")  # a bare ".lock": no name to strip (ValueError)


@pytest.mark.parametrize(
    "command", ["study", "worker", "dashboard", "figures", "proxy", "report", "retry", "repair", "validate"]
)
def test_every_argument_of_every_command_says_what_it_is(command: str) -> None:
    """(the studies7 probe) `--help` listed `--workers-per-gpu`, `--host`, `--port` and the positional study files
    bare, and said `--workers` defaults to one per GPU where it is one per GPU times `--workers-per-gpu`; a default
    the help names is the one the option has."""
    import argparse
    import re

    from search.cli import parser

    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        assert action.help, (command, action.dest)
        named = re.search(r"\(default: ([^,;)]+)", action.help)
        if named and action.default is not None and "one per GPU" not in action.help:
            assert named.group(1) == str(action.default), (command, action.dest, action.help)
    if command in ("study", "worker"):
        workers = next(a for a in sub.choices[command]._actions if a.dest == "workers")
        assert "--workers-per-gpu" in workers.help, workers.help


# (case, the store's kind, the command): a store file its user may not read (chmod 000), and what each says
UNREADABLE_CASES = [
    ("journal, study", "journal", "study"),
    ("journal, report", "journal", "report"),
    ("sqlite, study", "sqlite", "study"),
    ("sqlite, report", "sqlite", "report"),
]


@pytest.mark.parametrize(("case", "kind", "command"), UNREADABLE_CASES, ids=[c[0] for c in UNREADABLE_CASES])
def test_a_store_that_cannot_be_read_is_named_so(tmp_path: Path, case: str, kind: str, command: str) -> None:
    """A chmod 000 store: study said "not writable (make report reads a finished study from a read-only one)" and
    the report then refused it too; a report on a SQLite file said "cannot write ...: Permission denied ... a trial
    this cut short is re-queued" (the faults probe). Root passes every permission check: there the command runs
    without the two capabilities that bypass them (setpriv), so the file's mode is what answers."""
    import shutil

    path = tmp_path / ("journal.log" if kind == "journal" else "s.db")
    path.write_text("")
    path.chmod(0)
    url = str(path) if kind == "journal" else f"sqlite:///{path}"
    study = tmp_path / "t.yaml"
    study.write_text((ROOT / "studies" / "smoke.yaml").read_text())
    args = [sys.executable, "-m", "search", command, str(study), "--storage", url]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root passes every permission check, and setpriv (util-linux) is not here to drop that")
        args = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *args]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    said = f"the {'journal' if kind == 'journal' else 'SQLite'} file is not readable"
    assert run.returncode == 2 and said in run.stderr, (case, run.stderr)
    assert "allowed:" not in run.stderr and "writ" not in run.stderr and "Traceback" not in run.stderr, run.stderr


LENGTH_SHIFTS = [  # test lengths (NaN-padded; the training split's are T = 5) -> what validate warns of, if anything
    ("cut to 2 steps", 2, None, "6 of the 6 test sequences are shorter than half the shortest training sequence (test 0: 2 steps); training lengths 5..5, test lengths 2..2"),
    ("four times as long", 4 * T, None, "6 of the 6 test sequences are longer than twice the longest training sequence (test 0: 20 steps); training lengths 5..5, test lengths 20..20"),
    ("one of six cut", T, 1, "1 of the 6 test sequences is shorter than half the shortest training sequence (test 1: 1 step)"),
    ("a little shorter", T - 2, None, None),  # 3 of 5 steps: lengths the training split nearly has
    ("as long", T, None, None),
]  # fmt: skip


@pytest.mark.parametrize(("length", "cut", "said"), [c[1:] for c in LENGTH_SHIFTS], ids=[c[0] for c in LENGTH_SHIFTS])
def test_validate_warns_of_test_sequences_of_lengths_training_never_had(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], length: int, cut: int | None, said: str | None
) -> None:
    """Training sequences of 50 steps and the same test sequences cut to their first 10 scored 0.40 against 1.00,
    validate said nothing, and the verdict said the models had learned nothing the class balance gives (the unseen10
    probe)."""
    test = arrays(n=6, seed=1)
    X = np.full((6, max(length, T), C), np.nan, dtype=np.float32)
    X[:, :length] = np.random.default_rng(2).normal(size=(6, length, C))
    if cut is not None:
        X[cut, 1:] = np.nan  # test sequence ``cut`` is 1 step long
    np.savez(tmp_path / "d.npz", X=arrays()["X"], y=arrays()["y"], X_test=X, y_test=test["y"])
    path = write_study(tmp_path, "lengths", str(tmp_path / "d.npz"))
    assert main(["validate", str(path)]) == 0  # a warning, not an error: such data may be meant
    warned = [
        line
        for line in capsys.readouterr().err.splitlines()
        if " test sequences " in line and " training sequence (test " in line
    ]
    if said is None:
        assert warned == []
    else:
        assert len(warned) == 1 and warned[0].startswith("warning: d: ") and said in warned[0], warned


def test_a_sqlite_files_place_is_its_path_without_the_query() -> None:
    """(the stores13 probe) "cannot open storage sqlite:///x.db?timeout=5 (SQLite file x.db?timeout=5): ..." named a
    file that does not exist."""
    from search.storage import where

    assert where("sqlite:///runs/x.db?timeout=5") == "SQLite file runs/x.db"
    assert where("sqlite:////abs/x.db") == "SQLite file /abs/x.db"

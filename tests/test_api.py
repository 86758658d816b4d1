"""The Python front door (``search.api.run_study``) on arrays in memory, and the ``regtune`` console command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from models.data import DataError, synthetic_splits
from search.api import run_study
from search.fingerprint import DEFINITION_ATTR, StudyChangedError
from search.preflight import PreflightError, prepare
from tests.helpers import ROOT, long_tail_npz

STUDY: dict[str, Any] = {
    "name": "api",
    "architecture": {"cell": "gru", "hidden_size": 8},
    "budget": {"trials": 2, "max_epochs": 1},
    "sampler": "random",
    "pruner": "none",
    "cv_folds": 2,
    "recipes": False,
    "introspect": False,
    "search": {"dropout": {"low": 0.0, "high": 0.3}},
    "fixed": {"lr": 0.01, "batch_size": 32},
}


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Good arrays, named as in a .npz file."""
    s = synthetic_splits(seed=seed, n=60, length=10)
    return {"X": s.train.X, "y": s.train.y, "lengths": s.train.lengths, "X_test": s.test.X, "y_test": s.test.y,
            "lengths_test": s.test.lengths}  # fmt: skip


def test_a_study_with_no_complete_trial_says_why(tmp_path: Path) -> None:
    """Every trial diverged: the API returned an empty selection, where the command line says why."""
    a = arrays()
    blown = {**STUDY, "name": "blown", "fixed": {"lr": 1.0e9, "batch_size": 32, "optimizer": "sgd"}}
    result = run_study(blown, (a["X"], a["y"], a["lengths"], a["X_test"], a["y_test"], a["lengths_test"]),
                       storage=str(tmp_path / "journal.log"), verdict=False, progress=False)  # fmt: skip
    assert result.counts["complete"] == 0 and result.best_value is None
    assert "were all pruned (the first: diverged: " in result.selection, result.selection


def test_a_tiny_in_memory_study_runs_and_resumes_with_the_same_arrays(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    a = arrays()
    first = run_study(STUDY, (a["X"], a["y"], a["lengths"], a["X_test"], a["y_test"], a["lengths_test"]),
                      storage=str(journal), verdict=False, progress=False)  # fmt: skip
    assert first.counts["complete"] == 2 and first.best_value is not None and first.best_config["hidden_size"] == 8
    assert first.selection.startswith(("the best trial", "the baseline"))  # how it was chosen ("chosen as ...")
    assert first.spec.dataset.startswith("memory:") and first.storage == str(journal)
    assert first.study.user_attrs[DEFINITION_ATTR]["dataset"] == {"source": "memory", "sha256": first.spec.dataset[7:]}
    assert first.study.metric_names == ["val_acc (mean over 2 folds)"]  # the dashboard's name for the objective
    assert {t.user_attrs["value_is"] for t in first.study.trials} == {"2-fold mean (complete)"}
    # the same arrays as a dict are the same data: the study goes on
    again = run_study(STUDY, a, storage=str(journal), trials=3, verdict=False, progress=False)
    assert again.spec.dataset == first.spec.dataset and again.counts["finished"] == 3


def test_resuming_with_other_arrays_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    journal = tmp_path / "journal.log"
    study = {**STUDY, "budget": {"trials": 1, "max_epochs": 1}, "cv_folds": 1}
    run_study(study, arrays(), storage=str(journal), verdict=False, progress=False)
    before = journal.read_bytes()
    changed = arrays()
    changed["X"] = changed["X"].copy()
    changed["X"][0, 0, 0] += 1.0
    with pytest.raises(StudyChangedError, match=r"dataset: memory: its content changed \(sha256 "):
        run_study(study, changed, storage=str(journal), trials=2, verdict=False, progress=False)
    assert journal.read_bytes() == before


@pytest.mark.parametrize("command", ["report", "worker", "study"])
def test_a_command_on_a_study_of_arrays_says_it_ran_on_arrays_and_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A study run_study ran on arrays, given to a command with its study file: "dataset: memory -> synthetic ...
    undo the edit" sent the user to an edit nobody made. Now it says the arrays cannot be loaded by a command, and
    how to report or resume it from Python; nothing is written."""
    from tests.helpers import run_main

    path = tmp_path / "arr.yaml"
    path.write_text(
        yaml.safe_dump(
            {**STUDY, "name": "arr", "dataset": "synthetic", "budget": {"trials": 1, "max_epochs": 1}, "cv_folds": 1}
        )
    )
    journal = tmp_path / "journal.log"
    run_study(str(path), arrays(), storage=str(journal), verdict=False, progress=False)
    before = journal.read_bytes()
    done = run_main(capsys, command, str(path), "--storage", str(journal))
    assert done.returncode == 2, done.stderr
    assert "dataset: memory -> synthetic" in done.stderr and "undo the edit" not in done.stderr, done.stderr
    assert "ran on arrays given in memory" in done.stderr and "write_report(" in done.stderr, done.stderr
    assert journal.read_bytes() == before


def _rank4(a: dict) -> None:
    a["X"] = a["X"][..., None]


def _nan(a: dict) -> None:
    a["X"] = a["X"].copy()
    a["X"][3, 0, 0] = np.nan


def _one_class(a: dict) -> None:
    a["y"] = np.zeros_like(a["y"])
    a["y_test"] = np.zeros_like(a["y_test"])


def _gap(a: dict) -> None:
    a["y"] = np.where(a["y"] == 1, 5, a["y"])


def _lengths(a: dict) -> None:
    a["lengths"] = a["lengths"].copy()
    a["lengths"][2] = 99


def _channels(a: dict) -> None:
    a["X_test"] = a["X_test"][:, :, :1]


def _float_y(a: dict) -> None:
    a["y"] = a["y"].astype(np.float32) + 0.5


def _short_y(a: dict) -> None:
    a["y"] = a["y"][:-1]


BAD = [
    ("X rank 4", _rank4, "X has rank 4"),
    ("NaN", _nan, "X contains NaN/Inf inside the valid steps (sequence 3, step "),
    ("one class", _one_class, "the training split holds one class"),
    ("labels with a gap", _gap, "y_test holds labels ['1'] that do not occur in the training split"),  # 0 and 5: names
    ("lengths", _lengths, "lengths must be 60 integers in 1..10"),
    ("test channels", _channels, "X_test has 1 channel; the training X has 2"),
    ("float labels", _float_y, "is not a whole number"),
    ("labels count", _short_y, "y has shape (59,)"),
]


@pytest.mark.parametrize(("case", "damage", "words"), BAD, ids=[c[0] for c in BAD])
def test_bad_arrays_give_the_one_line_error_a_file_gives(case: str, damage: Any, words: str, tmp_path: Path) -> None:
    a = arrays()
    damage(a)
    npz = tmp_path / "data.npz"
    np.savez(npz, **a)
    study_file = tmp_path / "api.yaml"
    study_file.write_text(yaml.safe_dump({**STUDY, "dataset": str(npz)}))
    with pytest.raises(PreflightError) as from_file:
        prepare(study_file, str(tmp_path / "file.log"))
    journal = tmp_path / "memory" / "journal.log"
    with pytest.raises(DataError) as from_memory:
        run_study(STUDY, a, storage=str(journal), verdict=False, progress=False)
    file_msg, memory_msg = str(from_file.value), str(from_memory.value)
    assert words in memory_msg and "\n" not in memory_msg and memory_msg.startswith("data: ")
    assert file_msg.split(f"{npz}: ", 1)[1] == memory_msg.split("data: ", 1)[1]  # the same words after the name
    assert not journal.parent.exists()  # nothing written


def test_data_of_an_unknown_shape_and_a_bad_total_are_refused(tmp_path: Path) -> None:
    a = arrays()
    with pytest.raises(DataError, match=r"^data: a tuple of 5 arrays; allowed: \(X, y\), \(X, y, lengths\)"):
        run_study(STUDY, (a["X"], a["y"], a["lengths"], a["X_test"], a["y_test"]), storage=str(tmp_path / "j.log"))
    with pytest.raises(DataError, match=r"^data: unknown array 'X_val'; allowed: X, y, lengths"):
        run_study(STUDY, {**a, "X_val": a["X"]}, storage=str(tmp_path / "j.log"))
    # a path where the arrays go (the data probe: "X has rank 0 (shape ())")
    with pytest.raises(DataError, match=r"^data: 'X' is the str 'jv.npz', not an array; a data file goes in the"):
        run_study(STUDY, {**a, "X": "jv.npz"}, storage=str(tmp_path / "j.log"))
    with pytest.raises(DataError, match=r"^data: 'X' is the PosixPath 'jv.npz', not an array"):
        run_study(STUDY, (Path("jv.npz"), a["y"]), storage=str(tmp_path / "j.log"))
    with pytest.raises(DataError, match=r"^data: the str 'jv.npz' is not arrays; a data file goes in the study's"):
        run_study(STUDY, "jv.npz", storage=str(tmp_path / "j.log"))
    with pytest.raises(ValueError, match=r"^trials=0: must be an integer >= 1"):
        run_study(STUDY, a, storage=str(tmp_path / "j.log"), trials=0)
    with pytest.raises(PreflightError, match=r"^storage=postgres://h/db: unknown scheme"):  # not "--storage/STORAGE"
        run_study(STUDY, a, storage="postgres://h/db")
    assert not (tmp_path / "j.log").exists()


def test_without_a_test_split_a_seeded_stratified_fifth_is_held_out(tmp_path: Path) -> None:
    from search.api import prepare_study

    a = arrays()
    p = prepare_study(STUDY, (a["X"], a["y"]), storage=str(tmp_path / "j.log"))
    assert len(p.splits.train) + len(p.splits.test) == len(a["y"]) and len(p.splits.test) == 12
    assert set(np.unique(p.splits.test.y)) == set(np.unique(a["y"]))
    assert prepare_study(STUDY, (a["X"], a["y"]), storage=str(tmp_path / "j.log")).spec.dataset == p.spec.dataset


@pytest.mark.parametrize(
    ("per_class", "refused"),
    [
        ([2] * 10, r"^data: y holds 2 sequences of every class; carving a test split out of X takes one of each"),
        ([1] + [3] * 9, r"^data: y holds 1 sequence\(s\) of label 0; carving a test split out of X needs at least 2"),
        ([3] + [2] * 9, None),  # one class of 3: it validates on one (a holdout), the lone training ones train
    ],
    ids=["two of every class", "one of a class", "three of one class"],
)
def test_a_carved_test_split_that_leaves_nothing_to_validate_on_is_refused_as_the_carve(
    tmp_path: Path, per_class: list[int], refused: str | None
) -> None:
    """Arrays of two sequences of every class, given without a test split: the carve takes one of each, and the
    study was refused as "every class has one training sequence", of arrays holding two of every class (the
    unseen12 probe); the README says the carve needs two of every class."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(per_class)), per_class)
    X = rng.normal(size=(len(y), 6, 2))
    journal = tmp_path / "j.log"
    study = {**STUDY, "cv_folds": 1}
    if refused is None:
        result = run_study(study, (X, y), storage=str(journal), trials=1, verdict=False, progress=False)
        assert result.counts["finished"] == 1
        return
    with pytest.raises(DataError, match=refused):
        run_study(study, (X, y), storage=str(journal), trials=1, verdict=False, progress=False)
    assert not journal.exists()  # refused before anything is stored


def _nan_padded(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """20 sequences of up to 8 steps and 2 channels, NaN after each one's end (pandas' export of unequal lengths)."""
    X = rng.normal(size=(20, 8, 2))
    lengths = np.array([3, 8, 5, 2, 8] * 4)
    X[np.arange(8)[None, :] >= lengths[:, None]] = np.nan
    return X, lengths


@pytest.mark.parametrize(
    "given_as",
    [
        lambda X: list(X),  # one shape, NaN-padded: was "does lengths count 5 step(s) too many?" of lengths never given
        lambda X: [x[:, 0] for x in X[:, :, :1]],  # one channel, each of T values
        lambda X: [x[: 6 + i % 3] for i, x in enumerate(X)],  # ragged, some still ending in NaN padding
    ],
    ids=["a list of one shape", "a list of 1-D sequences", "a ragged list"],
)
def test_sequences_given_as_a_list_end_at_their_nan_padding_as_an_arrays_do(tmp_path: Path, given_as: Any) -> None:
    """``list(X)`` of a NaN-padded array (or a list of sequences that end in NaN steps) was refused as "NaN inside
    the valid steps ... does lengths count 5 step(s) too many?", where ``X`` itself is read with its NaN as padding
    (the unseen12 probe); a NaN inside a sequence is still refused."""
    from search.api import prepare_study

    rng = np.random.default_rng(0)
    X, lengths = _nan_padded(rng)
    X_test, _ = _nan_padded(rng)
    y = np.arange(20) % 2
    if len(given_as(X)[0].shape) == 1:  # the one-channel row: both splits of one channel
        X, X_test = X[:, :, :1], X_test[:, :, :1]
    data = {"X": given_as(X), "y": y, "X_test": given_as(X_test), "y_test": y}
    study = {**STUDY, "cv_folds": 2}
    p = prepare_study(study, data, storage=str(tmp_path / "j.log"))
    cut = np.minimum(lengths, [len(x) for x in data["X"]])  # (the ragged row cuts some of them shorter still)
    assert p.splits.train.lengths.tolist() == cut.tolist()
    as_array = prepare_study(study, {**data, "X": X}, storage=str(tmp_path / "j.log")).splits.train.X
    for i, n in enumerate(cut):  # the same values as the array's, NaN padding read alike
        assert np.array_equal(p.splits.train.X[i, :n], as_array[i, :n]) and not p.splits.train.X[i, n:].any()
    result = run_study(study, data, storage=str(tmp_path / "j.log"), trials=1, verdict=False, progress=False)
    assert result.counts["finished"] == 1
    inside = [x.copy() for x in given_as(X)]
    inside[4][1] = np.nan  # a NaN step inside sequence 4 (8 steps): still an error
    with pytest.raises(DataError, match=r"X contains NaN/Inf inside the valid steps \(sequence 4, step 1 of its"):
        run_study(study, {**data, "X": inside}, storage=str(tmp_path / "k.log"), trials=1, verdict=False)
    assert not (tmp_path / "k.log").exists()


def test_main_entry_is_the_search_command_line_named_regtune(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from search.entry import console as main_entry

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["regtune", "validate", "studies/smoke.yaml"])
    with pytest.raises(SystemExit) as done:
        main_entry()
    assert done.value.code == 0 and capsys.readouterr().out.startswith("studies/smoke.yaml: ok (smoke:")
    monkeypatch.setattr(sys, "argv", ["regtune", "--help"])
    with pytest.raises(SystemExit):
        main_entry()
    assert capsys.readouterr().out.startswith("usage: regtune ")


@pytest.mark.slow
def test_the_installed_regtune_command_runs() -> None:
    exe = Path(sys.executable).parent / "regtune"
    assert exe.exists(), "regtune is not installed: pip install -e . (make venv does)"
    run = subprocess.run([str(exe), "validate", "studies/smoke.yaml"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("studies/smoke.yaml: ok (smoke:")


def test_a_study_of_the_wrong_type_and_a_tensor_that_requires_grad(tmp_path: Path) -> None:
    """run_study([1, 2]) and run_study(None) raised pathlib's TypeError; a tensor with requires_grad numpy's
    RuntimeError."""
    import torch

    from search.api import prepare_study
    from search.spec import StudyFileError

    for bad in ([1, 2], None):
        with pytest.raises(StudyFileError, match=r"^study: a (list|NoneType); allowed: a study file path"):
            prepare_study(bad, None, str(tmp_path / "j.log"))  # type: ignore[arg-type]
    a = arrays()
    X = torch.tensor(a["X"], requires_grad=True)
    p = prepare_study(STUDY, (X, torch.tensor(a["y"]), a["X_test"], a["y_test"]), str(tmp_path / "j.log"))
    assert len(p.splits.train) == len(a["y"])


def test_a_path_storage_and_numpy_scalars_from_a_notebook(tmp_path: Path) -> None:
    """storage=Path(...) raised "'PosixPath' object has no attribute 'strip'"; hidden_size=np.int64(4) was refused
    as "must be an integer >= 1", seed=np.int64(3) and trials=np.int64(3) as "must be an integer" (np.float64
    passed: it is a float)."""
    from search.api import prepare_study

    study = {**STUDY, "seed": np.int64(3), "architecture": {**STUDY["architecture"], "hidden_size": np.int64(4)},
             "search": {"dropout": {"low": 0.0, "high": np.float32(0.5)}}}  # fmt: skip
    p = prepare_study(study, arrays(), tmp_path / "j.log")  # type: ignore[arg-type]
    assert p.url == str(tmp_path / "j.log") and p.spec.seed == 3 and type(p.spec.seed) is int
    assert p.spec.architecture["hidden_size"] == 4
    with pytest.raises(PreflightError, match=r"^storage=3: a int; allowed: a journal file path \(str or Path\)"):
        prepare_study(STUDY, arrays(), 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^trials=0: must be an integer >= 1"):
        run_study(STUDY, arrays(), storage=str(tmp_path / "j.log"), trials=np.int64(0))  # type: ignore[arg-type]
    assert not (tmp_path / "j.log").exists()


def test_a_notebooks_tensors_pandas_labels_and_home_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bfloat16 tensors raised "Got unsupported ScalarType BFloat16", a list of sequences that require grad
    "Can't call numpy() on Tensor that requires grad", a pandas Series of class names "y has dtype object", and
    storage="~/x.log" made a directory named "~"."""
    import torch

    from search.api import prepare_study

    a = arrays()
    names = np.array(["cat", "dog", "eel"])
    X = torch.tensor(a["X"]).bfloat16()
    p = prepare_study(STUDY, (X, a["y"], a["X_test"], a["y_test"]), str(tmp_path / "j.log"))
    assert p.splits.train.X.dtype == np.float32
    ragged = [torch.tensor(x[:n], requires_grad=True) for x, n in zip(a["X"], a["lengths"])]
    p = prepare_study(
        STUDY, {"X": ragged, "y": a["y"], "X_test": a["X_test"], "y_test": a["y_test"]}, str(tmp_path / "j.log")
    )
    assert list(p.splits.train.lengths) == list(a["lengths"])
    labels = names[a["y"]].astype(object)  # what a pandas Series of strings gives: an object array of str
    p = prepare_study(STUDY, (a["X"], labels, a["X_test"], names[a["y_test"]].astype(object)), str(tmp_path / "j.log"))
    assert p.splits.classes == sorted(set(names[a["y"]]))
    # a long DataFrame (one row per time step under an (instance, time) index: sktime's pd-multiindex) was read as
    # one sequence per row and refused as "y has shape (60,); expected (600,)" (the unseen11 probe): named, and
    # the way out it names loads
    import pandas as pd

    rows = [(i, t, *a["X"][i, t]) for i in range(len(a["X"])) for t in range(a["lengths"][i])]
    long = pd.DataFrame(rows, columns=["case", "step", "c0", "c1"]).set_index(["case", "step"])
    with pytest.raises(DataError, match=r"data: X is a DataFrame in long format \(\d+ rows under a two-level index "
                                        r"\(case, step\): one row per time step"):  # fmt: skip
        prepare_study(STUDY, {**a, "X": long, "lengths": None}, str(tmp_path / "j.log"))
    # (instances not in sorted order: the way out keeps them in y's order, where groupby's default sort reordered X
    # alone, silently: the review11 probe)
    order = np.r_[1 : len(a["X"]), 0]
    long = pd.concat([long.xs(i, level=0, drop_level=False) for i in order])
    with pytest.raises(DataError, match=r"groupby\(level=0, sort=False\)\], a list of T_i x C arrays \(lengths "):
        prepare_study(STUDY, {**a, "X": long, "lengths": None}, str(tmp_path / "j.log"))
    ragged = [g.to_numpy() for _, g in long.groupby(level=0, sort=False)]
    a = {**a, "y": a["y"][order]}
    assert [len(r) for r in ragged] == list(a["lengths"][order])
    p = prepare_study(STUDY, {**a, "X": ragged, "lengths": None}, str(tmp_path / "j.log"))
    assert list(p.splits.train.lengths) == list(a["lengths"][order])
    assert np.allclose(p.splits.train.X[0, : a["lengths"][order[0]]], a["X"][order[0], : a["lengths"][order[0]]])
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    p = prepare_study(STUDY, arrays(), "~/studies/j.log")
    assert p.url == str(tmp_path / "home" / "studies" / "j.log")
    assert not (tmp_path / "j.log").exists()


def test_a_stop_in_the_verdict_from_python_says_it_was_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Interrupted.verdict`` (True when the stop hit the final retraining, no trial) was never set through the
    API: a notebook could not tell a stopped verdict from a stopped trial."""
    import search.verdict
    from search.interrupts import Interrupted

    def stopped(*args: Any, **kwargs: Any) -> Any:
        raise Interrupted()

    monkeypatch.setattr(search.verdict, "final_result", stopped)
    with pytest.raises(Interrupted) as caught:
        run_study(STUDY, arrays(), storage=str(tmp_path / "j.log"), progress=False)
    assert caught.value.verdict is True


def test_a_recorded_total_below_the_budget_is_said(tmp_path: Path) -> None:
    """A quick ``trials=1`` look, then a plain run of the budget of 2: it ran nothing and said nothing."""
    journal = str(tmp_path / "j.log")
    run_study(STUDY, arrays(), storage=journal, trials=1, verdict=False, progress=False)
    with pytest.warns(UserWarning, match=r"works to its recorded total of 1 trials .* below its budget.trials of 2: "
                                         r"TRIALS=2 \(trials=2\) runs the rest"):  # fmt: skip
        assert run_study(STUDY, arrays(), storage=journal, verdict=False, progress=False).counts["finished"] == 1
    assert run_study(STUDY, arrays(), storage=journal, trials=2, verdict=False, progress=False).counts["finished"] == 2


def test_a_study_leaves_the_notebooks_random_streams_and_log_levels_as_they_were(tmp_path: Path) -> None:
    """After one run_study a notebook's np.random.rand() equalled a fresh seed 0's (every fit reseeds), and its
    Optuna INFO logging and Lightning logger levels stayed silenced."""
    import logging
    import random
    import warnings

    import optuna
    import torch

    before = optuna.logging.get_verbosity(), logging.getLogger("pytorch_lightning").level
    optuna.logging.set_verbosity(optuna.logging.INFO)
    logging.getLogger("pytorch_lightning").setLevel(logging.INFO)
    random.seed(123), np.random.seed(123), torch.manual_seed(123)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(123), np.random.seed(123), torch.manual_seed(123)
    filters = list(warnings.filters)
    try:
        run_study(STUDY, arrays(), storage=str(tmp_path / "j.log"), progress=False)
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
        assert logging.getLogger("pytorch_lightning").level == logging.INFO
        assert warnings.filters == filters
    finally:
        optuna.logging.set_verbosity(before[0])
        logging.getLogger("pytorch_lightning").setLevel(before[1])


def test_prepare_study_warns_what_validate_prints_for_a_study_file(tmp_path: Path) -> None:
    """`validate` and `study` print the data's warnings (a long tail the RNN reads step by step, an X that looks
    transposed); `prepare_study` on a study *file* said nothing of them, only in-memory arrays got their notes."""
    from search.api import prepare_study

    long_tail_npz(tmp_path / "tail.npz", n=30, long=4500, test=6)
    study = {**STUDY, "name": "tail", "dataset": "tail.npz"}
    (tmp_path / "tail.yaml").write_text(yaml.safe_dump(study))
    with pytest.warns(UserWarning, match=r"^tail: a tenth of the training sequences are 4,500 steps or longer"):
        prepare_study(tmp_path / "tail.yaml", storage=str(tmp_path / "journal.log"))
    assert not (tmp_path / "journal.log").exists()  # warned, nothing written


#: (argument, value, the error's words): a flag of the wrong type ran on (verdict="no" is truthy: the whole verdict)
BAD_FLAGS = [
    ("verdict", "no", r"^verdict='no': a str; allowed: True, False$"),
    ("verdict", None, r"^verdict=None: a NoneType; allowed: True, False$"),
    ("progress", 0, r"^progress=0: a int; allowed: True, False$"),
    ("progress", "False", r"^progress='False': a str; allowed: True, False$"),
]


@pytest.mark.parametrize(("name", "value", "words"), BAD_FLAGS, ids=[f"{c[0]}={c[1]!r}" for c in BAD_FLAGS])
def test_a_flag_that_is_not_a_bool_is_refused_before_anything_is_written(
    name: str, value: Any, words: str, tmp_path: Path
) -> None:
    journal = tmp_path / "j.log"
    with pytest.raises(ValueError, match=words):
        run_study(STUDY, arrays(), storage=str(journal), **{name: value})
    assert not journal.exists()


#: (how it is called, the study's data warning): every warning blamed on the notebook's own line
WARNED_FROM = [
    ("run_study", lambda study, a, journal: run_study(study, a, storage=journal, verdict=False, progress=False)),
    ("prepare_study", lambda study, a, journal: __import__("search.api").api.prepare_study(study, a, storage=journal)),
]


@pytest.mark.parametrize(("how", "call"), WARNED_FROM, ids=[c[0] for c in WARNED_FROM])
def test_the_data_warnings_are_blamed_on_the_notebooks_line(how: str, call: Any, tmp_path: Path) -> None:
    """Through run_study the data's warning named search/api.py (``p = prepare_study(...)``): a notebook's filter on
    its own module missed it, while the study's other warnings obeyed it."""
    import warnings

    a = arrays()
    a = {"X": a["X"], "y": a["y"], "lengths": a["lengths"]}  # a carved test split of 12: "one is 8.33 points"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call({**STUDY, "cv_folds": 1}, a, str(tmp_path / "j.log"))
    data = [w for w in caught if "the test split holds" in str(w.message)]
    assert data, [str(w.message) for w in caught]
    assert {Path(w.filename).name for w in data} == {Path(__file__).name}


#: (the study rerun, allow_change, what happens): a widened search was refused with "continue with --allow-change
#: (make study ALLOW_CHANGE=1)", which run_study had no argument for, and a dict study was to be renamed "in <study api>"
WIDENED = {**STUDY, "search": {"dropout": {"low": 0.0, "high": 0.4}}}
CHANGES = [
    (
        "widened",
        WIDENED,
        False,
        r"only widen the search .*: continue with allow_change=True, or give the study dict "
        r"a new 'name' to start a fresh one",
    ),  # fmt: skip
    (
        "narrowed",
        {**STUDY, "search": {"dropout": {"low": 0.0, "high": 0.2}}},
        True,
        r"not be comparable with new ones: undo the edit, or give the study dict a new 'name' to start",
    ),
    ("widened, allowed", WIDENED, True, None),
]


@pytest.mark.parametrize(("case", "study", "allow", "words"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_changed_study_from_python_is_told_what_run_study_takes(
    case: str, study: dict[str, Any], allow: bool, words: str | None, tmp_path: Path
) -> None:
    journal = tmp_path / "j.log"
    run_study(
        {**STUDY, "budget": {"trials": 1, "max_epochs": 1}}, arrays(), storage=journal, verdict=False, progress=False
    )
    size = journal.stat().st_size
    if words is None:
        result = run_study(study, arrays(), storage=journal, verdict=False, progress=False, allow_change=allow)
        assert result.counts["finished"] == 2
        return
    with pytest.raises(StudyChangedError, match=words) as raised:
        run_study(study, arrays(), storage=journal, verdict=False, progress=False, allow_change=allow)
    assert "--allow-change" not in str(raised.value) and "<study api>" not in str(raised.value).split("\n", 1)[1]
    assert journal.stat().st_size == size  # nothing written


#: (labels of one class, the class the error names): string labels of one class were named '0' ("one class ('0',
#: 40 sequences)"), not the class the user wrote
ONE_CLASS = [("strings", ["cat"], "'cat'"), ("whole numbers", [7], "'7'"), ("labels 0", [0], "'0'")]


@pytest.mark.parametrize(("case", "label", "named"), ONE_CLASS, ids=[c[0] for c in ONE_CLASS])
@pytest.mark.parametrize("given", ["memory", "npz"])
def test_a_single_class_is_named_as_the_user_wrote_it(
    case: str, label: list[Any], named: str, given: str, tmp_path: Path
) -> None:
    a = arrays()
    y = np.array(label * len(a["y"]))
    journal = tmp_path / "j.log"
    if given == "memory":
        with pytest.raises(DataError, match=rf"^data: y: the training split holds one class \({named}, "):
            run_study(STUDY, (a["X"], y), storage=journal)
    else:
        np.savez(tmp_path / "one.npz", X=a["X"], y=y, X_test=a["X_test"], y_test=y[: len(a["y_test"])])
        with pytest.raises(PreflightError, match=rf"one.npz: y: the training split holds one class \({named}, "):
            run_study({**STUDY, "dataset": str(tmp_path / "one.npz")}, storage=journal)
    assert not journal.exists()


@pytest.mark.parametrize(
    "field", [f.name for f in __import__("dataclasses").fields(__import__("search.api").api.Result)]
)
def test_every_result_field_is_described_where_help_shows_it(field: str) -> None:
    """``help(Result)`` showed only the generated signature: the fields were described in source comments."""
    from search.api import Result

    assert f"``{field}``: " in (Result.__doc__ or "")


def test_a_study_of_arrays_writes_its_report_from_python(tmp_path: Path) -> None:
    """(the notebook probe) A study run from in-memory arrays could not be reported: a study file cannot name them,
    and `python -m search report` said "no such study file". write_report writes the page make report writes, with
    the verdict run_study printed (its cached rows, retrained by nothing), and refuses other arrays as run_study does."""
    from search.api import write_report

    a, journal = arrays(), str(tmp_path / "journal.log")
    study = {**STUDY, "name": "rep", "final_seeds": 2}
    result = run_study(study, a, storage=journal, progress=False)
    out = write_report(study, a, storage=journal, out=tmp_path / "out")
    assert out == tmp_path / "out" and {"index.html", "summary.md", "report.json"} <= {p.name for p in out.iterdir()}
    final = json.loads((out / "report.json").read_text())["final"]
    assert final["best"]["mean"] == result.verdict["best"]["mean"]
    assert final["baseline"]["mean"] == result.verdict["baseline"]["mean"]
    with pytest.raises(StudyChangedError):  # other arrays: not this study's data
        write_report(study, arrays(seed=1), storage=journal, out=tmp_path / "other")
    assert not (tmp_path / "other").exists()

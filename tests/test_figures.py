"""Trial figures are drawn where they are looked at, never on a trial's path: reserved at trial end, drawn later."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState

from search.cli import main
from search.storage import open_storage
from search.trial_introspection import (
    FIGURES_ATTR,
    DashboardFigures,
    artifact_store,
    draw_in_background,
    draw_pending,
)
from tests.helpers import start_dashboard

STUDY = {
    "name": "figures",
    "dataset": "synthetic:n=120,length=12",
    "architecture": {"cell": "lstm", "hidden_size": 6},
    "budget": {"trials": 2, "max_epochs": 2},
    "sampler": "random",
    "pruner": "none",
    "cv_folds": 1,
    "recipes": False,
    "final_seeds": 1,
    "search": {"dropout": {"low": 0.0, "high": 0.3}},
    "fixed": {"lr": 0.01, "batch_size": 32},
}
PNG = b"\x89PNG\r\n\x1a\n"


def _run(tmp_path: Path, array_size: int = 1) -> tuple[optuna.Study, Path]:
    path = tmp_path / "figures.yaml"
    path.write_text(yaml.safe_dump({**STUDY, "array_size": array_size}))
    journal = tmp_path / "journal.log"
    assert main(["worker", str(path), "--storage", str(journal), "--trials", "2"]) == 0
    storage = open_storage(str(journal))
    return optuna.load_study(study_name="figures", storage=storage), path


# a lone trial, and the members of a trial array (per-epoch records from the stacked model: search.array_introspection)
ARRAY_SIZES = pytest.mark.parametrize("array_size", [1, 2], ids=["lone", "array"])


@ARRAY_SIZES
def test_a_trial_reserves_its_figures_and_draws_none(tmp_path: Path, array_size: int) -> None:
    study, _ = _run(tmp_path, array_size)
    store = artifact_store("figures", None, study._storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 2 and all(t.user_attrs.get("array", {}).get("size", 1) == array_size for t in complete)
    for t in complete:
        names = {m.filename for m in get_all_artifact_meta(t, storage=study._storage)}
        assert {"weights.png", "gradients.png", "saturation.png", "hidden_norm.png", "introspection.json"} <= names
        info = t.system_attrs[FIGURES_ATTR]
        assert set(info["figures"]) == {"weights", "gradients", "saturation", "hidden_norm"}
        for aid in info["figures"].values():  # reserved, not drawn: no matplotlib ran in the trial
            assert not (Path(store._base_path) / aid).exists()
        with store.open_reader(info["history"]) as f:
            record = json.loads(f.read())  # the numbers are kept per trial, one row per epoch
        assert [r["epoch"] for r in record["epochs"]] == [0.0, 1.0] and record["histograms"]
        assert {"grad.norm_mean", "grad.recurrent", "recurrent.spectral", "dead"} <= set(t.user_attrs["introspection"])


@ARRAY_SIZES
def test_figures_command_draws_them_and_a_second_run_has_nothing_to_do(
    tmp_path: Path, array_size: int, capsys: pytest.CaptureFixture[str]
) -> None:
    study, path = _run(tmp_path, array_size)
    # a directory the workers did not write to: it said "drew the figures of 0 trial(s)" and exited 0
    wrong = tmp_path / "elsewhere"
    assert main(["figures", str(path), "--storage", str(tmp_path / "journal.log"), "--artifacts", str(wrong)]) == 2
    assert main(["figures", str(path), "--storage", str(tmp_path / "journal.log")]) == 0
    store = artifact_store("figures", None, study._storage)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert complete
    for t in complete:
        for aid in t.system_attrs[FIGURES_ATTR]["figures"].values():
            assert (Path(store._base_path) / aid).read_bytes().startswith(PNG)
    assert draw_pending(study, store) == 0
    capsys.readouterr()
    assert main(["figures", str(path), "--storage", str(tmp_path / "journal.log")]) == 0  # (the journey probe)
    assert "no trial had figures left to draw in" in capsys.readouterr().out


@pytest.mark.slow
def test_the_dashboards_background_drawer_draws_new_trials(tmp_path: Path) -> None:
    study, _ = _run(tmp_path)
    store = artifact_store("figures", None, study._storage)
    stop = draw_in_background(DashboardFigures(study._storage, None, store), every=0.2)
    try:
        import time

        ids = [
            aid
            for t in study.get_trials(states=(TrialState.COMPLETE,))
            for aid in t.system_attrs[FIGURES_ATTR]["figures"].values()
        ]
        deadline = time.monotonic() + 60
        while not all((Path(store._base_path) / aid).exists() for aid in ids):
            assert time.monotonic() < deadline, "figures not drawn within 60 s"
            time.sleep(0.2)
    finally:
        stop.set()


@pytest.mark.slow
def test_the_dashboard_serves_the_figures_of_every_study_in_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two studies in one SQLite file keep their figures in runs/<study>/artifacts; the dashboard, started without
    a study file, served none of them (HTTP 500), and with one study's file only that one's. It now draws and
    serves both, and a figure whose history is on another machine is a picture saying so."""
    import signal
    import time
    import urllib.request

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({**STUDY, "name": name}))
        assert main(["worker", str(tmp_path / f"{name}.yaml"), "--storage", url, "--trials", "2"]) == 0
    storage = open_storage(url)
    figures = {
        (study._study_id, t._trial_id, aid): name
        for name in ("alpha", "beta")
        for study in [optuna.load_study(study_name=name, storage=storage)]
        for t in study.get_trials(states=(TrialState.COMPLETE,))
        for aid in t.system_attrs[FIGURES_ATTR]["figures"].values()
    }
    assert {name for name in figures.values()} == {"alpha", "beta"}
    gone = next(k for k, name in figures.items() if name == "beta")
    beta_history = storage.get_trial(gone[1]).system_attrs[FIGURES_ATTR]["history"]
    (tmp_path / "runs" / "beta" / "artifacts" / beta_history).unlink()  # that trial "ran on another machine"
    proc, port = start_dashboard("studies/lstm.yaml", url, tmp_path / "dashboard.log", tmp_path)
    try:

        def path(key: tuple[int, int, str]) -> Path:
            return tmp_path / "runs" / figures[key] / "artifacts" / key[2]

        drawable = [k for k in figures if k[:2] != gone[:2]]
        deadline = time.monotonic() + 120  # drawn in the background, every 5 s
        while not all(path(k).exists() for k in drawable):
            assert time.monotonic() < deadline, (tmp_path / "dashboard.log").read_text()
            time.sleep(0.5)
        time.sleep(6)  # another round of the drawer: the trial whose history is elsewhere still has none
        for key in figures:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/artifacts/{key[0]}/{key[1]}/{key[2]}").read()
            assert body.startswith(PNG)
            if key in drawable:
                assert body == path(key).read_bytes()
            else:  # the picture that says why, not a figure and not an HTTP 500
                assert not path(key).exists() and len(body) > 1000
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    log = (tmp_path / "dashboard.log").read_text()
    assert "runs/alpha/artifacts" in log and "runs/beta/artifacts" in log and "Traceback" not in log


@ARRAY_SIZES
def test_a_figures_folder_deleted_while_the_study_runs_is_made_again(
    tmp_path: Path, array_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faults4: the checkpoints' folder came back after an rm -rf, the figures' did not; every later trial recorded
    a history artifact whose file was never written, and `figures` had nothing left to draw."""
    import shutil

    import search.trial_introspection as ti

    reserve, deleted = ti.reserve_figures, []

    def then_delete(trial: optuna.Trial, history_id: str, kinds: list[str]) -> None:
        reserve(trial, history_id, kinds)
        if not deleted:  # the folder removed once the first trial stored its figures' record
            deleted.append(trial.number)
            shutil.rmtree(artifact_store("figures", None, trial.study._storage)._base_path)

    monkeypatch.setattr(ti, "reserve_figures", then_delete)
    study, _ = _run(tmp_path, array_size)
    store = artifact_store("figures", None, study._storage)
    later = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.number not in deleted]
    assert deleted and later
    assert all((Path(store._base_path) / t.system_attrs[FIGURES_ATTR]["history"]).exists() for t in later)

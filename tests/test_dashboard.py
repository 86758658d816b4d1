"""optuna-dashboard (``make dashboard``) in a real headless Chromium: the pages of a finished study render, with its
trial count and each trial's configuration; the storage URL it logs has its password masked."""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml

from search.spec import load_study
from search.storage import mask_url, open_storage
from search.worker import _say_what_the_value_is, ensure_study
from tests.browser import chromium, require_chromium
from tests.helpers import start_dashboard

ROOT = Path(__file__).resolve().parents[1]
SECRET = "dashboard-s3cret"
TRIALS = 7
METRIC = "val_acc (mean over 5 folds)"  # the objective's name: 200 synthetic sequences, the size rule's 5 folds


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def storage_url(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database (what ``make dashboard STORAGE=postgresql://...`` serves, with a password the
    server's trust auth ignores); the embedded journal file when the server is unreachable."""
    name = f"regtune_dash_{uuid.uuid4().hex[:10]}"
    try:
        _admin(f"CREATE DATABASE {name}")
    except Exception:
        yield str(tmp_path / "journal.log")
        return
    try:
        yield f"postgresql://postgres:{SECRET}@127.0.0.1:5432/{name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def finished_study(url: str, tmp_path: Path) -> tuple[Path, int]:
    """A finished tiny study with regtune's trial attributes (complete and pruned trials): its file and id."""
    path = tmp_path / "dash.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "dash",
                "dataset": "synthetic:n=200,length=20",
                "budget": {"trials": TRIALS},
                "search": {"dropout": {"low": 0.0, "high": 0.5}},
            }
        )  # fmt: skip
    )
    storage = open_storage(url)
    study = ensure_study(load_study(path), storage, total=TRIALS)  # as make study creates it: its objective named

    def objective(trial: optuna.Trial) -> float:
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        trial.set_user_attr("config", {"cell": "gru", "hidden_size": 8, "dropout": dropout, "max_epochs": 3})
        trial.set_user_attr("val_acc", 0.5 + dropout / 2)
        trial.set_user_attr("folds", 5)
        for epoch in range(3):
            trial.report(0.4 + epoch * dropout / 3, epoch)
        _say_what_the_value_is(storage, trial._trial_id, pruned=trial.number == 2)  # as the worker does
        if trial.number == 2:
            raise optuna.TrialPruned("pruned at epoch 2")
        return 0.5 + dropout / 2

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=TRIALS)
    return path, study._study_id


@pytest.mark.browser
def test_dashboard_shows_the_finished_study_with_its_trial_count(storage_url: str, tmp_path: Path) -> None:
    require_chromium()
    study_file, study_id = finished_study(storage_url, tmp_path)
    log = tmp_path / "dashboard.log"
    proc, port = start_dashboard(study_file, storage_url, log, ROOT, "--artifacts", str(tmp_path / "artifacts"))
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        base = f"http://127.0.0.1:{port}/dashboard"
        with chromium() as driver:

            def page(path: str, *texts: str) -> str:
                for attempt in (1, 2):  # one reload on a slow or stalled first load (a busy 2-core CI machine)
                    driver.get(base + path)
                    try:  # the single-page app fetches the study through the API after the page loads
                        WebDriverWait(driver, 60, poll_frequency=0.3).until(
                            lambda d: all(t in d.find_element(By.TAG_NAME, "body").text for t in texts)
                        )
                        return driver.find_element(By.TAG_NAME, "body").text
                    except Exception:
                        if attempt == 2:
                            text = driver.find_element(By.TAG_NAME, "body").text
                            pytest.fail(f"{path}: {texts} not shown after a reload; page text:\n{text}")
                raise AssertionError("unreachable")

            page("/", "dash")  # the study list
            study_page = page(f"/studies/{study_id}", "dash", "Best Trial", "History", METRIC)  # not "Objective 0"
            assert "Params" in study_page and "dropout" in study_page
            trials_page = page(f"/studies/{study_id}/trials", f"{TRIALS} Trials", "Complete", "Pruned")
            assert '"hidden_size": 8' in trials_page  # the trial's full configuration, as a user attribute
            # which quantity each value is: a pruned trial's running mean beside the complete trials' 5-fold means
            pruned_page = page(f"/studies/{study_id}/trials?numbers=2", "running mean over folds 1..1 of 5")
            assert "pruned at fold 1/5, epoch 3/3" in pruned_page
            assert "5-fold mean (complete)" in page(f"/studies/{study_id}/trials?numbers=0", "5-fold mean (complete)")
            assert driver.title.startswith("Optuna Dashboard") or "dash" in driver.title
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text()
    assert (
        f"optuna-dashboard for {mask_url(storage_url)} on http://127.0.0.1:{port}/dashboard/studies/{study_id}" in text
    )
    assert SECRET not in text

"""The regularization report: its statistics, and the HTML page in a real headless browser."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from search.report import pruning_summary, welch_p
from search.spec import parse_study
from tests.browser import chromium
from tests.test_search import TINY, run_cli, write_study


def test_welch_p_known_values() -> None:
    assert welch_p([0.9, 0.9, 0.9], [0.9, 0.9, 0.9]) == 1.0
    assert welch_p([1.0, 1.0], [0.5, 0.5]) == 0.0
    # t = -1.5 / sqrt(1/3 + 1/3) = -1.837 with df = 4 -> two-sided p = 0.1401
    assert welch_p([1.0, 2.0, 3.0], [2.5, 3.5, 4.5]) == pytest.approx(0.1401, abs=1e-3)
    assert welch_p([0.9], [0.8]) == 1.0  # one seed: no test


def test_pruning_summary_credits_pruned_trials_with_a_complete_trials_epochs(tmp_path: Path) -> None:
    spec = parse_study(TINY, tmp_path / "t.yaml")
    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    for epochs, state in (
        (10, TrialState.COMPLETE),
        (20, TrialState.COMPLETE),
        (3, TrialState.PRUNED),
        (6, TrialState.PRUNED),
    ):
        study.add_trial(create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                                     params={"x": 0.5}, distributions=dist, user_attrs={"epochs_run": epochs},
                                     intermediate_values={0: 0.4}))  # fmt: skip
    s = pruning_summary(study, spec)
    assert s["epochs_spent"] == 39 and s["epochs_per_complete_trial"] == 15
    assert s["epochs_saved"] == 2 * 15 - 9 and s["saved_fraction"] == pytest.approx(21 / 60)


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_in_a_browser_with_its_figures(tmp_path: Path) -> None:
    path = write_study(tmp_path, name="report-test", budget={"trials": 5, "max_epochs": 4}, final_seeds=2)
    storage = tmp_path / "journal.log"
    assert run_cli("study", str(path), "--storage", str(storage)).returncode == 0
    result = run_cli("report", str(path), "--storage", str(storage))
    assert result.returncode == 0, result.stderr[-3000:]
    out = Path(__file__).resolve().parents[1] / "runs" / "report-test" / "report"
    data = json.loads((out / "report.json").read_text())
    assert data["final"]["seeds"] == 2 and set(data["introspection"]) == {"best", "baseline"}
    assert "recurrent.spectral" in data["introspection"]["best"]["stats"]
    assert "## Diagnoses" in (out / "summary.md").read_text()
    with chromium() as browser:
        browser.get((out / "index.html").as_uri())
        assert "which regularizers, and why" in browser.find_element("tag name", "h1").text
        images = browser.find_elements("tag name", "img")
        assert len(images) >= 8
        loaded = browser.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert all(loaded), loaded
        body = browser.find_element("tag name", "body").text
        assert "Result on the test split" in body and "no regularization" in body and "Pruning" in body

"""The regularization report: its statistics, and the HTML page in a real headless browser."""

from __future__ import annotations

import dataclasses
import html
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import markupsafe
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from search.preflight import PreflightError, check_storage_url
from search.report import render
from search.report.build import build
from search.report.data import StudyData, comparison, pruning_summary
from search.spec import parse_study
from search.storage import open_storage
from search.worker import ensure_study, run_worker
from tests.browser import chromium
from tests.helpers import TINY, run_cli, run_main, start_dashboard, write_study


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
    result = run_cli("report", str(path), "--storage", str(storage), "--out", str(tmp_path / "reports"))
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "reports" / "report-test"
    assert f"report for report-test -> {out}/index.html" in result.stdout
    data = json.loads((out / "report.json").read_text())
    assert data["final"]["seeds"] == 2 and set(data["introspection"]) == {"best", "baseline"}
    assert "recurrent.spectral" in data["introspection"]["best"]["stats"]
    assert "## Diagnoses" in (out / "summary.md").read_text()
    assert data["final"]["majority"]["acc"] > 0 and "| majority class (always" in (out / "summary.md").read_text()
    with chromium() as browser:
        browser.get((out / "index.html").as_uri())
        assert "which regularizers, and why" in browser.find_element("tag name", "h1").text
        images = browser.find_elements("tag name", "img")
        assert len(images) >= 8
        loaded = browser.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert all(loaded), loaded
        body = browser.find_element("tag name", "body").text
        assert (
            "Result on the test split" in body
            and "best against the baseline (searched regularizers off" in body
            and "Pruning" in body
        )
        assert "majority class: always" in body


def _reported(tmp_path: Path, raw: dict[str, Any]) -> tuple[Any, Any, Path]:
    """The study ``raw`` run to its budget in a journal under ``tmp_path`` and reported into ``tmp_path/report``:
    (spec, storage, the report's folder)."""
    spec = parse_study(raw, tmp_path / f"{raw['name']}.yaml")
    storage = open_storage(str(tmp_path / "journal.log"))
    ensure_study(spec, storage, total=spec.trials)
    run_worker(spec, storage, spec.trials)
    out = tmp_path / "report"
    build(optuna.load_study(study_name=spec.name, storage=storage), spec, out, url=str(tmp_path / "journal.log"))
    return spec, storage, out


def test_one_structure_renders_the_page_the_summary_and_the_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report.json alone renders the same page and summary.md; given-up trials and the comparison come from it."""
    raw = {**TINY, "name": "render", "budget": {"trials": 3, "max_epochs": 2}, "final_seeds": 2}
    spec, storage, out = _reported(tmp_path, raw)
    data = StudyData(**json.loads((out / "report.json").read_text()))
    # a study outside its default journal: the report's commands name its STORAGE, as `make study` prints them
    # (they opened the default journal: "no study ... run make study first")
    assert data.dashboard == f"make dashboard STUDY={spec.path} STORAGE={tmp_path / 'journal.log'}"
    assert render.page(data) == (out / "index.html").read_text()
    # a class name with a table's bar or markup stays in its Markdown cell; a 1,000-class share is not "0%" (unseen8)
    odd = dataclasses.replace(data, final={**(data.final or {}), "majority": {
        **(data.final or {})["majority"], "label": "a|<b>", "share": 0.001}})  # fmt: skip
    row = next(line for line in render.markdown(odd).splitlines() if line.startswith("| majority class"))
    assert '(always "a\\|&lt;b&gt;", 0.1% of training; no model)' in row and row.count(" | ") == 3, row
    assert "0.1% of the training split" in render.render("verdict.txt.j2", res=odd.final, best_label="best")
    # both rows carry their late rise, read by the budget warning (the baseline's since the consist8 probe)
    assert all("rise" in (data.final or {})[row] for row in ("best", "baseline")), data.final
    assert render.markdown(data) == (out / "summary.md").read_text()
    floor = data.final["majority"]["acc"]  # recipe rows no better than no model at all are marked, the others not
    assert data.recipes and all(("majority" in r) == (r["mean"] <= floor) for r in data.recipes if "mean" in r)
    row = next(r for r in data.recipes if "mean" in r)  # a recipe that tested above the chosen row is reconciled
    data.recipes = [{**row, "mean": 2.0, "p_holm": 0.001, "is_best": False}]  # with the verdict on both pages
    lead = render.recipe_leads(data)[0]
    assert str(markupsafe.escape(lead)) in render.page(data) and lead in render.markdown(data)
    assert {f["file"] for f in data.figures} == {"history.png", "slices.png"}
    assert all((out / f["file"]).is_file() for f in data.figures)
    # 3 trials, fewer than ranking needs: the page said nothing under an empty table, the slices "most important"
    assert not any(data.importances.values()) and "Not ranked: 3 complete trial(s)" in render.page(data)
    # ranked: both evaluators in summary.md as on the page, and a caveat where they disagree on few trials
    ranked = dataclasses.replace(data, importances={"fANOVA": {"recurrent_dropout": 0.642, "dropout": 0.222},
                                                    "PED-ANOVA": {"recurrent_dropout": 0.07, "dropout": 0.933}})  # fmt: skip
    md = render.markdown(ranked)
    # one item a line: the items ran together on one line ("- a: 0.779 / 0.961- b: ...", one bullet in Markdown)
    # and the Pruning line joined the list (the unseen10 probe); a substring test could not see it
    lines = md.splitlines()
    for item in ("- recurrent_dropout: 0.642 / 0.070", "- dropout: 0.222 / 0.933"):
        assert item in lines, md
    pruning = next(i for i, line in enumerate(lines) if line.startswith("Pruning:"))
    assert lines[pruning - 1] == "" and lines[pruning - 2] == "- dropout: 0.222 / 0.933", md
    caveat = ("Read with care: from 3 complete trials only: a rough estimate; the evaluators rank different "
              "parameters first (fANOVA: recurrent_dropout, PED-ANOVA: dropout): neither ranking is a finding.")  # fmt: skip
    assert caveat in md and caveat in html.unescape(render.page(ranked)).replace("<strong>", "").replace(
        "</strong>", ""
    )
    assert (
        "Objective against the 3 parameters (too few complete trials, all of them tied or within one standard "
        "error of the best, or none varied: nothing to rank them by)." in [f["caption"] for f in data.figures]
    )

    row = {"trial": 7, "recipe": "dropout 0.1", "reason": "crashed 4 times: worker process died",
           "retry": f"make retry STUDY={spec.path} TRIAL=7"}  # fmt: skip
    gave = dataclasses.replace(data, gave_up=[row])
    assert row["reason"] in render.page(gave) and f"`{row['retry']}`" in render.markdown(gave)
    assert render.print_summary(gave, lambda: gave.final or {}) == 0
    text = capsys.readouterr().out
    assert f"  trial #7 (dropout 0.1): {row['reason']}; run it again: {row['retry']}" in text
    for line in (f"best trial #{data.best_trial}", "  baseline ", "difference", "dashboard: make dashboard"):
        assert line in text, line

    stale = dataclasses.replace(data, stale_recipes=[3, 5])  # recipe trials of an earlier --allow-change'd file
    note = "Not compared: recipe trial(s) #3, #5, which ran settings that none of the study file"
    assert note in render.page(stale) and note in render.markdown(stale) and note not in render.markdown(data)

    one = dataclasses.replace(data, regularizers_on={})
    two = dataclasses.replace(data, study="other", architecture={"cell": "lstm", "num_layers": 2},
                              regularizers_on={"dropout": 0.25})  # fmt: skip
    cmp = comparison([one, two])
    assert cmp.regularizers == ["dropout"]
    md = render.comparison_markdown(cmp)
    # the header names the network the best ran (its config: gru 8), over the study's written architecture
    assert "| dropout | off | 0.25 |" in md and "other (gru, 1 layer, 8 units)" in md
    f = data.final or {}  # how each column was measured: a 2-seed study beside a 1-seed one showed only no "±"
    assert f"| measured on | {f['seeds']} seed(s), {data.folds or 1} fold(s), test split of {f['test_size']} |" in md
    # each column's dataset and warnings (a best row no better than always answering one class read as a finding)
    assert (
        f"| dataset | {data.dataset} | {data.dataset} |" in md and "| warnings (the study's report says more) |" in md
    )
    assert "| of it: the regularizers (best - best with them off) | no such row" in md
    final = data.final or {}
    split = {**final, "paired_regularizers": {"n": 2, "mean": 0.01, "low": -0.1, "high": 0.12, "p": 0.5}}
    md = render.comparison_markdown(comparison([one, dataclasses.replace(two, final=split)]))
    assert "| +0.0100 (95% CI -0.100..+0.120, paired over 2 seeds, on this test split only, p=0.5) |" in md
    assert 'href="../other/report/index.html"' in render.comparison_page(cmp)
    # the majority row in the accuracies' four decimals (0.525 and 0.0333 stood beside 0.9875 ± 0.0000)
    for acc, shown in ((0.525, "0.5250"), (1 / 30, "0.0333"), (0.9, "0.9000"), (1.0, "1.0000")):
        at = dataclasses.replace(two, final={**final, "majority": {**final["majority"], "acc": acc}})
        assert f"| majority class (always one class; no model) | {fmt_acc(one)} | {shown} |" in (
            render.comparison_markdown(comparison([one, at]))
        ), acc
    # a class name a warning quotes, or a dataset path, with a table's bar or markup stays in its cell (unseen11)
    classes = [{"class": "a|<b>", "recall": 0.0, "sequences": 3}, {"class": "c", "recall": 1.0, "sequences": 3}]
    odd = dataclasses.replace(two, dataset="data/x|y.npz", final={**final, "classes": classes})
    md = render.comparison_markdown(comparison([one, odd]))
    for name in ("dataset", "warnings (the study's report says more)"):
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} |"))
        assert row.replace("\\|", "").count("|") == 4 and "<b>" not in row, row
    assert "| data/x\\|y.npz |" in md and '(recall "a\\|&lt;b&gt;" 0.00 of its 3 test sequences)' in md, md
    paragraph = next(line for line in render.markdown(odd).splitlines() if "(recall " in line)
    assert '(recall "a|&lt;b&gt;" 0.00' in paragraph and paragraph.startswith("**Warning**: "), paragraph
    elsewhere = dataclasses.replace(two, report_dir="runs/other/report-postgresql-db-123abc")
    page = render.comparison_page(comparison([one, elsewhere]), Path("runs/comparison"))
    assert 'href="../other/report-postgresql-db-123abc/index.html"' in page


def fmt_acc(data: StudyData) -> str:
    return f"{(data.final or {})['majority']['acc']:.4f}"


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("runs/lstm/journal.log", "runs/lstm/report"),  # the study's default journal: as before
        ("runs/lstm/../lstm/journal.log", "runs/lstm/report"),  # however it is spelled
        (f"file://{Path.cwd()}/runs/lstm/journal.log", "runs/lstm/report"),
        ("runs/lstm/other.log", "runs/lstm/report-other-"),
        ("/data/shared/journal.log", "runs/lstm/report-journal-"),
        ("sqlite:///runs/lstm/study.db", "runs/lstm/report-study-"),
        ("postgresql://postgres:secret@127.0.0.1:5432/test", "runs/lstm/report-postgresql-127.0.0.1-test-"),
    ],
)
def test_each_storage_has_its_own_report_directory(url: str, where: str) -> None:
    """Every report went to runs/<study>/report: a study of the same name in another storage wrote over it."""
    from search.report.build import report_dir

    got = str(report_dir("lstm", url))
    assert got == where if where.endswith("report") else got.startswith(where) and len(got) == len(where) + 6
    assert "secret" not in got
    assert report_dir("lstm", "/elsewhere/journal.log") != report_dir("lstm", "/data/shared/journal.log")
    assert report_dir("lstm", "postgresql://u@h/db?port=5433") != report_dir("lstm", "postgresql://u@h/db")
    same = {report_dir("lstm", u) for u in ("postgresql://u@h/db", "postgresql+psycopg2://u:pw@h/db?sslmode=require")}
    assert len(same) == 1  # the driver, a password and connection options name no other store
    assert report_dir("lstm", "postgresql://u@h:5432/db") == report_dir("lstm", "postgresql://u@h/db")  # the default
    assert report_dir("lstm", "postgresql://u@h:5433/db") != report_dir("lstm", "postgresql://u@h/db")
    pw = report_dir("lstm", "postgresql://postgres:other@127.0.0.1:5432/test")
    assert (pw == report_dir("lstm", url)) == url.startswith("postgresql")  # the password is not part of the key


def test_too_few_complete_trials_rank_no_parameter() -> None:
    """One complete trial: fANOVA gave every parameter the same share and the report named a "top parameter"."""
    from search.report.data import MIN_RANKED, importances

    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1), "y": FloatDistribution(0, 1)}
    for i in range(MIN_RANKED):
        if i == 1:
            assert importances(study) == {"fANOVA": {}, "PED-ANOVA": {}}
        study.add_trial(create_trial(value=0.1 * i, params={"x": 0.2 * i, "y": 0.5 - 0.1 * i}, distributions=dist))
    assert set(importances(study)["fANOVA"]) == {"x", "y"}


def test_recipe_rows_are_judged_after_holms_correction() -> None:
    """Eight recipes tested against the baseline at p < 0.05 call one "significant" by chance up to 34 % of the
    time; the rows are judged on Holm's step-down adjusted p (known values), the unadjusted p shown beside it."""
    from search.report.data import holm

    rows = holm([{"p": 0.01}, {"p": 0.04}, {"p": 0.03}, {"p": 0.2}, {"p": None}])
    assert [r["p_holm"] for r in rows] == pytest.approx([0.04, 0.09, 0.09, 0.2, None])
    assert render.recipe_verdict(rows[0], 4) == (
        "significant after Holm's correction over 4 recipes (p = 0.040; unadjusted 0.010)"
    )
    assert render.recipe_verdict(rows[2], 4).startswith("not significant after Holm's correction")
    assert render.recipe_verdict(rows[4], 4) == "no test (1 seed)"
    assert render.recipe_verdict({"p": 0.01}, 4) == render.verdict(0.01)  # a row from before the correction
    # (a probe, 2026-12-05) the search chose a starting point: its recipe row is the best row's runs, called
    # "significant" there (p 0.023) and "not significant after Holm's correction" here; judged once, as the best
    rows = holm([{"p": 0.023, "is_best": True}, {"p": 0.04}, {"p": 0.2}])
    assert [r["p_holm"] for r in rows] == pytest.approx([None, 0.08, 0.2]) and rows[1]["family"] == 2
    assert render.recipe_verdict(rows[0], 3).startswith("the best row's runs: judged there, once")
    assert "over 2 recipes" in render.recipe_verdict(rows[1], 3)
    # a row compared with its own runs (the baseline chosen as the tuned row) gets no test verdict
    assert render.paired_verdict({"mean": 0.0, "p": 1.0, "same": True}).startswith("— (the same runs")
    assert render.paired_verdict({"mean": 0.01, "p": 0.01}) == render.verdict(0.01)


@pytest.fixture
def read_only_dir(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A directory mounted read-only over ``tmp_path/rw`` (a real bind mount: root passes every permission check, a
    read-only file system it does not); skipped where mounting is not permitted."""
    import subprocess

    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    if subprocess.run(["mount", "--bind", str(rw), str(ro)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts are not permitted here")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True).returncode != 0:
            pytest.skip("read-only remounts are not permitted here")
        yield rw, ro
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)


@pytest.mark.slow
def test_a_read_only_journal_is_reported_from_a_copy(
    read_only_dir: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An archived or a colleague's study on a read-only disk: report refused it ("the journal file is not
    writable") although it only reads. It now reads a private copy, says that the rows it retrains are not kept,
    and leaves the store and its directory as they were; study still refuses to write there, and says what reads."""
    rw, ro = read_only_dir
    study = write_study(tmp_path, budget={"trials": 2, "max_epochs": 2})
    assert run_main(capsys, "study", str(study), "--storage", str(rw / "j.log")).returncode == 0
    before = (rw / "j.log").read_bytes()
    listing = sorted(p.name for p in rw.iterdir())
    done = run_main(capsys, "report", str(study), "--storage", str(ro / "j.log"), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert f"note: {ro / 'j.log'} is read-only: the report reads a copy" in done.stderr
    assert (tmp_path / "out" / "tiny" / "index.html").is_file() and "| best (trial #" in done.stdout
    assert (rw / "j.log").read_bytes() == before and sorted(p.name for p in rw.iterdir()) == listing
    refused = run_main(capsys, "study", str(study), "--storage", str(ro / "j.log"), "--trials", "3")
    assert refused.returncode == 2 and "the journal file is not writable (make report reads" in refused.stderr
    missing = run_main(capsys, "report", str(study), "--storage", str(ro / "none.log"))
    assert missing.returncode != 0 and f"no study 'tiny' in {ro / 'none.log'} (no such file)" in missing.stderr
    _serves_a_snapshot(study, ro / "j.log", tmp_path)
    with open(rw / "j.log", "ab") as f:  # another machine's worker in the middle of appending a record
        f.write(b'{"op_code": 5, "worker_id": "ab')
    from search.storage import load_existing, readable

    with readable(str(ro / "j.log")) as copy:  # the copy ends at the last complete record: nothing set aside
        assert load_existing(copy, "tiny", study).trials and not list(Path(copy).parent.glob("*.torn*"))
    before = (rw / "j.log").read_bytes()
    (rw / "s.db").write_bytes(b"")  # SQLite: "attempt to write a readonly database", retried for 60 s, before
    with pytest.raises(PreflightError, match="the SQLite file is not writable .make report reads a finished study"):
        check_storage_url(f"sqlite:///{ro / 's.db'}", "--storage/STORAGE")
    check_storage_url(f"sqlite:///{ro / 's.db'}", "--storage/STORAGE", read_only=True)
    (rw / "s.db").unlink()
    assert (rw / "j.log").read_bytes() == before and sorted(p.name for p in rw.iterdir()) == listing


def _serves_a_snapshot(study: Path, journal: Path, tmp_path: Path) -> None:
    """The dashboard on a read-only journal: it stopped with EROFS on the journal's lock file; it now serves a copy."""
    import urllib.request

    log = tmp_path / "dashboard.log"
    proc, port = start_dashboard(study, str(journal), log, tmp_path)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=10) as r:
            studies = json.loads(r.read())["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"], studies
        assert "is read-only: the dashboard shows a copy taken now" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_read_only_store_is_read_from_a_copy_up_to_its_last_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mechanism the read-only test above drives through a real read-only mount (skipped where mounting is not
    permitted), here where any root can run it: a store that cannot be written is read from a private copy, which
    ends at its last complete record (another machine's append in progress), and is removed afterwards; errors
    name the original file."""
    import search.storage as storage_module
    from search.storage import StorageError, readable

    journal = tmp_path / "j.log"
    journal.write_bytes(b'{"op_code": 0}\n{"op_code": 5, "work')
    with readable(str(journal)) as same:
        assert same == str(journal)  # writable: itself
    monkeypatch.setattr(storage_module, "writable", lambda path: False)
    with pytest.raises(StorageError, match=f"no study 'x' in {journal}"):
        with readable(str(journal)) as copy:
            assert copy != str(journal) and Path(copy).read_bytes() == b'{"op_code": 0}\n'
            raise StorageError(f"no study 'x' in {copy}")
    assert not Path(copy).exists() and journal.read_bytes().endswith(b'"work')
    assert f"note: {journal} is read-only: the report reads a copy" in capsys.readouterr().err


def test_a_diverging_introspection_refit_keeps_its_records_and_says_so() -> None:
    """SGD at lr 1e7 without clipping: the verdict scored the row's diverged seeds 0 and said so, and then
    ``make report`` died in this refit with the fit's traceback and wrote nothing."""
    from search.report.data import introspect
    from search.spec import StudySpec
    from search.verdict import baseline_config

    spec = StudySpec(
        path=Path("s.yaml"), name="s", dataset="synthetic:n=60", architecture={"hidden_size": 8}, trials=1,
        max_epochs=4, fixed={"lr": 1e7, "optimizer": "sgd", "clip_norm": 0.0},
    )  # fmt: skip
    probe, epoch, diverged = introspect(spec, baseline_config(spec))
    assert diverged is not None and diverged.startswith(
        ("training loss", "validation loss")
    )  # (validated: the first to see it)
    assert probe.epochs and probe.epochs[-1]["diverged"] == 1.0 and epoch == probe.epochs[-1]["epoch"]
    assert probe.summary(epoch)  # the measurements up to the divergence are there to be read


@pytest.mark.parametrize(
    ("total", "finished", "waiting", "said"),
    [
        (
            3,
            3,
            2,
            "2 enqueued trial(s) (the recipes) did not run: the study's 3 finished trials "
            "came first; `make study TRIALS=5` runs them",
        ),
        (  # a rerun with a smaller TRIALS: 5 finished, not 2, came first
            2,
            5,
            2,
            "did not run: the study's 5 finished trials came first; `make study TRIALS=7` runs them",
        ),
        (3, 2, 2, None),  # still running: they may yet run
        (3, 3, 0, None),
        (  # a dead worker's trial re-queued behind a retried one: it was called a recipe (the ops6 probe)
            34,
            34,
            -1,
            "1 re-queued trial(s) (stopped or crashed, to run again) did not run: the study's 34 finished trials "
            "came first; `make study TRIALS=35` runs them",
        ),
        (3, 3, -3, "1 enqueued trial(s) (the recipes) and 2 re-queued trial(s)"),
        # (the studies7 probe) a study file without starting points of its own was told "your starting points" waited
        (3, 3, 20, "3 enqueued trial(s) (1 recipe(s), 2 of the study file's starting points) did not run"),
        (3, 3, 30, "2 enqueued trial(s) (the study file's starting points) did not run"),
    ],
    ids=["budget used", "total lowered", "running", "none waiting", "a re-queued trial", "both", "mixed", "own"],
)
def test_enqueued_trials_the_budget_did_not_reach_are_named(
    total: int, finished: int, waiting: int, said: str | None
) -> None:
    """A 3-trial study of long data left its two branch-dropout recipes waiting, and only the count said so.
    ``waiting`` below 0: |waiting| trials waiting, of them re-queued one (-1) or two (-3), the rest recipes; 20 and
    30: 3 and 2 waiting, of them 2 the study file's own starting points."""
    from search.report.data import StudyData

    requeued = {-1: 1, -3: 2}.get(waiting, 0)
    own, waiting = {20: (2, 3), 30: (2, 2)}.get(waiting, (0, waiting))
    counts = {"finished": finished, "complete": finished, "pruned": 0, "fail": 0, "waiting": abs(waiting),
              "requeued": requeued, "own_points": own}  # fmt: skip
    d = StudyData("s", "s.yaml", "", "synthetic", {}, "val_acc", total, counts, [], "")
    head = render.render("summary.txt.j2", d=d, part="head")
    assert (said in head) if said else ("did not run" not in head), head


def test_a_one_seed_row_shows_no_spread() -> None:
    """final_seeds: 1 printed every row as `0.5375 ± 0.0000`, a spread of zero that was never measured."""
    one, three = {"mean": 0.5375, "std": 0.0, "accs": [0.5375]}, {"mean": 0.5, "std": 0.1, "accs": [0.4, 0.5, 0.6]}
    assert render.accuracy(one) == "0.5375" and render.accuracy(three) == "0.5000 ± 0.1000"
    assert len(render.accuracy(one, pad=True)) == len(render.accuracy(three))  # the verdict's columns stay aligned


def test_several_studies_are_all_checked_before_any_is_retrained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make report STUDY="a.yaml nope.yaml"` retrained and wrote a.yaml's report (minutes), then said that
    nope.yaml does not exist; a study missing from the storage the same."""
    from search.cli import main

    study = write_study(tmp_path, budget={"trials": 1, "max_epochs": 1})
    journal = str(tmp_path / "j.log")
    assert main(["study", str(study), "--storage", journal]) == 0
    (tmp_path / "absent").mkdir()
    absent = write_study(tmp_path / "absent", "absent", budget={"trials": 1, "max_epochs": 1})
    capsys.readouterr()
    for other, said in ((tmp_path / "nope.yaml", "nope.yaml"), (absent, "no study 'absent' in")):
        assert main(["report", str(study), str(other), "--storage", journal, "--out", str(tmp_path / "out")]) == 2
        out = capsys.readouterr()
        assert said in out.err and "report for" not in out.out, (out.out, out.err)
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_starting_point_that_leaves_lr_to_the_sampler_is_reported_and_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A study file's point that sets dropout only, where lr is searched by default: its trial drew its lr, so
    its configuration is known only once it ran. `make report` raised "The value of the parameter 'lr' is not
    found" (and so did a resume with --allow-change); the point's row is its trial's."""
    from search.cli import main

    fixed = {"batch_size": 32}  # lr not fixed: searched by default
    study = write_study(tmp_path, budget={"trials": 1, "max_epochs": 2}, recipes=False, final_seeds=1,
                        fixed=fixed, starting_points=[{"dropout": 0.2}])  # fmt: skip
    journal = str(tmp_path / "j.log")
    assert main(["study", str(study), "--storage", journal]) == 0
    capsys.readouterr()
    assert main(["report", str(study), "--storage", journal, "--out", str(tmp_path / "out")]) == 0, capsys.readouterr()
    summary = (tmp_path / "out" / "tiny" / "summary.md").read_text()
    assert "starting point 0 of tiny.yaml" in summary, summary
    wider = write_study(tmp_path, budget={"trials": 1, "max_epochs": 2}, recipes=False, final_seeds=1, fixed=fixed,
                        starting_points=[{"dropout": 0.2}], search={**TINY["search"], "dropout": {"low": 0.0, "high": 0.4}})  # fmt: skip
    assert main(["study", str(wider), "--storage", journal, "--allow-change"]) == 0, capsys.readouterr()
    trials = optuna.load_study(study_name="tiny", storage=open_storage(journal)).trials
    assert len(trials) == 1, [(t.number, t.state, t.params) for t in trials]  # the point was not enqueued again


def test_the_dashboard_hint_names_the_artifacts_the_study_ran_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The closing `dashboard: make dashboard ...` line left ARTIFACTS out: run as printed, the dashboard drew the
    figures again into another directory."""
    import shlex

    from search.cli import main

    study = write_study(tmp_path, budget={"trials": 1, "max_epochs": 1})
    art = tmp_path / "my figures"
    assert main(["study", str(study), "--storage", str(tmp_path / "j.log"), "--artifacts", str(art)]) == 0
    hint = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("dashboard: "))
    assert hint.endswith(f" ARTIFACTS={shlex.quote(str(art))}") and f"STUDY={shlex.quote(str(study))}" in hint, hint


def test_a_report_folder_is_replaced_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C while the figures were drawn left a folder whose history plot showed 12 trials while its page
    named the old best (or no index.html at all), under "no report was written"."""
    from search.interrupts import Interrupted
    from search.report import build as build_module

    outdir = tmp_path / "runs" / "s" / "report"
    outdir.mkdir(parents=True)
    for name in ("index.html", "history.png"):
        (outdir / name).write_text(f"old {name}")
    data = StudyData(study="s", study_file="s.yaml", description="d", dataset="x", architecture={}, metric="val_acc",
                     total=1, counts={}, gave_up=[], dashboard="")  # fmt: skip
    monkeypatch.setattr(build_module, "study_report", lambda *a: (data, {}))

    def halfway(study: object, spec: object, where: Path, *rest: object) -> None:
        (where / "history.png").write_text("new history.png")
        raise Interrupted()

    monkeypatch.setattr(build_module, "_write", halfway)
    dead = subprocess.Popen(["true"])  # a SIGKILLed report's partial folder (its pid gone): swept by the next
    dead.wait()
    (outdir.parent / f".report.partial-{build_module._HOST}-{dead.pid}").mkdir()
    (outdir.parent / f".report.partial-{build_module._HOST}-{os.getpid()}-x").mkdir()  # not a pid: left alone
    (outdir.parent / f".report.partial-elsewhere-{dead.pid}").mkdir()  # another machine's (a shared runs/)
    with pytest.raises(Interrupted):
        build_module.build(None, None, outdir)  # type: ignore[arg-type]
    assert {p.name: p.read_text() for p in outdir.iterdir()} == {"index.html": "old index.html",
                                                                 "history.png": "old history.png"}  # fmt: skip
    kept = [f".report.partial-{build_module._HOST}-{os.getpid()}-x", f".report.partial-elsewhere-{dead.pid}"]
    assert sorted(p.name for p in outdir.parent.iterdir()) == sorted([*kept, "report"])

    def whole(study: object, spec: object, where: Path, *rest: object) -> None:
        for name in ("index.html", "summary.md"):
            (where / name).write_text(f"new {name}")

    monkeypatch.setattr(build_module, "_write", whole)
    assert build_module.build(None, None, outdir).report_dir == str(outdir)  # type: ignore[arg-type]
    assert {p.name: p.read_text() for p in outdir.iterdir()} == {"index.html": "new index.html",
                                                                 "summary.md": "new summary.md"}  # fmt: skip
    for name in kept:
        (outdir.parent / name).rmdir()
    assert sorted(p.name for p in outdir.parent.iterdir()) == ["report"]

    def stop_at_second_rename(self: Path, target: Path) -> Path:  # Ctrl-C between the two renames of the swap
        if self.name.startswith(".report.partial"):
            raise Interrupted()
        return real_rename(self, target)

    real_rename = Path.rename
    monkeypatch.setattr(Path, "rename", stop_at_second_rename)
    with pytest.raises(Interrupted):
        build_module.build(None, None, outdir)  # type: ignore[arg-type]
    monkeypatch.setattr(Path, "rename", real_rename)
    assert (outdir / "index.html").read_text() == "new index.html"  # the old folder put back
    assert sorted(p.name for p in outdir.parent.iterdir()) == ["report"]
    link = tmp_path / "link"
    link.symlink_to(outdir)  # a link to the report folder stays a link; the folder it names is replaced
    assert build_module.build(None, None, link).report_dir == str(link)  # type: ignore[arg-type]
    assert link.is_symlink() and (link / "summary.md").read_text() == "new summary.md"


def test_trials_handed_back_past_the_total_are_not_counted_as_failed() -> None:
    """A worker filling a trial array near the total asks trials it then hands back untrained; a shared study
    ended with "2 failed" in its summary and report where nothing had failed (a PostgreSQL probe, 2026-12-05)."""
    import optuna

    from search.report.data import trial_counts
    from search.worker import _hand_back

    study = optuna.create_study(direction="maximize")
    study.tell(study.ask(), 0.5)
    for _ in range(2):
        _hand_back(study, study.ask())  # asked past the total: handed back, never trained
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)  # a real failure
    counts = trial_counts(study)
    assert (counts["fail"], counts["surplus"], counts["rerun"]) == (3, 2, 0)
    assert render.failed(counts) == "1 failed, 2 handed back (asked past the total by a trial array, never trained)"


def test_the_comparison_never_takes_a_studys_own_folder(tmp_path: Path) -> None:
    """`report comparison.yaml c.yaml --out DIR`: the comparison page replaced the report of the study named
    "comparison"; without --out it wrote into that study's run folder, beside its journal."""
    from search.report.build import comparison_dir

    out = tmp_path / "out"
    assert comparison_dir(out, [out / "a", out / "b"]) == out / "comparison"
    assert comparison_dir(out, [out / "comparison", out / "b"]) == out / "comparison-1"
    runs = tmp_path / "runs"
    (runs / "comparison").mkdir(parents=True)
    (runs / "comparison" / "study.db").write_text("")  # a study named comparison, not in this report (SQLite)
    assert comparison_dir(runs, [runs / "a" / "report"]) == runs / "comparison-1"
    assert comparison_dir(runs, [runs / "comparison-1" / "report"]) == runs / "comparison-2"
    mine = runs / "comparison-1"
    mine.mkdir()
    (mine / ".regtune-comparison").touch()  # an earlier comparison's: written again
    assert comparison_dir(runs, [runs / "a" / "report"]) == mine


def test_a_tiny_p_value_is_not_printed_as_zero() -> None:
    assert render.verdict(2.5e-29) == "significant (p = 2.5e-29 < 0.05)"
    assert render.verdict(0.0234) == "significant (p = 0.023 < 0.05)"
    assert render.verdict(0.0) == "significant (p < 1e-300 < 0.05)"


def test_the_dashboards_study_note_names_the_trial_the_verdict_chose() -> None:
    """optuna-dashboard badged trial #9 "Best Trial" while the verdict chose the baseline, #0, and nothing on the
    dashboard said so (a probe, 2026-12-05). The study note says it; a user's own note above the marker is kept,
    and an unchanged verdict writes nothing."""
    import optuna
    from optuna_dashboard import get_note, save_note

    from search.verdict import paired
    from search.verdict_note import MARK, note_verdict

    study = optuna.create_study(direction="maximize")
    res = {
        "selection": {"chosen": 0, "top": 9, "rule": "the baseline: the best trial was not confirmed on a fresh partition"},
        "best": {"mean": 0.9, "accs": [0.9, 0.9]}, "baseline": {"mean": 0.9, "accs": [0.9, 0.9]},
        "paired": {**paired([0.9, 0.9], [0.9, 0.9]), "same": True},
    }  # fmt: skip
    save_note(study, "my own notes")
    note_verdict(study, res, 12)
    body = get_note(study)
    assert body.startswith(f"my own notes\n\n{MARK}")
    assert "**regtune's verdict: trial #0** (as of 12 finished trials), chosen as the baseline" in body
    assert "The chosen configuration is the baseline's: test accuracy 0.9000 over 2 seeds." in body
    assert 'Trial #9 has the best objective value (the dashboard\'s "Best Trial"), but the verdict retrained' in body
    versions = study._storage.get_study_system_attrs(study._study_id)
    note_verdict(study, res, 12)  # the same verdict: nothing written
    assert study._storage.get_study_system_attrs(study._study_id) == versions
    note_verdict(study, {**res, "selection": {**res["selection"], "chosen": 9, "top": 9}}, 13)
    assert get_note(study).count(MARK) == 1 and "trial #9**" in get_note(study)
    # the marker line deleted in the dashboard: the old section is still regtune's, replaced, not stacked
    save_note(study, get_note(study).replace(MARK, ""))
    note_verdict(study, res, 14)
    assert get_note(study).count("regtune's verdict: ") == 1 and get_note(study).startswith("my own notes")
    # a worker finished a new best (#11) while the verdict ran: the badge moved, and the note said nothing of it
    from search.verdict_note import verdict_text

    text = verdict_text(res, 12, latest=11)
    assert "Trial #11 finished while this verdict was computed and has the best objective value now" in text
    assert "Trial #9 has the best" not in text and "Trial #11" not in verdict_text(res, 12, latest=9)


def test_the_network_is_read_from_architecture_and_fixed(tmp_path: Path) -> None:
    """A bidirectional 2-layer GRU written under fixed: was headed "(lstm, 1 layer)" in the comparison."""
    from search.report.data import network_of
    from search.spec import parse_study

    spec = parse_study({"name": "n", "dataset": "synthetic:n=60", "architecture": {"hidden_size": 8}, "budget": {"trials": 1},
                        "fixed": {"cell": "gru", "num_layers": 2, "bidirectional": True, "lr": 0.01}},
                       tmp_path / "n.yaml")  # fmt: skip
    net = network_of(spec)
    assert (net["cell"], net["num_layers"], net["bidirectional"], net["hidden_size"]) == ("gru", 2, True, 8)
    assert "lr" not in net


def test_optunas_importance_warnings_become_one_note_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    """PED-ANOVA's "Some regimes for parameter ... have less than 2 trials" came out of `make report` raw, with a
    site-packages path (the default study's report, a fresh clone)."""
    import importlib
    import warnings

    from search.report.data import importances

    def warn(study: optuna.Study, evaluator: object, params: list[str]) -> dict[str, float]:
        warnings.warn("Some regimes for parameter `x` have less than 2 trials.", UserWarning, stacklevel=1)
        return {"x": 1.0}

    monkeypatch.setattr(importlib.import_module("optuna.importance"), "get_param_importances", warn)  # (not the lazy)
    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    for i in range(4):
        study.add_trial(create_trial(value=0.1 * i, params={"x": 0.2 * i}, distributions=dist))
    assert importances(study) == {"fANOVA": {"x": 1.0}, "PED-ANOVA": {"x": 1.0}}
    assert not [w for w in recwarn if issubclass(w.category, UserWarning) and "regimes" in str(w.message)]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"note: {name} importance: Some regimes for parameter `x` have less than 2 trials." for name in
                   ("fANOVA", "PED-ANOVA")]  # fmt: skip


def test_the_baseline_chosen_as_the_best_is_refit_for_introspection_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the verdict chooses the baseline, the best row's configuration is the baseline's: the report refit it
    twice, identically (seeded), once per label."""
    from types import SimpleNamespace

    import search.report.data as data_module
    from models.config import defaults

    config = defaults()
    final = {"best": {"config": dict(config)}, "baseline": {"config": dict(config)}, "seeds": 1}
    study_data = StudyData(study="s", study_file="s.yaml", description="", dataset="d", architecture={},
                           metric="val_acc", total=None, counts={}, gave_up=[], dashboard="")  # fmt: skip
    calls = []
    probe = SimpleNamespace(summary=lambda epoch: {})
    for name, value in (("check_reportable", lambda *a: None), ("choose", lambda *a, **k: None),
                        ("study_data", lambda *a: study_data), ("importances", lambda *a: {}),
                        ("pruning_summary", lambda *a: {}), ("final_result", lambda *a: final),
                        ("folds_of", lambda *a: 1), ("recipe_results", lambda *a: []), ("diagnose", lambda *a: []),
                        ("introspect", lambda spec, cfg: calls.append(cfg) or (probe, 3, None)),
                        ("announce", lambda *a: None)):  # fmt: skip
        monkeypatch.setattr(data_module, name, value)
    data, probes = data_module.study_report(None, SimpleNamespace(metric="val_acc"))  # type: ignore[arg-type]
    assert len(calls) == 1 and probes["best"] is probes["baseline"]
    assert data.introspection["best"]["epoch"] == data.introspection["baseline"]["epoch"] == 3
    final["baseline"]["config"] = {**config, "dropout": 0.1}  # two configurations: two refits
    data_module.study_report(None, SimpleNamespace(metric="val_acc"))  # type: ignore[arg-type]
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("importances", "complete", "said"),
    [
        ({"fANOVA": {"a": 0.6, "b": 0.4}, "PED-ANOVA": {"a": 0.9, "b": 0.1}}, 40, ""),
        ({"fANOVA": {"a": 0.6, "b": 0.4}, "PED-ANOVA": {"a": 0.9, "b": 0.1}}, 6,
         "from 6 complete trials only: a rough estimate"),
        ({"fANOVA": {"a": 0.6, "b": 0.4}, "PED-ANOVA": {"a": 0.1, "b": 0.9}}, 40,
         "the evaluators rank different parameters first (fANOVA: a, PED-ANOVA: b): neither ranking is a finding"),
        ({"fANOVA": {}, "PED-ANOVA": {"a": 0.1, "b": 0.9}}, 40, ""),  # one evaluator failed: nothing to disagree
    ],
    ids=["many trials, one ranking", "few trials", "the evaluators disagree", "one evaluator"],
)  # fmt: skip
def test_the_importances_say_when_they_are_weak(importances: dict, complete: int, said: str) -> None:
    """The newuser8 probe: summary.md printed fANOVA's ranking alone from 6 complete trials, where PED-ANOVA ranked
    another parameter first at 0.933."""
    assert render.importance_caveat(importances, complete) == said


def test_no_importances_when_every_trial_tied(capsys: pytest.CaptureFixture[str]) -> None:
    """A saturated study (synthetic CBF, 30 sequences: all 12 trials at 1.0 on every fold) printed "Most important
    parameters (PED-ANOVA)" with every parameter at the same 0.043, lr among them, which no trial varied."""
    from search.report.data import importances

    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1), "lr": FloatDistribution(1e-4, 1e-2, log=True)}
    for i in range(6):
        study.add_trial(create_trial(value=1.0, params={"x": 0.1 * i, "lr": 3e-3}, distributions=dist))
    assert importances(study) == {"fANOVA": {}, "PED-ANOVA": {}}
    assert "every complete trial scored 1.0000" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("folds", "metric", "ranked", "note"),
    [
        (
            [[0.5, 0.5], [0.5, 0.5]],
            "val_acc",
            False,
            "differ by the validation-loss tie-break alone",
        ),  # UnitTest: every trial at chance on every fold
        (
            [[1.0, 1.0], [1.0, 1.0]],
            "val_acc",
            False,
            "differ by the validation-loss tie-break alone",
        ),  # saturated: the tie-break alone differs
        (
            [[1.0, 0.9], [0.9, 1.0]],
            "val_acc",
            False,
            "differ by the validation-loss tie-break alone",
        ),  # the same mean from other folds: still the tie-break alone
        ([[1.0, 1.0], [0.8, 0.8]], "val_acc", True, None),  # two means, beyond one standard error: the trials differ
        (
            [[1.0, 0.9], [0.9, 0.9]],
            "val_acc",
            False,
            "do not differ measurably",
        ),  # two means, within one standard error: noise (unseen6)
        ([[0.5, 0.5], [0.5, 0.5]], "val_loss", True, None),  # the loss is the objective itself
    ],
)
def test_no_importances_from_the_tie_break_alone(
    capsys: pytest.CaptureFixture[str], folds: list[list[float]], metric: str, ranked: bool, note: str | None
) -> None:
    """The data probe: on UnitTest every trial scored 0.5 on every fold, values apart by 4e-7 of tie-break, and
    the report named dropout the most important parameter (fANOVA 0.783)."""
    from search.report.data import importances

    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    for i in range(8):
        trial = create_trial(value=folds[0][0] - 1e-7 * i, params={"x": 0.1 * i}, distributions=dist,
                             user_attrs={"fold_accs": folds[i % 2]})  # fmt: skip
        study.add_trial(trial)
    got = importances(study, metric)
    assert bool(got["fANOVA"]) is ranked, got
    said = capsys.readouterr().err
    assert (note in said) if note else "nothing to rank by" not in said, said
    assert not note or f"note: {study.study_name}: importances: " in said, said  # which study (unseen10: none said)


def test_a_parameter_no_trial_varied_gets_no_importance() -> None:
    """PED-ANOVA gave branch_dropout, 0 in every complete trial, a share of 0.033 (the unseen probe): only the
    parameters the trials varied are ranked."""
    from search.report.data import importances

    study = optuna.create_study(direction="maximize")
    dist = {"x": FloatDistribution(0, 1), "branch_dropout": FloatDistribution(0, 0.9)}
    for i in range(8):
        params = {"x": 0.1 * i, "branch_dropout": 0.0}
        study.add_trial(create_trial(value=0.5 + 0.05 * i, params=params, distributions=dist))
    got = importances(study)
    assert set(got["fANOVA"]) == {"x"} and set(got["PED-ANOVA"]) <= {"x"}, got


@pytest.mark.parametrize(
    ("fixed", "kept"),
    [
        ({}, "lr=0.01"),
        (
            {"recurrent_dropout": 0.1},
            "recurrent_dropout=0.1",
        ),  # a regularizer the study fixes on: the baseline keeps it
    ],
)
def test_the_introspection_heading_says_what_the_baseline_keeps(
    tmp_path: Path, fixed: dict[str, float], kept: str
) -> None:
    """The introspection section was headed "best against the baseline (no regularizer; ...)" where the baseline
    keeps what the study fixes (a fixed dropout 0.3, clip_norm 1): the result table above it said "keeps
    dropout=0.3". It now says what the table says."""
    raw = {**TINY, "name": "heading", "budget": {"trials": 2, "max_epochs": 2}, "final_seeds": 1,
           "fixed": {**TINY["fixed"], **fixed}}  # fmt: skip
    out = _reported(tmp_path, raw)[2]
    page = (out / "index.html").read_text()
    heading = next(line for line in page.splitlines() if "Introspection: best against the baseline" in line)
    assert "no regularizer" not in heading and "searched regularizers off" in heading, heading
    assert f"keeps {kept}" in heading or f", {kept}" in heading, heading


def test_the_best_configuration_sets_the_fixed_settings_apart_from_the_search_s_choices(tmp_path: Path) -> None:
    """The newuser8 probe: a smoke study's "Best:" line listed batch_size, cell, clip_norm, hidden_size, lr, ...
    beside the one dropout that set it apart from the baseline; a newcomer read seven settings as the search's
    finding. The fixed ones are now named as such, on the page, in summary.md and in the terminal's summary."""
    raw = {**TINY, "name": "fixedapart", "budget": {"trials": 3, "max_epochs": 2}, "final_seeds": 1,
           "fixed": {**TINY["fixed"], "clip_norm": 1.0}}  # fmt: skip
    spec, _, out = _reported(tmp_path, raw)
    data = json.loads((out / "report.json").read_text())
    fixed = {"cell": "gru", "hidden_size": 8, "lr": 0.01, "clip_norm": 1.0}  # batch_size 32 is the default: not shown
    assert {k: data["best_shared"].get(k) for k in fixed} == fixed, data["best_shared"]
    assert not set(data["best_config"]) - set(spec.search), data["best_config"]  # only searched names are "chosen"
    best = next(line for line in (out / "summary.md").read_text().splitlines() if line.startswith("**Best"))
    chosen, _, shared = best.partition(" (fixed by the study, as in the baseline: ")
    assert "clip_norm=1" in shared and "hidden_size=8" in shared and "clip_norm" not in chosen, best
    page = html.unescape((out / "index.html").read_text())
    assert "Fixed by the study, as in the baseline: " in page and "its searched values that differ from the" in page
    assert "what the search chose" not in page  # (a baseline best listed the data rule's front end under it: unseen10)
    head = render.render("summary.txt.j2", d=StudyData(**data), part="head")
    line = next(x for x in head.splitlines() if "fixed by the study, as in the baseline: " in x)
    assert "clip_norm=1" in line and "hidden_size=8" in line, head


@pytest.mark.parametrize(
    ("folds", "said", "unsaid"),
    [(1, "its own holdout run found best (the peak of its validation curve on the holdout", "cross-validated run"),
     (2, "its own cross-validated run found best (the peak of its mean validation curve over the folds", "holdout run")],
)  # fmt: skip
def test_the_page_says_how_the_epochs_were_found_holdout_or_folds(
    tmp_path: Path, folds: int, said: str, unsaid: str
) -> None:
    """The newuser8 probe: a one-holdout study's page said each row was retrained for "the epoch count its own
    cross-validated run found best (the peak of its mean validation curve over the folds", where no fold ran."""
    raw = {**TINY, "name": f"epochs{folds}", "cv_folds": folds, "budget": {"trials": 2, "max_epochs": 2},
           "final_seeds": 1}  # fmt: skip
    out = _reported(tmp_path, raw)[2]
    page = " ".join(html.unescape((out / "index.html").read_text()).split())
    assert said in page and unsaid not in page, page[page.find("Result on the test split") :][:600]


@pytest.mark.parametrize(
    ("description", "dataset", "shown"),
    [
        ("", "GunPoint", "GunPoint"),
        ("One-layer LSTM on JapaneseVowels.", "JapaneseVowels", "One-layer LSTM on JapaneseVowels."),
        ("probe of misc fields.", "synthetic", "probe of misc fields (data: synthetic)"),
        ("my sensors", "data/x.npz", "my sensors (data: data/x.npz)"),
    ],
)
def test_the_report_names_the_data_beside_a_description(description: str, dataset: str, shown: str) -> None:
    """(the newuser probe) A description that did not name the dataset replaced it: neither the summary nor the
    page said what the study ran on."""
    from types import SimpleNamespace

    from search.report.data import described

    assert described(SimpleNamespace(description=description, dataset=dataset)) == shown  # type: ignore[arg-type]


def test_the_validation_line_says_it_is_each_folds_best_epoch() -> None:
    """The unseen5 probe: `validation: accuracy 0.9333 (mean over 5 fold(s))` beside a test row of 0.7893 on iid
    data read as a shift; it is each fold's maximum over its epochs (0.779 at the retrained epochs), now said."""
    from search.report.data import StudyData

    counts = {"finished": 1, "complete": 1, "pruned": 0, "fail": 0, "waiting": 0}
    d = StudyData("s", "s.yaml", "", "synthetic", {}, "val_acc", 1, counts, [], "")
    d.best_trial = d.top_trial = 0
    d.best_value = d.top_value = 0.9319
    d.best_validation = {"val_acc": 0.9333, "val_loss": 0.32, "folds": 5, "path": "fused"}
    head = render.render("summary.txt.j2", d=d, part="head")
    assert "(mean over 5 fold(s), each at its own best epoch: a maximum over its noise" in head, head


def _tie_head(tied: list[int], best: int, top: int) -> list[str]:
    """The summary's head lines for a study whose chosen trial is ``best``, its top trial ``top``, tied with ``tied``."""
    from search.report.data import StudyData

    counts = {"finished": 1, "complete": 1, "pruned": 0, "fail": 0, "waiting": 0}
    d = StudyData("s", "s.yaml", "", "synthetic", {}, "val_acc", 1, counts, [], "")
    d.best_trial, d.top_trial, d.tied = best, top, tied
    d.best_value = d.top_value = 0.9963
    d.best_validation = {"val_acc": 0.9963, "val_loss": 0.1, "folds": 5, "path": "loop"}
    d.selection = "the best trial"
    return render.render("summary.txt.j2", d=d, part="head").splitlines()


@pytest.mark.parametrize(
    ("tied", "best", "top", "shown"),
    [
        (
            [82, 89],
            86,
            86,
            "tied on the folds' accuracy with 2 other trial(s) (#82, #89): only the tie-break ranked #86 first",
        ),
        (list(range(1, 15)), 0, 0, "with 14 other trial(s) (#1, #2, #3, #4, #5, #6, #7, #8, #9, #10 and 4 more)"),
        ([], 86, 86, None),  # no tie: no line
        ([3], 0, 5, None),  # the baseline (#0) was chosen over the top trial (#5): its ties do not matter
    ],
)
def test_the_summary_names_the_trials_the_best_tied_with(
    tied: list[int], best: int, top: int, shown: str | None
) -> None:
    """JapaneseVowels' 100-trial studies ended with 3 trials at one validation error in 270 sequences; the chosen
    one retrained to 98.6 in one run, a tied one to 99.0 in another, and nothing said the folds had not ranked them."""
    head = "\n".join(_tie_head(tied, best, top))
    if shown is None:
        assert "tied on the folds" not in head, head
    else:
        assert shown in head, head


@pytest.mark.parametrize(
    ("tied", "best", "top", "after"),
    [
        ([1, 2], 0, 0, ["  tied on the folds' accuracy with 2 other trial(s) (#1, #2)", "  validation: accuracy"]),
        ([], 0, 0, ["  validation: accuracy"]),  # no tie: the validation line follows at once, no blank line
        ([3], 0, 5, ["  validation: accuracy"]),  # the baseline chosen over the top trial (#5): no tie line either
    ],
)
def test_the_tie_line_is_a_line_of_its_own(tied: list[int], best: int, top: int, after: list[str]) -> None:
    """(the studies7 probe) The template's inline `{% endif %}` ate the newline after "chosen as ...", so a tie
    was printed on that line (`chosen as the best trial, which is the baseline trial  tied on the folds' ...`),
    followed by a blank line; README: the summary names the tied trials "below the 'chosen as' line"."""
    lines = _tie_head(tied, best, top)
    at = next(i for i, line in enumerate(lines) if line.startswith("  chosen as "))
    assert lines[at].startswith("  chosen as the best trial"), lines
    assert "tied on" not in lines[at], lines
    for offset, start in enumerate(after, 1):
        assert lines[at + offset].startswith(start), lines


def test_the_introspection_says_which_epoch_each_refit_was_measured_at(tmp_path: Path) -> None:
    """(the verdict6 probe) The table set the best's weight norms, gradients and saturation beside the baseline's
    without saying at which epoch each refit was measured: each at its own best epoch on the holdout, which may lie
    far apart, and norms grow with training. The page and summary.md now say it, as report.json holds it. The page
    did not show the chosen trial's objective either, which summary.md and the terminal print."""
    raw = {**TINY, "name": "measured", "budget": {"trials": 2, "max_epochs": 3}, "final_seeds": 1}
    out = _reported(tmp_path, raw)[2]
    data = json.loads((out / "report.json").read_text())
    page, summary = (out / "index.html").read_text(), (out / "summary.md").read_text()
    # and the page names the chosen trial's objective, as summary.md and the terminal do (it showed none)
    assert f"(objective {data['best_value']:.4f})" in summary and f"(objective {data['best_value']:.4f})" in page
    # a tie at the top is said in summary.md too, as on the page and in the terminal (the studies7 probe: only
    # those two said it)
    tied = StudyData(**{**data, "tied": [41, 42], "top_trial": data["best_trial"]})
    said = "It tied on the folds' accuracy with 2 other trial(s) (#41, #42): only the tie-break ranked it first"
    assert said in render.markdown(tied), render.markdown(tied)
    assert said in " ".join(html.unescape(render.page(tied)).split())  # (the page escapes the apostrophe)
    row = next(line for line in page.splitlines() if "epoch measured" in line)
    for label in ("best", "baseline"):
        at = f"{data['introspection'][label]['epoch'] + 1} of 3"
        assert f"<td>{at}</td>" in row, row
        assert f"- **{label}** (epoch {at}): " in summary, summary


@pytest.mark.parametrize(
    ("columns", "together"),
    [
        # the L2 recipes set both switches: equal in every complete trial
        (
            {"kernel_l2_on": [0, 1, 0, 1, 1, 0], "recurrent_l2_on": [0, 1, 0, 1, 1, 0], "x": [1, 2, 3, 4, 5, 6]},
            {"kernel_l2_on": ["recurrent_l2_on"]},
        ),
        # one to one with other labels: still no trial tells them apart
        ({"a": [0, 1, 0, 1, 1, 0], "b": [1, 0, 1, 0, 0, 1], "x": [1, 2, 3, 4, 5, 6]}, {"a": ["b"]}),
        # a function one way only (b has three values where a has two): not the same information
        ({"a": [0, 1, 0, 1, 1, 0], "b": [0, 1, 0, 1, 2, 0], "x": [1, 2, 3, 4, 5, 6]}, {}),
        # sampled afresh in every trial: one to one by chance, but ordered differently: not grouped
        ({"lr": [1, 5, 2, 6, 3, 4], "dropout": [6, 2, 5, 1, 4, 3], "x": [1, 1, 2, 2, 3, 3]}, {}),
        # three in one group
        (
            {"a": [0, 1, 0, 1, 1, 0], "b": [0, 1, 0, 1, 1, 0], "c": [1, 0, 1, 0, 0, 1], "x": [1, 2, 3, 4, 5, 6]},
            {"a": ["b", "c"]},
        ),
    ],
)
def test_parameters_that_moved_together_are_ranked_as_one(
    columns: dict[str, list[int]], together: dict[str, list[str]]
) -> None:
    """The verdict6 probe: kernel_l2_on and recurrent_l2_on were equal in all 4 complete trials of a GunPoint study
    (the L2 recipe sets both), and fANOVA split one effect between them, 0.359 and 0.160, listed 2nd and 3rd."""
    from search.report.data import importances, moved_together
    from search.report.render import ranked_name

    study = optuna.create_study(direction="maximize")
    dist = {k: FloatDistribution(0, 10) for k in columns}
    for i in range(6):
        params = {k: float(v[i]) for k, v in columns.items()}
        study.add_trial(create_trial(value=0.5 + 0.05 * params["x"] + 0.1 * params[sorted(columns)[0]],
                                     params=params, distributions=dist))  # fmt: skip
    assert moved_together(study.trials) == together
    got = importances(study)
    followers = {q for qs in together.values() for q in qs}
    assert got["fANOVA"] and not followers & set(got["fANOVA"]) and not followers & set(got["PED-ANOVA"]), got
    for name, others in together.items():
        assert (
            ranked_name(name, together) == f"{name} (with {', '.join(others)}: moved together in every complete trial)"
        )
    assert ranked_name("x", together) == "x"


def test_a_study_given_twice_is_reported_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The faults6 probe: `report c.yaml c.yaml` showed one study as two identical columns of the comparison."""
    from types import SimpleNamespace

    from search.report.build import _once

    def prep(name: str, url: str) -> Any:
        return SimpleNamespace(spec=SimpleNamespace(name=name), url=url)

    given = [prep("a", "j1"), prep("a", "j1"), prep("b", "j1"), prep("a", "j2")]
    paths, kept = _once(["a.yaml", "copy.yaml", "b.yaml", "a2.yaml"], given)
    assert paths == ["a.yaml", "b.yaml", "a2.yaml"] and kept == [given[0], given[2], given[3]]
    assert "note: copy.yaml names the study 'a' of a.yaml in the same storage: reported once" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ({"p": 1.0, "p_holm": 1.0, "identical": True}, "— (right and wrong on the same test sequences as the baseline"),
        ({"p": 1.0, "p_holm": 1.0}, "not significant after Holm's correction over 3 recipes"),
    ],
)
def test_a_recipe_with_the_baseline_s_very_predictions_says_so(row: dict[str, Any], says: str) -> None:
    """(the studies7 probe) A recipe whose refits made the baseline's very test predictions (L2 1e-3 at 4 epochs)
    printed `+0.0000 ..., not significant (p = 1.000)`, a measured zero; the verdict's own rows say so already."""
    assert render.recipe_verdict({"accs": [0.5, 0.5], **row}, 3).startswith(says)


def test_a_recipe_row_no_better_than_the_majority_class_says_so() -> None:
    """The best row is warned when it is not above always answering the majority class; a recipe row at or below
    it was printed as a plain "not significant" against the baseline (left alone since the fourteenth session)."""
    floor = {"majority": {"acc": 0.4375, "label": "2"}}
    row = {"accs": [0.4, 0.42], "p": 0.2, "p_holm": 0.6, **floor}
    assert render.recipe_verdict(row, 3) == (
        "not significant after Holm's correction over 3 recipes (p = 0.600; unadjusted 0.200); at or below always "
        'answering "2" (0.4375, the majority class): its models learned no more than the class balance gives'
    )
    assert "majority" not in render.recipe_verdict({"accs": [0.9, 0.9], "p": 0.2, "p_holm": 0.6}, 3)


def _lead_data(recipes: list[dict[str, Any]], best_mean: float = 0.95, base_mean: float = 0.94) -> Any:
    from search.report.data import StudyData

    d = StudyData("s", "s.yaml", "", "d", {}, "val_acc", 4, {}, [], "", best_trial=5, best_value=0.98)
    d.final, d.recipes = {"best": {"mean": best_mean}, "baseline": {"mean": base_mean}}, recipes
    return d


LEAD = {"recipe": "input dropout 0.2", "trial": 3, "state": "complete", "value": 0.97, "mean": 0.967, "p": 0.0004,
        "p_holm": 0.002}  # fmt: skip


@pytest.mark.parametrize(
    ("row", "best_mean", "says"),
    [
        (LEAD, 0.95, "on the study's folds it scored 0.9700 against the chosen trial #5's 0.9800"),
        ({**LEAD, "state": "pruned", "value": 0.5}, 0.95, "its trial was pruned on the study's folds"),
        ({**LEAD, "p_holm": 0.09}, 0.95, None),  # not significant after the correction
        (LEAD, 0.97, None),  # not above the chosen row
        ({**LEAD, "mean": 0.75}, 0.70, None),  # above the chosen row, significantly below the baseline (two-sided)
        ({**LEAD, "is_best": True, "p_holm": None}, 0.95, None),  # the best row's own runs
        ({**LEAD, "mean": None, "untested": [1]}, 0.95, None),
    ],
)
def test_a_recipe_that_tested_above_the_chosen_row_is_reconciled_with_the_verdict(
    row: dict[str, Any], best_mean: float, says: str | None
) -> None:
    """(the newdata probe) The verdict said "nothing the search found measurably helps" while the recipe table below
    it showed input dropout 0.2 significant after Holm's correction, with no word between them: the page now says
    why the verdict did not choose it and that the test split cannot choose it either."""
    leads = render.recipe_leads(_lead_data([row], best_mean))
    assert (leads[0] if leads else None) is None if says is None else says in leads[0]
    if says:
        assert leads[0].startswith('The recipe "input dropout 0.2" (trial #3) tested above the chosen configuration')
        assert "a lead for the next study" in leads[0]


# (case, the studies a journal holds, what the error says it holds)
HELD_CASES = [
    ("empty file", [], "(the journal file is empty, 0 bytes): run `make study"),  # (faults9: it may have been emptied)
    ("one other study", ["smoke"], "(it holds 'smoke')"),
    ("several, sorted", ["zeta", "alpha"], "(it holds 'alpha', 'zeta')"),
    ("many, cut at ten", [f"s{i:02d}" for i in range(12)], "'s09' and 2 more)"),
]


@pytest.mark.parametrize(("case", "names", "said"), HELD_CASES, ids=[c[0] for c in HELD_CASES])
def test_a_mistyped_study_name_is_told_which_studies_the_store_holds(
    tmp_path: Path, case: str, names: list[str], said: str
) -> None:
    """`make report` with a study file whose name the store does not hold said only "no study 'fzz' in ...": a
    mistyped name (or a renamed study file) looked like a store that never held the study (the faults probe)."""
    from search.storage import StorageError, load_existing

    journal = tmp_path / "journal.log"
    journal.touch()
    for name in names:
        optuna.create_study(study_name=name, storage=open_storage(str(journal)))
    with pytest.raises(StorageError) as raised:
        load_existing(str(journal), "mistyped", tmp_path / "mistyped.yaml")
    assert said in str(raised.value), case
    assert str(raised.value).startswith(f"no study 'mistyped' in {journal} ("), str(raised.value)


def test_a_report_on_an_empty_sqlite_file_writes_nothing_into_it(tmp_path: Path) -> None:
    """`report` on a 0-byte SQLite file (a `touch`, a copy that failed) said "no study" after writing Optuna's
    114 KB schema into it, though a report only reads (the faults probe)."""
    from search.storage import StorageError, load_existing

    empty = tmp_path / "s.db"
    empty.touch()
    with pytest.raises(StorageError, match=rf"^no study 'x' in sqlite:///{empty} \(an empty file\)"):
        load_existing(f"sqlite:///{empty}", "x", tmp_path / "x.yaml")
    assert empty.stat().st_size == 0


def test_a_running_trial_whose_worker_is_gone_is_not_said_to_finish(tmp_path: Path) -> None:
    """(the faults probe) `report` called a SIGKILLed worker's trial "still running ... rerun it once they finish",
    which it never would: the next make study re-queues it. Read only: the report fails and re-queues nothing."""
    import socket

    from search.processes import pid_space
    from search.report.data import trial_counts
    from search.storage import HOST_ATTR, PID_ATTR, SPACE_ATTR, START_ATTR

    study = optuna.create_study(storage=open_storage(str(tmp_path / "journal.log")), direction="maximize")
    gone = subprocess.Popen(["true"])
    gone.wait()
    alive, dead = study.ask(), study.ask()
    for trial, pid in ((alive, os.getpid()), (dead, gone.pid)):
        for key, value in ((HOST_ATTR, socket.gethostname()), (PID_ATTR, pid), (START_ATTR, ""),
                           (SPACE_ATTR, pid_space())):  # fmt: skip
            trial.storage.set_trial_system_attr(trial._trial_id, key, value)
    counts = trial_counts(study)
    assert counts["running"] == 2 and counts["dead"] == 1
    assert render.running(counts) == (
        "2 running when this report began, 1 of them with its worker gone (killed or crashed: the next make study or "
        "make worker re-queues it and runs it again, or gives up one past its crash limit): the report is of the "
        "trials finished then (rerun it once they have run)"
    )
    assert render.running({"running": 1}).startswith("1 still running when this report began")
    assert render.running({"running": 2, "dead": 2}).startswith("2 running when this report began, all with their")
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING] * 2  # nothing failed or re-queued


@pytest.mark.parametrize("row", ["best", "baseline"])
def test_the_page_states_the_epoch_rule_its_rows_were_retrained_by(tmp_path: Path, row: str) -> None:
    """(the consist7 probe) The page said each row was retrained for "the peak of its mean validation curve over the
    folds, plus one", where :func:`search.verdict.epochs_of` takes the peak of that curve smoothed by a moving
    average over half the patience either side: JapaneseVowels' baseline curve peaks at epoch 15, and its row said 18
    (the smoothed peak). The page now names the smoothing, and each row's epochs are the rule's."""
    from search.verdict import epochs_of

    raw = {**TINY, "name": "epochrule", "budget": {"trials": 2, "max_epochs": 6}, "final_seeds": 1}
    spec, storage, out = _reported(tmp_path, raw)
    study = optuna.load_study(study_name=spec.name, storage=storage)
    final = json.loads((out / "report.json").read_text())["final"]
    source = final[row]["from"]
    assert source.startswith("trial #"), source
    trial = study.trials[int(source.removeprefix("trial #"))]
    assert final[row]["epochs"] == epochs_of(spec, trial.user_attrs)
    page = " ".join(html.unescape((out / "index.html").read_text()).split())
    assert (  # TINY runs one holdout: its curve, not a mean over folds (the newuser8 probe)
        "the peak of its validation curve on the holdout, smoothed by a moving average over half the "
        "early-stopping patience either side, plus one" in page
    )


POINT_LABELS = [  # (a study file's starting point, its row's label on the page)
    ({"ema_decay": 0.99, "swa_start": 0.6}, "starting point 0 of tiny.yaml: ema_decay 0.99, swa_start 0.6"),
    ({"dropout": 0.2, "kernel_l2": 1e-3}, "starting point 1 of tiny.yaml: dropout 0.2, kernel_l2 1e-3"),
]


@pytest.mark.slow
def test_a_starting_points_row_names_the_values_it_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A built-in recipe's row names every value it sets ("recurrent dropout 0.2 (per sequence)"); a study file's own
    point's row said "starting point 0 of aug.yaml" and nothing else, so the page did not say that row ran EMA 0.99
    and SWA from 0.6 (the consist8 probe). Its label now lists what it runs over the baseline."""
    from search.cli import main

    search = {**TINY["search"], "ema_decay": {"low": 0.9, "high": 0.999, "off": True},
              "swa_start": {"low": 0.5, "high": 0.8, "off": True}}  # fmt: skip
    study = write_study(tmp_path, budget={"trials": 2, "max_epochs": 3}, recipes=False, final_seeds=1,
                        search=search, starting_points=[point for point, _ in POINT_LABELS])  # fmt: skip
    journal = str(tmp_path / "j.log")
    assert main(["study", str(study), "--storage", journal]) == 0
    capsys.readouterr()
    assert main(["report", str(study), "--storage", journal, "--out", str(tmp_path / "out")]) == 0, capsys.readouterr()
    summary = (tmp_path / "out" / "tiny" / "summary.md").read_text()
    page = html.unescape((tmp_path / "out" / "tiny" / "index.html").read_text())
    rows = json.loads((tmp_path / "out" / "tiny" / "report.json").read_text())["recipes"]
    assert [r["recipe"] for r in rows] == [label for _, label in POINT_LABELS], rows
    for _, label in POINT_LABELS:
        assert f"recipe: {label} (trial #" in summary, summary
        assert label in page


@pytest.mark.parametrize(
    ("fixed", "search", "cell"),
    [
        ({"clip_norm": 1.0}, {}, "| clip_norm | 1 (fixed) |"),  # the study file's: the baseline runs it too
        ({}, {"clip_norm": {"low": 1.0, "high": 2.0}}, "| clip_norm | {value} |"),  # searched: the best's own value
    ],
    ids=["fixed", "searched"],
)
def test_the_comparison_marks_a_regularizer_the_study_file_fixes(
    tmp_path: Path, fixed: dict[str, Any], search: dict[str, Any], cell: str
) -> None:
    """Two studies that chose their baseline ("nothing the search found measurably helps") showed "clip_norm 1"
    under "the regularizers it turned on" on the comparison page: the value their study files fix, which the search
    never turned on (the consist8 probe). A fixed one is marked; a searched one is the best's own."""
    raw = {**TINY, "name": "cmp", "budget": {"trials": 1, "max_epochs": 2}, "final_seeds": 1, "recipes": False,
           "fixed": {**TINY["fixed"], **fixed}, "search": {**TINY["search"], **search}}  # fmt: skip
    _, _, out = _reported(tmp_path, raw)
    data = StudyData(**json.loads((out / "report.json").read_text()))
    assert data.regularizers_on.get("clip_norm") is not None, data.regularizers_on
    assert ("clip_norm" in data.regularizers_fixed) == bool(fixed)
    md = render.comparison_markdown(comparison([data]))
    assert cell.format(value=render.fmt(data.regularizers_on["clip_norm"])) in md, md

"""Operating regtune: what the person at the terminal sees and what is left behind.

- ``make study`` / ``make worker`` / ``make report`` with a password in ``STORAGE`` print it nowhere (the real
  ``make``, run on a tiny study in the real PostgreSQL), and every Makefile target that takes STORAGE is silent;
- a lost gRPC proxy (a real ``python -m search proxy`` killed mid-study, or none started) is one line with the
  gRPC status code and details;
- SIGTERM to ``python -m search study --workers 2`` stops both workers like Ctrl-C (their running trials re-queued,
  no process left) and exits 143; a worker that dies does not hide the result of a study the others finished;
- plain ``postgresql://`` URLs (as in Optuna's docs) work in ``optuna.load_study`` and ``optuna-dashboard`` from the
  project's environment (psycopg 3, SQLAlchemy 2.1's default driver).

Subprocesses run with ``cwd=tmp_path``, so nothing lands in the repository's ``runs/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.storage import driver_url, open_storage
from tests.test_shared_storage import (  # noqa: F401  (postgres, database: its fixtures, used by name)
    PG_HOST,
    PG_PORT,
    PG_USER,
    SECRET,
    database,
    free_port,
    postgres,
    write_study,
)

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent  # the environment running the tests (the project's .venv under make)
ENV = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _search(tmp_path: Path, label: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m search ARGS`` in ``tmp_path``; its stdout and stderr go to ``LABEL.out`` / ``LABEL.err`` there."""
    return subprocess.Popen(
        [sys.executable, "-m", "search", *args], cwd=tmp_path, text=True, stdout=open(tmp_path / f"{label}.out", "w"),
        stderr=open(tmp_path / f"{label}.err", "w"), env={**ENV, **(env or {})},
    )  # fmt: skip


def _finish(proc: subprocess.Popen, tmp_path: Path, label: str, timeout: float) -> tuple[str, str]:
    """Wait for ``proc``; its stdout and stderr."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"{label} still running after {timeout} s\n{_output(tmp_path, label)[1][-3000:]}")
    return _output(tmp_path, label)


def _output(tmp_path: Path, label: str) -> tuple[str, str]:
    return (tmp_path / f"{label}.out").read_text(), (tmp_path / f"{label}.err").read_text()


def _wait_until(condition, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"exited ({proc.returncode}) before {what}\n{log.read_text()[-3000:] if log else ''}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)
    except KeyError:
        return []


# --------------------------------------------------------------------------------------------- make, secrets
def _silent_targets(makefile: str) -> tuple[set[str], dict[str, list[str]]]:
    silent: set[str] = set()
    recipes: dict[str, list[str]] = {}
    target = None
    for line in makefile.splitlines():
        if line.startswith(".SILENT:"):
            silent.update(line.split(":", 1)[1].split())
        elif line.startswith("\t") and target:
            recipes[target].append(line[1:])
        elif m := re.match(r"^([a-z][a-z-]*):(?!=)", line):
            target = m[1]
            recipes[target] = []
        elif line.strip() and not line.startswith("#"):
            target = None
    return silent, recipes


def test_every_make_target_that_takes_storage_is_silent() -> None:
    """A recipe line holding STORAGE (directly or through COMMON) is never echoed: its target is in .SILENT or
    the line starts with ``@``. Guards targets added later."""
    text = (ROOT / "Makefile").read_text()
    holding = {"STORAGE"} | {m for m in re.findall(r"^([A-Z_]+)\s*:?=.*\$\(STORAGE\)", text, re.M)}
    silent, recipes = _silent_targets(text)
    assert {"study", "worker", "report", "dashboard", "proxy"} <= set(recipes), recipes.keys()
    loud = [
        (target, line)
        for target, lines in recipes.items()
        for line in lines
        if any(f"$({v})" in line for v in holding) and target not in silent and not line.lstrip().startswith("@")
    ]
    assert not loud, f"make would echo STORAGE (add the target to .SILENT): {loud}"


@pytest.mark.slow
@pytest.mark.postgres
def test_make_study_worker_and_report_print_the_password_nowhere(tmp_path: Path, database: str) -> None:  # noqa: F811
    secret, db = "s3cr3t-XYZ", database.rsplit("/", 1)[1]
    storage = f"postgresql://{PG_USER}:{secret}@{PG_HOST}:{PG_PORT}/{db}"  # trust auth ignores the password
    name = f"ops_make_{uuid.uuid4().hex[:8]}"
    write_study(tmp_path, name, budget={"trials": 2, "max_epochs": 1}, final_seeds=1)
    # the real make on the real Makefile, from tmp_path (runs/ lands there); -o: the environment exists, never rebuild
    make = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), f"VENV={VENV}", "-o", f"{VENV}/.installed"]
    common = [f"STUDY={name}.yaml", f"STORAGE={storage}"]
    try:
        for target, extra in (("study", ["TRIALS=1"]), ("worker", ["TRIALS=2"]), ("report", [])):
            run = subprocess.run(
                [*make, target, *common, *extra], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=ENV
            )
            text = run.stdout + run.stderr
            assert run.returncode == 0, (target, text[-3000:])
            assert secret not in text, (target, text)
            assert f"postgresql://{PG_USER}:***@{PG_HOST}:{PG_PORT}/{db}" in text or target == "report", (target, text)
        (report,) = (tmp_path / "runs" / name).glob("report-postgresql-*")  # not the journal's
        assert (report / "index.html").is_file() and secret not in report.name
        assert sum(t.state == TrialState.COMPLETE for t in _trials(storage, name)) == 2
    finally:  # (the database fixture drops the whole database afterwards too)
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=open_storage(storage))


# --------------------------------------------------------------------------------------------- gRPC proxy lost
@pytest.mark.postgres
def test_lost_or_absent_grpc_proxy_is_one_line_with_status_code_and_details(tmp_path: Path, database: str) -> None:  # noqa: F811
    name, port, absent = "grpc_lost", free_port(), free_port()
    study = write_study(tmp_path, name, budget={"trials": 5, "max_epochs": 200})
    proxy = _search(tmp_path, "proxy", "proxy", "--storage", database, "--port", str(port), "--threads", "2")
    nowhere = _search(tmp_path, "nowhere", "worker", str(study), "--storage", f"grpc://127.0.0.1:{absent}")
    try:
        _wait_until(lambda: "gRPC storage proxy" in _output(tmp_path, "proxy")[0], 60, "the proxy", proxy)
        env = {"REGTUNE_STORAGE_RETRY_SECONDS": "2"}
        run = _search(tmp_path, "run", "study", str(study), "--storage", f"grpc://127.0.0.1:{port}", env=env)
        _wait_until(
            lambda: any(t.state == TrialState.RUNNING and t.intermediate_values for t in _trials(database, name)),
            120, "a trial training behind the proxy", run, tmp_path / "run.err",
        )  # fmt: skip
        proxy.kill()  # the proxy is lost mid-trial
        out, err = _finish(run, tmp_path, "run", 120)
    finally:
        proxy.kill()
        proxy.wait()
    assert run.returncode == 2, (out[-2000:], err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and "_InactiveRpcError" not in err and SECRET not in out + err, err
    retry = [line for line in lines if "unreachable" in line]
    assert retry and all(re.search(r"\(gRPC UNAVAILABLE: \S.*\); retrying for up to 2 s$", line) for line in retry), err
    assert lines[-1].startswith(f"error: lost the storage grpc://127.0.0.1:{port} (gRPC proxy at host 127.0.0.1"), err
    assert re.search(r": gRPC UNAVAILABLE: \S", lines[-1]), lines[-1]

    out, err = _finish(nowhere, tmp_path, "nowhere", 120)
    lines = err.strip().splitlines()
    assert nowhere.returncode == 2 and len(lines) == 1, (nowhere.returncode, err)
    assert lines[0].startswith(f"error: cannot reach the gRPC storage proxy grpc://127.0.0.1:{absent}"), lines
    assert f"port {absent}" in lines[0] and "make proxy" in lines[0], lines[0]


# --------------------------------------------------------------------------------------------- signals, workers
def _start_two_workers(
    tmp_path: Path, name: str, trials: int, max_epochs: int, training: bool = True
) -> tuple[subprocess.Popen, str]:
    """``study --workers 2`` on a journal file, once both workers train a trial (or, not ``training``, exist)."""
    study = write_study(tmp_path, name, budget={"trials": trials, "max_epochs": max_epochs}, final_seeds=1)
    journal = str(tmp_path / "journal.log")
    proc = _search(tmp_path, "study", "study", str(study), "--storage", journal, "--workers", "2")
    if not training:
        _wait_until(lambda: len(_children(proc.pid)) == 2, 120, "two workers", proc, tmp_path / "study.err")
        return proc, journal

    def both_training() -> bool:
        running = [t for t in _trials(journal, name) if t.state == TrialState.RUNNING and len(t.intermediate_values)]
        return len({t.system_attrs.get("regtune:pid") for t in running}) == 2

    _wait_until(both_training, 180, "both workers to train a trial", proc, tmp_path / "study.err")
    return proc, journal


@pytest.mark.slow
def test_sigterm_to_a_study_with_two_workers_requeues_their_trials_and_exits_143(tmp_path: Path) -> None:
    proc, journal = _start_two_workers(tmp_path, "sigterm", trials=4, max_epochs=400)
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = _finish(proc, tmp_path, "study", 120)
    took = time.monotonic() - start
    assert proc.returncode == 143, (proc.returncode, err[-3000:])
    assert took < 60, took
    assert [w for w in workers if _alive(w)] == [], "workers left running"
    said = [line for line in err.splitlines() if "interrupted" in line]
    assert said == ["interrupted (SIGTERM): any running trial was marked failed and re-queued; rerun to resume"], err
    trials = _trials(journal, "sigterm")
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.state == TrialState.FAIL and "interrupted" in t.user_attrs.get("fail_reason", "")]
    assert len(stopped) == 2, [(t.number, t.state.name, t.user_attrs) for t in trials]
    for t in stopped:  # each stopped trial has a waiting copy with its parameters, run first by the next study
        copies = [c for c in trials if c.system_attrs.get("failed_trial") == t.number]
        assert [c.state for c in copies] == [TrialState.WAITING] and copies[0].params == t.params, copies


@pytest.mark.slow
def test_the_workers_of_a_study_killed_with_sigkill_requeue_their_trials_and_exit(tmp_path: Path) -> None:
    """SIGKILL cannot be passed on: the two workers went on training as orphans of PID 1 (on a GPU machine each
    holding its device). Each now stops as on SIGTERM once its parent is gone: its trial re-queued, nothing RUNNING."""
    proc, journal = _start_two_workers(tmp_path, "orphans", trials=4, max_epochs=400)
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    proc.kill()
    proc.wait()
    _wait_until(lambda: not [w for w in workers if _alive(w)], 90, "the orphaned workers to exit", None, None)
    trials = _trials(journal, "orphans")
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.state == TrialState.FAIL and "interrupted" in t.user_attrs.get("fail_reason", "")]
    assert len(stopped) == 2, [(t.number, t.state.name, t.user_attrs) for t in trials]
    for t in stopped:
        copies = [c for c in trials if c.system_attrs.get("failed_trial") == t.number]
        assert [c.state for c in copies] == [TrialState.WAITING] and copies[0].params == t.params, copies


@pytest.mark.slow
@pytest.mark.parametrize("killed", [1, 2], ids=["one-worker-dies", "both-die"])
def test_a_dead_worker_is_named_and_a_study_the_others_finished_still_prints_its_result(
    tmp_path: Path, killed: int
) -> None:
    # both die: at once (as when they cannot start); one dies: mid-trial, and the other re-runs its trial
    proc, journal = _start_two_workers(tmp_path, "dies", trials=3, max_epochs=40, training=killed == 1)
    workers = _children(proc.pid)
    for pid in workers[:killed]:
        os.kill(pid, signal.SIGKILL)
    out, err = _finish(proc, tmp_path, "study", 240)
    failed = re.search(r"(\d) of 2 workers failed \((worker [01]: killed by SIGKILL(, )?)+\)", err)
    assert failed and int(failed[1]) == killed, err[-3000:]
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in _trials(journal, "dies"))
    if killed == 1:  # the other worker re-ran the dead one's trial and finished the study: its result is printed
        assert proc.returncode == 0, err[-3000:]
        assert finished == 3 and "the others finished the study" in err
        assert "dies: 3/3 trials finished" in out and "test accuracy" in out, out
    else:
        assert proc.returncode == 1, err[-3000:]
        assert finished == 0 and "0/3 trials finished: rerun the same command to resume" in err, err
        assert "test accuracy" not in out


# --------------------------------------------------------------------------------------------- plain URLs
@pytest.mark.postgres
def test_plain_postgresql_urls_work_in_optuna_and_optuna_dashboard(tmp_path: Path, database: str) -> None:  # noqa: F811
    """What users copy from Optuna's docs, run from the project's environment: no "Failed to import DB access
    module" (SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3)."""
    plain = database.replace(f":{SECRET}@", "@")
    assert plain.startswith("postgresql://") and driver_url(plain) == plain
    assert driver_url(plain.replace("postgresql://", "postgresql+psycopg2://")).startswith("postgresql+psycopg2://")
    script = (
        "import sys, optuna\n"
        "optuna.logging.set_verbosity(optuna.logging.WARNING)\n"
        "s = optuna.create_study(study_name='plain', storage=sys.argv[1])\n"
        "s.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=2)\n"
        "print(len(optuna.load_study(study_name='plain', storage=sys.argv[1]).trials))\n"
    )
    run = subprocess.run([sys.executable, "-c", script, plain], capture_output=True, text=True, timeout=120, env=ENV)
    assert run.returncode == 0 and run.stdout.strip() == "2", run.stderr[-3000:]

    port = free_port()
    dashboard = subprocess.Popen(
        [str(VENV / "bin" / "optuna-dashboard"), plain, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, stdout=open(tmp_path / "dashboard.log", "w"), stderr=subprocess.STDOUT, env=ENV,
    )  # fmt: skip

    def page() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                return int(response.status)
        except OSError:
            return 0

    try:
        assert _wait_until(page, 60, "optuna-dashboard to serve /", dashboard, tmp_path / "dashboard.log") == 200
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=30)
    assert "Failed to import" not in (tmp_path / "dashboard.log").read_text()


def test_make_passes_each_variable_as_one_shell_word(tmp_path: Path) -> None:
    """A ' in a study path or a password ended the Makefile's '...' quoting: "unexpected EOF while looking for
    matching", and a crafted value would have run as a command."""
    study, storage = "/tmp/bob's dir/x.yaml", "postgresql://u:pa'ss$x; touch pwned@h/db"  # $x: not make's
    make = [
        "make",
        "-n",
        "--no-print-directory",
        "-f",
        str(ROOT / "Makefile"),
        f"VENV={VENV}",
        "-o",
        f"{VENV}/.installed",
    ]
    run = subprocess.run([*make, "study", f"STUDY={study}", f"STORAGE={storage}", "TRIALS=2 3", "WORKERS=1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    words = shlex.split(run.stdout.strip().splitlines()[-1])
    assert words[words.index("study") + 1] == study and words[words.index("--storage") + 1] == storage
    assert words[words.index("--trials") + 1] == "2 3" and words[words.index("--workers") + 1] == "1"
    assert not (tmp_path / "pwned").exists()
    # HOST, PORT and the proxy's variables too: an empty or two-word PORT printed argparse's usage block
    run = subprocess.run(
        [*make, "dashboard", "HOST=a b", "PORT="], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    words = shlex.split(run.stdout.strip().splitlines()[-1])
    assert words[words.index("--host") + 1] == "a b" and words[words.index("--port") + 1] == ""
    run = subprocess.run([*make, "proxy", "PROXY_PORT=1 2", "PROXY_PROCESSES="], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    words = shlex.split(run.stdout.strip().splitlines()[-1])
    assert words[words.index("--port") + 1] == "1 2" and words[words.index("--processes") + 1] == ""


def test_an_empty_study_reaches_report_as_one_empty_word(tmp_path: Path) -> None:
    """make report STUDY= printed argparse's usage block ("the following arguments are required: studies"), where
    make validate STUDY= says "the study file is empty (STUDY=)"."""
    make = ["make", "-n", "--no-print-directory", "-f", str(ROOT / "Makefile"), f"VENV={VENV}", "-o",
            f"{VENV}/.installed"]  # fmt: skip
    for target in ("report", "validate"):
        run = subprocess.run([*make, target, "STUDY="], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        words = shlex.split(run.stdout.strip().splitlines()[-1])
        assert words[words.index(target) + 1] == "", run.stdout
    run = subprocess.run([*make, "report", "STUDY='a b.yaml' c.yaml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    words = shlex.split(run.stdout.strip().splitlines()[-1])
    assert words[words.index("report") + 1 :][:2] == ["a b.yaml", "c.yaml"], run.stdout


@pytest.mark.parametrize(("value", "allowed"), [("1", True), ("yes", True), ("TRUE", True), ("0", False), ("no", False),
                                                ("off", False), ("", False), ("maybe", None), ("no 1", None)])  # fmt: skip
def test_allow_change_reads_yes_and_no(tmp_path: Path, value: str, allowed: bool | None) -> None:
    """ALLOW_CHANGE=no (or false, off) turned --allow-change on: only 0 or nothing meant off. A word that is
    neither is refused in one line naming the variable."""
    run = subprocess.run(["make", "-n", "--no-print-directory", "-f", str(ROOT / "Makefile"), f"VENV={VENV}", "-o",
                          f"{VENV}/.installed", "study", f"ALLOW_CHANGE={value}"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    if allowed is None:
        assert run.returncode != 0 and f"ALLOW_CHANGE={value}: " in run.stderr, run.stderr
        assert "allowed: 1, yes, true, on (continue) or 0, no, false, off" in run.stderr
        helped = subprocess.run(["make", "-f", str(ROOT / "Makefile"), "help", f"ALLOW_CHANGE={value}"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert helped.returncode == 0, helped.stderr  # only study and worker read it
    else:
        assert run.returncode == 0, run.stderr
        assert ("--allow-change" in run.stdout) == allowed, run.stdout

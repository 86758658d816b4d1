"""bench.study_throughput creates its study the way ``python -m search worker`` reads it.

It built the study from ``load_study`` alone, without the data-dependent defaults that ``search.preflight.prepare``
applies, so the worker it started refused the study as changed ("no longer matches study") and the bench crashed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.study_throughput import bench_spec, bench_study, create_run_study, parameter_sets
from search.preflight import prepare
from search.storage import open_storage
from search.worker import ensure_study

ROOT = Path(__file__).resolve().parent.parent


def test_the_worker_accepts_the_bench_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the bench reads studies/lstm.yaml from the checkout
    study_file, _ = bench_study(tmp_path, 2, 1)
    spec = bench_spec(study_file)
    params = parameter_sets(spec, 2)
    assert all("lr" in p for p in params), "the data defaults search lr: the enqueued trials must set it"
    journal = tmp_path / "journal.log"
    create_run_study(spec, params, journal)
    # what the worker does with the file (search.cli): prepare it, then load the stored study, refusing a change
    study = ensure_study(prepare(study_file).spec, open_storage(str(journal)), total=2)
    assert len(study.get_trials(deepcopy=False)) == 2


@pytest.mark.slow
def test_the_bench_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "st.json"
    cmd = [sys.executable, "-m", "bench.study_throughput", "--trials", "2", "--epochs", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "start-up included" in proc.stdout
    assert out.exists()

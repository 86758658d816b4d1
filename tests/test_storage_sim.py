"""The many-workers storage simulation (bench/storage_sim.py) on the real local PostgreSQL: two simulated workers
for a couple of seconds, straight to the database and through the gRPC proxy; what they counted is exactly what
the storage holds. Skips (with the reason) only when the server is unreachable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.storage_sim import simulate, table

PG = (
    f"postgresql://{os.environ.get('REGTUNE_TEST_PGUSER', 'postgres')}@{os.environ.get('REGTUNE_TEST_PGHOST', '127.0.0.1')}"
    f":{os.environ.get('REGTUNE_TEST_PGPORT', '5432')}/postgres"
)


@pytest.fixture(scope="module")
def server() -> str:
    import psycopg

    try:
        psycopg.connect(PG, connect_timeout=3).close()
    except Exception as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG} ({str(exc).strip().splitlines()[0]})")
    return PG


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("mode", "epochs", "sleep"),
    [
        ("direct", 3, 0.0),  # flat out
        ("proxy", 4, 0.01),  # with a little simulated training per epoch
    ],
)
def test_simulated_workers_run_and_count_exactly(server: str, mode: str, epochs: int, sleep: float) -> None:
    result = simulate([2], [mode], epochs=epochs, sleep=sleep, seconds=2.0, warmup=0.5, procs=2, server=server,
                      log=lambda line: None)  # fmt: skip
    (row,) = result["rows"]
    assert "skipped" not in row, row
    assert (row["mode"], row["workers"], row["processes"], row["errors"], row["stuck_workers"]) == (mode, 2, 2, 0, 0), (
        row
    )
    # the workers did work (over the whole run: the 2-s measured window alone can hold no finished trial on a loaded
    # machine, and a rate is a benchmark's number, not a test's), and the window's rates are a part of it
    assert row["counted"]["finished"] > 0 and row["counted"]["reports"] > 0, row
    assert 0 <= row["trials_per_s"] * row["seconds"] <= row["counted"]["finished"] + 0.01 * row["seconds"], row
    assert 0 <= row["reports_per_s"] * row["seconds"] <= row["counted"]["reports"] + 0.1 * row["seconds"], row
    # every finished trial and every report the workers counted is in the storage, and nothing else
    assert row["exact"], (row["counted"], row["stored"])
    assert row["counted"] == {"finished": row["stored"]["finished"], "reports": row["stored"]["reports"]}
    # at most `epochs` reports a trial; every trial that finished reported at least once
    assert row["stored"]["finished"] <= row["stored"]["reports"] <= epochs * row["stored"]["trials"]
    assert {"create_new_trial", "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_state_values"} <= set(
        row["per_op"]
    )
    # directly each worker holds its own connections; behind the proxy only the proxy holds any (its pool)
    assert 1 <= row["connections_max"] <= (4 if mode == "direct" else 8), row
    lines = table(result).splitlines()
    assert any(line.split()[:2] == [mode, "2"] and line.endswith("yes") for line in lines), lines


@pytest.mark.postgres
def test_the_window_measures_storage_calls_not_start_up(server: str, tmp_path: Path) -> None:
    """A fresh ``python -m bench.storage_sim``: its worker threads imported the worker loop (torch, Lightning: 5-13 s
    on a loaded 2-core machine) inside the measured window, which then held no storage call (0 calls/s at 3 + 8 s,
    a third of the calls/s at the default 3 + 20 s). Run in a subprocess: the test process has imported them."""
    out = tmp_path / "sim.json"
    cmd = [sys.executable, "-m", "bench.storage_sim", "--workers", "2", "--modes", "direct", "--seconds", "2",
           "--warmup", "0.5", "--procs", "2", "--epochs", "3", "--out", str(out)]  # fmt: skip
    root = str(Path(__file__).resolve().parent.parent)  # run from elsewhere: the study file is the checkout's
    env = {**os.environ, "REGTUNE_BENCH_PG": server, "OMP_NUM_THREADS": "1", "PYTHONPATH": root}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["calls_per_s"] > 0 and row["p99_ms"] is not None, {k: v for k, v in row.items() if k != "per_op"}

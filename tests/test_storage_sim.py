"""The many-workers storage simulation (bench/storage_sim.py) on the real local PostgreSQL: two simulated workers
for a couple of seconds, straight to the database and through the gRPC proxy; what they counted is exactly what
the storage holds. Skips (with the reason) only when the server is unreachable."""

from __future__ import annotations

import os

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

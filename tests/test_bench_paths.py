"""The benchmark modules run from any working directory, and their ratios divide by the baseline they name.

``bench.study_level`` set its runs' ``PYTHONPATH`` to ``.``, so outside the checkout's root the hand-written study
died at its import (a bare ``CalledProcessError``, its stderr swallowed); five modules read ``studies/*.yaml``
relative to the working directory. ``bench.array_study --sizes 4,1`` divided every ratio by K = 4's row while
printing "ratios to array_size 1".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import CHECKOUT, shipped
from bench.array_study import baseline_first
from bench.study_level import _env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("in_root", [True, False])
@pytest.mark.parametrize("name", ["studies/lstm.yaml", "studies/smoke.yaml"])
def test_shipped_study_files_are_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_root: bool, name: str
) -> None:
    monkeypatch.chdir(ROOT if in_root else tmp_path)
    path = shipped(name)
    assert path.is_file()
    assert path.resolve() == ROOT / name
    assert path == (Path(name) if in_root else CHECKOUT / name)  # make bench's results keep the short path


@pytest.mark.parametrize("before", [None, "/elsewhere"])
def test_study_level_runs_import_this_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    if before is None:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    else:
        monkeypatch.setenv("PYTHONPATH", before)
    parts = _env(1)["PYTHONPATH"].split(os.pathsep)
    assert parts[0] == str(ROOT)
    assert parts[1:] == ([] if before is None else [before])


@pytest.mark.parametrize(
    "given, run",
    [
        ([1, 4, 8], [1, 4, 8]),
        ([4, 8], [1, 4, 8]),
        ([4, 1], [1, 4]),
        ([8, 1, 8, 4], [1, 8, 4]),
        ([1], [1]),
    ],
)
def test_array_study_runs_the_baseline_first(given: list[int], run: list[int]) -> None:
    assert baseline_first(given) == run


@pytest.mark.parametrize("given", [[250, 500, 1000], [1000, 250, 500], [500, 250, 250]])
def test_long_sequences_divide_by_the_shortest_length(
    given: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--lengths 500 250`` called 500 steps "the shortest" (the first given) and divided every ratio by it."""
    from bench import long_sequences

    def fake(length: int, variant: str, epochs: int) -> dict[str, object]:  # time quadratic in the length
        return {"length": length, "variant": variant, "conv_stride": 1, "rnn_steps": length,
                "epoch_s": (length / 1000) ** 2, "peak_mb": 1.0}  # fmt: skip

    monkeypatch.setattr(long_sequences, "run_child", fake)
    argv = ["--lengths", *map(str, given), "--variants", "plain", "--out", str(tmp_path / "ls.json")]
    rows = long_sequences.main(argv)
    assert [r["length"] for r in rows] == sorted(set(given))
    assert [r["ratio_vs_shortest"] for r in rows] == pytest.approx([r["length"] / min(given) for r in rows])


def test_every_benchmark_child_imports_this_checkout(tmp_path: Path) -> None:
    """``bench.long_sequences`` ran ``python -m bench.long_sequences`` children that found no ``bench`` outside the
    root (it is not installed), and the others' ``search`` children imported whatever checkout the editable install
    points at: every child's environment puts this checkout first (:func:`bench.child_env`)."""
    import subprocess
    import sys

    from bench import child_env

    code = "import bench, search; print(bench.__file__); print(search.__file__)"
    done = subprocess.run([sys.executable, "-c", code], env=child_env(X="1"), cwd=tmp_path, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert [Path(p).resolve().parents[1] for p in done.stdout.split()] == [ROOT, ROOT]
    assert child_env({"PYTHONPATH": "/a"}, X="1") == {"PYTHONPATH": os.pathsep.join([str(ROOT), "/a"]), "X": "1"}


#: (case, the results file before, the size the writing process's files may reach, the file after): a full disk for
#: real (RLIMIT_FSIZE: the kernel's EFBIG, as tests/test_disk_full.py); the new results are 4,000+ bytes
WRITE_CASES = [
    ("full disk keeps the earlier results", '{"rows": [1]}\n', 2048, '{"rows": [1]}\n'),
    ("full disk on a first write leaves no file", None, 2048, None),
    ("room enough replaces them", '{"rows": [1]}\n', 1 << 20, "new"),
]


#: the writers that write a file whole (the comparison page's index.html and summary.md go through write_whole)
WRITERS = {
    "bench.write_result": "from bench import write_result; write_result(Path({out!r}), {rows!r})",
    "search.whole_file.write_whole": "import json; from search.whole_file import write_whole; "
    "write_whole(Path({out!r}), json.dumps({rows!r}, indent=2) + '\\n')",
}


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize(("case", "before", "limit", "after"), WRITE_CASES, ids=[c[0] for c in WRITE_CASES])
def test_a_benchmark_result_is_written_whole_or_not_at_all(
    tmp_path: Path, case: str, before: str | None, limit: int, after: str | None, writer: str
) -> None:
    """``write_result`` truncated the results file and then wrote it: a full disk left half a JSON file where the
    earlier results were (``bench.quality --keep-rows`` keeps every earlier run's rows there); the comparison page
    alike (the stores12 probe)."""
    import json
    import resource
    import subprocess
    import sys

    out = tmp_path / "bench" / "quality.json"
    out.parent.mkdir()
    if before is not None:
        out.write_text(before)
    rows = [{"dataset": f"d{i}", "note": "x" * 40} for i in range(60)]
    code = "from pathlib import Path; " + WRITERS[writer].format(out=str(out), rows=rows)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, preexec_fn=cap)
    assert (done.returncode == 0) == (after == "new"), done.stderr
    if after is None:
        assert not out.exists()
    elif after == "new":
        assert json.loads(out.read_text()) == rows
    else:
        assert out.read_text() == after
    assert sorted(p.name for p in out.parent.iterdir()) == ([] if after is None else ["quality.json"])


def test_decay_response_runs_each_decay_by_the_verdicts_protocol(tmp_path: Path) -> None:
    """``bench.decay_response`` on a tiny study: a row per decay with its CV value, the epochs its folds chose and a
    test accuracy per seed; decay 0 is the study's baseline itself (the verdict's own cross-validation and refit)."""
    import json

    from bench import decay_response
    from tests.helpers import write_study

    study = write_study(tmp_path, fixed={"lr": 0.01, "batch_size": 32, "optimizer": "adamw"})
    out = tmp_path / "decay.json"
    rows = decay_response.main(["--study", str(study), "--datasets", "synthetic:n=160,length=16", "--decays", "0",
                                "1", "--seeds", "2", "--out", str(out)])  # fmt: skip
    assert [r["decay"] for r in rows] == [0.0, 1.0]
    for row in rows:
        assert 0.0 <= row["cv"] <= 1.0 and 1 <= row["epochs"] <= 4 and len(row["test"]) == 2, row
    assert json.loads(out.read_text())["rows"] == rows

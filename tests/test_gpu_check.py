"""The prepared GPU check (``python -m bench.gpu_check``) runs its device-independent checks here on the CPU,
so that a session lent a GPU machine runs a script already known to work; on CUDA it also checks cuDNN."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_on_cpu_passes_its_equivalence_checks(tmp_path: Path) -> None:
    from bench import gpu_check

    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--device", "cpu", "--skip-speed", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    checks = result["checks"]
    equal = [r for r in checks if r["check"] == "fused_equals_loop"]
    assert len(equal) == 6 and all(r["ok"] for r in equal)
    assert all(r["max_logit_diff"] < 1e-5 for r in equal)
    cudnn = [r for r in checks if r["check"] == "cudnn"]
    assert len(cudnn) == 9 and all(r["ok"] is None for r in cudnn)  # not applicable off CUDA
    assert all(r["ops"] for r in cudnn)  # the fused op that ran is still named (aten::lstm, aten::gru ...)
    assert result["failed"] == 0


def test_gpu_check_without_a_gpu_says_so_and_exits_2() -> None:
    if torch.cuda.is_available():
        return  # on a GPU machine the CUDA run is the real check (bench/gpu_check.py)
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_check", "--skip-speed"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2
    assert "no CUDA device is visible" in proc.stderr and "--device cpu" in proc.stderr

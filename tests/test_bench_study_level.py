"""bench.study_level's hand-written study runs regtune's job: its searched ``kernel_decay`` decays what regtune's
does (the input-to-hidden weights, ``models.network`` role "kernel"), not every parameter as AdamW's
``weight_decay`` over ``self.parameters()`` did (the recurrent weights, the biases and the head too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.study_level import handwritten


def test_the_hand_written_study_decays_the_kernel_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[list[dict[str, Any]]] = []
    real = torch.optim.AdamW

    def spy(params: Any, **kwargs: Any) -> torch.optim.Optimizer:
        opt = real(params, **kwargs)
        made.append(opt.param_groups)
        return opt

    monkeypatch.setattr(torch.optim, "AdamW", spy)
    out = tmp_path / "hand.json"
    handwritten(1, 1, out)
    assert json.loads(out.read_text())["finished"] == 1
    (groups,) = made
    decayed = [(tuple(p.shape), g["weight_decay"]) for g in groups for p in g["params"] if g["weight_decay"]]
    assert decayed == [((4 * 64, 12), pytest.approx(groups[0]["weight_decay"]))]  # weight_ih_l0: 4 gates x 64, 12 in
    assert sum(len(g["params"]) for g in groups) == 6  # weight_ih, weight_hh, two biases, head weight and bias

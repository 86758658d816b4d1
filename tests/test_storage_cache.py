"""RetryingStorage answers a study's fixed facts (id, name, directions) from memory after the first round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from search.storage import open_storage


@pytest.mark.parametrize("call", ["get_study_id_from_name", "get_study_directions", "get_study_name_from_id"])
def test_fixed_facts_cost_one_round_trip(tmp_path: Path, call: str) -> None:
    storage: Any = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(study_name="cache", storage=storage)
    key = "cache" if call == "get_study_id_from_name" else study._study_id
    storage._fixed.clear()
    calls = []
    inner = storage.inner
    real = getattr(inner, call)
    setattr(inner, call, lambda *a: calls.append(a) or real(*a))
    first = getattr(storage, call)(key)
    assert [getattr(storage, call)(key) for _ in range(5)] == [first] * 5
    assert len(calls) == 1


def test_a_deleted_and_recreated_study_is_looked_up_again(tmp_path: Path) -> None:
    storage: Any = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    old = optuna.create_study(study_name="again", storage=storage)
    assert storage.get_study_id_from_name("again") == old._study_id
    optuna.delete_study(study_name="again", storage=storage)
    optuna.create_study(study_name="other", storage=storage)  # the old id goes to another study
    new = optuna.create_study(study_name="again", storage=storage, direction="maximize")
    assert new._study_id != old._study_id
    assert storage.get_study_id_from_name("again") == new._study_id
    assert storage.get_study_directions(new._study_id) == [optuna.study.StudyDirection.MAXIMIZE]

"""Shared fixtures: tiny configs, hand-made padded batches, quiet Lightning."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest
import torch

from models.classifier import RNNClassifier
from models.config import split_params

# Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine OpenMP's spinning threads make
# every op slower by an order of magnitude (measured: the models/ tests take 11 s with one thread, 107 s with two)
torch.set_num_threads(1)

C_IN, K, H = 3, 4, 6  # input channels, classes, hidden units: small enough for every test to be instant


@pytest.fixture(autouse=True, scope="session")
def _own_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """This process's temporary files under pytest's own folder (kept for the last few runs, then removed): tests
    that build trial checkpoints without closing them left a regtune-ckpt-* folder in /tmp each; so do the command
    lines the tests start (TMPDIR), whose SIGKILLed workers left theirs in /tmp."""
    import tempfile

    folder = str(tmp_path_factory.mktemp("tempfile"))
    before, tempfile.tempdir = tempfile.tempdir, folder
    env_before, os.environ["TMPDIR"] = os.environ.get("TMPDIR"), folder
    yield
    tempfile.tempdir = before
    if env_before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = env_before


@pytest.fixture(autouse=True)
def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def make_batch(
    lengths: tuple[int, ...] = (7, 3, 5, 1, 7), channels: int = C_IN, seed: int = 0, pad_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, lengths, y)``: random steps, ``pad_value`` past each length (garbage there must never matter)."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(lengths)
    x = torch.randn(len(lengths), max(lengths), channels, generator=g)
    x[torch.arange(x.shape[1])[None, :] >= lens[:, None]] = pad_value
    y = torch.randint(0, K, (len(lengths),), generator=g)
    return x, lens, y


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return make_batch()


def build(seed: int = 0, **params: Any) -> RNNClassifier:
    """An :class:`RNNClassifier` from flat hyperparameters (tiny defaults), its weights seeded by ``seed``."""
    input_size = params.pop("input_size", C_IN)
    rnn, train = split_params({"hidden_size": H, **params}, input_size=input_size, num_classes=K)
    torch.manual_seed(seed)
    return RNNClassifier(rnn, train)


SHARED_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"  # the studies of several postgres tests, by name


def pytest_sessionstart(session: pytest.Session) -> None:
    """Optuna's tables in the shared ``test`` database, made once before xdist's processes start: two processes
    opening an empty database at once both create the tables and both insert the schema's version row (each checks
    first, then writes). Nothing happens where the server is down: those tests skip themselves."""
    if hasattr(session.config, "workerinput"):  # an xdist process: the controller made them
        return
    try:
        import psycopg2

        psycopg2.connect(SHARED_DATABASE, connect_timeout=2).close()
    except Exception:
        return
    from search.storage import StorageError, open_storage

    try:
        open_storage(SHARED_DATABASE)
    except StorageError:  # (a schema of another Optuna version): the postgres tests say so; the rest still run
        return

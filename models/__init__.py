"""regtune's models: an RNN sequence classifier whose every regularizer is a named hyperparameter.

This package never imports optuna; ``search/`` drives it.
"""

from __future__ import annotations

import importlib
from typing import Any

#: what the package re-exports, and the module each name lives in: imported on first use (PEP 562), so that
#: reading a study file (models.config) does not import torch
_EXPORTS = {
    "HYPERPARAMETER_NAMES": "models.config", "REGULARIZER_NAMES": "models.config", "ConfigError": "models.config",
    "RNNConfig": "models.config", "TrainConfig": "models.config", "as_dict": "models.config",
    "split_params": "models.config", "NetOutput": "models.network", "RNNClassifierNet": "models.network",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

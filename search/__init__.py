"""regtune's search: Optuna studies over the regularizers of ``models/``, from study files."""

from __future__ import annotations

import importlib
from typing import Any

#: what the package re-exports, and the module each name lives in: imported on first use (PEP 562), so that the
#: commands that train nothing (proxy, dashboard, repair) start without importing torch and Lightning
_EXPORTS = {
    "Objective": "search.objective", "default_folds": "search.folds", "PruningCallback": "search.pruning",
    "make_pruner": "search.samplers", "make_sampler": "search.samplers", "suggest": "search.space",
    "StudyFileError": "search.spec", "StudySpec": "search.spec", "load_study": "search.spec",
    "parse_study": "search.spec", "StorageError": "search.storage", "mask_url": "search.storage",
    "open_storage": "search.storage", "counts": "search.worker", "ensure_study": "search.worker",
    "run_worker": "search.worker", "WholeFoldsPruner": "search.whole_folds",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

"""regtune's search: Optuna studies over the regularizers of ``models/``, from study files."""

from search.objective import Objective, default_folds
from search.pruning import PruningCallback
from search.samplers import make_pruner, make_sampler
from search.space import suggest
from search.spec import StudyFileError, StudySpec, load_study, parse_study
from search.storage import StorageError, mask_url, open_storage
from search.worker import counts, ensure_study, run_worker

__all__ = [
    "Objective", "PruningCallback", "StorageError", "StudyFileError", "StudySpec", "counts", "default_folds",
    "ensure_study", "load_study", "make_pruner", "make_sampler", "mask_url", "open_storage", "parse_study",
    "run_worker", "suggest",
]  # fmt: skip

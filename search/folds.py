"""How many folds a study cross-validates over, and its dataset loaded once per process. Kept apart from
:mod:`search.objective` (which imports the training stack, Lightning among it: about 2.5 s) so that ``validate``, the
preflight checks and every refusal before a study is opened answer without importing it."""

from __future__ import annotations

import numpy as np

from models.data import Splits, load_splits
from search.spec import StudySpec


def default_folds(n_train: int, rarest: int | None = None) -> int:
    """Cross-validation folds when the study file does not say: small datasets need an honest signal.

    < 1,000 training sequences: 5 folds (a 20 % holdout of JapaneseVowels is 54 sequences, and saturates);
    < 5,000: 3 folds; larger: one seeded 20 % holdout. Never more folds than the rarest class has training
    sequences (``rarest``; stratified folds need one of each a fold), and one holdout when that is a single one:
    a default the user never wrote must not refuse their data.
    """
    folds = 5 if n_train < 1000 else 3 if n_train < 5000 else 1
    if rarest is not None and rarest < folds:
        folds = rarest if rarest >= 2 else 1
    return folds


def data_folds(splits: Splits) -> int:
    """:func:`default_folds` for a dataset: its training size and its rarest class."""
    return default_folds(len(splits.train), rarest_class(splits))


def rarest_class(splits: Splits) -> int:
    """Training sequences of the rarest class."""
    return int(np.bincount(splits.train.y, minlength=len(splits.classes)).min())


_SPLITS: dict[tuple[str, int], Splits] = {}


def study_splits(spec: StudySpec) -> Splits:
    """The dataset of a study, loaded once per process."""
    key = (spec.dataset, spec.seed)
    if key not in _SPLITS:
        _SPLITS[key] = load_splits(spec.dataset, seed=spec.seed)
    return _SPLITS[key]


def folds_of(spec: StudySpec) -> int:
    return spec.cv_folds if spec.cv_folds is not None else data_folds(study_splits(spec))

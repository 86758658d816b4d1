"""The data errors, apart from the data code: the command line catches them without importing torch."""

from __future__ import annotations


class DataError(ValueError):
    """Bad or missing data; the message names the file or dataset and what was expected."""


class FoldsError(DataError):
    """A class has fewer training sequences than the cross-validation folds need."""

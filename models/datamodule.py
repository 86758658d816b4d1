"""Batches and the Lightning data module of one fit: :class:`SequenceDataModule` (a trial's fold, a refit's whole
training split) and :func:`make_loader`. Apart from :mod:`models.data` (loading, checks, splits: numpy only) so that
reading and checking a dataset (``validate``, the checks before a study is opened) does not import torch and
Lightning (about 3 s)."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from models.config import NORMALIZATIONS
from models.data import SequenceSet, Splits, channel_stats, load_splits, series_stats, split_indices
from models.errors import DataError


# ---------------------------------------------------------------------------------------------- batching
class _TensorSet(Dataset):
    """Whole batches by index list: one gather instead of a per-item collate; trims padding per batch."""

    def __init__(self, data: SequenceSet) -> None:
        self.X = torch.from_numpy(data.X)
        self.lengths = torch.from_numpy(data.lengths)
        self.y = torch.from_numpy(data.y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(idx)
        lengths = self.lengths[index]
        return self.X[index, : int(lengths.max())], lengths, self.y[index]


class _BatchOrder(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int) -> None:
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):  # type: ignore[no-untyped-def]
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        for i in range(0, self.n, self.batch_size):
            yield order[i : i + self.batch_size].tolist()

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size


def make_loader(data: SequenceSet, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    return DataLoader(_TensorSet(data), sampler=_BatchOrder(len(data), batch_size, shuffle, seed), batch_size=None)


# ---------------------------------------------------------------------------------------------- module
class SequenceDataModule(pl.LightningDataModule):
    """Train / validation loaders for one search trial (one fold when ``folds`` > 1), and the test data.

    ``val_fraction=0`` with ``folds=1`` trains on the whole official training split (the final refit).
    """

    def __init__(
        self,
        source: str | Splits,
        batch_size: int = 32,
        val_fraction: float = 0.2,
        folds: int = 1,
        fold: int = 0,
        seed: int = 0,
        normalize: str = "channel",
    ) -> None:
        super().__init__()
        if normalize not in NORMALIZATIONS:
            raise DataError(f"normalize={normalize!r}: must be one of {', '.join(NORMALIZATIONS)}")
        self.normalize = normalize
        if not 0 <= val_fraction < 1:
            raise DataError(f"val_fraction={val_fraction!r}: must be in [0, 1)")
        if folds < 1 or not 0 <= fold < folds:
            raise DataError(f"folds={folds}, fold={fold}: need folds >= 1 and 0 <= fold < folds")
        self.splits = source if isinstance(source, Splits) else load_splits(source, seed=seed)
        self.batch_size, self.seed = batch_size, seed
        tr, va = split_indices(self.splits.train.y, folds, fold, val_fraction, seed)
        self.train_set = self.splits.train.subset(tr)
        self.val_set = self.splits.train.subset(va)
        self.mean, self.std = channel_stats(self.train_set)
        self.train_set = self._standardize(self.train_set)
        self.val_set = self._standardize(self.val_set)

    @property
    def input_size(self) -> int:
        return int(self.splits.train.X.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.splits.classes)

    def _standardize(self, s: SequenceSet) -> SequenceSet:
        """``normalize="channel"``: the training part's per-channel statistics; ``"series"``: each sequence's own
        (per channel, over its valid steps; a constant channel becomes zeros). Padding stays zero."""
        valid = (np.arange(s.X.shape[1])[None, :] < s.lengths[:, None])[..., None]
        if self.normalize == "series":
            mean, std = series_stats(s)
            X = np.where(valid, (s.X - mean[:, None, :]) / std[:, None, :], 0.0).astype(np.float32)
        else:
            X = np.where(valid, (s.X - self.mean) / self.std, 0.0).astype(np.float32)
        return SequenceSet(X, s.lengths, s.y)

    def train_dataloader(self) -> DataLoader:
        return make_loader(self.train_set, self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> DataLoader:
        return make_loader(self.val_set, max(self.batch_size, 256), shuffle=False)

    def test_data(self) -> SequenceSet:
        """The official test split, standardized with the training statistics. Never used by a search."""
        return self._standardize(self.splits.test)

    def test_dataloader(self) -> DataLoader:
        return make_loader(self.test_data(), max(self.batch_size, 256), shuffle=False)

"""Sequence datasets and the Lightning data module.

Sources, all offline:
- a UEA/UCR archive dataset shipped inside the ``sktime`` wheel, by name (``JapaneseVowels``, ``PLAID`` ...);
- a user's ``.npz`` (``X``: N x T x C floats, ``y``: N integer labels 0..K-1, optional ``lengths``) or ``.ts``
  file (a ``_TRAIN.ts`` path finds its ``_TEST.ts`` sibling);
- ``synthetic``: a seeded sequence task for fast tests.

The validation split is carved from the training split with a fixed seed (stratified); the official test
split is never touched by a search and only read by :meth:`SequenceDataModule.test_data`. Inputs are
standardized per channel with statistics of the training part only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

SYNTHETIC = "synthetic"


class DataError(ValueError):
    """Bad or missing data; the message names the file or dataset and what was expected."""


@dataclass
class SequenceSet:
    """Padded sequences: X (N, T, C) float32 with zeros past each length, lengths (N,), y (N,) in 0..K-1."""

    X: np.ndarray
    lengths: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> SequenceSet:
        return SequenceSet(self.X[idx], self.lengths[idx], self.y[idx])


@dataclass
class Splits:
    train: SequenceSet  # the official training split (the search carves validation from it)
    test: SequenceSet  # the official test split: used once, on a finished configuration
    classes: list[str]  # class names, index = label
    name: str


# ---------------------------------------------------------------------------------------------- loading
def shipped_datasets() -> list[str]:
    """Names of the UEA/UCR datasets the installed sktime wheel carries (with both TRAIN and TEST files)."""
    root = _sktime_data_dir()
    return sorted(
        d.name
        for d in root.iterdir()
        if (d / f"{d.name}_TRAIN.ts").exists()
        and (d / f"{d.name}_TEST.ts").exists()
        and not _is_regression(d / f"{d.name}_TRAIN.ts")
    )


def _is_regression(path: Path) -> bool:
    """A .ts file whose header says ``@targetlabel true`` holds regression targets, not classes."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            low = line.strip().lower()
            if low.startswith("@targetlabel"):
                return low.endswith("true")
            if low.startswith("@data"):
                return False
    return False


def _sktime_data_dir() -> Path:
    import sktime

    return Path(sktime.__file__).parent / "datasets" / "data"


def load_splits(source: str, seed: int = 0) -> Splits:
    """Load a dataset by name (shipped, ``synthetic``) or path (``.npz`` / ``.ts``)."""
    if source == SYNTHETIC or source.startswith(SYNTHETIC + ":"):
        return synthetic_splits(seed=seed, **_synthetic_args(source))
    path = Path(source)
    if path.suffix == ".npz":
        return _npz_splits(path)
    if path.suffix == ".ts":
        return _ts_file_splits(path)
    shipped = shipped_datasets()
    if source not in shipped:
        raise DataError(
            f"dataset {source!r} is not shipped by the installed sktime wheel and is not a .npz/.ts path; "
            f"allowed: {', '.join(shipped)}, {SYNTHETIC}, or a path to a .npz or .ts file"
        )
    d = _sktime_data_dir() / source
    return _ts_pair(d / f"{source}_TRAIN.ts", d / f"{source}_TEST.ts", source)


def _synthetic_args(source: str) -> dict[str, Any]:
    """``synthetic:n=400,classes=3,length=30,channels=2`` overrides the defaults."""
    args: dict[str, Any] = {}
    if ":" in source:
        for item in source.split(":", 1)[1].split(","):
            key, _, value = item.partition("=")
            if key not in ("n", "classes", "length", "channels"):
                raise DataError(f"{source!r}: unknown synthetic option {key!r}; allowed: n, classes, length, channels")
            args[key] = int(value)
    return args


def synthetic_splits(seed: int = 0, n: int = 400, classes: int = 3, length: int = 30, channels: int = 2) -> Splits:
    """A seeded task: class k is a noisy sinusoid with k+1 cycles over the full length, random phase and
    amplitude per channel, of random length in [length/2, length]. Learnable in a few epochs by any cell,
    with variable lengths to exercise masking."""
    rng = np.random.default_rng(seed)
    total = int(n * 1.5)
    y = rng.integers(0, classes, total)
    lengths = rng.integers(max(2, length // 2), length + 1, total)
    t = np.arange(length)[None, :, None]
    amp = rng.uniform(0.5, 1.5, (total, 1, channels))
    phase = rng.uniform(0, 2 * np.pi, (total, 1, 1))
    freq = (y[:, None, None] + 1) * 2 * np.pi / length
    X = amp * np.sin(freq * t + phase) + 0.2 * rng.normal(size=(total, length, channels))
    X = (X * (t < lengths[:, None, None])).astype(np.float32)
    tr = SequenceSet(X[:n], lengths[:n].astype(np.int64), y[:n].astype(np.int64))
    te = SequenceSet(X[n:], lengths[n:].astype(np.int64), y[n:].astype(np.int64))
    return Splits(tr, te, [str(k) for k in range(classes)], f"{SYNTHETIC}(seed={seed})")


def _ts_file_splits(path: Path) -> Splits:
    name = path.name
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if name.endswith("_TRAIN.ts"):
        test = path.with_name(name[: -len("_TRAIN.ts")] + "_TEST.ts")
    elif name.endswith("_TEST.ts"):
        raise DataError(f"{path}: give the _TRAIN.ts file; the _TEST.ts file is found beside it")
    else:
        raise DataError(f"{path}: a .ts dataset is a pair NAME_TRAIN.ts / NAME_TEST.ts; give the _TRAIN.ts path")
    if not test.exists():
        raise DataError(f"{path}: its test split {test} is missing")
    return _ts_pair(path, test, path.stem)


def _ts_pair(train: Path, test: Path, name: str) -> Splits:
    from sktime.datasets import load_from_tsfile

    if _is_regression(train):
        raise DataError(f"{train}: a regression dataset (@targetlabel); regtune needs class labels (@classlabel)")
    raw = {}
    for split, p in (("train", train), ("test", test)):
        try:
            X, y = load_from_tsfile(str(p), return_data_type="df-list")
        except Exception as exc:  # sktime raises many types on malformed files
            raise DataError(f"{p}: cannot parse as a .ts file: {exc}") from exc
        raw[split] = ([np.asarray(df, dtype=np.float32) for df in X], np.asarray(y).astype(str), p)
    classes = _sorted_labels(raw["train"][1])
    index = {c: i for i, c in enumerate(classes)}
    sets = {}
    for split, (series, labels, p) in raw.items():
        unknown = sorted(set(labels.tolist()) - set(classes))
        if unknown:
            raise DataError(f"{p}: labels {unknown} do not occur in the training split; allowed: {classes}")
        for i, s in enumerate(series):
            if not np.isfinite(s).all():
                raise DataError(f"{p}: series {i} contains NaN/Inf (missing values); fill or drop them first")
        sets[split] = _pad(series, np.array([index[c] for c in labels], dtype=np.int64))
    return Splits(sets["train"], sets["test"], classes, name)


def _sorted_labels(labels: np.ndarray) -> list[str]:
    uniq = sorted(set(labels.tolist()))
    try:
        return sorted(uniq, key=float)
    except ValueError:
        return uniq


def _pad(series: list[np.ndarray], y: np.ndarray) -> SequenceSet:
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    channels = series[0].shape[1]
    X = np.zeros((len(series), int(lengths.max()), channels), dtype=np.float32)
    for i, s in enumerate(series):
        X[i, : len(s)] = s
    return SequenceSet(X, lengths, y)


def _npz_splits(path: Path) -> Splits:
    """``name.npz`` holds the training split; its test split is ``name_test.npz`` or, inside the same file,
    ``X_test`` / ``y_test`` (/ ``lengths_test``)."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    with np.load(path) as f:
        data = dict(f)
    train = _npz_set(path, data, "")
    if "X_test" in data:
        test = _npz_set(path, data, "_test")
    else:
        sibling = path.with_name(path.stem + "_test.npz")
        if not sibling.exists():
            raise DataError(f"{path}: no test split: add X_test/y_test to it or write {sibling}")
        with np.load(sibling) as f:
            test = _npz_set(sibling, dict(f), "")
    k = int(train.y.max()) + 1
    if test.X.shape[2] != train.X.shape[2]:
        raise DataError(f"{path}: test X has {test.X.shape[2]} channels, train X has {train.X.shape[2]}")
    if test.y.max() >= k:
        raise DataError(f"{path}: test labels reach {int(test.y.max())}; training labels are 0..{k - 1}")
    return Splits(train, test, [str(i) for i in range(k)], path.stem)


def _npz_set(path: Path, data: dict[str, np.ndarray], suffix: str) -> SequenceSet:
    xk, yk, lk = f"X{suffix}", f"y{suffix}", f"lengths{suffix}"
    for key in (xk, yk):
        if key not in data:
            raise DataError(f"{path}: missing array {key!r}; found {sorted(data)}; expected X, y (and lengths)")
    X, y = data[xk], data[yk]
    if X.ndim != 3:
        raise DataError(f"{path}: {xk} has rank {X.ndim} (shape {X.shape}); expected rank 3: N x T x C")
    if not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{path}: {xk} has dtype {X.dtype}; expected floats")
    X = X.astype(np.float32)
    if y.ndim != 1 or len(y) != len(X):
        raise DataError(f"{path}: {yk} has shape {y.shape}; expected ({len(X)},): one label per sequence")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: {yk} has dtype {y.dtype}; expected integer labels 0..K-1")
    k = int(y.max()) + 1 if len(y) else 0
    if suffix == "" and (y.min() < 0 or set(np.unique(y).tolist()) != set(range(k))):
        raise DataError(f"{path}: {yk} holds {sorted(np.unique(y).tolist())}; labels must be exactly 0..K-1")
    if suffix and y.min() < 0:
        raise DataError(f"{path}: {yk} has negative labels; labels must be 0..K-1")
    lengths = data.get(lk)
    if lengths is None:
        lengths = np.full(len(X), X.shape[1], dtype=np.int64)
    lengths = np.asarray(lengths).astype(np.int64)
    if lengths.shape != (len(X),) or lengths.min() < 1 or lengths.max() > X.shape[1]:
        raise DataError(f"{path}: {lk} must be {len(X)} integers in 1..{X.shape[1]}")
    valid = np.arange(X.shape[1])[None, :] < lengths[:, None]
    if not np.isfinite(X[valid]).all():
        raise DataError(f"{path}: {xk} contains NaN/Inf inside the valid steps; fill or drop them first")
    X = np.where(valid[..., None], X, 0.0).astype(np.float32)
    return SequenceSet(X, lengths, y.astype(np.int64))


# ---------------------------------------------------------------------------------------------- splitting
def train_val_indices(y: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded holdout."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    stratify = y if np.bincount(y).min() >= 2 else None
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=stratify)
    return np.sort(tr), np.sort(va)


def fold_indices(y: np.ndarray, folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold`` of a stratified, seeded k-fold split."""
    from sklearn.model_selection import KFold, StratifiedKFold

    idx = np.arange(len(y))
    splitter: Any = StratifiedKFold(folds, shuffle=True, random_state=seed)
    if np.bincount(y).min() < folds:
        splitter = KFold(folds, shuffle=True, random_state=seed)
    tr, va = list(splitter.split(idx, y))[fold]
    return np.sort(tr), np.sort(va)


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
    ) -> None:
        super().__init__()
        if not 0 <= val_fraction < 1:
            raise DataError(f"val_fraction={val_fraction!r}: must be in [0, 1)")
        if folds < 1 or not 0 <= fold < folds:
            raise DataError(f"folds={folds}, fold={fold}: need folds >= 1 and 0 <= fold < folds")
        self.splits = source if isinstance(source, Splits) else load_splits(source, seed=seed)
        self.batch_size, self.seed = batch_size, seed
        y = self.splits.train.y
        if folds > 1:
            tr, va = fold_indices(y, folds, fold, seed)
        elif val_fraction > 0:
            tr, va = train_val_indices(y, val_fraction, seed)
        else:
            tr, va = np.arange(len(y)), np.arange(0)
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
        valid = (np.arange(s.X.shape[1])[None, :] < s.lengths[:, None])[..., None]
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


def channel_stats(s: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over the valid steps of a set (std floored so constant channels stay finite)."""
    valid = np.arange(s.X.shape[1])[None, :] < s.lengths[:, None]
    flat = s.X[valid]
    std = flat.std(0)
    return flat.mean(0), np.where(std > 1e-8, std, 1.0)

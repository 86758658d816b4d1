"""Sequence datasets: loading, checks, splits and folds (numpy only: reading and checking data imports no torch;
the Lightning data module and batching are :mod:`models.datamodule`).

Sources, all offline:
- a UEA/UCR archive dataset shipped inside the ``sktime`` wheel, by name (``JapaneseVowels``, ``PLAID`` ...);
- a user's ``.npz`` (``X``: N x T x C floats, ``y``: N labels, 0..K-1 or class names (other whole numbers, strings),
  optional ``lengths``: without it, the
  steps at a sequence's end that are NaN in every channel are its padding; the test split
  inside as ``X_test``/``y_test``, or ``NAME_train.npz`` / ``NAME.npz`` finds ``NAME_test.npz`` beside it) or ``.ts``
  file (a ``_TRAIN.ts`` path finds its ``_TEST.ts`` sibling);
- ``synthetic``: a seeded sequence task for fast tests.

Every problem with the data is a one-line :class:`DataError` naming the file, the array and what is allowed;
:func:`check_splits` adds what a search needs (two classes, enough sequences per class for the folds).

The validation split is carved from the training split with a fixed seed (stratified); the official test
split is never touched by a search and only read by
:meth:`models.datamodule.SequenceDataModule.test_data`. Inputs are standardized per channel with statistics of the
training part only (:func:`channel_stats`).
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import hashlib
import inspect
import json
import math
import os
import re
import shutil
import tempfile
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import DataError, FoldsError

__all__ = ["DataError", "FoldsError"]  # re-exported: defined apart so the command line catches them lightly

SYNTHETIC = "synthetic"


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
    notes: list[str] = field(default_factory=list)  # what loading saw and let pass (printed once, as notes)


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


def _ts_header(path: Path) -> dict[str, str]:
    """The ``@key value`` lines of a .ts file's header, keys and values lower-cased (a UTF-8 byte-order mark
    before the first one ignored)."""
    out = {}
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            key, _, value = line.strip().lower().partition(" ")
            if key.startswith("@data"):
                break
            if key.startswith("@"):
                out[key] = value.strip()
    return out


def _declared_labels(path: Path) -> list[str] | None:
    """The class labels a .ts file's ``@classLabel true a b c`` line declares, as written (None: none declared)."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            words = line.split()
            if words and words[0].lower().startswith("@data"):
                return None
            if len(words) > 2 and words[0].lower() == "@classlabel" and words[1].lower() == "true":
                return words[2:]
    return None


def _is_regression(path: Path) -> bool:
    """A .ts file whose header says ``@targetlabel true`` holds regression targets, not classes."""
    return _ts_header(path).get("@targetlabel", "").endswith("true")


def _sktime_data_dir() -> Path:
    import sktime

    return Path(sktime.__file__).parent / "datasets" / "data"


def load_splits(source: str, seed: int = 0) -> Splits:
    """Load a dataset by name (shipped, ``synthetic``) or path (``.npz`` / ``.ts``).

    Every problem is one :class:`DataError` line naming the file (or dataset), the array and what is allowed."""
    if source == SYNTHETIC or source.startswith(SYNTHETIC + ":"):
        return synthetic_splits(seed=seed, **_synthetic_args(source))
    path = Path(source)
    try:
        if path.suffix == ".npz":
            return _npz_splits(path)
        if path.suffix == ".ts":
            return _ts_file_splits(path)
        shipped = shipped_datasets()  # (not for a file: it imports sktime and reads its data folder)
        if source in shipped:
            d = _sktime_data_dir() / source
            return _ts_pair(d / f"{source}_TRAIN.ts", d / f"{source}_TEST.ts", source)
    except OSError as exc:  # an unreadable file (permissions, a vanished mount): a 34-line traceback before
        raise DataError(f"{exc.filename or source}: cannot read: {exc.strerror or exc}") from None
    allowed = f"allowed: {', '.join(shipped)}, {SYNTHETIC}, or a path to a .npz or .ts file"
    if "/" in source or os.sep in source or path.exists():  # meant as a path
        what = "is a directory" if path.is_dir() else "no such file" if not path.exists() else _other_file(path)
        if not path.exists() and not path.suffix:  # "../data/f16" beside f16.npz said "no such file" alone (unseen10)
            found = [f"{source}{suffix}" for suffix in (".npz", "_TRAIN.ts") if Path(f"{source}{suffix}").is_file()]
            what += f" ({' and '.join(found)} exists: give the file's whole name)" if found else ""
        raise DataError(f"{source}: {what}; {allowed}")
    regression = _sktime_data_dir() / source / f"{source}_TRAIN.ts"
    if regression.is_file() and _is_regression(regression):  # Covid3Month, Tecator: "not
        raise DataError(  # shipped" was wrong, they are in the wheel, but hold regression targets
            f"{source!r} is a regression dataset of the installed sktime wheel (@targetlabel: a number per series, "
            f"not a class); regtune trains a classifier; {allowed}"
        )
    close = difflib.get_close_matches(source, shipped, n=3, cutoff=0.6)
    close += [s for s in shipped if s.lower() == source.lower() and s not in close]
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise DataError(
        f"{source!r} is not shipped by the installed sktime wheel and is not a .npz/.ts path{hint}; {allowed}"
    )


def _other_file(path: Path) -> str:
    """What an existing data file of another kind is, and how to make it one regtune reads."""
    if path.suffix.lower() in (".npz", ".ts"):  # X.NPZ was "a .NPZ file, not a .npz/.ts file (convert it: np.savez"
        low = path.with_suffix(path.suffix.lower()).name
        pair = " (and its test file alike)" if path.suffix.lower() == ".ts" else ""
        return f"its suffix {path.suffix} is upper case; regtune reads .npz and .ts in lower case: rename it to {low}{pair}"
    kind = f"a {path.suffix} file" if path.suffix else "a file without a .npz/.ts suffix"
    return (f"{kind}, not a .npz/.ts file (convert it: np.savez('NAME.npz', X=N x T x C floats, y=labels, "
            "X_test=..., y_test=...); a .npz or .ts under another name: rename it)")  # fmt: skip


#: ``synthetic:KEY=VALUE,...`` options and their smallest allowed values
SYNTHETIC_MIN = {"n": 4, "classes": 2, "length": 2, "channels": 1}
SYNTHETIC_MAX_CELLS = 100_000_000  # 400 MB of float32: a test task, not a dataset


def synthetic_options(source: str) -> dict[str, int]:
    """Every option of a ``synthetic[:...]`` source, the defaults filled in: two sources make the same data when
    these are equal (the order they are written in, and a default written out, change nothing)."""
    return {**_synthetic_defaults(), **_synthetic_args(source)}


def _synthetic_defaults() -> dict[str, int]:
    """The synthetic task's options as :func:`synthetic_splits` defaults them (``n``, ``classes``, ...)."""
    return {k: p.default for k, p in inspect.signature(synthetic_splits).parameters.items() if k != "seed"}


def _synthetic_args(source: str) -> dict[str, Any]:
    """``synthetic:n=400,classes=3,length=30,channels=2`` overrides the defaults."""
    args: dict[str, Any] = {}
    limits = ", ".join(f"{k} >= {m}" for k, m in SYNTHETIC_MIN.items())
    if ":" in source:
        for item in source.split(":", 1)[1].split(","):
            key, eq, value = (s.strip() for s in item.partition("="))
            if key not in SYNTHETIC_MIN:
                raise DataError(
                    f"{source!r}: unknown synthetic option {key!r}; allowed: n, classes, length, channels "
                    f"(integers: {limits})"
                )
            if key in args:
                raise DataError(f"{source!r}: synthetic option {key!r} is given twice; give each option once")
            if not eq or not re.fullmatch(r"[+-]?\d+", value):
                raise DataError(
                    f"{source!r}: synthetic option {key}={value!r} is not an integer; allowed: {key} = an integer "
                    f">= {SYNTHETIC_MIN[key]}"
                )
            if int(value) < SYNTHETIC_MIN[key]:
                raise DataError(
                    f"{source!r}: synthetic option {key}={int(value)} is too small; allowed: {key} >= {SYNTHETIC_MIN[key]}"
                )
            args[key] = int(value)
    full = {**_synthetic_defaults(), **args}
    cells = full["n"] * full["length"] * full["channels"]
    if cells > SYNTHETIC_MAX_CELLS or full["classes"] > full["n"]:
        raise DataError(  # n=10**12 ended in numpy's _ArrayMemoryError traceback
            f"{source!r}: too large; allowed: n x length x channels <= {SYNTHETIC_MAX_CELLS:,} values "
            f"(here {cells:,}) and classes <= n"
        )
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


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line (parsers raise multi-line messages)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _ts_file_splits(path: Path) -> Splits:
    name = path.name
    if path.is_dir():
        raise DataError(f"{path}: is a directory; allowed: a NAME_TRAIN.ts file (NAME_TEST.ts beside it)")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if name.endswith("_TRAIN.ts"):
        test = path.with_name(name[: -len("_TRAIN.ts")] + "_TEST.ts")
    elif name.endswith("_TEST.ts"):
        raise DataError(f"{path}: give the _TRAIN.ts file; the _TEST.ts file is found beside it")
    elif name.lower().endswith(("_train.ts", "_test.ts")):  # foo_train.ts: told only "give the _TRAIN.ts path"
        stem = name[: name.lower().rindex("_t")]
        raise DataError(f"{path}: a .ts dataset is a pair NAME_TRAIN.ts / NAME_TEST.ts, in upper case; allowed: rename "
                        f"the pair to {stem}_TRAIN.ts and {stem}_TEST.ts and give the _TRAIN.ts path")  # fmt: skip
    else:
        raise DataError(f"{path}: a .ts dataset is a pair NAME_TRAIN.ts / NAME_TEST.ts; give the _TRAIN.ts path")
    if not test.exists():
        # NAME_TRAIN.ts beside NAME_test.ts (or Name_Test.ts) was told only "looked for exactly that file", the
        # file the user had written lying beside it (the unseen11 probe): a name that differs in case is named
        near = sorted(p.name for p in path.parent.glob("*") if p.name.lower() == test.name.lower() and p != test)
        hint = f"; {near[0]} beside it differs in case: rename it to {test.name}" if near else ""
        raise DataError(f"{path}: its test split {test} is missing (looked for exactly that file{hint})")
    return _ts_pair(path, test, path.stem)


def _ts_pair(train: Path, test: Path, name: str) -> Splits:
    import pandas as pd
    from sktime.datasets import load_from_tsfile

    if _is_regression(train):
        raise DataError(f"{train}: a regression dataset (@targetlabel); regtune needs class labels (@classlabel)")
    raw = {}
    for split, p in (("train", train), ("test", test)):
        declared = _check_ts_labels(p)
        try:
            with _without_bom(p) as readable, warnings.catch_warnings():
                # pandas warns "DataFrame is highly fragmented" twice per dimension past ~100 (a 210-dimension
                # file printed 440 lines before regtune's own); the values are read all the same
                warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
                fast = _read_ts_data(readable)
                if fast is None:  # time stamps, or a line the plain layout does not hold: sktime's parser decides
                    X, y = load_from_tsfile(str(readable), return_data_type="df-list")
                    fast = [np.asarray(df, dtype=np.float64) for df in X], np.asarray(y)
            series, y = [_trim_padding(s) for s in fast[0]], fast[1]
        except UnicodeDecodeError as exc:  # "'utf-8' codec can't decode byte 0xff in position 0" named no way out
            raise DataError(_not_utf8(p, exc)) from None
        except Exception as exc:  # sktime raises many types on malformed files
            raise DataError(f"{p}: cannot parse as a .ts file ({_one_line(exc)}){_header_lacks(p)}; allowed: the "
                            "UEA/UCR .ts format: "
                            "a header (@problemName, @classLabel true LABELS, ...), @data, then one series per "
                            "line, values separated by ',', dimensions by ':', the label last") from None  # fmt: skip
        if not series:
            raise DataError(f"{p}: holds no series after @data; allowed: one series per line, NAME_TRAIN/TEST.ts")
        for i, s in enumerate(series):
            if s.ndim != 2 or len(s) == 0:
                raise DataError(f"{p}: series {i} is empty; every series needs at least one time step")
            if s.shape[1] != series[0].shape[1]:
                raise DataError(f"{p}: series {i} has {s.shape[1]} dimensions, series 0 has {series[0].shape[1]}")
        dims = _ts_header(p).get("@dimensions", "")
        if dims.isdigit() and int(dims) != series[0].shape[1]:  # with no ":label", the last dimension was the label
            lacks = " (do the series lack their ':label'? the last dimension was read as the label)" * (
                int(dims) == series[0].shape[1] + 1)  # fmt: skip
            raise DataError(f"{p}: its series have {series[0].shape[1]} dimension(s), its header says @dimensions "
                            f"{dims}{lacks}; allowed: {dims} dimensions separated by ':', then ':label'")  # fmt: skip
        raw[split] = (series, np.asarray(y).astype(str), p)
        _check_label_names(p, "the file", raw[split][1])  # NFC and NFD "café" were two classes here too (review8)
        allowed = {d.lower() for d in declared or ()}  # the archive's BasicMotions declares Standing, writes standing
        undeclared = sorted(x for x in set(raw[split][1].tolist()) if declared and x.lower() not in allowed)
        if undeclared:  # a typo'd label became a class of its own
            shown = [x if len(x) <= 24 else x[:24] + "..." for x in undeclared[:5]] + ["..."] * (len(undeclared) > 5)
            # a '?' label reads as NaN (as sktime's parser reads it): the error named 'NaN', which the file never
            # holds (the unseen11 probe)
            missing = " ('NaN' is how a '?' label reads: a series whose label is missing; drop it or label it)" * (
                "NaN" in undeclared)  # fmt: skip
            raise DataError(f"{p}: {len(undeclared)} label(s) {shown} are not among those its header declares "
                            f"(@classLabel true {' '.join(declared or [])}){missing}; allowed: {declared}")  # fmt: skip
    classes = _sorted_labels(raw["train"][1])
    if len(classes) < 2:
        raise _one_class(str(train), classes[0], len(raw["train"][1]))
    index = {c: i for i, c in enumerate(classes)}
    sets = {}
    for split, (series, labels, p) in raw.items():
        unknown = sorted(set(labels.tolist()) - set(classes))
        if unknown:
            raise DataError(f"{p}: labels {unknown} do not occur in the training split; allowed: {classes}")
        for i, s in enumerate(series):
            if not np.isfinite(s).all():
                raise DataError(_ts_nonfinite(p, i, s))
        sets[split] = _pad(series, np.array([index[c] for c in labels], dtype=np.int64))
    if sets["test"].X.shape[2] != sets["train"].X.shape[2]:
        raise DataError(
            f"{test}: series have {sets['test'].X.shape[2]} dimensions; the training split {train} has "
            f"{sets['train'].X.shape[2]}"
        )
    train_set, test_set = _to_float32(train, sets["train"], sets["test"])
    return Splits(train_set, test_set, classes, name)


def _header_lacks(p: Path) -> str:
    """``: its header lacks @timeStamps, @classLabel`` where a .ts file's header misses a tag sktime's parser requires
    before ``@data`` (:data:`TS_TAGS`), or ``: it has no @data line``; "" otherwise. The parser's "a full set of
    metadata has not been provided before the data" named none of them (the unseen8 probe)."""
    seen, data = set(), False
    with open(p, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            word = line.strip().split(" ")[0].lower()
            if not word:
                continue
            if word.startswith("@data"):
                data = True
                break
            seen.add("@classlabel" if word == "@targetlabel" else word)
    spelled = {"@problemname": "@problemName", "@timestamps": "@timeStamps", "@univariate": "@univariate",
               "@classlabel": "@classLabel"}  # fmt: skip
    if not seen and not data:  # empty: the parser says "empty file"; blank lines: "'NoneType' object cannot be ..."
        return ": the file holds only blank lines" if p.stat().st_size else ""
    lacks = [spelled[t] for t in TS_TAGS if t not in seen]
    said = [f"its header lacks {', '.join(lacks)}"] * bool(lacks) + ["it has no @data line"] * (not data)
    return f": {' and '.join(said)}" if said else ""


def _not_utf8(p: Path, exc: UnicodeDecodeError) -> str:
    """The error for a .ts file that is not UTF-8 text (the .ts parsers read UTF-8): UTF-16, as Windows PowerShell's
    ``>`` and Notepad's "Unicode" save text, is named by its byte-order mark; other bytes (a Latin-1 or Windows-1252
    export's "café") by their line. Both were "cannot parse as a .ts file ('utf-8' codec can't decode byte 0xff in
    position 0: invalid start byte)" (the unseen8 probe)."""
    data = p.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        what = "is UTF-16 text (it starts with a UTF-16 byte-order mark, as Windows PowerShell's > and Notepad's 'Unicode' write)"
    else:
        try:
            data.decode("utf-8")
            at = exc.start  # (decodable as a whole: the parser's own chunk failed; its position is all there is)
        except UnicodeDecodeError as whole:
            at = whole.start
        line = data.count(b"\n", 0, at) + 1
        what = (f"is not UTF-8 text (byte 0x{data[at]:02x} on line {line}: Latin-1 or Windows-1252, as some exports "
                "write accented letters?)") if at < len(data) else f"is not UTF-8 text ({_one_line(exc)})"  # fmt: skip
    return f"{p}: {what}; allowed: UTF-8 (with or without a byte-order mark): save the file as UTF-8"


def _check_ts_labels(p: Path) -> list[str] | None:
    """The labels a .ts file's header declares (:func:`_declared_labels`), once it is known they can be read as
    written; refused: none (``@classLabel false``: the parser then failed with "not enough values to unpack"), or
    declared labels that differ only in case (sktime's parser lower-cases every label, so ``A`` and ``a`` would
    silently become one class)."""
    if _ts_header(p).get("@classlabel", "").startswith("false"):
        raise DataError(f"{p}: has no class labels (@classLabel false); regtune trains a classifier: allowed: "
                        "@classLabel true followed by the labels, each series ending in :label")  # fmt: skip
    declared = _declared_labels(p)
    by_case: dict[str, list[str]] = {}
    for label in declared or ():
        by_case.setdefault(label.lower(), []).append(label)
    clash = [sorted(set(group)) for group in by_case.values() if len(set(group)) > 1]
    if clash:
        raise DataError(f"{p}: its header declares labels that differ only in case ({', '.join(map(' / '.join, clash))}); "
                        "the .ts parser lower-cases labels, so they would merge into one class; allowed: labels "
                        "that differ in more than case")  # fmt: skip
    return declared


@contextlib.contextmanager
def _without_bom(path: Path) -> Iterator[Path]:
    """``path``, or a temporary copy without the UTF-8 byte-order mark it starts with (Windows editors write one;
    sktime's parser then misses the first header line and says the metadata is incomplete)."""
    with open(path, "rb") as f:
        bom = f.read(3) == codecs.BOM_UTF8
    if not bom:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="regtune-ts-") as tmp:
        copy = Path(tmp) / path.name
        with open(path, "rb") as src, open(copy, "wb") as dst:
            src.seek(3)
            shutil.copyfileobj(src, dst)
        yield copy


#: the header lines sktime's parser requires before @data (without one it refuses the file: "metadata incomplete"),
#: each with the words it allows after the tag (None: any) and how many words the line may hold (at least, at most):
#: a line outside these is refused there ("invalid timestamps value", "problemname tag requires an associated value"),
#: or is not the plain layout (time stamps; no labels, or regression targets, @targetLabel), so sktime decides
TS_TAGS: dict[str, tuple[tuple[str, ...] | None, int, int | None]] = {
    "@problemname": (None, 2, None),
    "@timestamps": (("false",), 2, 2),
    "@univariate": (("true", "false"), 2, 2),
    "@classlabel": (("true",), 3, None),
}


def _plain_ts_header(lines: Iterator[str]) -> bool:
    """Whether the header (``lines`` read up to ``@data``) is one sktime's parser accepts, in the plain layout: every
    tag of :data:`TS_TAGS`, each line split on single spaces as sktime splits it (``@univariate  true`` is three
    words there: refused), then ``@data`` alone on its line. Lines that start with no tag are ignored, as there."""
    seen: set[str] = set()
    for line in lines:
        line = line.strip().lower()
        if line.startswith("@data"):
            return line == "@data" and seen == set(TS_TAGS)
        tag = next((t for t in (*TS_TAGS, "@targetlabel") if line.startswith(t)), None)
        if tag is None:
            continue
        if tag not in TS_TAGS:  # @targetLabel: sktime reads its true/false as @classLabel's
            return False
        allowed, least, most = TS_TAGS[tag]
        words = line.split(" ")
        if len(words) < least or (most and len(words) > most) or (allowed is not None and words[1] not in allowed):
            return False
        seen.add(tag)
    return False  # no @data line


def _read_ts_data(path: Path) -> tuple[list[np.ndarray], np.ndarray] | None:
    """A .ts file's series (each steps x dimensions, float64, a case's shorter dimensions padded with NaN) and labels,
    as sktime's ``load_from_tsfile`` reads them (lower-cased labels, ``?`` missing), parsed here in one pass: sktime
    built a pandas Series per dimension per case and took 5.5 s and 778 MB peak (35 s on a loaded machine) for a
    23 MB FordA-sized pair that this reads in 1.3 s and 494 MB (the scale probe, 2026-12-06; as the README says; the
    same arrays on every .ts file the wheel ships: a test). A data line without its ``:label``, or with another number
    of dimensions than the lines before it, is a ValueError naming its series (:func:`_ts_shape_error`). None where
    the file is not the plain layout (time stamps, a header sktime would refuse, another tag): sktime's parser then
    reads it, or says what is wrong."""
    with open(path, encoding="utf-8") as f:  # (a byte-order mark is gone: _without_bom; sktime reads plain UTF-8)
        if not _plain_ts_header(f):
            return None
        return _read_ts_cases(f)


def _read_ts_cases(lines: Iterator[str]) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The cases of a plain .ts file's data ``lines`` (after ``@data``), as :func:`_read_ts_data` says."""
    series: list[np.ndarray] = []
    labels: list[str] = []
    width = None
    for line in lines:
        line = line.strip().lower().replace("?", "NaN")  # (as sktime: in a label too)
        if not line:
            continue
        *dims, label = line.split(":")
        if line.startswith("@"):  # (a tag: sktime refuses)
            return None
        if not dims or (width is not None and len(dims) != width):  # sktime refuses these too, naming no series
            _ts_shape_error(dims, width, len(series))
        width = len(dims)
        try:
            values = [np.array(d.split(","), dtype=np.float64) if d.strip() else np.empty(0) for d in dims]
        except ValueError:
            _not_a_number(dims, len(series))  # sktime's "could not convert string to float: 'x'" named no place
            return None
        case = np.full((max(len(v) for v in values), width), np.nan)
        for c, v in enumerate(values):
            case[: len(v), c] = v
        series.append(case)
        labels.append(label.strip())
    return series, np.asarray(labels)


def _ts_shape_error(dims: list[str], width: int | None, case: int) -> None:
    """Raise a ValueError naming the case of a .ts data line without its ``:label`` or with another number of
    dimensions than the lines before it (the caller says which file). sktime's parser refused both without naming the
    line (the newdata probe, 2026-12-06)."""
    if not dims:
        raise ValueError(f"series {case} has no ':label' (a series line is values separated by ',', dimensions by "
                         "':', then ':' and its label; series count from 0)")  # fmt: skip
    raise ValueError(f"series {case} has {len(dims)} dimension(s) where the series before it have {width} (or its "
                     "':label' is missing; series count from 0)")  # fmt: skip


def _not_a_number(dims: list[str], case: int) -> None:
    """Raise a ValueError naming the case, dimension and value of a .ts data line that is not a number (the caller
    says which file); nothing where Python reads every value (then sktime's parser decides)."""
    for d, dim in enumerate(dims):
        for value in dim.split(",") if dim.strip() else ():
            try:
                float(value)
            except ValueError:
                raise ValueError(
                    f"series {case}, dimension {d}: {value.strip()!r} is not a number (a missing value is written ?)"
                ) from None


def _trim_padding(s: np.ndarray) -> np.ndarray:
    """Series ``s`` (T, C) without its trailing steps that are missing in every dimension: padding (``?`` or
    ``NaN`` to a common length, the UCR archive's convention for unequal lengths, as NaN padding in a .npz)."""
    present = np.flatnonzero(~np.isnan(s).all(axis=1))
    return s[: present[-1] + 1] if present.size else s[:0]


def _ts_nonfinite(p: Path, i: int, s: np.ndarray) -> str:
    """The error for series ``i`` (T, C) of a .ts file with NaN/Inf: sktime pads a case's shorter dimensions
    with NaN, so dimensions of different lengths are named as such, not as missing values; with time stamps it
    aligns the dimensions by stamp, so dimensions on different stamps leave gaps, named as such too."""
    if _ts_header(p).get("@timestamps", "").startswith("true") and np.isnan(s).any(axis=1).any():
        return (
            f"{p}: series {i}: its dimensions are not on the same time stamps (@timeStamps true: they are aligned "
            "by stamp, which leaves steps missing in some dimension); every dimension of a case needs the same "
            "stamps, or write the values without stamps"
        )
    finite = np.isfinite(s)
    ends = [int(np.flatnonzero(col).max()) + 1 if col.any() else 0 for col in finite.T]
    trailing = all(finite[:e, c].all() and not finite[e:, c].any() for c, e in enumerate(ends))
    if trailing and len(set(ends)) > 1:
        return (
            f"{p}: series {i} has dimensions of different lengths ({', '.join(map(str, ends))} steps); every "
            "dimension of a case needs the same length: pad or cut the shorter ones (or, where missing values (?) end "
            "a dimension, fill them: a missing value is refused anywhere)"
        )
    t, c = (int(k[0]) for k in np.nonzero(~finite))  # the first missing value, as a .npz's error names it
    return (f"{p}: series {i} contains NaN/Inf (missing values) at step {t} of its {len(s)}, dimension {c} "
            f"({s[t, c]}; series and steps count from 0); fill or drop them first")  # fmt: skip


def _sorted_labels(labels: np.ndarray) -> list[str]:
    uniq = sorted(set(labels.tolist()))
    try:
        return sorted(uniq, key=float)
    except ValueError:
        return uniq


def _pad(series: list[np.ndarray], y: np.ndarray) -> SequenceSet:
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    channels = series[0].shape[1]
    X = np.zeros((len(series), int(lengths.max()), channels))  # float64 until _to_float32 has both splits
    for i, s in enumerate(series):
        X[i, : len(s)] = s
    return SequenceSet(X, lengths, y)


def _npz_test_candidates(path: Path) -> list[Path]:
    """Where the test split of ``path`` may lie beside it: ``NAME_test.npz`` for ``NAME_train.npz`` (or
    ``NAME_TRAIN.npz``), then ``STEM_test.npz`` for any ``STEM.npz``."""
    stem, out = path.stem, []
    for train, test in (("_train", "_test"), ("_TRAIN", "_TEST")):
        if stem.endswith(train):
            out.append(path.with_name(stem[: -len(train)] + test + ".npz"))
    return out + [path.with_name(stem + "_test.npz")]


def npz_test_file(path: Path) -> Path | None:
    """The file a ``.npz`` dataset's test split is read from when not from ``path`` itself (no ``X_test`` /
    ``y_test`` inside it): the first of :func:`_npz_test_candidates` that exists; None otherwise (or unreadable)."""
    if _holds_test(path) is not False:  # its own test split, or not a readable archive (the loader says so)
        return None
    return next((c for c in _npz_test_candidates(path) if c.exists()), None)


def _holds_test(path: Path) -> bool | None:
    """Whether the ``.npz`` at ``path`` holds a test split of its own (``X_test`` or ``y_test``); None when it is not
    a readable archive (the loader says why)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return "X_test" in data.files or "y_test" in data.files
    except Exception:
        return None


def _npz_splits(path: Path) -> Splits:
    """``NAME.npz`` or ``NAME_train.npz`` holds the training split; its test split is, inside the same file,
    ``X_test`` / ``y_test`` (/ ``lengths_test``), else beside it ``NAME_test.npz`` (see :func:`_npz_test_candidates`)."""
    if path.is_dir():
        raise DataError(f"{path}: is a directory; allowed: a .npz file written by np.savez")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    stem = path.stem
    # a NAME_test.npz that holds its own X_test / y_test is a whole dataset, whatever lies beside it (it was refused
    # unread as "a test split; give the training file NAME.npz", another dataset: the newdata probe)
    if stem.endswith(("_test", "_TEST")) and not _holds_test(path):
        for train_file in (path.with_name(stem[:-5] + t + ".npz") for t in ("_train", "_TRAIN", "")):
            if train_file.exists():
                raise DataError(
                    f"{path}: a test split; give the training file {train_file} (this one is found beside it)"
                )
    data = _read_npz(path)
    notes: list[str] = []
    _known_arrays(path, data, TRAIN_ARRAYS, notes)
    train, names = _npz_set(path, data, "", training=True)
    notes += _renamed_labels(path, data["y"], names)
    if "X_test" in data or "y_test" in data:
        test, test_path, xk, yk = _npz_set(path, data, "_test", False, names)[0], path, "X_test", "y_test"
        _lengths_for_both(path, data, train, path, data, "_test", notes)
        beside = [str(c) for c in _npz_test_candidates(path) if c.exists()]
        if beside:  # two test splits: the inner one wins, and the user may have meant the file
            notes.append(f"note: {path}: its test split is its own X_test/y_test; {beside[0]} beside it is not read "
                         "(remove X_test/y_test from the file to use it)")  # fmt: skip
    else:
        candidates = _npz_test_candidates(path)
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            looked = " and ".join(str(c) for c in candidates)
            raise DataError(
                f"{path}: no test split: looked for arrays X_test/y_test inside it and for the file {looked}; "
                f"allowed: add X_test/y_test to it or write {candidates[0]}"
            )
        test_data = _read_npz(found)
        _known_arrays(found, test_data, TEST_FILE_ARRAYS, notes)
        test, test_path, xk, yk = _npz_set(found, test_data, "", False, names)[0], found, "X", "y"
        _lengths_for_both(path, data, train, found, test_data, "", notes)
    k = _check_pair(path, train, test, test_path, xk, yk, names)
    train, test = _to_float32(path, train, test)
    name = stem[: -len("_train")] if stem.endswith(("_train", "_TRAIN")) else stem
    return Splits(train, test, names or [str(i) for i in range(k)], name, notes)


#: a channel whose training mean is more than this many standard deviations from zero is shifted by that mean
#: before the float32 cast: float32 keeps 24 bits, so raw counters or timestamps near 1e7 (spacing 1.0) or GPS
#: latitudes (37.42 + 2e-5 signal) lost their variation in the cast, before any standardization could save it.
#: Below it the cast keeps a thousand levels per standard deviation at least (spacing 1.2e-7 x |mean|)
OFFSET = 1e4
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _to_float32(where: Path | str, train: SequenceSet, test: SequenceSet) -> tuple[SequenceSet, SequenceSet]:
    """Both splits (float64 as read, float32 where a .npz held float32) as float32, the storage the models read. A
    channel with a large offset (:data:`OFFSET`) is first shifted by its training mean, in float64, in both splits alike (every
    normalization subtracts a mean anyway); other data are cast as they are, bit for bit as before. Values
    beyond float32's range are refused by name."""
    mean, std = channel_moments(train)
    shift = np.where((np.abs(mean) > OFFSET * std) & (std > 0), mean, 0.0)  # a constant loses nothing
    out = []
    for split, s in (("training", train), ("test", test)):
        X = s.X
        if shift.any():
            valid = (np.arange(X.shape[1])[None, :] < s.lengths[:, None])[..., None]
            X = np.where(valid, X - shift, 0.0)
        big = max(float(X.max()), -float(X.min())) if X.size else 0.0  # np.abs(X) was a whole float64 copy more
        if big > FLOAT32_MAX:
            raise DataError(
                f"{where}: the {split} split holds values up to {big:.3g}, beyond float32's range (3.4e38); "
                "rescale them first"
            )
        out.append(SequenceSet(X.astype(np.float32, copy=False), s.lengths, s.y))  # (a float32 X is its own copy)
    return out[0], out[1]


def _check_pair(
    where: Path | str, train: SequenceSet, test: SequenceSet, test_where: Path | str, xk: str, yk: str,
    names: list[str] | None = None,
) -> int:  # fmt: skip
    """The number of classes K, after checking the test split against the training split; ``names``: the class
    names, when the labels were read as names (a single class "cat" was named '0')."""
    k = int(train.y.max()) + 1
    if k < 2:
        raise _one_class(f"{where}: y", names[0] if names else "0", len(train))
    if test.X.shape[2] != train.X.shape[2]:
        c_test, c_train = test.X.shape[2], train.X.shape[2]
        # (the unseen10 probe) a test split saved N x C x T beside a training X of N x T x C: the layout named
        flipped = test.X.shape[1] == c_train and c_test > 1
        hint = (f" (its {test.X.shape[1]} steps are the training channel count: one of the two is likely saved N x "
                "C x T, the training X or this one; np.swapaxes(that array, 1, 2) gives N x T x C)") if flipped else ""  # fmt: skip
        raise DataError(f"{test_where}: {xk} has {c_test} channel{'s' if c_test != 1 else ''}; the training X has "
                        f"{c_train}{hint}")  # fmt: skip
    if test.y.max() >= k:
        raise DataError(
            f"{test_where}: {yk} holds label {int(test.y.max())}; allowed: 0..{k - 1} (the training labels)"
        )
    return k


#: the ``dataset`` of a study whose arrays were given in memory (search.api): ``memory:<16 hex of their sha256>``
MEMORY = "memory"


def _unpadded_lengths(X: np.ndarray) -> np.ndarray:
    """Each N x T x C sequence's steps before its trailing steps that are NaN in every channel (NaN padding, as
    sktime and pandas export unequal lengths); 0 for a sequence NaN at every step."""
    padding: np.ndarray = np.isnan(X).all(axis=2)  # (N, T): the steps NaN in every channel
    lengths = X.shape[1] - np.argmax(~padding[:, ::-1], axis=1)  # those up to the end are not the sequence's
    return np.where(padding.all(axis=1), 0, lengths).astype(np.int64)


def array_splits(data: dict[str, Any], where: str = "data", seed: int = 0, test_fraction: float = 0.2) -> Splits:
    """Splits from in-memory arrays named as in a ``.npz`` file (``X``, ``y``, ``lengths``, ``X_test``,
    ``y_test``, ``lengths_test``): the same checks and one-line errors as a file, ``where`` in place of its name.
    Without ``X_test``/``y_test`` a stratified ``test_fraction`` of the sequences, drawn with ``seed``, is the
    test split."""
    data = dict(data)
    notes: list[str] = []
    for suffix in ("", "_test"):  # a list of sequences of their own lengths: padded, their lengths recorded
        given_as = data.get(f"X{suffix}")
        padded = _ragged(where, f"X{suffix}", given_as, trim=f"lengths{suffix}" not in data)
        if padded is None and isinstance(given_as, (list, tuple)) and given_as and f"lengths{suffix}" not in data:
            with contextlib.suppress(TypeError, ValueError):  # sequences of one shape: all of them at full length
                stacked = np.asarray(given_as, dtype=np.float64)
                # ... unless NaN ends some of them: padding, read as an array's is (a NaN-padded array given as
                # list(X) was refused with "does lengths count 2 step(s) too many?", of lengths never given: the
                # unseen12 probe)
                if stacked.ndim in (2, 3) and not np.isnan(stacked).any():
                    data[f"lengths{suffix}"] = np.full(len(stacked), stacked.shape[1])
        if padded is not None:
            data[f"X{suffix}"], lengths = padded
            given = data.get(f"lengths{suffix}")  # (a column too, as the file's is read: it was "disagrees")
            if given is not None and not np.array_equal(_vector(np.asarray(given)), lengths):
                raise DataError(f"{where}: lengths{suffix} disagrees with the lengths of the sequences in "
                                f"X{suffix}; allowed: leave lengths{suffix} out (taken from the sequences)")  # fmt: skip
            data[f"lengths{suffix}"] = lengths
    arrays = {key: np.asarray(value) for key, value in data.items()}
    unknown = sorted(set(arrays) - set(TRAIN_ARRAYS))
    if unknown:
        raise DataError(f"{where}: unknown array {unknown[0]!r}; allowed: {', '.join(TRAIN_ARRAYS)}")
    train, names = _npz_set(where, arrays, "", training=True)
    notes += _renamed_labels(where, arrays["y"], names)
    if "X_test" in arrays or "y_test" in arrays:
        test = _npz_set(where, arrays, "_test", False, names)[0]
        _lengths_for_both(where, arrays, train, where, arrays, "_test", notes)
    else:
        _check_pair(where, train, train, where, "X", "y", names)  # two classes at least, before splitting
        counts = np.bincount(train.y)
        if counts.min() < 2:  # a test split carved from it would take that class's only sequence, or none
            label = int(np.argmin(counts))
            raise DataError(
                f"{where}: y holds {int(counts[label])} sequence(s) of label {names[label] if names else label!r}; carving a test split out of X "
                "needs at least 2 of every class (one to train on, one to test); allowed: 2 or more per class, "
                "or a test split of your own (X_test, y_test)"
            )
        if counts.max() < 3:  # two of each: the carve leaves one of each to train on, and none to validate on
            # (it was refused later as "every class has one training sequence", of arrays holding two of every class:
            # the unseen12 probe)
            raise DataError(
                f"{where}: y holds 2 sequences of every class; carving a test split out of X takes one of each, and "
                "leaves one of each to train on and none to validate on; allowed: 3 or more sequences of some class, "
                "or a test split of your own (X_test, y_test)"
            )
        tr, te = train_val_indices(train.y, test_fraction, seed)
        train, test = train.subset(tr), train.subset(te)
    k = _check_pair(where, train, test, where, "X_test", "y_test", names)
    train, test = _to_float32(where, train, test)
    return Splits(train, test, names or [str(i) for i in range(k)], MEMORY, notes)


def _vector(a: np.ndarray) -> np.ndarray:
    """``a`` as a vector where it is a column (N x 1: pandas' ``df[["label"]].values``), else as it is."""
    return a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a


def _ragged(where: str, name: str, value: Any, trim: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """``value`` padded to N x T x C with zeros and its sequences' lengths, when it is a list (or tuple) of
    sequences (each T_i x C, or T_i for one channel); None for anything else (an array, or T x C sequences of one
    shape, which ``np.asarray`` stacks as they are). With ``trim`` (no lengths given), steps at a sequence's end
    that are NaN in every channel are its padding, as in an array."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    try:
        given = [np.asarray(v) for v in value]
    except (TypeError, ValueError):
        return None  # not numbers: the usual checks name it
    kinds = {s.dtype.kind for s in given}
    if "b" in kinds and kinds <= set("biuf"):  # read as 0/1 in a ragged list, refused as an array (the unseen12 probe)
        raise DataError(f"{where}: {name} holds True/False sequences; allowed: floats or integers (True/False: "
                        f"[np.asarray(s, dtype=np.float32) for s in {name}])")  # fmt: skip
    if not kinds <= set("iuf"):  # text ("1.5" was read as a number here, refused in an array), None, mixed types
        bad = next(i for i, s in enumerate(given) if s.dtype.kind not in "iuf")
        raise DataError(f"{where}: {name}[{bad}] has dtype {given[bad].dtype} (as np.asarray reads it); allowed: "
                        "floats or integers")  # fmt: skip
    seqs = [s.astype(np.float64) for s in given]
    if any(s.ndim == 0 for s in seqs) and any(s.ndim > 0 for s in seqs):  # numpy: "inhomogeneous shape"
        bad = next(i for i, s in enumerate(seqs) if s.ndim == 0)
        raise DataError(f"{where}: {name}[{bad}] is a single number where the others are sequences; every "
                        "sequence needs T_i steps (a list of T_i x C arrays, or of T_i values for one channel)")  # fmt: skip
    if any(s.ndim not in (1, 2) for s in seqs):
        return None
    if all(s.ndim == 2 for s in seqs) and len({s.shape for s in seqs}) == 1:
        return None  # N x T x C already: stacked as it is
    seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]  # T_i: one channel (of one length too: not N x T)
    channels = {s.shape[1] for s in seqs}
    if len(channels) > 1:
        bad = next(i for i, s in enumerate(seqs) if s.shape[1] != seqs[0].shape[1])
        raise DataError(f"{where}: {name}[{bad}] has {seqs[bad].shape[1]} channels, {name}[0] has "
                        f"{seqs[0].shape[1]}; every sequence needs the same channels (T_i x C)")  # fmt: skip
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    if lengths.min() == 0:
        raise DataError(f"{where}: {name}[{int(np.argmin(lengths))}] is empty; every sequence needs a time step")
    if trim:  # trailing steps NaN in every channel: padding (a NaN step inside a sequence is still refused)
        lengths = np.array([_unpadded_lengths(s[None])[0] for s in seqs], dtype=np.int64)
        if lengths.min() == 0:
            raise DataError(f"{where}: {name}[{int(np.argmin(lengths))}] is NaN at every step; drop it first")
    X = np.zeros((len(seqs), int(lengths.max()), seqs[0].shape[1]))
    for i, (s, n) in enumerate(zip(seqs, lengths)):
        X[i, :n] = s[:n]
    return X, lengths


#: the arrays a training ``.npz`` may hold (its test split inside it, or beside it in a file of :data:`TEST_FILE_ARRAYS`)
TRAIN_ARRAYS = ("X", "y", "lengths", "X_test", "y_test", "lengths_test")
TEST_FILE_ARRAYS = ("X", "y", "lengths")


def _known_arrays(path: Path | str, data: dict[str, np.ndarray], allowed: tuple[str, ...], notes: list[str]) -> None:
    """A misspelt array is refused, not skipped: ``length=`` for ``lengths=`` left zero padding read as data. An
    array whose name is near none of ``allowed`` (sequence ids kept beside the data) is noted as not read: a
    study already run on such a file stays readable (its bytes are part of its definition)."""
    import difflib

    by_lower = {a.lower(): a for a in allowed}
    for name in sorted(set(data) - set(allowed)):
        near = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.7)
        if near:
            raise DataError(f"{path}: unknown array {name!r} (did you mean {by_lower[near[0]]!r}?); "
                            f"allowed: {', '.join(allowed)}")  # fmt: skip
        notes.append(f"note: {path}: array {name!r} is not read (regtune reads {', '.join(allowed)})")


def _lengths_for_both(
    path: Path | str, data: dict[str, np.ndarray], train: SequenceSet, test_path: Path | str, test_data: dict[str, np.ndarray],
    suffix: str, notes: list[str],
) -> None:  # fmt: skip
    """Training sequences padded by ``lengths`` and test sequences given without theirs, some of them ending in
    steps that are exactly 0 in every channel: that looks like zero padding, read as data (every test sequence
    at full length), and a note says so. A note, not an error: count or binary data may end in 0 (test sequences
    that fill every step, or are padded with NaN, get none)."""
    lk, xk = f"lengths{suffix}", f"X{suffix}"
    if "lengths" not in data or lk in test_data or bool((train.lengths == train.X.shape[1]).all()):
        return
    X = np.asarray(test_data[xk])  # its last step alone is read (a float64 copy of it all: twice the split's size)
    ending = int((X[:, -1, :] == 0).all(axis=1).sum()) if X.ndim == 3 and X.size else 0
    if not ending:
        return
    name = lk if test_path == path else "lengths"
    notes.append(f"note: {test_path}: the training sequences have lengths (padded) and the test sequences none; "
                 f"{ending} of {len(X)} end in a step of zeros, read as data: if that is padding, add {name} "
                 f"(np.full(len(X), T) for the sequences that fill all T steps), or pad with NaN")  # fmt: skip


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a ``.npz`` archive; a file that is not one (or is damaged) is a :class:`DataError`."""
    with open(path, "rb") as raw:
        magic = raw.read(6)
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        what = "an empty file" if not magic else f"a file starting with {magic!r}"
        raise DataError(f"{path}: not a .npz archive (a zip of arrays, as np.savez writes): {what}")
    try:
        f = np.load(path, allow_pickle=False)
    except Exception as exc:  # a truncated or damaged zip ...
        raise DataError(f"{path}: not a .npz archive (np.savez writes one): {_one_line(exc)}") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path}: holds one bare array (a .npy file), not a .npz archive of named arrays; "
            "allowed: np.savez(path, X=..., y=..., lengths=...)"
        )
    out: dict[str, np.ndarray] = {}
    with f:
        for key in f.files:
            try:
                out[key] = f[key]
                if not isinstance(out[key], np.ndarray):  # a zip member (X.npy, or a plain zip's hello.txt) that
                    names = f.zip.namelist() if f.zip is not None else []  # is not one: raw bytes
                    member = key + ".npy" if key + ".npy" in names else key
                    raise ValueError(f"its member {member} is not a NumPy array file (np.savez writes those)")
            except Exception as exc:  # a damaged member, an object array (reading it would run pickled code) ...
                labels = key.split("_")[0] == "y"  # pandas' df["label"].values is an object array of str
                why = (
                    f"array {key!r} is an object array (pandas' .values of a text column, or labels of mixed types), "
                    f"which loading would unpickle; allowed: numbers, or strings: save {key}=np.asarray({key}, "
                    "dtype=str) (or the labels as numbers)"
                    if "allow_pickle" in str(exc) and labels else
                    f"array {key!r} is an object array (np.savez of a ragged list, or of labels of mixed types), "
                    "which loading would unpickle; allowed: numbers, or strings for labels: pad sequences of their "
                    "own lengths to one N x T x C array with a lengths array (or NaN after each end)"
                    if "allow_pickle" in str(exc) else f"cannot read array {key!r} of the .npz archive: {_one_line(exc)}"
                )  # fmt: skip
                raise DataError(f"{path}: {why}") from None
    return out


def class_names(classes: list[str], indices: list[int], most: int = 5) -> str:
    """``"a", "b", ...``: the named classes, quoted, the first ``most`` of them."""
    return ", ".join(quoted(classes[c]) for c in indices[:most]) + (", ..." if len(indices) > most else "")


def quoted(label: str) -> str:
    """A class name in double quotes, as the verdict, the report and the notes print it: JSON's escapes for quotes,
    backslashes and control characters, but the name's own letters (``json.dumps`` and Jinja's ``tojson`` printed
    "café ☕" as "caf\\u00e9 \\u2615" and "R&D" as "R\\u0026D": the unseen-labels probe, 2026-12-06)."""
    return json.dumps(label, ensure_ascii=False)


def data_notes(splits: Splits, layout: bool = True) -> list[str]:
    """What loading let pass (:attr:`Splits.notes`), :func:`constant_note` and, with ``layout``,
    :func:`layout_note`: one line each."""
    notes = [constant_note(splits), *test_shift_notes(splits), length_shift_note(splits), duplicate_note(splits),
             test_split_note(splits), class_shift_note(splits), same_number_note(splits), missing_label_note(splits)]  # fmt: skip
    notes.append(layout_note(splits) if layout else None)
    return [*splits.notes, *(n for n in notes if n)]


#: a test split of fewer sequences is noted: one sequence is more than 3 points of test accuracy
SMALL_TEST = 30


def test_split_note(splits: Splits) -> str | None:
    """A note when the test split is small (:data:`SMALL_TEST`: what one test sequence is worth in accuracy) or holds
    no sequence of a training class (the test rows never score it). A 1-sequence test split passed validate silently,
    and the verdict then printed "1 sequences" (the newdata probe, 2026-12-06)."""
    n, said = len(splits.test), []
    if 0 < n < SMALL_TEST:
        said.append(f"the test split holds {n} sequence{'s' * (n != 1)}: one is {100 / n:.3g} points of test accuracy, "
                    "the smallest difference its rows can show")  # fmt: skip
    absent = sorted(set(np.unique(splits.train.y).tolist()) - set(np.unique(splits.test.y).tolist()))
    if absent:
        names = class_names(splits.classes, absent)
        said.append(f"{'it' if said else 'the test split'} holds no sequence of class {names}: the test rows never "
                    f"score {'it' if len(absent) == 1 else 'them'}")  # fmt: skip
    return f"note: {splits.name}: {'; '.join(said)}" if said else None


#: a test split whose class proportions differ from the training split's by more (total variation: the share of
#: the test split that would have to change class) is noted; the shipped sets reach 0.16 (JapaneseVowels)
CLASS_SHIFT = 0.25


def class_shift_note(splits: Splits) -> str | None:
    """A note when the test split holds the classes in other proportions than the training split (total variation
    over :data:`CLASS_SHIFT`, a test split of :data:`SMALL_TEST` sequences or more): the folds weigh the classes as
    the training split does and the test rows as the test split does, so a CV accuracy and a test accuracy are not
    comparable, and the majority-class row answers the training split's majority. With training 140/60 and test
    40/160 that row scored 0.20 where the test split's own majority is 0.80, unsaid (the unseen12 probe)."""
    n, k = len(splits.test), len(splits.classes)
    if n < SMALL_TEST or not len(splits.train):
        return None
    train = np.bincount(splits.train.y, minlength=k) / len(splits.train)
    test = np.bincount(splits.test.y, minlength=k) / n
    shift = 0.5 * float(np.abs(train - test).sum())
    if shift <= CLASS_SHIFT:
        return None
    c = int(np.argmax(np.abs(train - test)))
    return (f"note: {splits.name}: the test split holds the classes in other proportions than the training split "
            f"(class {class_names(splits.classes, [c])}: {100 * train[c]:.0f} % of training, {100 * test[c]:.0f} % of "
            f"test; total variation {shift:.2f}): the folds weigh the classes as training does and the test rows as the "
            "test split does, so CV and test accuracy are not comparable, and the majority-class row answers the "
            "training split's majority")  # fmt: skip


def constant_note(splits: Splits) -> str | None:
    """A warning when every channel of the training split holds one value over all its valid steps (as float32:
    values below its smallest subnormal, 1.4e-45, read as 0; N(0, 1) + 1e30 reads as 1e30): nothing to learn
    from. All-zero and constant data trained at chance, and the verdict advised a larger budget."""
    X, lengths = splits.train.X, splits.train.lengths
    if not X.size or not (lengths >= 1).all():
        return None
    first = X[0, 0]  # every sequence has a valid first step; compared 256 sequences at a time (X[valid] was a copy
    for a in range(0, len(X), 256):  # of the whole training split: 2 GB more in validate for a 2 GB file)
        valid = (np.arange(X.shape[1])[None, :] < lengths[a : a + 256, None])[..., None]
        if not ((X[a : a + 256] == first) | ~valid).all():
            return None
    return (
        f"warning: {splits.name}: every channel of the training split holds one value at every valid step "
        "(as float32, the precision training uses): no model can learn anything from it beyond the class balance; "
        "check the data (all zero, a constant, values too small or too large for float32's precision)"
    )


def test_shift_notes(splits: Splits) -> list[str]:
    """Warnings for test channels the models read as inputs they never saw, the splits' moments computed once:

    - a channel that holds one value over the training split's valid steps but varies in the test split:
      standardized with the training statistics (std 1 for a constant), its test values are what the models never
      saw (a train-constant 1e6 channel with test values 0 +- 1,000 put inputs near -1e6 into a model that had read
      0: test accuracy 0.50 against 0.79 for the same data with the channel constant in both, the holdout 1.00,
      unsaid). Not where every channel is constant (:func:`constant_note` says so);
    - a channel that varies in training on another scale in the test split (:data:`SCALE_SHIFT`): the same data
      with the test split x1,000 (a unit mismatch) scored 0.51 against 0.72, and validate and the verdict said
      nothing of the data.

    Both found by the newdata probe, 2026-12-06."""
    mean, std = channel_moments(splits.train)
    tmean, tstd = channel_moments(splits.test)
    moving = varies(mean, std)
    notes = []
    if moving.any() and not moving.all():
        # what the models read of it: (test - mean) / 1, harmless within the unit scale the other channels have (a
        # float32 ulp of a 1e6 constant, 0.06, is no shift)
        reads = np.sqrt(tstd**2 + (tmean - mean) ** 2)
        shifted = np.flatnonzero(~moving & varies(mean, tstd) & (reads > 1.0))
        if len(shifted):
            c = int(shifted[0])
            notes.append(
                f"warning: {splits.name}: channel {c} holds one value ({mean[c]:.6g}) at every valid step of the "
                f"training split but varies in the test split (mean {tmean[c]:.6g}, std {tstd[c]:.3g}){_more(shifted)}: "
                "the models learn nothing from it and read its test values as inputs they never saw; drop the "
                "channel, or check that both splits measure it alike"
            )  # fmt: skip
    if moving.any() and len(splits.test) > 1 and not varies(tmean, tstd).any():
        return notes + [
            f"warning: {splits.name}: every channel of the test split holds one value at every valid step (channel 0: "
            f"{tmean[0]:.6g}) while the training split varies: every test sequence is the same input, so each model "
            "answers one class for all of them and the test rows score that class's share; check the test data (all "
            "zero, a constant placeholder)"
        ]  # (an all-zero X_test was unsaid: the scale check leaves out a test channel with no spread; unseen13 probe)
    if moving.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(moving, tstd / np.where(moving, std, 1.0), 1.0)
            offset = np.where(moving, np.abs(tmean - mean) / np.where(moving, std, 1.0), 0.0)
        # (a test channel with no spread, one test step say, is no smaller scale: nothing to compare)
        smaller = (ratio < 1 / SCALE_SHIFT) & (tstd > 0)
        shifted = np.flatnonzero((ratio > SCALE_SHIFT) | smaller | (offset > SCALE_SHIFT))
        if len(shifted):
            c = int(shifted[0])
            notes.append(
                f"warning: {splits.name}: channel {c} of the test split is on another scale than in training (test "
                f"mean {tmean[c]:.4g}, std {tstd[c]:.4g}; training mean {mean[c]:.4g}, std {std[c]:.4g}: std "
                f"x{ratio[c]:.3g}, mean {offset[c]:.3g} training stds away){_more(shifted)}: standardized with the "
                "training statistics, its test values lie outside what the models trained on; check the units and the "
                "scaling of both splits"
            )  # fmt: skip
    return notes


#: test sequences shorter than the shortest training sequence divided by this, or longer than the longest times this,
#: are of lengths the models never read: the shipped sets stay within their training lengths' range but for
#: JapaneseVowels' 29 beside a longest 26 and PLAID's 134..1000 beside 100..1,344
LENGTH_SHIFT = 2.0


def length_shift_note(splits: Splits) -> str | None:
    """A warning when test sequences are far shorter or longer than every training sequence (:data:`LENGTH_SHIFT`):
    the models never read sequences of such lengths (an RNN's last state, a front end's strides chosen from the
    training lengths), and a test split cut short passed unsaid: training at 50 steps and the same test
    sequences cut to their first 10 scored 0.40 against 1.00, and the verdict said the models had learned nothing
    (the unseen10 probe)."""
    train, test = splits.train.lengths, splits.test.lengths
    if not len(train) or not len(test):
        return None
    low, high = int(train.min()), int(train.max())
    short = np.flatnonzero(test < low / LENGTH_SHIFT)
    long = np.flatnonzero(test > high * LENGTH_SHIFT)
    said = []
    for which, what in ((short, "shorter than half the shortest"), (long, "longer than twice the longest")):
        if len(which):
            n, first = len(which), int(which[0])
            said.append(f"{n} of the {len(test)} test sequences {'is' if n == 1 else 'are'} {what} training "
                        f"sequence (test {first}: {int(test[first])} step{'s' * int(test[first] != 1)})")  # fmt: skip
    if not said:
        return None
    return (
        f"warning: {splits.name}: {'; '.join(said)}; training lengths {low}..{high}, test lengths "
        f"{int(test.min())}..{int(test.max())}: the models never read sequences of such lengths; check that the test "
        "split was not cut (or padded without its lengths) and that both splits measure the same span"
    )


def _more(channels: np.ndarray) -> str:
    """`` (and 2 more channel(s): 4, 7)`` after the first of ``channels``; "" for one."""
    rest = [str(int(c)) for c in channels[1:]]
    return f" (and {len(rest)} more channel(s): {', '.join(rest[:5])})" if rest else ""


#: a test channel whose std is this many times the training one's (or as many times smaller), or whose mean lies
#: this many training stds from the training mean, is on another scale: the shipped sets stay within 0.86..1.12x and
#: 0.23 stds; a test split in mV beside a training split in V is 1,000x
SCALE_SHIFT = 10.0


def _sequence_keys(s: SequenceSet) -> list[bytes]:
    """A digest per sequence of its valid steps' bytes (float32, as training reads them): equal digests, equal
    sequences."""
    return [hashlib.blake2b(s.X[i, : s.lengths[i]].tobytes(), digest_size=16).digest() for i in range(len(s.X))]


def duplicate_note(splits: Splits) -> str | None:
    """A note when test sequences are exact copies of training sequences, or training sequences of each other: the
    test accuracy then partly measures recall of the training split, and a fold can validate on a copy of a sequence
    it trains on. sktime's Tecator carries 14 repeated training lines, and 8 of its 43 test sequences are training
    ones (PLAID 5 of 537, UnitTest 1 of 22); a test split passed as the training arrays again ran unsaid (the newdata
    probe, 2026-12-06)."""
    first: dict[bytes, int] = {}
    copies = []
    for i, k in enumerate(_sequence_keys(splits.train)):
        if k in first:
            copies.append((i, first[k]))
        else:
            first[k] = i
    seen = [(i, first[k]) for i, k in enumerate(_sequence_keys(splits.test)) if k in first]
    if not copies and not seen:
        return None
    said = []
    if seen:
        shown = ", ".join(f"test {i} = training {j}" for i, j in seen[:3]) + (", ..." if len(seen) > 3 else "")
        are = "is an exact copy of a training sequence" if len(seen) == 1 else "are exact copies of training sequences"
        said.append(f"{len(seen)} of the {len(splits.test)} test sequences {are} "
                     f"({shown}): the test rows score them as new data")  # fmt: skip
    if copies:
        shown = ", ".join(f"training {i} = {j}" for i, j in copies[:3]) + (", ..." if len(copies) > 3 else "")
        said.append(f"{len(copies)} training sequence(s) repeat earlier ones ({shown}): a fold can validate on a "
                     "copy of a sequence it trains on")  # fmt: skip
    # a copy with another label is the same input with two answers: no model gets both right, and "repeat earlier
    # ones" alone read as harmless (the unseen8 probe: 10 of 70 such training sequences capped every fold)
    y, yt = splits.train.y, splits.test.y
    clash = [("training", i, j, y[i]) for i, j in copies if y[i] != y[j]] + [
        ("test", i, j, yt[i]) for i, j in seen if yt[i] != y[j]
    ]
    if clash:
        shown = ", ".join(f"{split} {i} is {quoted(splits.classes[a])}, training {j} {quoted(splits.classes[y[j]])}"
                          for split, i, j, a in clash[:3]) + (", ..." if len(clash) > 3 else "")  # fmt: skip
        # both splits' copies in one count read as the training clause's: "142949 training sequence(s) repeat
        # earlier ones ...; 152994 of these copies carry another label" (the unseen11 probe): each split's own
        # named by split wherever both clauses are said: "5 training sequence(s) repeat ...; 8 of these copies"
        # counted test copies under the training clause (the review11 probe)
        counts = [sum(c[0] == split for c in clash) for split in ("training", "test")]
        verb = "carries" if len(clash) == 1 else "carry"
        which = (" and ".join(f"{n} of the {split} copies" for n, split in zip(counts, ("training", "test")) if n)
                 if seen and copies else f"{len(clash)} of these copies") + f" {verb}"  # fmt: skip
        said.append(f"{which} another label than the training sequence they copy ({shown}): "
                    "the same input with two answers, which no model gets both right")  # fmt: skip
        return f"warning: {splits.name}: {'; '.join(said)}; check the labels, and drop the copies not meant to be there"
    return f"note: {splits.name}: {'; '.join(said)}; drop the copies if they are not meant to be there"


def _as_number(name: str) -> float | None:
    try:
        value = float(name)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def same_number_note(splits: Splits) -> str | None:
    """A warning when class names read as one number ("1" and "01", "2" and "2.0"): one class code written two ways
    (a CSV saved by two tools, a column read once as text and once as numbers) trains as two classes, each with half
    the sequences. Refusing them (the unseen8 probe's patch) would block data whose codes really differ, so it is a
    warning naming the classes and their counts."""
    groups: dict[float, list[int]] = {}
    for c, name in enumerate(splits.classes):
        value = _as_number(name)
        if value is not None:
            groups.setdefault(value, []).append(c)
    alike = [cs for cs in groups.values() if len(cs) > 1]
    if not alike:
        return None
    counts = np.bincount(splits.train.y, minlength=len(splits.classes))
    shown = "; ".join(" and ".join(f"{quoted(splits.classes[c])} ({counts[c]} training)" for c in cs)
                      for cs in alike[:3]) + ("; ..." if len(alike) > 3 else "")  # fmt: skip
    return (f"warning: {splits.name}: class names that read as one number are separate classes ({shown}): one code "
            "written two ways?; if so, write each class one way before the study")  # fmt: skip


#: how pandas and NumPy write a missing label as text: str(NaN), str(None), str(pd.NA), str(pd.NaT); and "NaN", what a
#: .ts file's "?" label reads as (sktime's parser, and regtune's, read "?" as NaN in a label too)
MISSING_LABEL_TEXT = ("nan", "NaN", "None", "<NA>", "NaT")


def missing_label_note(splits: Splits) -> str | None:
    """A warning when a class is named as pandas and NumPy write a missing value as text: ``df["label"].astype(str)``
    of a column with NaN gives "nan", and such sequences trained as a class of their own, named "nan" in every line
    of the verdict, unwarned (an empty label is refused, :func:`_check_label_names`; the unseen11 probe). A warning,
    not an error: "None" may be a class."""
    missing = [c for c, name in enumerate(splits.classes) if name.strip() in MISSING_LABEL_TEXT]
    if not missing:
        return None
    counts = np.bincount(splits.train.y, minlength=len(splits.classes))
    tested = np.bincount(splits.test.y, minlength=len(splits.classes))
    shown = "; ".join(
        f"{quoted(splits.classes[c])} ({counts[c]} training, {tested[c]} test sequences)" for c in missing
    )
    named = f"class {shown} is named" if len(missing) == 1 else f"classes {shown} are named"
    return (f"warning: {splits.name}: {named} as pandas and NumPy write a missing label as text "
            "(str(NaN), str(None), str(pd.NA); a .ts file's '?' label reads as NaN): if these sequences are "
            "unlabelled, drop them (df.dropna(subset=[...]) before .astype(str)); kept, they train as a class of their "
            "own")  # fmt: skip


def layout_note(splits: Splits) -> str | None:
    """A note when a .npz / in-memory ``X`` looks transposed: more channels than its longest sequence has
    steps (sktime's and aeon's numpy layout is N x C x T; regtune's N x T x C). A note, not an error: some data
    do have more channels than steps (PEMS-SF: 963 sensors, 144 steps). A warning where that leaves one step:
    sktime's univariate N x 1 x T trained on one-step "sequences" behind a note alone (the unseen8 probe)."""
    T, C = int(splits.train.lengths.max()), splits.train.X.shape[2]
    if C <= T:
        return None
    if T == 1:  # sktime's univariate numpy3D (N x 1 x T) read as one step: a recurrence with nothing to recur over
        return (
            f"warning: {splits.name}: X reads as 1 time step of {C} channels (N x T x C): the RNN runs one step, "
            f"and the recurrent regularizers (recurrent dropout, weight drop, zoneout) act on nothing; if your arrays "
            f"are N x C x T (sktime's and aeon's numpy layout, N x 1 x T for a univariate series), pass "
            f"np.swapaxes(X, 1, 2)"
        )  # fmt: skip
    return (
        f"note: {splits.name}: X reads as {T} time step{'s' if T != 1 else ''} of {C} channels (N x T x C); if "
        f"your arrays are N x C x T (sktime's and aeon's numpy layout), pass np.swapaxes(X, 1, 2)"
    )


def _labels_preview(values: np.ndarray) -> str:
    uniq = np.unique(values).tolist()
    return str(uniq) if len(uniq) <= 12 else f"[{', '.join(map(str, uniq[:6]))}, ..., {', '.join(map(str, uniq[-3:]))}]"


def _label_names(y: np.ndarray) -> list[str] | None:
    """The class names of string labels, sorted as the .ts loader sorts its labels (numerically when they all read
    as numbers); of whole-number labels that are not exactly 0..K-1 (the UCR archive's 1..K, -1/1, 0/2/4: read as
    names, "1" the first class, as a .ts file's); None for labels 0..K-1, which are the classes themselves."""
    y = np.asarray(y)
    if y.dtype.kind in "US":
        return _sorted_labels(y.astype(str).ravel())
    whole = _whole_numbers(y)
    if whole is None or not len(whole):
        return None
    values = np.unique(whole)
    if values[0] == 0 and values[-1] == len(values) - 1:  # 0..K-1, every class present
        return None
    return [str(v) for v in values.tolist()]


def _whole_numbers(y: np.ndarray) -> np.ndarray | None:
    """``y`` as int64 when it holds integers (or whole-number floats: pandas' float64 labels); else None."""
    if np.issubdtype(y.dtype, np.integer):  # (not bool: True/False are refused, not read as 1/0)
        return y.astype(np.int64) if y.dtype != np.uint64 or not len(y) or int(y.max()) < 2**63 else None
    if (
        y.dtype.kind == "f"
        and np.isfinite(y).all()
        and bool((y == np.round(y)).all())
        and float(np.abs(y).max(initial=0)) < 2**53  # (float16 labels cast 2**53 to inf: "overflow in cast")
    ):
        return y.astype(np.int64)
    return None


def _label_codes(path: Path | str, yk: str, y: np.ndarray, names: list[str] | None) -> np.ndarray:
    """``y`` (one label per sequence) as integer classes: strings, and numbers the training split read as names
    (:func:`_label_names`), by their index in the training split's ``names`` (a test label the training split lacks
    is refused by name); whole-number floats (pandas' float64 labels) cast; anything else must be integers."""
    numbers = None if y.dtype.kind in "US" else _whole_numbers(y)
    if y.dtype.kind not in "US" and names is not None and not all(_integer_text(n) for n in names):
        raise DataError(f"{path}: {yk} holds numbers, the training labels are strings ({names[:3]}...); allowed: "
                        "labels of one kind in both splits (integers, or class names)")  # fmt: skip
    if names is not None and (y.dtype.kind in "US" or numbers is not None):
        labels = y.astype(str) if numbers is None else np.array([str(v) for v in numbers.tolist()])
        index = {c: i for i, c in enumerate(names)}
        unknown = sorted(set(labels.tolist()) - set(names))
        same = {_label_key(n): n for n in names}
        alike = next(((u, same[_label_key(u)]) for u in unknown if _label_key(u) in same), None)
        if alike is not None:  # printed alike, so "do not occur" beside the same-looking name read as nonsense
            raise DataError(f"{path}: {yk} holds the label {alike[0]!r} ({len(alike[0])} code points) where the "
                            f"training split writes {alike[1]!r} ({len(alike[1])} code points): the same name with "
                            "spaces at its ends or in another Unicode normalization; allowed: each class written as "
                            "in the training split (strip, and unicodedata.normalize('NFC', label), both splits)")  # fmt: skip
        if unknown:
            raise DataError(f"{path}: {yk} holds labels {unknown[:5]} that do not occur in the training split; "
                            f"allowed: {names if len(names) <= 12 else names[:12] + ['...']}")  # fmt: skip
        return np.array([index[c] for c in labels.tolist()], dtype=np.int64)
    if y.dtype.kind in "US":
        raise DataError(f"{path}: {yk} holds strings, the training labels are numbers; allowed: labels of one "
                        "kind in both splits (integers, or class names)")  # fmt: skip
    if numbers is None:
        raise DataError(f"{path}: {yk}{_not_labels(y, yk)}; expected integer labels (0..K-1, or any K whole numbers: "
                        "read as class names), or strings (class names)")  # fmt: skip
    return numbers


def _not_labels(y: np.ndarray, name: str = "y") -> str:
    """Why ``y`` (not strings, not whole numbers) is no label array: its first offending value, where one is
    (float64 labels are allowed when whole, so "has dtype float64" blamed the wrong thing), else its dtype."""
    for i, v in enumerate(y.tolist() if y.dtype.kind in "fO" else ()):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return f"[{i}] is {'missing (None)' if v is None else 'NaN'}"
        if isinstance(v, float) and (not math.isfinite(v) or not v.is_integer()):
            return f"[{i}] = {v!r} is not a whole number"
        if isinstance(v, float) and abs(v) > 2**53:
            return f"[{i}] = {v!r} is beyond the whole numbers a float64 holds exactly (2**53)"
        if not isinstance(v, (int, float, str, np.integer, np.floating)):
            return f"[{i}] = {v!r} is a {type(v).__name__}"
    # True/False were refused with no way out (X of bool names one), and a pandas bool Series, which notebooks pass
    # through to_numpy(dtype=float), read as 0/1: the unseen11 probe
    way = f" (True/False: {name}.astype(int) for classes 0/1, or np.where({name}, 'yes', 'no') for names)"
    return f" has dtype {y.dtype}" + (way if y.dtype == bool else "")


def _renamed_labels(path: Path | str, y: np.ndarray, names: list[str] | None) -> list[str]:
    """A note when whole-number labels other than 0..K-1 were read as class names (:func:`_label_names`): integer
    targets that are not classes (counts, ids) load as many classes without it."""
    if names is None or np.asarray(y).dtype.kind in "US":
        return []
    shown = ", ".join(names) if len(names) <= 6 else f"{', '.join(names[:3])}, ..., {names[-1]}"
    return [
        f"note: {path}: y holds the whole numbers {shown}, not 0..{len(names) - 1}: read as {len(names)} class "
        "names (in number order, as a .ts file's labels)"
    ]


def _integer_text(name: str) -> bool:
    return name.lstrip("-").isdigit()


def _npz_set(
    path: Path | str, data: dict[str, np.ndarray], suffix: str, training: bool, names: list[str] | None = None
) -> tuple[SequenceSet, list[str] | None]:
    """One split of a .npz (or of arrays given in memory): its sequences, and the class names when its labels are
    strings (``names``: the training split's, for a test split; a training split finds its own)."""
    xk, yk, lk = f"X{suffix}", f"y{suffix}", f"lengths{suffix}"
    for key in (xk, yk):
        if key not in data:
            expected = "X_test, y_test (and lengths_test)" if suffix else "X, y (and lengths)"
            # X_train/y_train is the common convention (sklearn, Keras): say which name it should have
            alias = next((a for a in (f"{key}_train", f"{key}_TRAIN") if not suffix and a in data), None)
            rename = f" (rename {alias!r} to {key!r}: the training split is {expected})" if alias else ""
            raise DataError(f"{path}: missing array {key!r}{rename}; found {sorted(data)}; expected {expected}")
    X, y = data[xk], data[yk]
    if X.dtype == object and X.ndim == 2 and X.size and type(X.flat[0]).__module__.startswith("pandas"):
        # sktime's nested DataFrame (a pd.Series per case and dimension: load_basic_motions(return_X_y=True)) was
        # refused as "X has dtype object; expected floats", which named neither the layout nor the way out
        raise DataError(f"{path}: {xk} holds a sequence in each cell (shape {X.shape}, cells of "
                        f"{type(X.flat[0]).__name__}: sktime's nested DataFrame, one pd.Series per case and dimension); "
                        f"expected N x T x C floats: pass np.swapaxes(sktime.datatypes.convert_to({xk}, 'numpy3D'), 1, 2) "
                        "(equal lengths), or a list of T_i x C arrays, one per case")  # fmt: skip
    if X.ndim == 2:  # N x T: one channel
        X = X[:, :, None]
    if X.ndim != 3:
        raise DataError(f"{path}: {xk} has rank {X.ndim} (shape {X.shape}); expected N x T x C (or N x T: one channel)")
    if 0 in X.shape:
        what = ("sequences", "time steps", "channels")[X.shape.index(0)]
        raise DataError(f"{path}: {xk} is empty (shape {X.shape}: no {what}); expected N x T x C with N, T, C >= 1")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        # "expected floats" for a bool X, where integer X is read: name what is read, and the way out
        way = f" (True/False: {xk}.astype(np.float32))" if X.dtype == bool else ""
        raise DataError(f"{path}: {xk} has dtype {X.dtype}; allowed: floats or integers{way}")
    # a copy (edited in place below), float64 unless it is float32 already: float32 values are exact in either, and
    # a float64 copy of a 2 GB float32 file took 4 GB more (the cast to float32 at the end gives the same bits)
    X = X.astype(np.float32 if X.dtype == np.float32 else np.float64)
    y = _vector(y)  # a column (N x 1): one label per sequence all the same
    if y.ndim != 1 or len(y) != len(X):
        one_hot = (y.ndim == 2 and len(y) == len(X) and y.shape[1] > 1 and np.issubdtype(y.dtype, np.number)
                   and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all())  # fmt: skip
        hint = f" (it is one-hot: save {yk}.argmax(axis=1))" if one_hot else ""
        raise DataError(f"{path}: {yk} has shape {y.shape}; expected ({len(X)},): one label per sequence{hint}")
    y = _text_labels(path, yk, y)
    _check_label_names(path, yk, y)
    if training:
        names = _label_names(y)
    y = _label_codes(path, yk, y, names)
    k = int(y.max()) + 1
    if training and (y.min() < 0 or k > len(y) or set(np.unique(y).tolist()) != set(range(k))):  # k > len(y):
        # not every class can be present; and set(range(10**9)) ran out of memory
        raise DataError(f"{path}: {yk} holds {_labels_preview(y)}; labels must be exactly 0..K-1, every class present")
    if not training and y.min() < 0:
        raise DataError(f"{path}: {yk} has negative labels; labels must be 0..K-1")
    lengths = data.get(lk)
    T = X.shape[1]
    if lengths is None:  # NaN padding (sktime's and pandas' unequal-length export): steps NaN in every channel
        lengths = _unpadded_lengths(X)
        empty = np.flatnonzero(lengths == 0)
        if len(empty):
            raise DataError(f"{path}: {xk} sequence {int(empty[0])} is NaN at every step; drop it first")
    lengths = _vector(np.asarray(lengths))  # a column (N x 1), as y's is read (the unseen11 probe)
    if lengths.shape != (len(X),) or lengths.dtype.kind not in "iuf":  # (complex and timedelta64 are numbers too)
        raise DataError(
            f"{path}: {lk} must be {len(X)} integers in 1..{T}; found shape {lengths.shape}, dtype {lengths.dtype}"
        )
    bad = np.flatnonzero(~np.isfinite(lengths) | (lengths != np.round(lengths)) | (lengths < 1) | (lengths > T))
    if len(bad):
        raise DataError(f"{path}: {lk} must be {len(X)} integers in 1..{T}; sequence {bad[0]} has {lengths[bad[0]]}")
    lengths = lengths.astype(np.int64)
    valid = np.arange(T)[None, :] < lengths[:, None]
    finite = np.isfinite(X).all(axis=2) | ~valid
    if not finite.all():
        i = int(np.flatnonzero(~finite.all(axis=1))[0])
        t = int(np.flatnonzero(~finite[i])[0])
        c = int(np.flatnonzero(~np.isfinite(X[i, t]))[0])
        ends = np.isnan(X[i, t : lengths[i], c]).all() and not np.isnan(X[i, t : lengths[i]]).all()
        lead = t == 0 and np.isnan(X[i, 0]).all()  # every channel NaN at the first step, values after: pre-padding
        # every channel NaN from step t to the end lengths gives: NaN padding that lengths counts in (off by one)
        inside = t > 0 and lk in data and bool(np.isnan(X[i, t : lengths[i]]).all())
        if inside:
            what = (f"steps {t}..{lengths[i] - 1} are NaN in every channel, as padding is, inside the {lengths[i]} "
                    f"steps {lk} gives it: does {lk} count {lengths[i] - t} step(s) too many? ({lk}[i] is the number "
                    f"of valid steps of sequence i, 1..{T}; NaN padding needs no {lk})")  # fmt: skip
        elif ends and t == 0:
            what = (f"channel {c} is NaN at every step of the sequence while another channel holds values: a channel "
                    "missing from this sequence (a sensor that did not record?); fill it (with the channel's mean, "
                    "say) or drop the sequence")  # fmt: skip
        elif ends:
            what = (f"channel {c} is NaN from step {t} to the end while another channel goes on: channels of "
                    "different lengths (trailing NaN is padding only where every channel has it); give the channels "
                    "one length")  # fmt: skip
        elif lead:
            what = ("NaN before the values: padding at the start (Keras' padding='pre'); only trailing NaN is padding "
                    "here: put each sequence's values first (padding='post')")  # fmt: skip
        else:
            what = "fill or drop them first"
        raise DataError(f"{path}: {xk} contains NaN/Inf inside the valid steps (sequence {i}, step {t} of its "
                        f"{lengths[i]}, channel {c}: {X[i, t, c]}); {what}")  # fmt: skip
    X[~valid] = 0.0  # in place: X is this function's copy (kept until _to_float32 has both splits)
    return SequenceSet(X, lengths, y.astype(np.int64)), names


def _text_labels(path: Path | str, yk: str, y: np.ndarray) -> np.ndarray:
    """Byte-string labels (``y`` of dtype ``S``: h5py's fixed-length strings, ``.astype("S")``) as text, decoded as
    UTF-8; other labels as they are. numpy's ``astype(str)`` decodes ASCII only: a UTF-8 label (``"Übung"``) crashed
    validate and study with a 25-line UnicodeDecodeError traceback (the unseen8 probe). ASCII labels read as before."""
    if y.dtype.kind != "S":
        return y
    out = []
    for i, v in enumerate(y.tolist()):
        try:
            out.append(v.decode("utf-8"))
        except UnicodeDecodeError:
            raise DataError(f"{path}: {yk}[{i}] = {v!r} is not UTF-8 text; allowed: labels as strings, or as bytes in "
                            "UTF-8 (decode other bytes first, e.g. np.array([b.decode('latin-1') for b in y]))") from None  # fmt: skip
    return np.array(out, dtype=str)


def _label_key(name: str) -> str:
    """What two class names that are one class written two ways share: NFC form, spaces at the ends stripped."""
    return unicodedata.normalize("NFC", name).strip()


def _check_label_names(path: Path | str, yk: str, y: np.ndarray) -> None:
    """Class names that are empty or only spaces are missing labels (a CSV's empty field), refused by position: one
    became a class of its own, shown as nothing (the majority-class row read ``always " / b"``); names that differ
    only in spaces at their ends, or only in their Unicode normalization (NFC "café" against NFD "café", printed
    alike: two classes, the unseen8 probe), are refused by name."""
    if y.dtype.kind not in "US" or not len(y):
        return
    blank = np.flatnonzero(np.char.str_len(np.char.strip(y)) == 0)
    if len(blank):
        raise DataError(f"{path}: {yk}[{int(blank[0])}] is {'empty' if not len(y[blank[0]]) else 'only spaces'} "
                        f"({len(blank)} such label{'s' if len(blank) != 1 else ''}): a missing label; allowed: class "
                        "names with a character other than a space (drop the unlabelled sequences first)")  # fmt: skip
    ways: dict[str, list[str]] = {}
    for name in np.unique(y).tolist():
        ways.setdefault(_label_key(str(name)), []).append(str(name))
    twice = next((names for names in ways.values() if len(names) > 1), None)
    if twice is not None and len({n.strip() for n in twice}) == 1:  # "a" and "a " were two classes (the data probe)
        raise DataError(f"{path}: {yk} holds the labels {' and '.join(map(repr, twice))}, which differ only in spaces "
                        "at their ends: one class written two ways?; allowed: each class name written one way "
                        "(strip the labels first)")  # fmt: skip
    if twice is not None:  # "café" typed (NFC) and "café" from a macOS file name (NFD): two classes printed alike
        forms = " and ".join(f"{n!r} ({len(n)} code points)" for n in twice)
        raise DataError(f"{path}: {yk} holds the labels {forms}, which differ only in how their accented letters are "
                        "encoded (Unicode normalization: one code point, or a letter and a combining accent; macOS "
                        "file names use the second): one class written two ways?; allowed: each class name in one "
                        "form (unicodedata.normalize('NFC', label) for each label)")  # fmt: skip


def _one_class(where: str, label: str, count: int) -> DataError:
    return DataError(
        f"{where}: the training split holds one class ({label!r}, {count} sequences); a classifier needs at least "
        "two; allowed: labels of 2 or more classes"
    )


def check_splits(splits: Splits, folds: int, source: str | None = None) -> None:
    """What a search needs of a dataset, checked before a study is created: both splits non-empty with finite
    values and lengths in 1..T, at least two classes in the training split, every test label a known class, and
    at least ``folds`` training sequences of every class (:class:`FoldsError`) when ``folds`` > 1."""
    name = source or splits.name
    k = len(splits.classes)
    for split, s in (("training", splits.train), ("test", splits.test)):
        if len(s) == 0:
            raise DataError(f"{name}: the {split} split is empty; expected at least one sequence")
        T = s.X.shape[1]
        if s.lengths.min() < 1 or s.lengths.max() > T:
            raise DataError(f"{name}: {split} lengths must be integers in 1..{T}")
        valid = np.arange(T)[None, :] < s.lengths[:, None]
        bad = ~np.isfinite(s.X).all(axis=2) & valid
        if bad.any():
            i, t = (int(v[0]) for v in np.nonzero(bad))
            c = int(np.flatnonzero(~np.isfinite(s.X[i, t]))[0])
            raise DataError(f"{name}: the {split} split contains NaN/Inf inside the valid steps (sequence {i}, step "
                            f"{t} of its {s.lengths[i]}, channel {c}: {s.X[i, t, c]}); fill or drop them first")  # fmt: skip
        if s.y.min() < 0 or s.y.max() >= k:
            bad = int(s.y.min()) if s.y.min() < 0 else int(s.y.max())
            raise DataError(f"{name}: the {split} split holds label {bad}; allowed: 0..{k - 1} ({k} classes)")
    counts = np.bincount(splits.train.y, minlength=k)
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise _one_class(name, splits.classes[present[0]], int(counts[present[0]]))
    fewest = int(np.argmin(counts))
    n = int(counts[fewest])
    if n == 0:
        raise DataError(f"{name}: class {splits.classes[fewest]!r} has no training sequence; every class needs some")
    if counts.max() < 2:
        raise DataError(
            f"{name}: every class has one training sequence; a class's only sequence must train, so none is left "
            "to validate on; allowed: at least 2 sequences of some class (a holdout validates on those)"
        )
    if folds > 1 and n < folds:
        fits = "cv_folds: 1 (one holdout split)" if n < 2 else f"cv_folds: {n} or fewer (1 = one holdout split)"
        raise FoldsError(
            f"{name}: class {splits.classes[fewest]!r} has {n} training sequence{'s' if n != 1 else ''}; "
            f"{folds}-fold cross-validation needs >= {folds} of every class; allowed: {fits}"
        )


# ---------------------------------------------------------------------------------------------- splitting
def train_val_indices(y: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded holdout of ``val_fraction`` of the sequences (stratified when every class has two
    at least; then each part keeps one sequence of each class at least: 75 sequences of 30 classes hold out 30,
    not 15, which a stratified split cannot spread over 30 classes; a fraction of 0.95 leaves 30 to train on).
    A class with a single sequence keeps it in the training part (:func:`check_splits` refuses a training
    split where every class has one: nothing would be left to validate on)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(y)
    lone = np.isin(y, np.flatnonzero(counts == 1))
    if lone.any() and not lone.all():
        # a class's only sequence trains (validating on a class the model never saw scores nothing but the split:
        # 30 sequences of 30 classes held out 6 unseen classes); the other classes are split as usual
        rest = idx[~lone]
        _, labels = np.unique(y[rest], return_inverse=True)
        tr, va = train_val_indices(labels, val_fraction, seed)
        return np.sort(np.concatenate([idx[lone], rest[tr]])), rest[va]
    stratify = y if counts.min() >= 2 else None
    size: float | int = val_fraction
    held = math.ceil(val_fraction * len(y))
    k = len(counts)
    if stratify is not None and not k <= held <= len(y) - k:
        size = min(max(held, k), len(y) - k)  # each class has two or more: len(y) >= 2k, both parts fit
    tr, va = train_test_split(idx, test_size=size, random_state=seed, stratify=stratify)
    if stratify is not None:
        tr, va = _every_class_in_both(y, tr, va, seed)
    return np.sort(tr), np.sort(va)


def _every_class_in_both(y: np.ndarray, tr: np.ndarray, va: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``tr`` and ``va`` with one sequence of every class in each: sklearn rounds a rare class's share to 0 in one
    part (98 and 2 sequences, 20 % held out: 20 and 0), which then validates or tests without that class at all. A
    class missing from a part gets one of its sequences moved there, drawn with ``seed``; a split that already
    has every class on both sides is returned as it is."""
    rng = np.random.default_rng(seed)
    for c in np.flatnonzero(np.bincount(y)):
        if not (y[va] == c).any():
            move = rng.choice(tr[y[tr] == c])
            tr, va = tr[tr != move], np.append(va, move)
        elif not (y[tr] == c).any():
            move = rng.choice(va[y[va] == c])
            tr, va = np.append(tr, move), va[va != move]
    return tr, va


def split_indices(
    y: np.ndarray, folds: int, fold: int, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation indices of fold ``fold`` (:class:`SequenceDataModule`'s split): one of
    ``folds`` stratified folds, or with one fold the ``val_fraction`` holdout (none at 0)."""
    if folds > 1:
        return fold_indices(y, folds, fold, seed)
    if val_fraction > 0:
        return train_val_indices(y, val_fraction, seed)
    return np.arange(len(y)), np.arange(0)


def validation_parts(y: np.ndarray, folds: int, val_fraction: float, seed: int) -> list[np.ndarray]:
    """The validation indices of each fold a search's trial fits (:func:`split_indices`); empty parts left out."""
    parts = [split_indices(y, folds, k, val_fraction, seed)[1] for k in range(folds)]
    return [va for va in parts if len(va)]


def unvalidated_classes(y: np.ndarray, parts: list[np.ndarray]) -> list[int]:
    """The classes of ``y`` that none of the search's validation ``parts`` (:func:`validation_parts`) holds (a
    class of one training sequence, which a holdout keeps in training): no trial is ever scored on them."""
    seen = set(y[np.concatenate(parts)].tolist()) if parts else set()
    return [int(c) for c in np.unique(y) if int(c) not in seen]


def fold_indices(y: np.ndarray, folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold`` of a stratified, seeded k-fold split."""
    from sklearn.model_selection import KFold, StratifiedKFold

    idx = np.arange(len(y))
    splitter: Any = StratifiedKFold(folds, shuffle=True, random_state=seed)
    if np.bincount(y).min() < folds:
        splitter = KFold(folds, shuffle=True, random_state=seed)
    tr, va = list(splitter.split(idx, y))[fold]
    return np.sort(tr), np.sort(va)


def series_moments(s: SequenceSet, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Each sequence's per-channel mean and (raw) std over its valid steps, ``(N, C)`` each, in float64; computed
    ``chunk`` sequences at a time, so the float64 temporaries stay small whatever the dataset's size. Squares that
    overflow (values near float64's limit, which the data checks then name) are not warned about: 4 lines of
    RuntimeWarning printed before the one-line error."""
    N, T, C = s.X.shape
    mean, std = np.empty((N, C)), np.empty((N, C))
    with np.errstate(over="ignore"):
        for a in range(0, N, chunk):
            X = s.X[a : a + chunk].astype(np.float64)
            lengths = s.lengths[a : a + chunk]
            valid = (np.arange(T)[None, :] < lengths[:, None])[..., None]
            n = np.maximum(lengths, 1)[:, None]
            mean[a : a + chunk] = m = np.where(valid, X, 0.0).sum(1) / n
            std[a : a + chunk] = np.sqrt(np.where(valid, (X - m[:, None, :]) ** 2, 0.0).sum(1) / n)
    return mean, std


#: a std at most this fraction of the mean's magnitude is a constant's float rounding (identical float32 values
#: give 0 in float64; one value an ulp apart among 10^8 still gives ~6e-12): such a channel is divided by 1. Only
#: relative: a channel of nanoamperes (std 1e-9) is data, and an absolute floor of 1e-8 left it at ~0 (chance).
CONSTANT = 1e-12


def varies(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Where ``std`` is more than a constant's float rounding: above :data:`CONSTANT` times ``|mean|`` (and above 0)."""
    return std > CONSTANT * np.abs(mean)


def _unit_if_constant(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.where(varies(mean, std), std, 1.0)


def series_stats(s: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
    """Each sequence's per-channel mean and std over its valid steps, ``(N, C)`` each (std 1 where a channel is
    constant, as :func:`channel_stats` does)."""
    mean, std = series_moments(s)
    return mean, _unit_if_constant(mean, std)


def channel_stats(s: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over the valid steps of a set (:func:`channel_moments`) as float32; std 1
    where a channel is constant (:data:`CONSTANT`), so it stays finite (zeros)."""
    mean, std = channel_moments(s)
    return mean.astype(np.float32), _unit_if_constant(mean, std).astype(np.float32)


def channel_moments(s: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (raw) std over the valid steps of a set, ``(C,)`` each, in float64 (float32 squares
    overflow above ~1e19, and its sums lose small variations on a large offset): pooled from
    :func:`series_moments`, each sequence's own mean and spread weighted by its length."""
    means, stds = series_moments(s)
    n = s.lengths.astype(np.float64)[:, None]
    total = max(float(n.sum()), 1.0)
    mean = (n * means).sum(0) / total
    with np.errstate(over="ignore"):  # (as series_moments)
        return mean, np.sqrt((n * (stds**2 + (means - mean) ** 2)).sum(0) / total)

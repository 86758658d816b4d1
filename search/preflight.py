"""Preflight: everything about a study checked before its storage is touched.

:func:`prepare` parses the study file, loads and checks its dataset, applies the data-dependent defaults, works
out the cross-validation folds and checks the storage URL's syntax (without opening it). A failure is one line,
``<file>: <field>: <problem>; allowed: ...``: a :class:`~search.spec.StudyFileError` or a :class:`PreflightError`,
which the command line prints as ``error: ...`` with exit code 2, before any study, trial or file is created.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from models.config import defaults
from models.errors import DataError, FoldsError
from search.spec import StudySpec, check_branch_dropout, check_starting_points, load_study, values_of
from search.storage import RDB_SCHEME, STORAGE_ENV, broken_link, file_kind, mask_url, resolve_url, scheme_hint

if TYPE_CHECKING:
    from models.data import Splits

#: what a storage URL may be (the schemes search.storage.open_storage opens)
STORAGE_FORMS = (
    "a journal file path (runs/NAME/journal.log), postgresql[+driver]://user@host:port/db, sqlite:///path.db, "
    "mysql[+driver]://user@host:port/db, grpc://host:port"
)


class PreflightError(ValueError):
    """A study that cannot start: the one-line message names the file, the field or array, and what is allowed."""


@dataclass
class Prepared:
    spec: StudySpec  # the parsed study file, with the data-dependent defaults applied
    splits: Splits  # its dataset, loaded and checked (also cached for the objective: loaded once per process)
    url: str  # the storage URL the study resolves to (syntax checked, not opened)
    folds: int  # cross-validation folds: spec.cv_folds, or the default for the dataset's size


def prepare(study_path: str | Path, storage_url: str | None = None, read_only: bool = False) -> Prepared:
    """Parse, load and check everything a study needs; touch no storage. Raises StudyFileError / PreflightError.
    ``read_only``: the command only reads the store (a report), so a journal file need not be writable."""
    return prepare_spec(load_study(study_path), storage_url, read_only=read_only)


def prepare_spec(
    spec: StudySpec,
    storage_url: str | None = None,
    splits: Splits | None = None,
    flag: str = "--storage/STORAGE",
    read_only: bool = False,
) -> Prepared:
    """:func:`prepare` for a parsed study; ``splits``: its dataset already loaded (in-memory arrays, search.api);
    ``flag``: what a storage error calls the storage (``storage=`` from Python)."""
    from search.folds import _SPLITS, data_folds

    url = checked_storage(storage_url, spec.name, spec.path, flag, read_only)
    splits = load_dataset(spec) if splits is None else splits
    _check(spec, splits, 1)  # classes, labels, values: before the defaults look at the data
    spec = _apply_defaults(spec, splits)
    if not spec.search and not read_only:  # a report still reads a study stored before this check
        fixed = " (lr fixed, no search section)" if "lr" in spec.fixed else ""
        raise PreflightError(
            f"{spec.path}: search: nothing is searched{fixed}, so every trial would run the same configuration and the "
            "verdict would compare the baseline with itself; allowed: a search section with at least one "
            'hyperparameter (README, "The hyperparameters"), or lr left out of fixed (searched by default)'
        )
    check_starting_points(spec)
    check_branch_dropout(spec)
    folds = spec.cv_folds if spec.cv_folds is not None else data_folds(splits)
    _check(spec, splits, folds)
    _SPLITS[(spec.dataset, spec.seed)] = splits
    return Prepared(spec, splits, url, folds)


#: an lr above this is noted, whatever the optimizer: Adam-family steps (and RMSprop's) are about lr per weight
#: whatever the gradient's scale, and regtune's SGD has momentum 0.9, whose steps reach ~10x lr (a smoke study with
#: SGD at lr 10 ended near chance, against 0.51 at lr 0.1: the review)
LARGE_LR = 1.0


def lr_note(spec: StudySpec) -> str | None:
    """A note when the study fixes ``lr``, or searches it (a range or choices), above :data:`LARGE_LR`: ``fixed: {lr:
    10}`` passed validate, its trials stayed at chance (loss 23), and the verdict advised a larger ``max_epochs``
    (the newdata probe, 2026-12-06)."""
    value = max((float(v) for v in values_of(spec, "lr") if isinstance(v, (int, float))), default=0.0)
    if value <= LARGE_LR:
        return None
    how = "searches lr up to" if "lr" in spec.search else "fixes lr at"
    return (f"note: {spec.path}: the study {how} {value:g}, above {LARGE_LR:g}, where training diverges or stays at "
            f"chance whatever the budget (its default is {defaults()['lr']:g}; the data's default range is "
            "3e-4..1e-2)")  # fmt: skip


def seeds_note(spec: StudySpec) -> str | None:
    """A note when ``final_seeds`` is below the default 3: with 1 the verdict has no test over seeds, with 2 its
    paired tests have one degree of freedom for them, so their intervals are wide and a real difference rarely shows
    (a model at 17 % against a 2 % floor on 100 test sequences, errors independent across seeds: called significant in
    23 % of simulated runs with 2 seeds; median p 0.08, with 3 seeds 0.008, with 5 8e-05: the unseen10 probe)."""
    if spec.final_seeds >= StudySpec.final_seeds:
        return None
    what = ("no interval or p-value over seeds (each model is tested alone against the majority class only)"
            if spec.final_seeds == 1 else "paired tests with one degree of freedom for the seeds: wide intervals, "
            "and a real difference rarely shows")  # fmt: skip
    return (
        f"note: {spec.path}: final_seeds {spec.final_seeds} retrains each verdict row {spec.final_seeds} "
        f"time{'s' if spec.final_seeds != 1 else ''}: {what}; 3 (the default) or 5 give tests that can tell"
    )


#: fewer steps than this of the median training sequence left to the RNN by a fixed or searched ``conv_stride`` are
#: noted: the long-data defaults leave it 25-200 (README, "Long sequences")
FEW_RNN_STEPS = 4


def stride_note(spec: StudySpec, splits: Splits) -> str | None:
    """A note when the largest ``conv_stride`` the study runs leaves the RNN fewer than :data:`FEW_RNN_STEPS` steps
    of the median training sequence (``ceil(length / stride)``): a front end copied from a long-data study onto
    2-step sequences (stride 4, kernel 8) validated and trained without a word, and the RNN read one step of each
    (the unseen7 probe)."""
    import numpy as np

    stride = max((int(v) for v in values_of(spec, "conv_stride") if isinstance(v, (int, float))), default=1)
    if stride <= 1 or all(v == 0 for v in values_of(spec, "conv_layers")):
        return None  # no front end in any trial
    median = int(np.median(splits.train.lengths))
    steps = -(-median // stride)
    if steps >= FEW_RNN_STEPS:
        return None
    return (f"note: {spec.path}: conv_stride {stride} leaves the RNN {steps} step{'s' if steps != 1 else ''} of the "
            f"median training sequence ({median} steps; it reads ceil(length / stride)): the front end is for long "
            "sequences, where the data's defaults leave it 25-200 steps; a smaller stride, or none, keeps the "
            "order of the steps for the RNN")  # fmt: skip


def data_warnings(prepared: Prepared) -> list[str]:
    """What a user should read before a run, one line each: what loading the data let pass and, for a .npz file or
    in-memory arrays (a given ``X``), an X that looks transposed (:func:`models.data.data_notes`); long training
    sequences the RNN will read step by step (:func:`search.defaults.long_tail_note`); the classes no validation
    part holds (the search never scores them). The command line prints them, search.api warns them."""
    from models.data import MEMORY, class_names, data_notes, unvalidated_classes, validation_parts
    from search.defaults import long_tail_note

    spec, splits = prepared.spec, prepared.splits
    given = spec.dataset.lower().endswith(".npz") or spec.dataset.startswith(f"{MEMORY}:")
    lines = data_notes(splits, layout=given)
    if (tail := long_tail_note(spec, splits)) is not None:
        lines.append(tail)
    if prepared.folds > 1 and spec.val_fraction != StudySpec.val_fraction:
        # refused at first (the newuser probe), but a study made with it would then neither resume nor report, and
        # removing the line moves its run scope (its checkpoints and cached refits): a note instead
        lines.append(f"note: val_fraction {spec.val_fraction:g} acts in no trial: it sizes the one holdout of "
                     f"cv_folds: 1, and this study validates on {prepared.folds} folds")  # fmt: skip
    if (lr := lr_note(spec)) is not None:
        lines.append(lr)
    if (stride := stride_note(spec, splits)) is not None:
        lines.append(stride)
    y = splits.train.y
    unseen = unvalidated_classes(y, validation_parts(y, prepared.folds, spec.val_fraction, spec.seed))
    if unseen:
        names = class_names(splits.classes, unseen)
        parts = "validation parts hold" if prepared.folds > 1 else "validation part holds"
        lines.append(f"note: the search's {parts} no sequence of class {names} (too few training sequences of it "
                     "to set one aside): no trial is scored on it, whatever the budget; the verdict's per-class "
                     "recall on the test split shows how the chosen model does on it")  # fmt: skip
    return lines


def load_dataset(spec: StudySpec) -> Splits:
    """The study's dataset, or a PreflightError naming the study file, its ``dataset`` and the data file."""
    from models.data import load_splits

    try:
        return load_splits(spec.dataset, seed=spec.seed)
    except DataError as exc:
        path = Path(spec.dataset)
        comment = (_comment_hint(spec) + _variable_hint(spec.dataset)) if not path.exists() else ""
        if not path.is_absolute() and not path.exists() and path.suffix in (".npz", ".ts"):
            raise PreflightError(
                f"{spec.path}: dataset: {spec.dataset}: no such file (looked in {spec.path.parent}/ and in the "
                f"current directory {Path.cwd()}/){comment}; allowed: a shipped dataset name, synthetic, or a "
                ".npz/.ts path"
            ) from None
        raise PreflightError(f"{spec.path}: dataset: {exc}{comment}") from None


def _variable_hint(source: str) -> str:
    """Where the ``dataset`` path holds a shell variable (``$HOME/data/x.npz``, ``${DATA}/x.npz``, ``%USERPROFILE%``):
    it is read as written, and the error said "no such file" alone (the unseen11 probe; ``~`` is expanded)."""
    found = re.search(r"\$\{[A-Za-z_]\w*\}|\$[A-Za-z_]\w*|%[A-Za-z_]\w*%", source)  # (not "$5 run", "a%20b%20c")
    if found is None:
        return ""
    return (f" ({found.group()} is not expanded: a study file's path is read as written; write the path out, or "
            "start it with ~ for your home)")  # fmt: skip


def _comment_hint(spec: StudySpec) -> str:
    """Where the study file's unquoted ``dataset:`` line holds " #": YAML read the rest as a comment, and the path
    was cut there (``my data/run #1.npz`` was "my data/run: no such file"; the unseen10 probe)."""
    try:
        text = spec.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, AttributeError):
        return ""
    line = next(
        (
            x
            for x in text.splitlines()
            if re.match(r"\s*dataset:\s*[^\s'\"]", x) and " #" in x and re.search(r"\.(npz|ts)\b", x.split(" #", 1)[1])
        ),
        None,
    )  # (a path's end, not a comment's words)
    if line is None:
        return ""
    return (
        f" (the line {line.strip()!r}: a space then # starts a YAML comment, so the path was cut there; quote it: "
        'dataset: "...")'
    )


def _check(spec: StudySpec, splits: Splits, folds: int) -> None:
    from models.data import check_splits

    try:
        check_splits(splits, folds, source=spec.dataset)
    except FoldsError as exc:
        how = "" if spec.cv_folds is not None else f" (not set: the default for {len(splits.train)} training sequences)"
        raise PreflightError(f"{spec.path}: cv_folds: {folds}{how}: {exc}") from None
    except DataError as exc:
        raise PreflightError(f"{spec.path}: dataset: {exc}") from None


def _apply_defaults(spec: StudySpec, splits: Splits) -> StudySpec:
    try:
        from search.defaults import apply_defaults
    except ModuleNotFoundError as exc:  # the data-dependent defaults are optional
        if exc.name != "search.defaults":
            raise
        return spec
    return apply_defaults(spec, splits)


def checked_storage(
    storage_url: str | None,
    name: str,
    study_file: str | Path | None,
    flag: str = "--storage/STORAGE",
    read_only: bool = False,
) -> str:
    """The storage URL a command uses (:func:`search.storage.resolve_url`), its syntax checked
    (:func:`check_storage_url`) with the error naming where it came from: ``flag``, $REGTUNE_STORAGE, or the
    study file's default. Every command that opens a store calls it first (``make retry`` and ``make figures``
    with a directory for STORAGE printed a 30-line traceback where the others said what to give)."""
    if storage_url is not None and not storage_url.strip():  # a script's unset variable: it went to the default
        raise PreflightError(f"{flag}={storage_url!r}: empty; give a storage URL ({STORAGE_FORMS}), or leave it out "
                             f"for the default {resolve_url(None, name)}")  # fmt: skip
    url = resolve_url(storage_url, name)
    origin = flag if storage_url else STORAGE_ENV if os.environ.get(STORAGE_ENV) else None
    check_storage_url(url, origin or f"{study_file}: storage (default for name {name!r})", read_only)
    return url


def check_storage_url(url: str, origin: str, read_only: bool = False) -> None:
    """The syntax of a storage URL (and, for a journal file, that it can be created and written, or with
    ``read_only`` only read); nothing is opened."""

    def fail(problem: str) -> PreflightError:
        return PreflightError(f"{origin}={mask_url(url)}: {problem}; allowed: {STORAGE_FORMS}")

    def unwritable(problem: str) -> PreflightError:  # the URL is right: the list of URL forms would mislead
        return PreflightError(f"{origin}={mask_url(url)}: {problem}")

    if not url.strip():
        raise fail("empty")
    scheme = ""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?", url)
    if m and (m.group(2) or RDB_SCHEME.match(m.group(1)) or m.group(1) == "grpc"):  # else a file name with a colon
        scheme = m.group(1)
        if not m.group(2):
            raise fail(f"{scheme}: must be followed by //")
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": a '[' or ']' before the path, e.g. in a password (a traceback, exit 1)
        raise fail("the user name, password or host holds a '[' or ']' that is no IPv6 host's ([::1]: URLs reserve "
                   "them for one); write one in a user name or password URL-encoded: [ as %5B, ] as %5D") from None  # fmt: skip
    if scheme == "file" and parts.netloc not in ("", "localhost"):  # file://runs/x.log: host "runs"
        raise fail(f"file:// takes an absolute path after a third slash (file:///path); {parts.netloc!r} "
                   "was read as a host name, not as part of the path")  # fmt: skip
    if scheme in ("", "file"):
        _check_journal(Path(parts.path if scheme else url), fail, read_only, unwritable)
        return
    if scheme != "grpc" and not RDB_SCHEME.match(scheme):
        raise fail(f"unknown scheme {scheme!r}{scheme_hint(scheme)}")
    try:
        parts.port  # noqa: B018 - parsing it is the check
        bad_port = False
    except ValueError:
        bad_port = True
    if not scheme.startswith("sqlite"):  # (a SQLite path: any character is its own)
        # a password's reserved character splits the URL early: its rest is read as the host (and shown), or
        # "u:pa" of "u:pa/ss@h" as a host and a port that is not a number, with an @ further on
        after = url.split("://", 1)[1][len(parts.netloc) :]
        query_at = "@" in parts.query and "=" not in parts.query.split("@", 1)[0]  # "?ss@host", not "?user=a@b"
        split = parts.netloc.count("@") > 1 or "@" in parts.path or "@" in parts.fragment or query_at
        if split or ("@" not in parts.netloc and "@" in after and bad_port):
            raise fail("the user name or password holds a character that URLs reserve ('@', '/', '?', '#'); write "
                       "it URL-encoded: @ as %40, / as %2F, ? as %3F, # as %23 (urllib.parse.quote(password, "
                       "safe=''))")  # fmt: skip
    if bad_port:
        raise fail("the port must be a number in 0..65535")
    if scheme == "grpc":
        if not parts.hostname:
            raise fail("grpc:// needs a host: grpc://host:port")
        if parts.path.strip("/") or parts.query:
            raise fail("grpc://host:port takes no path or query")
    elif not scheme.startswith("sqlite"):  # postgresql, mysql (no database: libpq's default, the user's name)
        if len(parts.path) > 1 and parts.path.endswith("/"):  # database "db/" does not exist, said the server
            raise fail(f"the database name {parts.path[1:]!r} ends in '/': drop the trailing slash")
        _check_driver(url, scheme, fail)
    else:
        target = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
        if target.startswith("~") and os.path.expanduser(target) != target:  # (~backup.db: a relative file name)
            raise fail(f"'~' is not expanded in a sqlite:/// URL; write the path out: "
                       f"sqlite:///{os.path.expanduser(target)}")  # fmt: skip
        query = _sqlite_query(url)
        if not target or target == ":memory:" or _sqlite_uri_in_memory(query, target):
            raise fail("an in-memory SQLite database loses the study when the process ends; give sqlite:///path.db")
        if _sqlite_uri(query):  # the directory check below read "file:/abs" as a relative directory, and a plain
            # path with uri=true&mode=ro opened a new, empty file named "x.db?mode=ro": "no study"
            path = unquote(urlsplit(target).path) if target.startswith("file:") else target
            raise fail(f"SQLite's URI form (sqlite:///file:...?uri=true) is not taken: regtune checks, repairs and "
                       f"backs up the file by its path; give the same file as sqlite:///{path}")  # fmt: skip
        if (problem := _sqlite_timeout_problem(query)) is not None:
            raise PreflightError(f"{origin}={mask_url(url)}: {problem}")  # (the URL's form is right: no list of forms)
        if Path(target).exists() and not Path(target).is_file():
            raise fail(f"{target} is a directory or a device, not a file; give a file path such as DIR/study.db")
        if Path(target).is_file() and not os.access(target, os.R_OK):
            # (report said "cannot write ...: Permission denied ... a trial this cut short is re-queued", and study
            # "not writable (make report reads ... a read-only one)", which then refused it too: the faults probe)
            raise unwritable("the SQLite file is not readable")
        if Path(target).is_file() and not read_only:  # else "attempt to write a readonly database", retried 60 s
            if not os.access(target, os.W_OK):
                raise unwritable(
                    "the SQLite file is not writable (make report reads a finished study from a read-only one)"
                )
            if not os.access(Path(target).absolute().parent, os.W_OK | os.X_OK):
                raise unwritable(f"the directory {Path(target).absolute().parent} is not writable (SQLite makes its "
                           "journal file there)")  # fmt: skip
        if not Path(target).parent.is_dir():
            where = "" if Path(target).is_absolute() else (
                f" (sqlite:/// + a relative path: {Path.cwd() / Path(target).parent}; an absolute path takes four"
                f" slashes, sqlite:////{target})"
            )  # fmt: skip
            raise fail(f"the directory {Path(target).parent} of the SQLite file does not exist{where}")


def _sqlite_query(url: str) -> dict[str, list[str]]:
    """The ``?query`` of a ``sqlite:///`` URL, by lower-case key (every value given, blank ones kept)."""
    query: dict[str, list[str]] = {}
    for key, values in parse_qs(url.split("?", 1)[1] if "?" in url else "", keep_blank_values=True).items():
        query.setdefault(key.lower(), []).extend(values)
    return query


def _sqlite_uri(query: dict[str, list[str]]) -> bool:
    """Whether a ``sqlite:///`` URL's query (:func:`_sqlite_query`) asks for SQLite's URI form (``uri=true``):
    SQLAlchemy passes the path on to SQLite as a URI, with the query's other parameters glued to it."""
    uri = query.get("uri", [""])[-1].strip().lower()
    return uri in ("true", "1", "yes", "on", "t", "y")


def _sqlite_uri_in_memory(query: dict[str, list[str]], target: str) -> bool:
    """Whether a ``sqlite:///file:...?uri=true`` URL (SQLite's URI form, which SQLAlchemy passes on with ``uri=true``)
    names a database that ends with its last connection: ``file::memory:``, ``mode=memory``, the ``memdb`` VFS, or
    ``file:`` with no name (a temporary file). ``sqlite:///file::memory:?cache=shared&uri=true`` ran a whole study
    and its verdict, exit 0, and the next command found no study (the stores12 probe)."""
    if not _sqlite_uri(query) or not target.startswith("file:"):
        return False
    last = {k: v[-1].strip().lower() for k, v in query.items()}
    return target[5:] in ("", ":memory:") or last.get("mode") == "memory" or last.get("vfs") == "memdb"


#: the largest ``timeout`` a SQLite URL may give: SQLite's busy timeout is a 32-bit count of milliseconds
#: (a larger one, a negative one, inf or nan all became 0: no wait at all for another worker's write)
MAX_SQLITE_TIMEOUT = 2147483


def _sqlite_timeout_problem(query: dict[str, list[str]]) -> str | None:
    """What is wrong with the ``timeout`` of a SQLite URL's query (:func:`_sqlite_query`; seconds a write waits for
    another process's lock), or None. ``timeout=abc`` was "could not convert string to float: 'abc'", naming
    nothing allowed, and a negative, huge or non-finite one was taken and meant no wait at all ("database is
    locked" on the first contended write)."""
    given = query.get("timeout")
    if not given:
        return None
    allowed = (f"allowed: timeout=SECONDS, one number from 0 to {MAX_SQLITE_TIMEOUT} (how long a write waits for "
               "another process's lock on the file; SQLite's default is 5)")  # fmt: skip
    if len(given) > 1:
        return f"timeout is given {len(given)} times ({', '.join(map(repr, given))}); {allowed}"
    try:
        seconds = float(given[0])
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_SQLITE_TIMEOUT:  # (nan fails both comparisons)
        return f"timeout={given[0]!r} is not a number of seconds in range; {allowed}"
    return None


def _check_driver(url: str, scheme: str, fail: Callable[[str], PreflightError]) -> None:
    """The database driver the URL needs is installed (mysql:// failed only when the store was opened)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError

    from search.storage import driver_url

    try:
        make_url(driver_url(url)).get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise fail(f"unknown database driver in {scheme!r}") from None
    except ImportError as exc:
        raise fail(f"its driver is not installed here (no module {exc.name!r}); install it in the environment "
                   "(e.g. pip install pymysql for mysql+pymysql://), or use PostgreSQL, SQLite or a journal file") from None  # fmt: skip
    except Exception:  # noqa: S110 - a URL SQLAlchemy cannot parse: opening it names the problem
        pass


def _check_journal(
    path: Path,
    fail: Callable[[str], PreflightError],
    read_only: bool,
    unwritable: Callable[[str], PreflightError],
) -> None:
    """Refuse a journal path that cannot be used: ``fail`` for a path that is wrong (its message lists the storage
    forms), ``unwritable`` for a right one this process may not write."""
    if not str(path) or str(path) == ".":
        raise fail("an empty journal file path")
    if path.is_dir():
        raise fail("is a directory; give a file path such as DIR/journal.log")
    if (why := broken_link(path)) is not None:
        raise fail(why)
    journal = path.with_name(path.name[:-5]) if path.name.endswith(".lock") and path.name != ".lock" else None
    if journal is not None and journal.is_file():
        # the faults5 probe: a study written to runs/s/journal.log.lock made the next run on runs/s/journal.log
        # wait 30 s for "its" lock and then delete the file, study and all ("took over the journal's lock")
        raise fail(
            f"is the lock file of the journal {journal} (Optuna makes and "
            "deletes it around each write, and deletes one left for 30 s: a study written there would be lost); "
            "give the journal's own path"
        )
    if path.exists():
        if not path.is_file():  # /dev/null, a pipe: Optuna's fsync failed with a traceback
            raise fail(f"is {file_kind(path)}, not a regular file; give a file path such as DIR/journal.log")
        if not os.access(path, os.R_OK):  # (study said "not writable (make report reads ...)": the faults probe)
            raise unwritable("the journal file is not readable")
        if read_only:
            return
        if not os.access(path, os.W_OK):
            raise unwritable(
                "the journal file is not writable (make report reads a finished study from a read-only one)"
            )
        home = path.resolve().parent  # Optuna's lock file is made beside the file (a link's target: storage)
        if not os.access(home, os.W_OK | os.X_OK):
            raise unwritable(f"the directory {home} is not writable (the journal's lock file is made there)")
        return
    if read_only:  # the command reading it says there is no such file
        return
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise fail(f"{parent} is a file, so the journal's directory cannot be created")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise unwritable(f"the directory {parent} is not writable")

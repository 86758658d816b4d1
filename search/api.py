"""From Python (a notebook): ``run_study(study, data)`` runs a study as ``make study`` does, on arrays in memory.

::

    from search.api import run_study

    result = run_study("studies/gru.yaml", data=(X, y, X_test, y_test), storage="runs/mine/journal.log")
    result.best_value, result.best_config, result.verdict["best"]

``study`` is a study file or the same mapping as a dict. ``data`` replaces the study's ``dataset`` with arrays
named as in a ``.npz`` file (:func:`models.data.array_splits`): ``X`` (N x T x C), ``y`` (N labels, as a ``.npz``'s),
optional ``lengths``, and the test split ``X_test``/``y_test`` (/``lengths_test``); as a dict of those names or a
tuple ``(X, y)``, ``(X, y, lengths)``, ``(X, y, X_test, y_test)`` or ``(X, y, lengths, X_test, y_test,
lengths_test)``. Without a test split a stratified 20 % of the sequences (seeded by the study's seed) is held out
as one. The arrays pass the checks a file passes, with the same one-line errors (``data: X has rank 2 ...``);
the study records their content hash, so resuming it with other arrays is refused
(:class:`~search.fingerprint.StudyChangedError`), as an edited data file is.

Errors are raised, not printed: :class:`~search.spec.StudyFileError`, :class:`~search.preflight.PreflightError`,
:class:`~models.data.DataError` (all ``ValueError``, one line) before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from models.data import MEMORY, DataError, array_splits
from search.fingerprint import StudyChangedError, arrays_digest
from search.preflight import PreflightError, Prepared, data_warnings, prepare_spec
from search.recipes import points_note
from search.spec import StudyFileError, StudySpec, load_study, parse_study, read_study

#: the tuple forms of ``data``, by length
TUPLES = {
    2: ("X", "y"),
    3: ("X", "y", "lengths"),
    4: ("X", "y", "X_test", "y_test"),
    6: ("X", "y", "lengths", "X_test", "y_test", "lengths_test"),
}


@dataclass
class Result:
    """What :func:`run_study` returns (``help(Result)`` in a notebook showed only the generated signature).

    - ``study``: the ``optuna.Study`` (its trials, user attributes, ``trials_dataframe()``)
    - ``spec``: the parsed study, data-dependent defaults applied
    - ``storage``: the storage URL it lives in (a password masked)
    - ``counts``: trials by state (``running``, ``complete``, ``pruned``, ``fail``, ``waiting``) and ``finished``
      (complete + pruned)
    - ``best_value``: the chosen complete trial's objective (its mean over folds); None if none completed
    - ``best_config``: that trial's whole configuration
    - ``selection``: how it was chosen (best trial, or the baseline within one standard error); with no complete
      trial, why
    - ``verdict``: the test-split verdict (None with ``verdict=False``): ``verdict["best"]``, ``["baseline"]``,
      ``["nothing"]`` are dicts of test accuracies (``accs`` per seed, ``mean``, ``std``, ``epochs``, ``config``);
      ``["paired"]`` is best - baseline paired over seeds x test sequences (``mean``, ``low``, ``high``, ``p``;
      ``same`` True, and ``low``, ``high``, ``p`` None, when the tuned row is the baseline's own runs)
    """

    study: optuna.Study  # the Optuna study (its trials, user attributes, dataframe)
    spec: StudySpec  # the parsed study, data-dependent defaults applied
    storage: str  # the storage URL it lives in (a password masked)
    counts: dict[str, int]  # trials by state, and "finished" (complete + pruned)
    #: the chosen complete trial's value (mean over its folds; search.verdict.choose: the best trial, or the baseline
    #: trial when it is within one standard error of the best or the best's margin fails on a fresh partition); None
    #: if none completed
    best_value: float | None = None
    best_config: dict[str, Any] = field(default_factory=dict)  # that trial's full configuration
    #: how that trial was chosen (the summary's "chosen as" line); with ``verdict=False`` the runs the choice compares
    #: are not made, and a best not yet confirmed on a fresh partition says so here; with no complete trial, why
    #: (every finished trial pruned or diverged, or every trial failed: the CLI's line)
    selection: str = ""
    verdict: dict[str, Any] | None = None  # the test-split verdict (search.verdict.final_result), if asked for


def _array(value: Any) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU: one that requires grad raised in np.asarray;
    bfloat16 and other types NumPy lacks as float32), in a list of sequences too; pandas objects by their
    ``to_numpy()`` (nullable Float64 as floats); strings held in an object array (a pandas Series of labels) as
    strings."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        tensor = value.detach().cpu()
        try:
            return tensor.numpy()
        except TypeError:  # "Got unsupported ScalarType BFloat16"
            return tensor.float().numpy()
    if isinstance(value, list):
        return [_array(v) for v in value]
    if hasattr(value, "to_numpy") and callable(value.to_numpy):  # a pandas Series / DataFrame
        try:
            value = value.to_numpy(dtype=float)
        except (TypeError, ValueError):
            value = value.to_numpy()
    if (
        isinstance(value, np.ndarray)
        and value.dtype == object
        and value.size
        and all(isinstance(v, str) for v in value.ravel())
    ):
        return value.astype(str)
    return value


def as_arrays(data: Any) -> dict[str, np.ndarray]:
    """``data`` as named arrays: a dict of ``.npz`` names, or one of the :data:`TUPLES` forms."""
    named: Any = data.items() if isinstance(data, dict) else []
    if isinstance(data, (tuple, list)):
        named = zip(TUPLES.get(len(data), range(len(data))), data)
    for key, value in named:  # a path where an array goes was "X has rank 0 (shape ())" (the data probe)
        if isinstance(value, (str, bytes, os.PathLike)):
            raise DataError(f"data: {key!r} is the {type(value).__name__} {str(value)!r}, not an array; a data file "
                            "goes in the study's dataset: field; allowed here: NumPy arrays, or lists of sequences")  # fmt: skip
    if isinstance(data, (str, bytes, os.PathLike)):
        raise DataError(f"data: the {type(data).__name__} {str(data)!r} is not arrays; a data file goes in the "
                        "study's dataset: field (data=None)")  # fmt: skip
    if isinstance(data, dict):
        return {key: _array(_not_long(key, value)) for key, value in data.items() if value is not None}
    if isinstance(data, (tuple, list)) and len(data) in TUPLES:
        return {key: _array(_not_long(key, value)) for key, value in zip(TUPLES[len(data)], data) if value is not None}
    n = len(data) if isinstance(data, (tuple, list)) else None
    what = f"a tuple of {n} arrays" if n is not None else f"a {type(data).__name__}"
    forms = ", ".join("(" + ", ".join(names) + ")" for names in TUPLES.values())
    raise DataError(f"data: {what}; allowed: {forms}, or a dict of those names")


def _not_long(key: str, value: Any) -> Any:
    """``value``, unless it is a DataFrame in long format (a two-level row index, instance then time step: sktime's
    ``pd-multiindex``, tsfresh's and a SQL export's layout), which read as one sequence per row and was refused as
    "y has shape (20,); expected (300,)", naming neither the layout nor the way out (the unseen11 probe)."""
    index: Any = getattr(value, "index", None)
    if key.startswith("X") and hasattr(value, "columns") and getattr(index, "nlevels", 1) == 2:
        names = ", ".join(str(n) for n in index.names)
        raise DataError(f"data: {key} is a DataFrame in long format ({len(value)} rows under a two-level index "
                        f"({names}): one row per time step, sktime's pd-multiindex); expected N x T x C, one row per "
                        f"sequence: pass [g.to_numpy() for _, g in {key}.groupby(level=0, sort=False)], a list of "
                        "T_i x C arrays (lengths recorded) in the order the instances first appear, as y's (without "
                        "sort=False groupby sorts them by name, and y no longer matches)")  # fmt: skip
    return value


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars as the Python numbers they hold, in nested dicts and lists: a notebook's
    ``hidden_size: np.int64(4)`` was refused as "must be an integer >= 1" (np.float64 passed: it is a float)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _storage(storage: Any) -> str | None:
    """The ``storage`` argument as a string: a ``Path`` is a journal file path (it raised ``AttributeError:
    'PosixPath' object has no attribute 'strip'``); anything else but a string is refused in one line."""
    if storage is None:
        return storage
    if isinstance(storage, (str, os.PathLike)):  # (a leading "~" is expanded where the URL is resolved)
        return os.fspath(storage)  # type: ignore[return-value]
    raise PreflightError(
        f"storage={storage!r}: a {type(storage).__name__}; allowed: a journal file path (str or Path) or a database "
        "URL (postgresql://..., sqlite:///..., grpc://...)"
    )


def load_spec(study: dict[str, Any] | str | Path, data: Any = None) -> StudySpec:
    """The study file or mapping, parsed; with ``data`` its ``dataset`` is the in-memory placeholder until the
    arrays are checked."""
    if not isinstance(study, (dict, str, Path)):
        raise StudyFileError(
            f"study: a {type(study).__name__}; allowed: a study file path (str or Path) or a dict of its keys"
        )
    if isinstance(study, dict):
        given: dict[str, Any] = _plain(study)
        name = given.get("name")
        raw = {**given, "dataset": MEMORY} if data is not None else given
        return parse_study(raw, Path(f"<study {name}>" if isinstance(name, str) else "<study>"))
    if data is None:
        return load_study(study)
    path = Path(study)
    raw = read_study(path)
    if not isinstance(raw, dict):
        raise StudyFileError(f"{path}: (top level): must be a mapping of keys")
    return parse_study({**raw, "dataset": MEMORY}, path)


def prepare_study(study: dict[str, Any] | str | Path, data: Any = None, storage: str | None = None) -> Prepared:
    """Every check of ``make study`` (study, arrays or dataset, storage URL), nothing written."""
    return _prepare_study(study, data, storage, stacklevel=3)


def _prepare_study(study: Any, data: Any, storage: Any, stacklevel: int) -> Prepared:
    """:func:`prepare_study`, its data warnings blamed on the caller ``stacklevel`` frames up: through
    ``run_study`` they were blamed on ``search/api.py`` (``p = prepare_study(...)``), not the notebook's line, so a
    filter on the notebook's module missed them while the study's other warnings obeyed it."""
    storage = _storage(storage)
    spec = load_spec(study, data)
    if data is None:
        prepared = prepare_spec(spec, storage, flag="storage")
    else:
        splits = array_splits(as_arrays(data), where="data", seed=spec.seed)
        spec.dataset = f"{MEMORY}:{arrays_digest(splits)[:16]}"
        prepared = prepare_spec(spec, storage, splits, flag="storage")
    for line in data_warnings(prepared):
        warnings.warn(line.removeprefix("note: ").removeprefix("warning: "), UserWarning, stacklevel=stacklevel)
    return prepared


def run_study(
    study: dict[str, Any] | str | Path,
    data: Any = None,
    storage: str | None = None,
    trials: int | None = None,
    verdict: bool = True,
    progress: bool = True,
    allow_change: bool = False,
) -> Result:
    """Run (or resume) ``study`` to ``trials`` finished trials (default: its budget) in this process; then, with
    ``verdict``, retrain the best, the baseline and no regularization and evaluate them on the test split, as
    ``make study`` does. ``data``: arrays (see the module docstring), or None for the study's ``dataset``.
    ``storage``: a URL or journal path (default ``runs/<name>/journal.log``). ``progress=False``: no progress bar
    or per-trial lines. The process's
    random streams, log levels and warning filters are as they were when it returns. ``allow_change``: a study
    whose search was only widened since it ran goes on (the command line's ``--allow-change``)."""
    trials = _plain(trials)
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ValueError(f"trials={trials!r}: must be an integer >= 1")
    flags = {"verdict": _plain(verdict), "progress": _plain(progress), "allow_change": _plain(allow_change)}
    for name, flag in flags.items():
        if not isinstance(flag, bool):  # verdict="no" (truthy) ran the whole verdict
            raise ValueError(f"{name}={flag!r}: a {type(flag).__name__}; allowed: True, False")
    verdict, progress, allow_change = flags["verdict"], flags["progress"], flags["allow_change"]
    with _notebook_state_kept():
        return _run_study(study, data, storage, trials, verdict, progress, allow_change)


def write_report(
    study: dict[str, Any] | str | Path, data: Any = None, storage: str | None = None, out: str | Path | None = None
) -> Path:
    """Write the report of a study :func:`run_study` ran (``index.html``, ``summary.md``, ``report.json`` and the
    figures, as ``make report`` does) into ``out`` (default ``runs/<name>/report``, or ``report-<storage>`` beside
    it for another storage); its folder. The same ``study``, ``data`` and ``storage`` as the run: a study of
    in-memory arrays has no study file ``make report`` could load (the notebook probe, 2026-12-06). Trains only
    what the study's cache lacks (the verdict's rows are reused)."""
    from search.cli import quiet_libraries
    from search.report.build import build, report_target
    from search.report.snapshot import frozen
    from search.storage import load_existing

    with _notebook_state_kept():
        quiet_libraries()
        p = _prepare_study(study, data, storage, stacklevel=4)  # (warnings blamed on write_report's caller)
        s = load_existing(p.url, p.spec.name, p.spec.path)
        outdir = report_target(s, p.spec, p.url, None if out is None else Path(out))
        build(frozen(s), p.spec, outdir, url=p.url)
    return outdir


@contextlib.contextmanager
def _notebook_state_kept() -> Iterator[None]:
    """The process-wide state a study changes, put back after it: the random streams of ``random``, NumPy and
    torch (each fit seeds them: a notebook's later draws repeated the study's seed), Optuna's and Lightning's log
    levels and the warning filters (the study quiets them: a notebook's own INFO logging stayed off) and
    ``PL_GLOBAL_SEED``."""
    import logging
    import random

    import torch

    from search.cli import LIGHTNING_LOGGERS

    levels = {name: logging.getLogger(name).level for name in LIGHTNING_LOGGERS}
    verbosity, seed_env = optuna.logging.get_verbosity(), os.environ.get("PL_GLOBAL_SEED")
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        with warnings.catch_warnings():
            yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        optuna.logging.set_verbosity(verbosity)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if seed_env is None:
            os.environ.pop("PL_GLOBAL_SEED", None)
        else:
            os.environ["PL_GLOBAL_SEED"] = seed_env


def _in_python(exc: StudyChangedError, spec: StudySpec) -> StudyChangedError:
    """A changed study's message in the words of ``run_study``: it told a notebook to use ``--allow-change (make
    study ALLOW_CHANGE=1)``, which ``run_study`` had no way to pass, and a study given as a dict to rename it "in
    <study NAME>"."""
    text = str(exc).replace("--allow-change (make study ALLOW_CHANGE=1)", "allow_change=True")
    if str(spec.path).startswith("<study"):
        text = text.replace(f"give the study a new name: in {spec.path}", "give the study dict a new 'name'")
    return StudyChangedError(text)


def _run_study(
    study: dict[str, Any] | str | Path, data: Any, storage: str | None, trials: int | None, verdict: bool,
    progress: bool, allow_change: bool = False,
) -> Result:  # fmt: skip
    from search.cli import quiet_libraries
    from search.progress import Progress
    from search.storage import mask_url, open_storage, schema_lock
    from search.worker import counts, ensure_study, run_worker, study_total, total_note

    quiet_libraries()
    p = _prepare_study(study, data, storage, stacklevel=4)  # blamed on run_study's caller
    spec, url = p.spec, p.url
    store = open_storage(url)
    try:
        with schema_lock(url):
            s = ensure_study(spec, store, total=trials, allow_change=allow_change, store=mask_url(url))
    except StudyChangedError as exc:
        raise _in_python(exc, spec) from None
    total = study_total(s, spec, trials)
    for note in (total_note(spec, total, trials), points_note(spec, total, s.get_trials(deepcopy=False))):
        if note is not None:
            warnings.warn(note.removeprefix("note: "), UserWarning, stacklevel=3)
    c = counts(s)
    if c["finished"] < total:
        bar = Progress(total, c["finished"], spec.direction, spec.name) if progress else None
        try:
            run_worker(spec, store, total, on_trial=bar.trial if bar else None, on_epoch=bar.epoch if bar else None)
        finally:
            if bar is not None:
                bar.close()
    c = counts(s)
    result = Result(s, spec, mask_url(url), c)  # (a notebook cell that shows it saved the password in clear)
    if c["complete"]:
        from search.verdict import choose

        if verdict:
            from search.interrupts import Interrupted, signals_raise
            from search.verdict import final_result

            with signals_raise():  # Ctrl-C in a refit: Interrupted, not Lightning's SystemExit(1)
                try:
                    result.verdict = final_result(s, spec)  # first: it runs what the selection compares (choose)
                except Interrupted as stop:
                    stop.verdict = True  # it stopped the final retraining, no trial (as the command line says)
                    raise
        chosen = choose(s, spec)
        best = chosen.chosen
        result.best_value, result.best_config = best.value, dict(best.user_attrs.get("config", {}))
        result.selection = chosen.rule
    elif c["finished"] or c.get("fail"):  # nothing complete: why (all pruned, diverged or failed), as the CLI says
        from search.report.data import unreportable

        result.selection = unreportable(s, spec) or ""
    return result

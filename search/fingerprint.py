"""What defines a study's trials, and what an edit of its study file does to them.

``definition(spec)`` is a canonical, JSON-serialisable description of everything that makes two trials
comparable: the dataset (its name or path, and for files a sha256 of their bytes), the architecture, the fixed
values, the metric, ``cv_folds`` (as written; ``None`` = the size rule), ``val_fraction``, the seed,
``budget.max_epochs``, the search space (each dimension's kind, bounds, log, step, off, choices), recipes on/off
and the starting points. Not part of it (safe to change at any time): ``budget.trials``, ``final_seeds``,
``description``, ``introspect``, ``sampler``, ``pruner``, ``pruner_patience``, ``array_size`` (how many trials a
worker trains at once: a member computes what the same trial alone computes).

``digest(definition(spec))`` is its short sha256: the study records both (``regtune:definition``,
``regtune:fingerprint``) when it is created, and other modules key caches on the digest::

    from search.fingerprint import definition, digest
    key = digest(definition(spec))

``changes(old, new)`` classifies an edit, line by line (``diff`` gives just the lines):

- ``SAFE``: nothing that defines the trials changed (more trials, another sampler, ...);
- ``WIDENING``: a range that contains the old one, an ``off`` switch added, a new dimension that contains the
  value the old trials used, starting points or recipes added or removed: the finished trials stay valid points
  of the new space, so the study may go on with ``--allow-change``;
- ``INCOMPATIBLE``: dataset, architecture, fixed values, metric, folds, epochs, seed, val_fraction, a narrowed or
  removed dimension, and any change of a choice list (Optuna refuses a categorical parameter whose choices
  differ from those of the study's earlier trials: every new trial would fail), or of a range's log / step /
  integer kind (also refused by Optuna, or off the old grid). The flag does not override these.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from models.config import inert_names
from models.data import MEMORY
from search.spec import INERT_WITHOUT, Choice, StudySpec, _default

SAFE, WIDENING, INCOMPATIBLE = "safe", "widening", "incompatible"
_RANK = {SAFE: 0, WIDENING: 1, INCOMPATIBLE: 2}
DEFINITION_ATTR = "regtune:definition"
FINGERPRINT_ATTR = "regtune:fingerprint"
HISTORY_ATTR = "regtune:definition_history"  # earlier definitions, each replaced with --allow-change
MAX_LINES = 10  # diff lines in an error message
_ABSENT = object()


class StudyChangedError(ValueError):
    """The study file no longer defines the trials its study already holds; the message says what changed."""


# --------------------------------------------------------------------------------------------- definition
def definition(spec: StudySpec) -> dict[str, Any]:
    """The canonical description of what defines ``spec``'s trials (see the module docstring)."""
    return {
        "dataset": dataset_identity(spec.dataset),
        "architecture": _values(spec.architecture),
        "fixed": _values(spec.fixed),
        "metric": spec.metric,
        "cv_folds": spec.cv_folds,
        "val_fraction": float(spec.val_fraction),
        "seed": spec.seed,
        "max_epochs": spec.max_epochs,
        "search": {name: _dimension(dim) for name, dim in sorted(spec.search.items())},
        "recipes": spec.recipes,
        "starting_points": [point_identity(p) for p in spec.starting_points],
    }


def dataset_identity(source: str) -> dict[str, Any]:
    """``{"source": name or path}``, plus ``"sha256"`` of the bytes of a dataset file (and its test-split
    sibling) where they exist. Shipped and synthetic sets are known by name (the seed is recorded apart)."""
    if source.startswith(f"{MEMORY}:"):  # in-memory arrays (search.api): named by their content hash
        return {"source": MEMORY, "sha256": source.split(":", 1)[1]}
    path = Path(source)
    files: list[Path] = []
    test = None
    if path.suffix == ".npz":
        from models.data import npz_test_file

        test = npz_test_file(path)  # (None: its own X_test, where a NAME_test.npz beside it is not read)
        sibling = path.with_name(path.stem + "_test.npz")
        files = [path] + ([sibling] if sibling == test else [])
    elif path.suffix == ".ts":
        files = (
            [path, path.with_name(path.name[: -len("_TRAIN.ts")] + "_TEST.ts")]
            if path.name.endswith("_TRAIN.ts")
            else [path]
        )
    files = [f for f in files if f.is_file()]
    if not files:
        return {"source": source}
    out = {"source": source, "sha256": _files_sha(files)}
    if test is not None and test not in files:  # NAME_train.npz's test file NAME_test.npz is not the sibling above
        out["test_sha256"] = _file_digest(test).hex()
    return out


def _unread_sibling_sha(source: str) -> str | None:
    """The sha256 a version before 2026-12-05 recorded for an .npz holding its own test split with an unread
    ``NAME_test.npz`` beside it (both files hashed); None where there is no such pair. Such a study, unchanged,
    was refused as "its content changed" once the unread file left the hash."""
    path = Path(source)
    sibling = path.with_name(path.stem + "_test.npz")
    if path.suffix != ".npz" or not (path.is_file() and sibling.is_file()):
        return None
    return _files_sha([path, sibling])


def _files_sha(files: list[Path]) -> str:
    """The sha256 a dataset's files are recorded by: of their own digests, in order."""
    total = hashlib.sha256()
    for f in files:
        total.update(_file_digest(f))
    return total.hexdigest()


def run_scope(spec: StudySpec) -> str:
    """Short sha256 of what a trial's training depends on besides its own configuration: the data by content,
    the folds (or the holdout's share), the seed and the metric. Trial checkpoints live under it
    (:meth:`search.checkpoints.CheckpointStore.scoped`), so two studies of one name on other data never resume
    each other's folds."""
    d = definition(spec)
    return digest({k: d[k] for k in ("dataset", "cv_folds", "val_fraction", "seed", "metric")})


def _is_synthetic(source: str) -> bool:
    from models.data import SYNTHETIC

    return source == SYNTHETIC or source.startswith(SYNTHETIC + ":")


def _same_synthetic(old: str, new: str) -> bool:
    """Both sources are the synthetic task with the same options, in any order, defaults written or not
    (``synthetic:length=6,n=40`` is ``synthetic:n=40,length=6``: a reordered line refused to resume the same data)."""
    from models.data import DataError, synthetic_options

    if not (_is_synthetic(old) and _is_synthetic(new)):
        return False
    try:
        return synthetic_options(old) == synthetic_options(new)
    except DataError:
        return False


#: (resolved path, size, mtime_ns) -> sha256: a worker hashes its dataset for the study's definition and again for
#: its checkpoints' run scope (:func:`run_scope`); a large file was read twice
_DIGESTS: dict[tuple[str, int, int], bytes] = {}


def _file_digest(path: Path) -> bytes:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = _read_digest(path)
    return _DIGESTS[key]


def _read_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def arrays_digest(splits: Any) -> str:
    """sha256 of a dataset given as arrays (a :class:`models.data.Splits`): both splits' values, lengths and
    labels, and the class names. In-memory data is known by it (``memory:<first 16 hex>``), as files are by
    their bytes."""
    h = hashlib.sha256()
    for part in (splits.train, splits.test):
        for a in (part.X, part.lengths, part.y):
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
    h.update(json.dumps(list(splits.classes)).encode())
    return h.hexdigest()


def digest(d: dict[str, Any]) -> str:
    """Short sha256 of a definition. A hashed dataset file counts by its content, not its path (a study run
    from another directory, or a moved file, is the same study). The synthetic task counts as written: ``changes``
    calls two spellings of it the same data, and a re-spelled one (rewritten as a re-wording) recomputes its cached
    verdict once; counting it by its options instead changed the digest of existing studies' spellings."""
    ident = dict(d)
    data = d.get("dataset")
    if isinstance(data, dict) and data.get("sha256"):
        ident["dataset"] = {k: data[k] for k in ("sha256", "test_sha256") if k in data}
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _value(key: str, v: Any) -> Any:
    """A value as the model sees it: an int where the default is a float becomes a float (1 == 1.0)."""
    if isinstance(v, int) and not isinstance(v, bool) and isinstance(_default(key), float):
        return float(v)
    return v


def _values(values: dict[str, Any]) -> dict[str, Any]:
    """Sorted, normalised, values equal to the model's default dropped: ``{cell: lstm}`` and
    ``{cell: lstm, num_layers: 1}`` define the same trials."""
    out = {}
    for key in sorted(values):
        v = _value(key, values[key])
        if v != _default(key) or type(v) is not type(_default(key)):
            out[key] = v
    return out


def point_identity(point: dict[str, Any]) -> dict[str, Any]:
    """A starting point as the definition records it (sorted, values canonical): how an edit finds new ones."""
    return {key: _value(key, point[key]) for key in sorted(point)}


def _dimension(dim: Any) -> dict[str, Any]:
    if isinstance(dim, Choice):
        return {"kind": "choice", "choices": list(dim.choices)}
    num = int if dim.integer else float
    return {
        "kind": "int" if dim.integer else "float", "low": num(dim.low), "high": num(dim.high), "log": dim.log,
        "step": None if dim.step is None else num(dim.step), "off": dim.off,
    }  # fmt: skip


# --------------------------------------------------------------------------------------------- comparing
def diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human lines, one per change: ``budget.max_epochs: 30 -> 40``, ``search.dropout.high: 0.5 -> 0.6``."""
    return [line for _, line in changes(old, new)]


def classify(old: dict[str, Any], new: dict[str, Any]) -> str:
    """SAFE, WIDENING or INCOMPATIBLE: the worst of the changes."""
    return max((kind for kind, _ in changes(old, new)), key=_RANK.__getitem__, default=SAFE)


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, line) for every difference between two definitions. A ``seed`` an older version let a study fix or
    search is left out of ``old``: it never had an effect (the study's own seed won), and such a file is refused
    now, so its study would otherwise be unreadable once the line is removed."""
    old = {k: _without_seed(v) if k in ("architecture", "fixed", "search") else v for k, v in old.items()}
    old = _without_inert(old)
    out: list[tuple[str, str]] = []
    bad = INCOMPATIBLE
    od, nd = old.get("dataset", {}), new.get("dataset", {})
    if od.get("source") != nd.get("source"):
        same = (
            od.get("sha256") and od.get("sha256") in (nd.get("sha256"), _unread_sibling_sha(str(nd.get("source"))))
        ) or _same_synthetic(
            str(od.get("source")), str(nd.get("source"))
        )  # (the sibling's: a study recorded from another directory, with an unread NAME_test.npz hashed in)
        if not same:
            out.append((bad, f"dataset: {od.get('source')} -> {nd.get('source')}"))
    elif od.get("sha256") != nd.get("sha256") and od.get("sha256") != _unread_sibling_sha(str(nd.get("source"))):
        out.append((bad, f"dataset: {nd.get('source')}: {DATA_CHANGED} "
                         f"(sha256 {str(od.get('sha256'))[:12]} -> {str(nd.get('sha256'))[:12]})"))  # fmt: skip
    elif "test_sha256" in od and od.get("test_sha256") != nd.get("test_sha256"):  # (a study recorded before it
        out.append((bad, f"dataset: {nd.get('source')}: {TEST_FILE_CHANGED} "  # was kept records it on resume)
                         f"(sha256 {str(od['test_sha256'])[:12]} -> {str(nd.get('test_sha256'))[:12]})"))  # fmt: skip
    for section in ("architecture", "fixed"):
        o, n = old.get(section, {}), new.get(section, {})
        for key in sorted(set(o) | set(n)):
            if o.get(key, _ABSENT) != n.get(key, _ABSENT):
                if key not in n and key in new.get("search", {}):
                    continue  # reported with its dimension
                out.append((bad, f"{section}.{key}: {_show_setting(key, o)} -> {_show_setting(key, n)}"))
    for key, label in (("metric", "metric"), ("cv_folds", "cv_folds"), ("val_fraction", "val_fraction"),
                       ("seed", "seed"), ("max_epochs", "budget.max_epochs")):  # fmt: skip
        if key == "val_fraction" and all(isinstance(d.get("cv_folds"), int) and d["cv_folds"] > 1 for d in (old, new)):
            continue  # the holdout's share, with folds written in both: no trial used it, none changes
        if old.get(key, _ABSENT) != new.get(key, _ABSENT):
            out.append((bad, f"{label}: {_show_top(key, old)} -> {_show_top(key, new)}"))
    os_, ns = old.get("search", {}), new.get("search", {})
    for name in sorted(set(os_) | set(ns)):
        out += _dimension_changes(name, os_.get(name), ns.get(name), old)
    if old.get("recipes") != new.get("recipes"):
        out.append((WIDENING, f"recipes: {_show(old.get('recipes'))} -> {_show(new.get('recipes'))}"))
    op, np_ = old.get("starting_points", []), new.get("starting_points", [])
    for p in np_:
        if p not in op:
            out.append((WIDENING, f"starting_points: added {_show(p)}"))
    for p in op:
        if p not in np_:
            out.append((WIDENING, f"starting_points: removed {_show(p)}"))
    known = {"dataset", "architecture", "fixed", "metric", "cv_folds", "val_fraction", "seed", "max_epochs",
             "search", "recipes", "starting_points"}  # fmt: skip
    for key in sorted((set(old) | set(new)) - known):  # a definition written by another version
        if old.get(key, _ABSENT) != new.get(key, _ABSENT):
            out.append((bad, f"{key}: {_show_top(key, old)} -> {_show_top(key, new)}"))
    return out


def _without_inert(old: dict[str, Any]) -> dict[str, Any]:
    """``old`` without the settings, written or searched, that acted in none of its trials (``momentum`` with AdamW
    fixed, a one-layer network's ``layer_dropout`` and the ``dropout_variational`` that only it could let act,
    ``bias_l2`` searched under batch norm: :func:`models.config.inert_names`, where nothing that decides it was
    searched). Such a file is refused now, and removing the line used to be refused as an incompatible change:
    the study could be neither resumed nor reported."""
    written = {**old.get("architecture", {}), **old.get("fixed", {})}
    searched = set(old.get("search", {}))
    gone: set[str] = set()
    while True:  # to a fixed point: a name gone acted as its default (layer_dropout 0: dropout_variational idle)
        probe = {k: v for k, v in written.items() if k not in gone}
        probe.update({n: _default(n) for n in searched - gone})
        found = {
            n for n in inert_names(probe) - gone
            if not (searched - gone - {n}) & set(INERT_WITHOUT.get(n, (("conv_layers", "conv_stride", "conv_skip"),))[0])
        }  # fmt: skip
        if not found:
            break
        gone |= found
    if not gone:
        return old
    keep = {s: {k: v for k, v in old.get(s, {}).items() if k not in gone} for s in ("architecture", "fixed", "search")}
    return {**old, **keep}


def _without_seed(section: Any) -> Any:
    return {k: v for k, v in section.items() if k != "seed"} if isinstance(section, dict) else section


def _dimension_changes(
    name: str, o: dict[str, Any] | None, n: dict[str, Any] | None, old: dict[str, Any]
) -> list[tuple[str, str]]:
    where = f"search.{name}"
    if o == n:
        return []
    if o is None:
        assert n is not None
        before = old.get("fixed", {}).get(name, old.get("architecture", {}).get(name, _ABSENT))
        if before is _ABSENT and _contains(n, _default(name)):  # the old trials ran at the default: a point of it
            return [(WIDENING, f"{where}: (not searched: {_show(_default(name))}) -> {_show_dim(n)}")]
        shown = _show(_default(name)) if before is _ABSENT else _show(before)
        return [(INCOMPATIBLE, f"{where}: (not searched: {shown}) -> {_show_dim(n)}")]
    if n is None:
        return [(INCOMPATIBLE, f"{where}: {_show_dim(o)} -> (not searched)")]
    if o["kind"] == "choice" or n["kind"] == "choice" or o["kind"] != n["kind"]:
        note = " (a choice list cannot change in an existing study)" if o["kind"] == n["kind"] == "choice" else ""
        return [(INCOMPATIBLE, f"{where}: {_show_dim(o)} -> {_show_dim(n)}{note}")]
    out = []
    for key in ("low", "high", "log", "step", "off"):
        if o.get(key) != n.get(key):
            out.append(f"{where}.{key}: {_show(o.get(key))} -> {_show(n.get(key))}")
    return [(WIDENING if _widens(o, n) else INCOMPATIBLE, line) for line in out]


def _widens(o: dict[str, Any], n: dict[str, Any]) -> bool:
    """Does range ``n`` contain every point of range ``o`` (same log and step, on the old step's grid)?"""
    if o["log"] != n["log"] or o["step"] != n["step"] or (o["off"] and not n["off"]):
        return False
    if n["low"] > o["low"] or n["high"] < o["high"]:
        return False
    if o["step"]:
        k = (o["low"] - n["low"]) / o["step"]
        return math.isclose(k, round(k), abs_tol=1e-9)
    return True


def _contains(dim: dict[str, Any], value: Any) -> bool:
    if dim["kind"] == "choice":
        return value in dim["choices"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (dim["off"] and value == 0) or dim["low"] <= value <= dim["high"]


# --------------------------------------------------------------------------------------------- showing
def _show(v: Any) -> str:
    if v is _ABSENT:
        return "(absent)"
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_show(x)}" for k, x in v.items()) + "}"
    return str(v)


def _show_setting(key: str, values: dict[str, Any]) -> str:
    # a value at its default is not recorded: written or left out, it reads "lstm (the default)" (it said
    # "(default lstm)" for a cell written as lstm, as if the line had been removed)
    return _show(values[key]) if key in values else f"{_show(_default(key))} (the default)"


def _show_top(key: str, d: dict[str, Any]) -> str:
    if key == "cv_folds" and d.get(key, _ABSENT) is None:
        return "none (by dataset size)"
    return _show(d.get(key, _ABSENT))


def _show_dim(d: dict[str, Any]) -> str:
    if d["kind"] == "choice":
        return _show(d["choices"])
    shown = {"low": d["low"], "high": d["high"]}
    shown.update({k: d[k] for k in ("log", "step", "off") if d.get(k)})
    return _show(shown) + (" (integer)" if d["kind"] == "int" else "")


# --------------------------------------------------------------------------------------------- refusing
#: the change line of a study whose test file alone changed (changed_error says what it does and does not affect)
TEST_FILE_CHANGED = "its test file changed"
#: the change line of a study whose data file's content changed (the same path)
DATA_CHANGED = "its content changed"


def changed_error(
    spec: StudySpec, store: str, found: list[tuple[str, str]], created_from: str | None = None, report: bool = False
) -> StudyChangedError:
    """The short message: what changed (at most :data:`MAX_LINES` lines), then how to go on. ``created_from``:
    the study file that created the study (``regtune:study_file``); when it is another file, the message says so:
    two users' ``studies/lstm.yaml`` of one name were told to "undo the edit" where nobody had edited anything.
    ``report``: the command is a report, which runs no trial (it was told of "new ones": the faults10 probe)."""
    clash = ("the report would retrain its verdict's rows as the file says now, beside trials that ran the stored one"
             if report else "the finished trials would not be comparable with new ones")  # fmt: skip
    other = created_from is not None and not _same_file(created_from, spec.path)
    if other:
        lines = [f"{spec.path} does not match study {spec.name!r} in {store}, which {created_from} created:"]
    else:
        lines = [f"{spec.path} no longer matches study {spec.name!r} in {store}:"]
    lines += [f"  {line}" for _, line in found[:MAX_LINES]]
    if len(found) > MAX_LINES:
        lines.append(f"  ... and {len(found) - MAX_LINES} more")
    fresh = f"give the study a new name: in {spec.path} to start a fresh one (the old one stays in {store})"
    if any(line.startswith(f"dataset: {MEMORY} -> ") for _, line in found):  # nobody edited the file
        lines.append(f"study {spec.name!r} ran on arrays given in memory (search.api.run_study(study, data=...)), "
                     f"which a command cannot load ({spec.path}'s `dataset: {spec.dataset}` is not them): from Python, "
                     f"with the same arrays, write_report({str(spec.path)!r}, data=..., storage=...) writes its report "
                     "and run_study(...) resumes it; or save them as a .npz, name it in `dataset:` and start a study "
                     "of a new name")  # fmt: skip
    elif all(kind != INCOMPATIBLE for kind, _ in found):
        lines.append(f"these edits only widen the search (the finished trials stay valid points of it): continue with "
                     f"--allow-change (make study ALLOW_CHANGE=1), or {fresh}")  # fmt: skip
    elif other:
        lines.append(f"{clash}: if {spec.path} is another study "
                     f"(a copy that kept `name: {spec.name}`), {fresh}; if it is that file edited, undo the edit")  # fmt: skip
    elif names := _rule_changes(spec, found):  # nobody edited anything: the data-dependent rules moved
        lines.append(f"{spec.path} leaves {', '.join(names)} to the data-dependent defaults, and this version of "
                     "regtune chooses them otherwise than the one that created the study (nothing was edited): to "
                     f"resume it, write what the study ran (left of '->' above) into {spec.path} (a list or range "
                     "under search:, a 'not searched' value under fixed:; a front-end setting written there turns "
                     f"the front end's other defaults off, and the next run names those), or {fresh}")  # fmt: skip
    elif all(TEST_FILE_CHANGED in line for _, line in found):  # the trials never read it: their results stand
        lines.append(f"the trials never read the test split, but the study's verdict, recipe rows and stored refits "
                     f"were measured on the old one, and new ones would be measured on another: put the old test "
                     f"file back, or {fresh}")  # fmt: skip
    else:  # (a data file's content changed: "undo the edit" sent the user to a study file nobody had edited)
        data = [line for _, line in found if DATA_CHANGED in line or TEST_FILE_CHANGED in line]
        what = "arrays" if any(line.startswith("dataset: memory:") for line in data) else "data file"  # run_study's
        undo = "undo the edit" if not data else f"put back the {what} the study ran on (its sha256 is above)" + (
            "" if len(data) == len(found) else " and undo the edit")  # fmt: skip
        lines.append(f"{clash}: {undo}, or {fresh}")
    return StudyChangedError("\n".join(lines))


def _rule_changes(spec: StudySpec, found: list[tuple[str, str]]) -> list[str]:
    """The searched names behind ``found`` when every change is to a dimension the study file leaves to the
    data-dependent rules (``spec.defaulted``): a study created by an older version whose rules chose other front-end
    choices was told to "undo the edit"; [] when any change is something else."""
    names = []
    for _, line in found:
        key = line.split(":", 1)[0]
        if not key.startswith("search."):
            return []
        name = key.removeprefix("search.").split(".", 1)[0]
        if name not in spec.defaulted:
            return []
        if name not in names:
            names.append(name)
    return names


def _same_file(recorded: str, path: Path) -> bool:
    """Whether the study file a study recorded (a path relative to where it was created) may be ``path``: the same
    file name (a moved or copied folder, another directory: the same file as far as can be told). Another name is
    another file: a copy made for other data that kept the ``name:``."""
    return Path(recorded).name == path.name


def store_name(storage: Any) -> str:
    """Where a storage object lives, for messages (the CLI passes the masked URL instead)."""
    from search.storage import mask_url

    if getattr(storage, "url", None):
        return mask_url(str(storage.url))
    path = getattr(getattr(storage, "_backend", None), "_file_path", None)
    return str(path) if path else type(storage).__name__

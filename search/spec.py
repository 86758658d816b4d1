"""Study files: parse and validate ``studies/*.yaml`` strictly, before anything touches a storage.

Every error is a :class:`StudyFileError` whose message names the file, the key and the allowed values.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Literal

import yaml

from models.config import (
    ARCHITECTURE_NAMES,
    DEPENDS,
    HYPERPARAMETER_NAMES,
    RATE_NAMES,
    ConfigError,
    RNNConfig,
    configs_for,
    inert_names,
)
from search.samplers import PRUNERS, SAMPLERS

METRICS = ("val_acc", "val_loss")
TOP_KEYS = (
    "name", "description", "dataset", "architecture", "budget", "sampler", "pruner", "pruner_patience", "metric",
    "cv_folds", "val_fraction", "seed", "search", "fixed", "starting_points", "recipes", "final_seeds", "introspect",
    "array_size",
)  # fmt: skip
BUDGET_KEYS = ("trials", "max_epochs")
RANGE_KEYS = ("low", "high", "log", "step", "off")
MAX_STUDY_BYTES = 1_000_000  # the shipped study files are ~2 KB; a larger file is something else (STUDY=/dev/zero)
#: the most steps a float range's grid may have: Optuna's 28-digit decimal arithmetic failed every trial on a grid of
#: 5e299 steps (step 1e-300) and holds up to about 1e27; whole-number ranges never use it
MAX_STEPS = 1e15
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Loader(yaml.SafeLoader):
    """YAML 1.2 where YAML 1.1 surprises: only true/false are booleans (YAML 1.1 reads the key ``off`` as False),
    integers are decimal (YAML 1.1 reads ``hidden_size: 010`` as 8 and ``1:30`` as 90),
    ``1e-6`` is a number (YAML 1.1 wants ``1.0e-6`` and reads ``1e-6`` as a string), and a key given twice in one
    mapping is an error (YAML 1.1 keeps the last silently: a second ``search:`` dropped the first one's ranges)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: merged (and overridden) by super()
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if not isinstance(key, (str, int, float, bool)) and key is not None:  # `{[a]: 1}`: unhashable
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a name, not a {'list' if isinstance(key, list) else 'mapping'} (line {key_node.start_mark.line + 1})"
                )  # fmt: skip
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1}); "
                    "keep one",
                )  # fmt: skip
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_YAML_11 = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")
_Loader.yaml_implicit_resolvers = {  # YAML 1.1's booleans, integers, floats (1:30.5, 1_0.5) and dates: replaced
    first: [(tag, rx) for tag, rx in resolvers if tag not in _YAML_11]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(  # YAML 1.2's integers: 010 is ten (YAML 1.1: octal 8), 1_6 and 1:30 are not numbers
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)


def _int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    return int(text[2:], {"0o": 8, "0x": 16}[text[:2]]) if text[:2] in ("0o", "0x") else int(text)


_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(  # YAML 1.2's floats: 1e-6 and .5e0 too (1.1 wants 1.0e-6), not 1:30.5 or 1_0.5 (1.1's)
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class StudyFileError(ValueError):
    """A study file that cannot be run; the message says file, key and the allowed values."""


@dataclass
class Range:
    low: float
    high: float
    log: bool = False
    step: float | None = None
    off: bool = False  # "off or a range": 0 is one choice, the range the other
    integer: bool = False


@dataclass
class Choice:
    choices: list[Any]


Dimension = Range | Choice


@dataclass
class StudySpec:
    path: Path
    name: str
    dataset: str
    architecture: dict[str, Any]
    trials: int
    max_epochs: int
    #: budget.max_epochs was written in the study file (else search.defaults chooses it from the data)
    epochs_given: bool = True
    sampler: str = "tpe"
    pruner: str = "hyperband"
    pruner_patience: int = 0
    metric: str = "val_acc"
    cv_folds: int | None = None  # None = chosen from the dataset size (see search.folds.default_folds)
    val_fraction: float = 0.2
    seed: int = 0
    search: dict[str, Dimension] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    starting_points: list[dict[str, Any]] = field(default_factory=list)
    recipes: bool = True
    final_seeds: int = 3
    introspect: bool = True  # per-trial weight / gradient / activation statistics and figures
    array_size: int | Literal["auto"] = "auto"  # trials trained at once in one fused model (search/arrays.py)
    description: str = ""
    #: what search.defaults.apply_defaults added or chose, name -> reason ("lr": "searched by default ...")
    defaulted: dict[str, str] = field(default_factory=dict)
    #: searched names whose baseline value the data chose (search.defaults): batch_size, as where it is not searched
    homes: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        return "minimize" if self.metric == "val_loss" else "maximize"

    def base_params(self) -> dict[str, Any]:
        """Architecture + fixed values + the budget's epochs: everything a trial does not search."""
        return {**self.architecture, **self.fixed, "max_epochs": self.max_epochs}


def load_study(path: str | Path) -> StudySpec:
    """The study file at ``path``, parsed and checked (:func:`parse_study`); every problem one StudyFileError."""
    return parse_study(read_study(path), Path(path))  # (the text first: Path("") is ".", "is a directory")


def read_study(path: str | Path) -> Any:
    """The YAML of the study file at ``path`` (YAML 1.2, at most :data:`MAX_STUDY_BYTES`), unchecked; a file that
    cannot be read as one is a one-line StudyFileError."""
    if not str(path).strip():  # make study STUDY= : "error: .: is a directory"
        raise StudyFileError("the study file is empty (STUDY=); allowed: a study file (YAML), e.g. studies/lstm.yaml")
    p = Path(path)
    if p.is_symlink() and not p.exists():  # a loop of links, or a link to a file gone: "no such study file" hid it
        raise StudyFileError(
            f"{p}: is a symbolic link that points to no file (a loop of links, or its target "
            f"{os.readlink(p)} is missing); allowed: a study file (YAML), e.g. studies/lstm.yaml"
        )
    if not p.exists():
        found = sorted(str(s) for s in Path("studies").glob("*.yaml")) if Path("studies").is_dir() else []
        raise StudyFileError(f"{p}: no such study file; available: {', '.join(found) or 'none'}")
    if p.is_dir():
        raise StudyFileError(f"{p}: is a directory; allowed: a study file (YAML), e.g. studies/lstm.yaml")
    if p.suffix in (".npz", ".ts"):  # validate d.npz said "not UTF-8 text (byte 0x9f ...)"
        raise StudyFileError(f"{p}: a data file, not a study file; allowed: a study file (YAML) whose dataset is this "
                             f"file, e.g. the three lines 'name: mine', 'dataset: {p}', 'budget: {{trials: 20}}'")  # fmt: skip
    if p.suffix.lower() in (".npz", ".ts", ".npy", ".csv"):  # (regtune reads .npz and .ts data, in lower case)
        raise StudyFileError(f"{p}: a data file, not a study file; allowed: a study file (YAML) whose dataset is a "
                             ".npz (np.savez('mine.npz', X=X, y=y)) or .ts file, e.g. the three lines 'name: mine', "
                             "'dataset: mine.npz', 'budget: {trials: 20}'")  # fmt: skip
    try:
        with p.open("rb") as f:  # a study file is a page of YAML: STUDY=/dev/zero was read until memory ran out
            head = f.read(MAX_STUDY_BYTES + 1)
        if len(head) > MAX_STUDY_BYTES:
            raise StudyFileError(f"{p}: over {MAX_STUDY_BYTES:,} bytes, not a study file; allowed: a study file "
                                 "(YAML), e.g. studies/lstm.yaml")  # fmt: skip
        raw = yaml.load(head.decode("utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise StudyFileError(f"{p}: not valid YAML: {_yaml_problem(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise StudyFileError(
            f"{p}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); allowed: a YAML file "
            "saved as UTF-8"
        ) from None
    except OSError as exc:
        raise StudyFileError(f"{p}: cannot read the study file: {exc.strerror or exc}") from None
    if _expanded_size(raw) > MAX_STUDY_VALUES:
        raise StudyFileError(f"{p}: holds over {MAX_STUDY_VALUES:,} values (its aliases, *name, expanded), not a study "
                             "file; allowed: a study file (YAML) whose aliases each repeat a range or a mapping")  # fmt: skip
    return raw


#: the most values a study file may hold with its aliases expanded: a 700-byte file of nine aliases nine deep (a YAML
#: "billion laughs") holds 387 million, and validate hung in the error line that printed it
MAX_STUDY_VALUES = 100_000


def _expanded_size(raw: Any) -> int:
    """The count of values in ``raw`` with each alias counted where it repeats (the walk stops past the limit; a
    list that holds itself counts on until it does)."""
    count, stack = 0, [raw]
    while stack and count <= MAX_STUDY_VALUES:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error in one line, placed in the file (its own text said ``in "<unicode string>", line 12, column
    9`` over several lines, with the lines quoted and a caret)."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if not problem or mark is None:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    also = f" ({context} at line {cmark.line + 1}, column {cmark.column + 1})" if context and cmark else ""
    return f"{problem} at {where}{also}"


def parse_study(raw: Any, path: Path) -> StudySpec:
    err = _Errors(path)
    if not isinstance(raw, dict):
        raise err("(top level)", "must be a mapping of keys", TOP_KEYS)
    for key in raw:
        if key not in TOP_KEYS:
            raise err(_key_text(key), _unknown("key", key, TOP_KEYS), TOP_KEYS)
    for key in ("name", "dataset", "budget"):
        if key not in raw:
            raise err(key, "is required", TOP_KEYS)
    name = raw["name"]
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > MAX_NAME:
        shown = name if not isinstance(name, str) or len(name) <= 60 else name[:60] + f"... ({len(name)} characters)"
        # "letters" read as any letter: 'étude-1' and '.hidden' were refused by a rule the message did not give
        # (ASCII only, and a first character that is a letter or digit: the unseen11 probe)
        raise err("name", f"{shown!r} must be a word of ASCII letters, digits, '_', '-', '.', starting with a letter "
                          f"or digit, at most {MAX_NAME} long", None)  # fmt: skip
    dataset = raw["dataset"]
    if not isinstance(dataset, str) or not dataset:
        raise err("dataset", f"{dataset!r} must be a dataset name or a path", None)
    if dataset.startswith("~"):  # a shell expands it; YAML does not ("no such file" for a file in $HOME)
        dataset = os.path.expanduser(dataset)
    if (dataset.endswith((".npz", ".ts")) or "/" in dataset or Path(dataset).suffix) and not Path(
        dataset
    ).is_absolute():
        local = path.parent / dataset  # beside the study file (a .csv there too, so its error says what it is;
        # a path without its suffix beside FILE.npz too, so its error names that file: review10)
        near = local.exists() or any(Path(f"{local}{end}").is_file() for end in (".npz", "_TRAIN.ts"))
        dataset = str(local) if near else dataset

    arch = _mapping(raw.get("architecture", {}), "architecture", err)
    for key in arch:
        if key not in ARCHITECTURE_NAMES:
            raise err(f"architecture.{_key_text(key)}", _unknown("key", key, ARCHITECTURE_NAMES), ARCHITECTURE_NAMES)
    budget = _mapping(raw["budget"], "budget", err)
    for key in budget:
        if key not in BUDGET_KEYS:
            raise err(f"budget.{_key_text(key)}", _unknown("key", key, BUDGET_KEYS), BUDGET_KEYS)
    if "trials" not in budget:  # it said "budget.trials: None must be an integer >= 1"
        raise err("budget.trials", "is required: the study's total of finished trials, an integer >= 1", BUDGET_KEYS)
    trials = _positive_int(budget.get("trials"), "budget.trials", err)
    max_epochs = _positive_int(budget.get("max_epochs", 40), "budget.max_epochs", err)

    sampler = raw.get("sampler", "tpe")
    if not isinstance(sampler, str) or sampler not in SAMPLERS:  # a list or mapping: "unhashable", a traceback
        raise err("sampler", f"unknown sampler {sampler!r}", tuple(SAMPLERS))
    pruner = raw.get("pruner", "hyperband")
    if not isinstance(pruner, str) or pruner not in PRUNERS:
        raise err("pruner", f"unknown pruner {pruner!r}", tuple(PRUNERS))
    metric = raw.get("metric", "val_acc")
    if not isinstance(metric, str) or metric not in METRICS:
        raise err("metric", f"unknown metric {metric!r}", METRICS)
    patience = raw.get("pruner_patience", 0)
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
        raise err("pruner_patience", f"{patience!r} must be an integer >= 0 (0 = no patience wrapper)", None)
    folds = raw.get("cv_folds")
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or not 1 <= folds <= 20):
        raise err("cv_folds", f"{folds!r} must be an integer in 1..20 (1 = one holdout split)", None)
    val_fraction = raw.get("val_fraction", 0.2)
    if not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise err("val_fraction", f"{val_fraction!r} must be in (0, 1)", None)
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:  # numpy's and the samplers'
        raise err("seed", f"{seed!r} must be an integer in 0..{2**32 - 1}", None)
    final_seeds = raw.get("final_seeds", 3)
    if isinstance(final_seeds, bool) or not isinstance(final_seeds, int) or not 1 <= final_seeds <= 20:
        raise err("final_seeds", f"{final_seeds!r} must be an integer in 1..20", None)
    recipes = raw.get("recipes", True)
    if not isinstance(recipes, bool):
        raise err("recipes", f"{recipes!r} must be true or false", None)
    introspect = raw.get("introspect", True)
    if not isinstance(introspect, bool):
        raise err("introspect", f"{introspect!r} must be true or false", None)
    array_size = raw.get("array_size", "auto")
    if array_size != "auto" and (isinstance(array_size, bool) or not isinstance(array_size, int) or array_size < 1):
        raise err("array_size", f"{array_size!r} must be an integer >= 1 (1 = one trial at a time) or auto", None)

    fixed = _mapping(raw.get("fixed", {}), "fixed", err)
    search_raw = _mapping(raw.get("search", {}), "search", err)
    for section, names in (("fixed", fixed), ("search", search_raw)):
        for key in names:
            if key not in HYPERPARAMETER_NAMES:
                allowed = tuple(n for n in HYPERPARAMETER_NAMES if n not in ("max_epochs", "seed"))  # set elsewhere
                raise err(f"{section}.{_key_text(key)}", _unknown("hyperparameter", key, allowed), allowed)
            if key == "max_epochs":
                raise err(f"{section}.{key}", "max_epochs is set by budget.max_epochs", None)
            if key == "seed":  # the study's seed wins: a fixed one was dropped unsaid, a searched one changed nothing
                raise err(f"{section}.{key}", "seed is set by the study's top-level seed (its splits, its sampler, "
                          "every trial's weights); the verdict's rows retrain over final_seeds seeds", None)  # fmt: skip
    description = raw.get("description", "")
    if not isinstance(description, (str, int, float)) or isinstance(description, bool):  # a list was str()-ed
        raise err("description", f"{description!r} must be text (one line, or a YAML block with |)", None)
    sections = (("architecture", arch), ("fixed", fixed), ("search", search_raw))
    both = sorted(set(fixed) & set(search_raw)) + sorted(set(arch) & (set(search_raw) | set(fixed)))
    if both:
        places = [f"{section}.{both[0]}" for section, names in sections if both[0] in names]
        raise err(places[-1], f"is given twice ({' and '.join(places)}): keep one", None)

    spec = StudySpec(
        path=path, name=name, dataset=dataset, architecture=arch, trials=trials, max_epochs=max_epochs,
        epochs_given="max_epochs" in budget, sampler=sampler, pruner=pruner, pruner_patience=patience, metric=metric, cv_folds=folds,
        val_fraction=float(val_fraction), seed=seed, fixed=fixed, recipes=recipes, final_seeds=final_seeds,
        introspect=introspect, array_size=array_size,
        description=str(description),
    )  # fmt: skip
    base = spec.base_params()
    _check_params(base, "fixed", err, arch)
    spec.search = {key: _dimension(key, value, base, err) for key, value in search_raw.items()}
    _check_front_end_names(spec, err)
    _check_inert_names(spec, err)
    _check_decay_rates(spec, err)

    points = raw.get("starting_points") or []  # (every entry commented out: YAML null, none)
    if not isinstance(points, list):
        raise err("starting_points", "must be a list of mappings of searched names to values", None)
    named = set(spec.architecture) | set(spec.fixed)
    for i, point in enumerate(points):
        point = _mapping(point, f"starting_points[{i}]", err)
        if not point:  # it would run the plain off point, or be dropped as the baseline's duplicate, unsaid
            raise err(f"starting_points[{i}]", "is empty; give the searched names it sets", tuple(spec.search))
        for key, value in point.items():
            where = f"starting_points[{i}].{key}"
            if key not in spec.search and (key not in DEFAULT_SEARCHED or key in named):
                why = " (the study fixes it)" if key in named else ""
                defaulted = ", ".join(sorted(DEFAULT_SEARCHED - named))
                raise err(where, f"is not a searched name{why}",
                          (*spec.search, f"and where the data defaults search them: {defaulted}"))  # fmt: skip
            _check_params({**base, key: value}, where, err)
        spec.starting_points.append(point)
    return spec


#: names the data-dependent defaults (:mod:`search.defaults`) may search when a study does not name them: a
#: starting point may set them; whether this dataset searches them is checked once the defaults are applied
DEFAULT_SEARCHED = frozenset(
    {
        "lr",
        "pooling",
        "normalize",
        "conv_layers",
        "conv_stride",
        "conv_kernel",
        "conv_channels",
        "conv_skip",
        "branch_dropout",
    }
)


def check_starting_points(spec: StudySpec) -> None:
    """Once the data-dependent defaults are applied: every name a starting point sets is searched for this
    dataset (a default-searched name is only known to be searched here), at a value inside its dimension."""
    err = _Errors(spec.path)
    for i, point in enumerate(spec.starting_points):
        for key, value in point.items():
            where = f"starting_points[{i}].{key}"
            if key not in spec.search:
                raise err(where, "is not searched for this dataset: the data-dependent defaults did not add it "
                          "(README, \"Study files\"); name it under search, or leave it out", tuple(spec.search))  # fmt: skip
            check_point_value(value, spec.search[key], where, err, earlier=key not in spec.defaulted)


def check_branch_dropout(spec: StudySpec) -> None:
    """Once the data-dependent defaults are applied: ``branch_dropout`` (searched, or written other than 0) needs a
    head that reads the front end beside the RNN (``conv_skip`` on, or searched, in some trial); without one it
    would drop what ``output_dropout`` drops, under another name, and the verdict would call it a regularizer of
    its own."""
    if "conv_skip" in spec.search or spec.base_params().get("conv_skip"):
        return
    err = _Errors(spec.path)
    where = "search" if "branch_dropout" in spec.search else "fixed"
    if where == "search" or spec.fixed.get("branch_dropout"):
        raise err(f"{where}.branch_dropout", "has no effect without conv_skip (the head reads the RNN alone: use "
                  "output_dropout); set conv_skip: true with a Conv1D front end, or search conv_skip", None)  # fmt: skip


#: how to go on when a study made before starting points were checked already ran such a point
EARLIER_POINT = (
    " (if a study of this name, made before this check, already ran it: change the point, then run study once "
    "with --allow-change)"
)


def check_point_value(
    value: Any, dim: Dimension, where: str, err: Callable[..., Exception], earlier: bool = True
) -> None:  # fmt: skip
    """A starting point's value lies in its searched dimension: one of a choice list, inside a range (or 0 on an
    ``off`` range) and on its step grid. Before this check a value outside a range was moved to its nearest end, a
    value off the grid ran as written and a choice not listed was left to the sampler, all silently; ``earlier``:
    the name was searched by the study file itself, so a study made then may hold such a trial (the error says how
    to go on)."""
    if isinstance(dim, Choice):
        same = [c for c in dim.choices if c == value and isinstance(c, bool) == isinstance(value, bool)]
        if not same:  # 1 is not True: the trial would store 1
            raise err(where, f"{value!r} is not one of the searched choices", tuple(map(str, dim.choices)))
        return
    if dim.off and value == 0:
        return
    off = " or 0 (off)" if dim.off else ""
    go_on = EARLIER_POINT if earlier else ""
    if not dim.low <= float(value) <= dim.high:  # (a step divides its range: _dimension, so high is on the grid)
        raise err(where, f"{value!r} is outside the searched range", (f"{dim.low:g}..{dim.high:g}{off}{go_on}",))
    steps = None if dim.step is None else (float(value) - dim.low) / dim.step
    if steps is not None and not math.isclose(steps, round(steps), abs_tol=1e-9):
        grid = f"{dim.low:g}..{dim.high:g} in steps of {dim.step:g}{off}{go_on}"
        raise err(where, f"{value!r} is off the searched grid", (grid,))


#: what shapes a Conv1D front end that some other setting must switch on (conv_layers > 0, or conv_stride > 1)
FRONT_END_SHAPES = ("conv_channels", "conv_kernel", "conv_norm", "conv_skip", "conv_pool")


def _check_front_end_names(spec: StudySpec, err: _Errors) -> None:
    """A front-end setting (searched or written) with no front end in any trial changes nothing, spends a searched
    dimension on nothing, and, naming a front-end field, keeps the long-data default from adding one: an error.
    So is a stride other than 1 where ``conv_layers`` is 0 in every trial (searched ``conv_stride: [2, 4]`` with
    ``conv_layers: 0`` ran one network under two names)."""
    layers, strides = values_of(spec, "conv_layers"), values_of(spec, "conv_stride")
    if any(RNNConfig(conv_layers=int(n), conv_stride=int(s)).conv_blocks > 0 for n in layers for s in strides):
        return  # the network's own rule for whether a front end is built
    # searched, or written as a value (fixed: PLAID with conv_channels: 32 ran no front end, its GRU read 1,344
    # steps, and the verdict's "keeps conv_channels=32" said otherwise)
    for section, values in (("search", spec.search), ("architecture", spec.architecture), ("fixed", spec.fixed)):
        for key in values:
            if key in FRONT_END_SHAPES:
                raise err(
                    f"{section}.{key}",
                    "has no effect without a Conv1D front end (conv_layers is 0 or unset and conv_stride is 1 in "
                    "every trial); set conv_layers or conv_stride in architecture or fixed, or search one of them",
                    None,
                )
            if key == "conv_stride" and set(strides) != {1}:
                raise err(
                    f"{section}.{key}",
                    "has no effect without a Conv1D front end (conv_layers is 0 in every trial); set conv_layers to "
                    "1 or more, or leave it unset (one block when the stride is above 1); or remove the line "
                    f"({RESUMES_WITHOUT})",
                    None,
                )


def values_of(spec: StudySpec, key: str) -> list[Any]:
    """The values ``key`` takes over the study's trials: its dimension's choices or ends, else its fixed value."""
    dim = spec.search.get(key)
    if isinstance(dim, Choice):
        return list(dim.choices)
    if isinstance(dim, Range):
        return [dim.low, dim.high] + ([0] if dim.off else [])
    return [spec.base_params().get(key, _default(key))]


#: said with a written setting refused for acting in no trial: removing it changes no trial (search.fingerprint)
RESUMES_WITHOUT = "a study that ran with it resumes without it"


def _modifier(name: str) -> tuple[tuple[str, ...], str]:
    """The regularizers a setting that only shapes them (models.config.DEPENDS: the variational masks, the
    recurrent-dropout mode) acts through, and what to do when none is on. (A layer_dropout of one layer, which
    would let dropout_variational look active, is refused first.)"""
    regs = tuple(r for r, deps in DEPENDS.items() if name in deps)
    return regs, f"search or set {' or '.join(regs)} too"


#: names that change nothing unless other settings let them act (models.config.inert_names is the rule): name ->
#: (the settings that decide, what to do)
INERT_WITHOUT: dict[str, tuple[tuple[str, ...], str]] = {
    "layer_dropout": (("num_layers",), "it drops between stacked layers: set num_layers >= 2, or use dropout / "
                      "output_dropout"),
    **{name: _modifier(name) for name in ("dropout_variational", "recurrent_dropout_mode")},
    "momentum": (("optimizer",), "momentum is SGD's and RMSprop's: search or set optimizer sgd / rmsprop"),
}  # fmt: skip


def _section(spec: StudySpec, name: str) -> str | None:
    """The study file's section that names ``name`` (search, architecture or fixed), or None."""
    sections = [("search", spec.search), ("architecture", spec.architecture), ("fixed", spec.fixed)]
    return next((sec for sec, values in sections if name in values), None)


def _check_inert_names(spec: StudySpec, err: _Errors) -> None:
    """A name that no trial lets act, searched or written, spends a dimension on nothing, or is shown as kept by
    the baseline: layer_dropout 0.27 "chosen" for a one-layer network that ran bit-identical to one without it;
    the "nothing at all" row said it also turned off a layer_dropout that never acted. A written value at its default is left alone."""
    for name, (settings, how) in INERT_WITHOUT.items():
        section = _section(spec, name)
        if section is None or (section != "search" and spec.base_params()[name] == _default(name)):
            continue
        values = {setting: sorted(set(values_of(spec, setting)), key=str) for setting in settings}
        own = values_of(spec, name)[-1]
        if all(name in inert_names({**dict(zip(values, combo)), name: own}) for combo in product(*values.values())):
            shown = " and ".join(f"{k} {vs[0] if len(vs) == 1 else repr(vs)}" for k, vs in values.items())
            gone = "" if section == "search" else f"; or remove the line ({RESUMES_WITHOUT})"
            raise err(f"{section}.{name}", f"has no effect with {shown} in every trial; {how}{gone}", None)


#: the decoupled decays: each step multiplies their weights by 1 - lr * decay (models.regularizers.decoupled_decay)
DECOUPLED_DECAYS = ("kernel_decay", "recurrent_decay", "head_decay")


def _check_decay_rates(spec: StudySpec, err: _Errors) -> None:
    """A decoupled decay whose largest value times the largest lr reaches 1 flips the weights' sign each step and,
    above 2, grows them: kernel_decay 1e5 with lr 0.01 multiplied them by -999 a step (a kernel norm of 1e9 after
    3 steps, in a trial that "completed")."""
    top_lr = max(float(v) for v in values_of(spec, "lr"))
    for name in DECOUPLED_DECAYS:
        top = max(float(v) for v in values_of(spec, name))
        if top * top_lr >= 1.0:
            raise err(
                f"{_section(spec, name) or 'fixed'}.{name}",
                f"reaches {top:g} with lr up to {top_lr:g}: each step multiplies the weights by 1 - lr x decay = "
                f"{1.0 - top * top_lr:.3g}, which flips their sign (and above 2 grows them); keep lr x decay below 1 "
                "(typical decays: 1e-5..1, the shipped studies' range)",
                None,
            )


def _dimension(key: str, value: Any, base: dict[str, Any], err: _Errors) -> Dimension:
    where = f"search.{key}"
    if isinstance(value, list):
        if not value:
            raise err(
                where, "an empty list of choices: write two or more values, or a range {low: ..., high: ...}", None
            )
        if len(value) == 1:  # a dimension with one value: every trial runs it, and the baseline too
            raise err(where, f"one choice ({value[0]!r}) searches nothing; put it under fixed, or add choices", None)
        seen: list[tuple[bool, Any]] = []
        for choice in value:  # 0 and 0.0 are one value (True and 1 are not): the sampler drew it twice as often
            if (isinstance(choice, bool), choice) in seen:
                raise err(where, f"{choice!r} is listed twice in {value!r}; list each choice once", None)
            seen.append((isinstance(choice, bool), choice))
            _check_params({**base, key: choice}, where, err)
        return Choice(list(value))
    if not isinstance(value, dict):
        raise err(where, f"{value!r} must be a list of choices or a range", RANGE_KEYS)
    for k in value:
        if k not in RANGE_KEYS:
            raise err(f"{where}.{_key_text(k)}", _unknown("range key", k, RANGE_KEYS), RANGE_KEYS)
    if "low" not in value or "high" not in value:
        raise err(where, "a range needs low and high", RANGE_KEYS)
    low, high = value["low"], value["high"]
    for k, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise err(f"{where}.{k}", f"{v!r} must be a finite number", None)
    step = value.get("step")  # (checked before a whole number's bounds: `step: .inf` was "not a whole number")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step)
                             or step <= 0):  # fmt: skip
        raise err(f"{where}.step", f"{step!r} must be a finite number > 0", None)
    integer = isinstance(_default(key), int)
    if integer:  # a whole number: 1e9 or 128.0 (YAML floats) mean it; 8.5 names its bound
        for k, v in (("low", low), ("high", high), ("step", step)):
            if isinstance(v, float) and not v.is_integer():
                raise err(f"{where}.{k}", f"{v!r}: {key} is a whole number", None)
        low, high = int(low), int(high)
    if low > high:
        raise err(where, f"low={low} > high={high}: low must be at most high (swap them)", None)
    for k in ("log", "off"):  # `log: no` is the string "no" in YAML 1.2, and bool("no") is True
        if not isinstance(value.get(k, False), bool):
            raise err(f"{where}.{k}", f"{value[k]!r} is not a boolean", ("true", "false"))
    log, off = value.get("log", False), value.get("off", False)
    if low == high and not off:  # (with off: true it searches that value against off)
        raise err(where, f"low = high = {low} searches nothing; put it under fixed, or widen it (or add off: true)",
                  None)  # fmt: skip
    if log and low <= 0:
        raise err(f"{where}.low", f"a log range must stay above 0 (low={low}); use off: true to allow 0", None)
    if key in RATE_NAMES and high >= 1:
        raise err(f"{where}.high", f"{key} is a rate: the range must stay below 1 (high={high})", None)
    if log and step is not None:
        raise err(f"{where}.step", "log and step cannot be combined", None)
    if step is not None and low < high:  # Optuna cuts the range at the last whole step, without a word
        steps = (high - low) / step
        if not integer and steps > MAX_STEPS:  # Optuna's decimal arithmetic fails on finer grids, in every trial
            raise err(f"{where}.step", f"{step:g} cuts {low:g}..{high:g} into {steps:.3g} steps (at most {MAX_STEPS:.0e})",
                      (f"a step >= {(high - low) / MAX_STEPS:g}", "no step: a continuous range"))  # fmt: skip
        if round(steps) < 1 or not math.isclose(steps, round(steps), rel_tol=1e-9, abs_tol=1e-9):
            last = low + math.floor(steps + 1e-9) * step
            what = f"searches {low:g} alone" if last == low else f"would search {low:g}..{last:g}, never {high:g}"
            raise err(f"{where}.step", f"{step:g} does not divide {low:g}..{high:g} (it {what})",
                      (f"a step that divides high - low = {high - low:g}",) + ((f"high: {last:g}",) if last > low else ()))  # fmt: skip
    for v in (low, high) + ((0,) if off else ()):
        _check_params({**base, key: int(v) if integer else float(v)}, where, err)
    return Range(float(low), float(high), log, None if step is None else float(step), off, integer)


def _default(key: str) -> Any:
    from models.config import RNNConfig, TrainConfig

    for cls in (RNNConfig, TrainConfig):
        if key in cls.__dataclass_fields__:
            return cls.__dataclass_fields__[key].default
    return None


def _check_params(params: dict[str, Any], where: str, err: _Errors, arch: dict[str, Any] | None = None) -> None:
    """``params`` make a valid configuration, else the error names ``where`` (``architecture`` instead when the
    bad value is one of ``arch``'s: ``architecture: {hidden_size: 0}`` was blamed on ``fixed``)."""
    try:
        configs_for(params)
    except ConfigError as exc:
        name = str(exc).split("=", 1)[0]
        raise err("architecture" if arch and name in arch else where, str(exc), None) from None
    except TypeError as exc:
        raise err(where, f"bad value type: {exc}", None) from None


def _mapping(value: Any, where: str, err: _Errors) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise err(where, f"{value!r} must be a mapping", None)
    return value


def _positive_int(value: Any, where: str, err: _Errors) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise err(where, f"{value!r} must be an integer >= 1", None)
    return value


MAX_NAME = 200  # runs/<name>/journal.log must stay a legal path (255 bytes a name: OSError "File name too long")


def _key_text(key: Any) -> str:
    """A key as the file wrote it: ``~`` (YAML's null) was shown as ``None``, ``1`` and ``true`` as names."""
    if key is None:
        return "~ (a null key)"
    kind = type(key).__name__
    return key if isinstance(key, str) else f"{key!r} ({'an' if kind[0] in 'aeiou' else 'a'} {kind}, not a name)"


def _unknown(what: str, name: Any, allowed: tuple[str, ...]) -> str:
    """``unknown key``, with the allowed name it is nearest to when there is one (``droput``: dropout)."""
    import difflib

    near = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.75)
    return f"unknown {what}" + (f" (did you mean {near[0]!r}?)" if near else "")


class _Errors:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, key: str, problem: str, allowed: tuple[str, ...] | None) -> StudyFileError:
        msg = f"{self.path}: {key}: {problem}"
        if allowed is not None:
            msg += f"; allowed: {', '.join(allowed)}"
        return StudyFileError(msg)

"""Config validation: every bad value is a ConfigError naming the field and what is allowed."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

import models
from models.config import (
    AMOUNT,
    ARCHITECTURE_NAMES,
    AUGMENTATION_NAMES,
    DATA_NAMES,
    DEPENDS,
    HYPERPARAMETER_NAMES,
    RATE,
    RATE_NAMES,
    REGULARIZER_NAMES,
    ConfigError,
    RNNConfig,
    TrainConfig,
    as_dict,
    configs_for,
    split_params,
)

BAD = [
    ({"cell": "transformer"}, r"cell='transformer': allowed values are lstm, gru, rnn"),
    ({"cell": "LSTM"}, r"cell='LSTM': allowed values are lstm, gru, rnn"),
    ({"norm": "group"}, r"norm='group': allowed values are none, batch, layer"),
    ({"norm": None}, r"norm=None: allowed values are none, batch, layer"),
    ({"pooling": "attention"}, r"pooling='attention': allowed values are last, mean, max"),
    ({"path": "cudnn"}, r"path='cudnn': allowed values are auto, fused, loop"),
    ({"recurrent_dropout_mode": "step"}, r"recurrent_dropout_mode='step': allowed values are sequence, batch"),
    ({"optimizer": "lamb"}, r"optimizer='lamb': allowed values are adam, adamw, sgd, rmsprop"),
    ({"kernel_decay": -0.1}, r"kernel_decay=-0.1: must be a finite number >= 0"),
    ({"recurrent_decay": -1}, r"recurrent_decay=-1: must be a finite number >= 0"),
    ({"head_decay": float("nan")}, r"head_decay=nan: must be a finite number >= 0"),
    ({"kernel_l2": -1e-4}, r"kernel_l2=-0.0001: must be a finite number >= 0"),
    ({"clip_norm": float("inf")}, r"clip_norm=inf: must be a finite number >= 0"),
    ({"ar": "high"}, r"ar='high': must be a finite number >= 0"),
    ({"dropout": 1.0}, r"dropout=1.0: must be in \[0, 1\)"),
    ({"dropout": 1.5}, r"dropout=1.5: must be in \[0, 1\)"),
    ({"dropout": -0.1}, r"dropout=-0.1: must be a finite number >= 0"),
    ({"recurrent_dropout": 1}, r"recurrent_dropout=1: must be in \[0, 1\)"),
    ({"weight_drop": 2.0}, r"weight_drop=2.0: must be in \[0, 1\)"),
    ({"layer_dropout": 1.0}, r"layer_dropout=1.0: must be in \[0, 1\)"),
    ({"output_dropout": -0.5}, r"output_dropout=-0.5: must be a finite number >= 0"),
    ({"zoneout": 1.0}, r"zoneout=1.0: must be in \[0, 1\)"),
    ({"label_smoothing": 1.0}, r"label_smoothing=1.0: must be in \[0, 1\)"),
    ({"input_noise": -1.0}, r"input_noise=-1.0: must be a finite number >= 0"),
    ({"hidden_size": 0}, r"hidden_size=0: must be an integer >= 1"),
    # the front end's sizes: 10^30 blocks hung the study after it was created, a 10^30 stride or kernel failed each
    # trial with a 60-frame C++ stack in its "one line"
    ({"conv_layers": 10**30}, r"conv_layers=1000000000000000000000000000000: must be an integer in -1..256"),
    ({"conv_stride": 10**30}, r"conv_stride=1000000000000000000000000000000: must be an integer in 1..65536"),
    ({"conv_kernel": 10**6}, r"conv_kernel=1000000: must be an integer in 0..65536"),
    ({"hidden_size": 10**9}, r"hidden_size=1000000000: must be an integer in 1..65536"),  # overflowed, after
    ({"num_layers": 10**6}, r"num_layers=1000000: must be an integer in 1..256"),  # hung: after the study's creation
    ({"bidirectional": "no"}, r"bidirectional='no': allowed values are true, false"),  # YAML 1.2's "no": truthy
    ({"dropout_variational": "off"}, r"dropout_variational='off': allowed values are true, false"),
    ({"hidden_size": 32.0}, r"hidden_size=32.0: must be an integer >= 1"),
    ({"num_layers": True}, r"num_layers=True: must be an integer >= 1"),
    ({"conv_stride": 0}, r"conv_stride=0: must be an integer >= 1"),
    ({"batch_size": 0}, r"batch_size=0: must be an integer >= 1"),
    ({"patience": -1}, r"patience=-1: must be an integer >= 0"),
    ({"lr": 0}, r"lr=0: must be a finite number > 0"),
    ({"lr": -1e-3}, r"lr=-0.001: must be a finite number > 0"),
    ({"momentum": 1.0}, r"momentum=1.0: must be in \[0, 1\)"),
    ({"zoneout": 0.1, "path": "fused"}, r"path='fused' is impossible with .*zoneout=0.1"),
    ({"recurrent_dropout": 0.1, "path": "fused"}, r"allowed: path in \('auto', 'loop'\) or recurrent_dropout_mode"),
    ({"kernel_dropout": 0.1}, r"unknown hyperparameter\(s\) \['kernel_dropout'\]; allowed: .*kernel_l1"),
    ({"input_size": 3}, r"unknown hyperparameter\(s\) \['input_size'\]"),  # set by the data, never the user
]


@pytest.mark.parametrize(("params", "message"), BAD, ids=[str(p) for p, _ in BAD])
def test_bad_value_is_a_clear_config_error(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        split_params(params, input_size=3, num_classes=4)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ConfigError, match="num_classes=1: a classifier needs at least 2 classes"):
        RNNConfig(num_classes=1)


def test_split_params_routes_each_name() -> None:
    rnn, train = split_params({"cell": "gru", "hidden_size": 8, "kernel_l2": 1e-3, "weight_drop": 0.2, "lr": 0.01},
                              input_size=5, num_classes=3)  # fmt: skip
    assert (rnn.cell, rnn.hidden_size, rnn.weight_drop, rnn.input_size, rnn.num_classes) == ("gru", 8, 0.2, 5, 3)
    assert (train.kernel_l2, train.lr) == (1e-3, 0.01)
    assert set(as_dict(rnn, train)) == set(HYPERPARAMETER_NAMES) | {"input_size", "num_classes"}


def test_every_regularizer_is_a_hyperparameter_and_off_by_default() -> None:
    assert set(REGULARIZER_NAMES) <= set(HYPERPARAMETER_NAMES)
    defaults = as_dict(RNNConfig(), TrainConfig())
    for name in REGULARIZER_NAMES:
        if name == "optimizer":
            continue
        assert defaults[name] in (0, 0.0, "none"), name
    # the names of the issue, exactly (study files use them)
    assert set(REGULARIZER_NAMES) == {
        "kernel_l1", "kernel_l2", "recurrent_l1", "recurrent_l2", "bias_l1", "bias_l2", "head_l1", "head_l2",
        "activity_l1", "activity_l2", "ar", "tar", "optimizer", "kernel_decay", "recurrent_decay", "head_decay",
        "dropout", "recurrent_dropout", "weight_drop", "layer_dropout", "output_dropout", "zoneout", "norm",
        "kernel_max_norm", "recurrent_max_norm", "bias_max_norm", "head_max_norm", "clip_norm", "clip_value",
        "input_noise", "label_smoothing",
        # time-series augmentation and weight averaging (issue 10)
        "scaling", "magnitude_warp", "time_warp", "window_slice", "mixup", "cutmix", "ema_decay", "swa_start",
        # the RNN's side of an LSTM-FCN head (conv_skip): LSTM-FCN's dropout after the LSTM
        "branch_dropout",
    }  # fmt: skip


def test_models_never_imports_optuna() -> None:
    root = Path(models.__file__).parent
    for source in root.rglob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(import|from)\s+optuna", text, re.M), source


@pytest.mark.parametrize("package", ["models", "search"])
def test_the_packages_re_exports_resolve(package: str) -> None:
    """Both packages import their re-exports on first use (PEP 562): every name in ``__all__`` is there."""
    import importlib

    module = importlib.import_module(package)
    assert module.__all__ and all(getattr(module, name) is not None for name in module.__all__)
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


def test_the_command_line_and_a_study_file_load_without_torch() -> None:
    """``make proxy`` / ``make repair`` train nothing: the command line, the study file and the
    errors it catches import neither torch nor Lightning (3 s of start-up saved per process); nor do the checks
    before a study is opened (a shipped dataset loaded and checked: ``validate``, a refused study file or dataset)."""
    import subprocess
    import sys

    code = (
        "import sys, search.cli, search.spec, search.storage, search.journal, search.processes, models.errors; "
        "search.processes.alive(1, ''); "  # (a repair asks which workers of this machine still run)
        "search.spec.load_study('studies/smoke.yaml'); import search.preflight; search.preflight.prepare("
        "'studies/lstm.yaml', 'none.log'); "
        "print(sorted(m for m in ('torch', 'pytorch_lightning', 'search.objective') if m in sys.modules))"
    )
    root = Path(models.__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    # a study refused before its store is opened (a typo in the file name) answers without them: 0.3 s, not 5 s
    code = ("import sys, search.cli; code = search.cli.main(['study', 'studies/nope.yaml']); "
            "print(code, sorted(m for m in ('torch', 'pytorch_lightning') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 []" and "nope.yaml: no such study file" in out.stderr, out.stdout + out.stderr


# ----------------------------------------------------------------------------------------- one source: field metadata
def test_name_lists_are_derived_from_the_field_metadata() -> None:
    """What the study files, recipes and augmentation read, as they were written out by hand before (issue 12)."""
    assert ARCHITECTURE_NAMES == (
        "cell", "hidden_size", "num_layers", "bidirectional", "pooling", "conv_stride", "conv_channels", "conv_layers",
        "conv_kernel", "conv_norm", "conv_skip", "conv_pool",
    )  # fmt: skip
    assert DATA_NAMES == ("input_size", "num_classes")
    assert set(RATE_NAMES) == {
        "dropout", "recurrent_dropout", "weight_drop", "layer_dropout", "output_dropout", "zoneout", "label_smoothing",
        "momentum", "window_slice", "ema_decay", "swa_start", "branch_dropout",
    }  # fmt: skip
    assert AUGMENTATION_NAMES == ("scaling", "magnitude_warp", "time_warp", "window_slice", "mixup", "cutmix")
    assert DEPENDS == {
        "dropout": ("dropout_variational",), "layer_dropout": ("dropout_variational",),
        "recurrent_dropout": ("recurrent_dropout_mode",), "weight_drop": ("optimizer",),
        "kernel_decay": ("optimizer",), "recurrent_decay": ("optimizer",), "head_decay": ("optimizer",),
        "branch_dropout": ("conv_skip",),
    }  # fmt: skip


FIELDS = [(cls, f) for cls in (RNNConfig, TrainConfig) for f in dataclasses.fields(cls)]


@pytest.mark.parametrize(("cls", "f"), FIELDS, ids=[f.name for _, f in FIELDS])
def test_every_field_is_validated_by_its_kind(cls: type, f: dataclasses.Field[Any]) -> None:
    """Each number field refuses what its metadata kind excludes, with the one-line message naming it."""
    kind = f.metadata["kind"]
    if kind in (RATE, AMOUNT):
        with pytest.raises(ConfigError, match=rf"^{f.name}=-0.5: must be a finite number >= 0"):
            cls(**{f.name: -0.5})
    if kind == RATE:
        with pytest.raises(ConfigError, match=rf"^{f.name}=1.0: must be in \[0, 1\)"):
            cls(**{f.name: 1.0})
    if kind == "integer":
        low = f.metadata["minimum"]
        with pytest.raises(ConfigError, match=rf"^{f.name}={low - 1}: must be an integer >= {low}"):
            cls(**{f.name: low - 1})
    if kind == "choice":
        with pytest.raises(
            ConfigError, match=rf"^{f.name}='nope': allowed values are {', '.join(f.metadata['choices'])}"
        ):
            cls(**{f.name: "nope"})
    assert (f.name in REGULARIZER_NAMES) == (f.metadata["role"] == "regularizer")


def test_configs_are_frozen_and_configs_for_sets_data_and_seed() -> None:
    train = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        train.seed = 3  # type: ignore[misc]
    rnn, train = configs_for({"hidden_size": 8, "seed": 1, "kernel_decay": 1e-3})
    assert (rnn.input_size, rnn.num_classes, train.seed) == (1, 2, 1)
    _, train = configs_for({"seed": 1}, seed=7)  # the study's seed wins over one in the values
    assert train.seed == 7
    with pytest.raises(ConfigError, match="dropout=1.0"):
        configs_for({"dropout": 1.0}, seed=7)


def test_weight_roles_read_their_fields() -> None:
    train = TrainConfig(kernel_l1=1.0, head_l2=2.0, recurrent_decay=3.0, bias_max_norm=4.0)
    assert train.penalties == {"kernel": (1.0, 0.0), "recurrent": (0.0, 0.0), "bias": (0.0, 0.0), "head": (0.0, 2.0)}
    assert train.decays == {"kernel": 0.0, "recurrent": 3.0, "head": 0.0}
    assert train.max_norms == {"kernel": 0.0, "recurrent": 0.0, "bias": 4.0, "head": 0.0}


def test_defaults_is_a_fresh_copy_each_call() -> None:
    """Built once (the selection compared every trial's configuration through it, five calls each): a caller
    that changes its dict must not change the next caller's."""
    from models.config import RNNConfig, TrainConfig, as_dict, defaults

    first = defaults()
    assert first == as_dict(RNNConfig(), TrainConfig())
    first["dropout"] = 0.5
    assert defaults()["dropout"] == RNNConfig().dropout and defaults() is not defaults()

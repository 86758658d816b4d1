"""Trial arrays (models/array): member k of an array computes, by value, what the same trial alone computes.

Each row of :data:`ROWS` builds 2-3 configurations (one with the setting on, the others differing in rates,
seeds or lr), trains them as one array with :func:`models.array.fit_array` and each alone with
:func:`models.train.fit` (same seed, same fold), and compares per epoch: validation accuracy equal, validation
and training losses close, the best epoch's weights close. Single trials run on the fused path (nn.LSTM /
GRU / RNN) unless the row forces or needs the loop. Then: stopping, early stopping, divergence, resume.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from models.array import array_key, fit_array, max_members, unsupported
from models.array.streams import initial_member
from models.config import RNNConfig, TrainConfig
from models.datamodule import SequenceDataModule
from models.train import fit

EPOCHS = 3
HIDDEN = 16
RTOL = 1e-4


@pytest.fixture(scope="module")
def data() -> SequenceDataModule:
    # JapaneseVowels (shipped in sktime): 216 training / 54 validation sequences of 7-29 steps, so every
    # training batch is padded; batches of 32
    return SequenceDataModule("JapaneseVowels", batch_size=32, val_fraction=0.2, seed=0)


def configs(data: SequenceDataModule, rnn: dict[str, Any], train: dict[str, Any]) -> tuple[RNNConfig, TrainConfig]:
    shape = {"input_size": data.input_size, "num_classes": data.num_classes, "hidden_size": HIDDEN}
    return RNNConfig(**{**shape, **rnn}), TrainConfig(**{"max_epochs": EPOCHS, **train})


#: (id, [(rnn overrides, train overrides) per member]): the first member has the setting on
ROWS: list[tuple[str, list[tuple[dict[str, Any], dict[str, Any]]]]] = [
    ("plain", [({}, {}), ({}, {"lr": 1e-2}), ({}, {"seed": 5})]),
    ("one_member_fused", [({"dropout": 0.1, "weight_drop": 0.2}, {"clip_norm": 1.0})]),  # K=1: today's fused path
    ("one_member_loop", [({"recurrent_dropout": 0.2, "cell": "gru"}, {"kernel_l2": 1e-3})]),  # K=1: today's loop
    ("gru", [({"cell": "gru"}, {}), ({"cell": "gru"}, {"lr": 1e-2})]),
    ("rnn", [({"cell": "rnn"}, {"clip_norm": 1.0}), ({"cell": "rnn"}, {"lr": 1e-2})]),
    ("two_layers", [({"num_layers": 2, "layer_dropout": 0.2}, {}), ({"num_layers": 2}, {"lr": 1e-2})]),
    ("bidirectional", [({"bidirectional": True, "pooling": "mean"}, {}), ({"bidirectional": True, "pooling": "mean"}, {"lr": 1e-2})]),
    ("bidirectional_last", [({"bidirectional": True, "recurrent_dropout": 0.2}, {}), ({"bidirectional": True}, {})]),
    ("max_pooling", [({"pooling": "max", "dropout": 0.1}, {}), ({"pooling": "max"}, {"lr": 1e-2})]),
    ("kernel_recurrent_l2", [({}, {"kernel_l2": 1e-3, "recurrent_l2": 1e-2}), ({}, {"kernel_l2": 1e-4}), ({}, {})]),
    ("l1_bias_head", [({}, {"kernel_l1": 1e-4, "recurrent_l1": 1e-4, "bias_l1": 1e-3, "bias_l2": 1e-3, "head_l1": 1e-3, "head_l2": 1e-2}), ({}, {})]),
    ("adamw_decays", [({}, {"kernel_decay": 1e-2, "recurrent_decay": 1e-1, "head_decay": 1e-2}), ({}, {"recurrent_decay": 1e-3, "lr": 1e-2})]),
    ("adam_coupled_decays", [({}, {"optimizer": "adam", "kernel_decay": 1e-2, "recurrent_decay": 1e-1}), ({}, {"kernel_decay": 1e-2})]),
    ("dropout", [({"dropout": 0.2}, {}), ({"dropout": 0.3, "dropout_variational": True}, {"seed": 4}), ({}, {})]),
    ("recurrent_dropout_sequence_loop", [({"recurrent_dropout": 0.25}, {}), ({"recurrent_dropout": 0.1}, {"seed": 2}), ({}, {})]),
    ("recurrent_dropout_batch_fused", [({"recurrent_dropout": 0.25, "recurrent_dropout_mode": "batch"}, {}), ({"recurrent_dropout": 0.25}, {})]),
    ("weight_drop", [({"weight_drop": 0.3}, {}), ({"weight_drop": 0.2, "recurrent_dropout": 0.2, "recurrent_dropout_mode": "batch"}, {}), ({}, {})]),
    ("output_dropout", [({"output_dropout": 0.3}, {}), ({"output_dropout": 0.1}, {"seed": 1})]),
    ("forced_loop", [({"path": "loop", "weight_drop": 0.2}, {}), ({}, {})]),
    ("layer_norm", [({"norm": "layer", "dropout": 0.1}, {}), ({"norm": "layer"}, {"lr": 1e-2})]),
    ("batch_norm", [({"norm": "batch", "output_dropout": 0.2}, {}), ({"norm": "batch"}, {"lr": 1e-2})]),
    ("batch_norm_two_layers", [({"norm": "batch", "num_layers": 2, "bidirectional": True}, {}), ({"norm": "batch", "num_layers": 2, "bidirectional": True}, {"lr": 1e-2})]),
    ("clipping", [({}, {"clip_norm": 0.5}), ({}, {"clip_value": 0.01, "clip_norm": 1.0}), ({}, {"clip_value": 0.05})]),
    ("max_norm", [({}, {"kernel_max_norm": 0.5, "recurrent_max_norm": 0.4, "bias_max_norm": 0.2, "head_max_norm": 0.5}), ({}, {})]),
    ("activity_ar_tar", [({}, {"activity_l1": 1e-3, "activity_l2": 1e-2, "ar": 1e-1, "tar": 1e-1}), ({}, {"ar": 1e-2})]),
    ("label_smoothing_input_noise", [({"input_noise": 0.1}, {"label_smoothing": 0.1}), ({}, {"label_smoothing": 0.2})]),
    ("default_study_mix", [
        ({"dropout": 0.1, "recurrent_dropout": 0.2, "weight_drop": 0.15, "output_dropout": 0.05}, {"clip_norm": 1.0, "patience": 8, "kernel_l2": 1e-4, "recurrent_decay": 1e-3, "lr": 4e-3}),
        ({"recurrent_dropout": 0.3, "recurrent_dropout_mode": "batch"}, {"clip_norm": 1.0, "recurrent_l2": 1e-3, "kernel_decay": 1e-2}),
        ({}, {"clip_norm": 1.0}),
    ]),
]  # fmt: skip


def assert_same(array_result: Any, single: Any, where: str) -> None:
    assert array_result.epochs_run == single.epochs_run, where
    for a, s in zip(array_result.history, single.history, strict=True):
        assert a["epoch"] == s["epoch"], where
        assert a["val_acc"] == s["val_acc"], (where, a, s)
        for key in ("val_loss", "val_loss_t", "train_loss", "score"):  # val_loss_t: the tie-break's (calibrated)
            assert math.isclose(a[key], s[key], rel_tol=RTOL, abs_tol=1e-6), (where, key, a, s)
    assert array_result.best["epoch"] == single.best["epoch"], where
    expected = single.model.state_dict()
    assert list(array_result.state) == list(expected), where  # loadable as is into RNNClassifier(rnn, train)
    for name, value in expected.items():  # atol: the stacked and the lone matmuls sum in different orders, and
        # which order a CPU's kernels take differs between machines: over a whole fit one of 1,024 recurrent weights
        # drifted 2.2e-5 on one CI machine (label_smoothing_input_noise), where the others stay below 2e-5
        torch.testing.assert_close(array_result.state[name], value, rtol=RTOL, atol=5e-5, msg=f"{where}: {name}")


#: the rows the fast layer (make test-fast) runs; the others are marked slow
FAST_ROWS = ("one_member_loop", "default_study_mix", "batch_norm")


@pytest.mark.parametrize(
    "members",
    [pytest.param(m, marks=() if name in FAST_ROWS else pytest.mark.slow) for name, m in ROWS],
    ids=[r[0] for r in ROWS],
)
def test_member_equals_its_trial_alone(data: SequenceDataModule, members: list[tuple[dict, dict]]) -> None:
    cfgs = [configs(data, r, t) for r, t in members]
    assert len({array_key(*c) for c in cfgs}) == 1 and not any(unsupported(*c) for c in cfgs)
    # each member on the fused kernel (one call each, the CPU default) or all in the batched loop (the GPU default)
    arrays = {fused: fit_array(cfgs, data, fused_kernels=fused) for fused in (True, False)}
    for k, cfg in enumerate(cfgs):
        single = fit(*cfg, data)
        for fused, results in arrays.items():
            assert results[k].status == "done" and results[k].reason is None
            assert_same(results[k], single, f"member {k} ({single.path} path alone, fused_kernels={fused})")


def test_batch_norm_on_a_lone_valid_position_equals_its_trial_alone() -> None:
    """Length-1 sequences, 33 in the training part, batches of 8: the epoch's last batch holds one valid
    position, normalized with the running statistics in both (nn.BatchNorm1d raised on it before)."""
    import numpy as np

    from models.data import SequenceSet, Splits

    rng = np.random.default_rng(0)
    y = np.arange(42) % 2
    X = (rng.normal(size=(42, 1, 3)) + y[:, None, None]).astype(np.float32)
    one_step = SequenceSet(X, np.ones(42, dtype=np.int64), y)
    data = SequenceDataModule(Splits(one_step, one_step, ["a", "b"], "one-step"), batch_size=8, val_fraction=0.2)
    assert len(data.train_set) % 8 == 1
    cfgs = [configs(data, {"norm": "batch"}, {}), configs(data, {"norm": "batch"}, {"lr": 1e-2})]
    results = fit_array(cfgs, data, fused_kernels=True)
    for k, cfg in enumerate(cfgs):
        assert results[k].status == "done"
        assert_same(results[k], fit(*cfg, data), f"member {k}")


def test_the_rows_cover_both_paths_every_cell_norm_and_pooling() -> None:
    rnns = [RNNConfig(input_size=12, num_classes=9, **r) for _, members in ROWS for r, _ in members]
    assert {r.resolved_path for r in rnns} == {"fused", "loop"}
    assert {r.cell for r in rnns} == {"lstm", "gru", "rnn"}
    assert {r.norm for r in rnns} == {"none", "layer", "batch"}
    assert {r.pooling for r in rnns} == {"last", "mean", "max"}


# --------------------------------------------------------------------------------------------- stopping
def test_a_stopped_member_leaves_the_array_and_the_others_are_unchanged(
    data: SequenceDataModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.array.stacked import StackedNet

    widths: list[int] = []  # the array's K at each forward
    forward = StackedNet.forward

    def counting(self: StackedNet, *args: Any) -> Any:
        widths.append(self.members)
        return forward(self, *args)

    monkeypatch.setattr(StackedNet, "forward", counting)
    cfgs = [
        configs(data, {"dropout": 0.2}, {}),
        configs(data, {"weight_drop": 0.3}, {"lr": 1e-2}),
        configs(data, {}, {"seed": 3}),
    ]
    seen: list[tuple[int, list[int]]] = []

    def on_epoch(epoch: int, rows: list[tuple[int, dict[str, float]]]) -> list[int]:
        seen.append((epoch, [k for k, _ in rows]))
        assert all(
            set(r) >= {"epoch", "val_acc", "val_loss", "val_loss_t", "score", "train_loss"} and r["epoch"] == epoch
            for _, r in rows
        )
        return [1] if epoch == 0 else []

    results = fit_array(cfgs, data, on_epoch=on_epoch)
    assert seen == [(0, [0, 1, 2]), (1, [0, 2]), (2, [0, 2])]
    steps = len(data.train_dataloader())
    assert widths == [3] * steps + [3] + [2] * (steps + 1) * 2  # training steps, then validation, per epoch
    assert [r.status for r in results] == ["done", "stopped", "done"]
    assert results[1].epochs_run == 1 and len(results[1].history) == 1
    assert_same(results[1], fit(*configs(data, {"weight_drop": 0.3}, {"lr": 1e-2, "max_epochs": 1}), data), "stopped")
    for k in (0, 2):
        assert_same(results[k], fit(*cfgs[k], data), f"member {k}")


def test_each_member_stops_on_its_own_patience_and_max_epochs(data: SequenceDataModule) -> None:
    cfgs = [
        configs(data, {}, {"lr": 3e-4, "patience": 1, "max_epochs": 8}),  # val_loss rises early: early-stopped
        configs(data, {}, {"max_epochs": 2}),
        configs(data, {}, {"max_epochs": 4, "patience": 0}),
    ]
    results = fit_array(cfgs, data, metric="val_loss")
    for k, (cfg, result) in enumerate(zip(cfgs, results, strict=True)):
        single = fit(*cfg, data, metric="val_loss")
        assert_same(result, single, f"member {k}")
    assert [r.epochs_run for r in results[1:]] == [2, 4] and [r.status for r in results[1:]] == ["done", "done"]
    assert results[0].status == ("early_stopped" if results[0].epochs_run < 8 else "done")


def test_a_diverging_member_is_reported_and_the_others_finish_unchanged(data: SequenceDataModule) -> None:
    # a penalty whose loss explodes at the first step (as in the search-side test); the others train on
    cfgs = [configs(data, {}, {"kernel_l2": 1e9}), configs(data, {"dropout": 0.2}, {}), configs(data, {}, {"lr": 1e-2})]
    results = fit_array(cfgs, data)
    assert results[0].status == "diverged"
    assert results[0].reason is not None and results[0].reason.startswith("training loss ")
    assert results[0].reason.endswith("at epoch 1, step 0")  # worded as models.classifier.DivergedError's
    assert results[0].epochs_run == 0 and results[0].state is None
    with pytest.raises(Exception, match=r"training loss .* at epoch 1, step 0"):
        fit(*cfgs[0], data)
    for k in (1, 2):
        assert_same(results[k], fit(*cfgs[k], data), f"member {k}")


def test_a_member_whose_last_step_explodes_diverges_as_a_lone_fit() -> None:
    """The last step of a fit is followed by no training loss: the weights it leaves were validated (val_loss inf)
    and the member "completed"; its validation loss now says it diverged, in the array as in a lone fit."""
    data = SequenceDataModule("JapaneseVowels", batch_size=512, val_fraction=0.2, seed=0)  # one step an epoch
    blown = configs(data, {}, {"lr": 1.0e30, "max_epochs": 1})  # Adam moves each weight by about lr
    cfgs = [blown, configs(data, {}, {"max_epochs": 1})]
    results = fit_array(cfgs, data)
    assert results[0].status == "diverged" and results[0].reason is not None
    assert results[0].reason.startswith("validation loss ") and results[0].reason.endswith(" at epoch 1")
    with pytest.raises(Exception, match=r"validation loss .* at epoch 1$"):
        fit(*blown, data)
    assert_same(results[1], fit(*cfgs[1], data), "member 1")


# --------------------------------------------------------------------------------------------- checkpoints
def test_resuming_from_checkpoints_equals_the_uninterrupted_fit(data: SequenceDataModule, tmp_path: Any) -> None:
    cfgs = [
        configs(data, {"dropout": 0.2, "recurrent_dropout": 0.2}, {"max_epochs": 4, "clip_norm": 1.0}),
        configs(
            data, {"norm": "batch", "weight_drop": 0.2}, {"max_epochs": 4, "optimizer": "adam", "kernel_decay": 1e-2}
        ),
    ]
    cfgs = [(dataclasses.replace(r, norm="batch"), t) for r, t in cfgs]  # one array_key: norm is structural
    whole = fit_array(cfgs, data)
    saved: dict[int, dict[int, Any]] = {}

    def on_checkpoint(member: int, state: dict[str, Any]) -> None:
        path = tmp_path / f"m{member}-e{state['epoch']}.pt"
        torch.save(state, path)  # a checkpoint is torch.save-able and loads back with weights_only
        saved.setdefault(member, {})[state["epoch"]] = torch.load(path, weights_only=True)

    fit_array(cfgs, data, on_checkpoint=on_checkpoint)
    assert sorted(saved[0]) == [0, 1, 2]  # every epoch's end but the last (a member that goes on)
    resumed = fit_array(cfgs, data, resume=[saved[0][1], saved[1][1]])
    for k in range(2):
        assert resumed[k].history == whole[k].history, k
        assert resumed[k].best == whole[k].best
        expected, got = whole[k].state, resumed[k].state
        assert expected is not None and got is not None
        for name, value in expected.items():
            assert torch.equal(got[name], value), name
    with pytest.raises(ValueError, match="different epochs"):
        fit_array(cfgs, data, resume=[saved[0][0], saved[1][1]])
    with pytest.raises(ValueError, match="every member or none"):
        fit_array(cfgs, data, resume=[saved[0][0], None])


# --------------------------------------------------------------------------------------------- support, keys, K
UNSUPPORTED = [
    ({"zoneout": 0.1}, {}, "zoneout is not supported in arrays"),
    ({"conv_stride": 2}, {}, r"the Conv1D front end \(conv_stride / conv_layers\) is not supported"),
    ({}, {"mixup": 0.2}, r"data augmentation \(mixup\)"),
    ({}, {"ema_decay": 0.99}, "weight averaging"),
    ({}, {"optimizer": "sgd"}, r"optimizer='sgd' is not supported in arrays \(allowed: adam, adamw\)"),
]


@pytest.mark.parametrize(("rnn", "train", "why"), UNSUPPORTED, ids=[u[2].split()[0] for u in UNSUPPORTED])
def test_unsupported_names_why_and_fit_array_refuses(
    data: SequenceDataModule, rnn: dict, train: dict, why: str
) -> None:
    cfg = configs(data, rnn, train)
    assert unsupported(*cfg) is not None
    assert __import__("re").search(why, unsupported(*cfg))
    with pytest.raises(ValueError, match=f"member 1: {why}"):
        fit_array([configs(data, {}, {}), cfg], data)


def test_array_key_separates_structure_and_ignores_rates(data: SequenceDataModule) -> None:
    base = array_key(*configs(data, {}, {}))
    same = [
        (
            {"dropout": 0.3, "path": "loop", "recurrent_dropout": 0.2},
            {"lr": 1e-2, "seed": 4, "optimizer": "adam", "max_epochs": 9},
        )
    ]
    differ: list[tuple[dict[str, Any], dict[str, Any]]] = [({"norm": "layer"}, {}), ({"cell": "gru"}, {}), ({"hidden_size": 8}, {}), ({"bidirectional": True}, {}),
              ({"pooling": "mean"}, {}), ({"num_layers": 2}, {}), ({}, {"batch_size": 16})]  # fmt: skip
    assert all(array_key(*configs(data, r, t)) == base for r, t in same)
    assert all(array_key(*configs(data, r, t)) != base for r, t in differ)
    with pytest.raises(ValueError, match="equal array_key"):
        fit_array([configs(data, {}, {}), configs(data, {"norm": "layer"}, {})], data)
    with pytest.raises(ValueError, match="metric='acc': allowed values are val_acc, val_loss"):
        fit_array([configs(data, {}, {})], data, metric="acc")


def test_max_members_shrinks_with_the_model_and_the_sequences() -> None:
    small = (RNNConfig(input_size=12, num_classes=9, hidden_size=64), TrainConfig())
    big = (RNNConfig(input_size=12, num_classes=9, hidden_size=256), TrainConfig(batch_size=64))
    assert max_members(*small, longest=29) == 64  # the CPU cap
    assert 1 <= max_members(*big, longest=40_000) < max_members(*big, longest=40) <= 64
    assert max_members(*small, longest=29, fraction=1e-9) == 1  # never below one
    with pytest.raises(ValueError, match="longest=0: must be an integer >= 1"):
        max_members(*small, longest=0)


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux's /proc/meminfo")
def test_cpu_memory_is_the_available_ram_page_cache_included() -> None:
    # free pages alone shrink as files are cached: the same study got a smaller K after a day's work
    from models.array.capacity import free_bytes

    info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()}
    assert abs(free_bytes("cpu") - info["MemAvailable"]) < 0.05 * info["MemTotal"]
    if info["MemAvailable"] - info["MemFree"] > 0.1 * info["MemTotal"]:  # a large page cache: the two differ
        assert free_bytes("cpu") > info["MemFree"]


def test_initial_member_is_the_single_fits_start_and_leaves_the_callers_generators(data: SequenceDataModule) -> None:
    rnn, train = configs(data, {}, {"seed": 7})
    torch.manual_seed(123)
    before = torch.get_rng_state()
    net, state = initial_member(rnn, train.seed)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(7)
    from models.network import RNNClassifierNet

    alone = RNNClassifierNet(rnn)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), alone.state_dict().values()))
    assert torch.equal(state["cpu"], torch.get_rng_state())


@pytest.mark.parametrize(
    "train",
    [{"clip_norm": 0.5}, {"clip_value": 0.01, "clip_norm": 1.0}, {}],
    ids=["clip_norm", "clip_value_and_norm", "no_clipping"],
)
def test_gradient_statistics_equal_the_lone_trials(data: SequenceDataModule, train: dict[str, Any]) -> None:
    """``track_gradients``: a member's gradient statistics over its fit (norm before clipping, mean and max, per
    role, the fraction of steps clipped) are the lone trial's ``GradientLog`` over the same fit."""
    members = [
        configs(data, {}, {"max_epochs": 2, **train}),
        configs(data, {"dropout": 0.2}, {"max_epochs": 2, "lr": 1e-2, **train}),
    ]
    results = fit_array(members, data, track_gradients=True)
    for k, (rnn, tr) in enumerate(members):
        alone = fit(rnn, tr, data, track_group_gradients=True).model.grad_log.summary()
        got = results[k].gradients
        assert got["grad.steps"] == fit_steps(data, 2)
        assert got["grad.clip_fraction"] == pytest.approx(alone["clip_fraction"], abs=1e-9), k
        for mine, theirs in (("norm_mean", "grad_norm_mean"), ("norm_max", "grad_norm_max"), ("kernel", "grad_norm_kernel"),
                             ("recurrent", "grad_norm_recurrent"), ("bias", "grad_norm_bias"), ("head", "grad_norm_head")):  # fmt: skip
            assert got[f"grad.{mine}"] == pytest.approx(alone[theirs], rel=1e-3), (k, mine)
    assert fit_array(members, data)[0].gradients == {}  # off by default: nothing measured


@pytest.mark.parametrize("train", [{"clip_norm": 0.5}, {}], ids=["clip_norm", "no_clipping"])
def test_per_epoch_records_equal_the_lone_trials(data: SequenceDataModule, train: dict[str, Any]) -> None:
    """``on_record``: each member's weights after every epoch and its gradient statistics over the epoch's steps,
    recorded by the lone trial's Introspection probe, give the lone trial's per-epoch records (weights per gate,
    spectral norms, activations of the fixed batch, gradients)."""
    from models.classifier import RNNClassifier
    from models.introspect import Introspection, fixed_batch

    members = [
        configs(data, {}, {"max_epochs": 3, **train}),
        configs(data, {"dropout": 0.2, "weight_drop": 0.3}, {"max_epochs": 3, "lr": 1e-2, **train}),
    ]
    probes = [Introspection(fixed_batch(data)) for _ in members]
    nets = [RNNClassifier(rnn, tr) for rnn, tr in members]

    def on_record(epoch: int, k: int, state: Any, gradients: dict[str, float], final: bool) -> None:
        nets[k].load_state_dict(state())
        probes[k].record(nets[k], epoch, gradients)

    fit_array(members, data, on_record=on_record)
    for k, (rnn, tr) in enumerate(members):
        alone = Introspection(fixed_batch(data))
        fit(rnn, tr, data, callbacks=[alone])
        assert [r["epoch"] for r in probes[k].epochs] == [r["epoch"] for r in alone.epochs] == [0.0, 1.0, 2.0]
        for mine, theirs in zip(probes[k].epochs, alone.epochs):
            assert set(mine) == set(theirs), (k, set(mine) ^ set(theirs))
            for key, value in theirs.items():
                assert mine[key] == pytest.approx(value, rel=2e-3, abs=1e-5), (k, int(theirs["epoch"]), key)


@pytest.mark.parametrize("patience", [0, 1], ids=["done", "early_stopped"])
def test_sparse_records_are_the_lone_trials_epochs_and_values(data: SequenceDataModule, patience: int) -> None:
    """A search trial records every ``every_n_epochs`` epochs plus its last and best epochs (``ends``): a member
    (search.array_introspection.MemberProbe) records the same epochs with the same values as the lone trial, its
    best epoch from the weights the array kept, and ends with the same weight histograms."""
    from models.introspect import Introspection, fixed_batch
    from search.array_introspection import MemberProbe

    train = {"max_epochs": 12, "patience": patience, "lr": 1e-2}
    members = [configs(data, {}, train), configs(data, {"dropout": 0.2, "weight_drop": 0.3}, train)]
    probes = [MemberProbe(rnn, tr, data) for rnn, tr in members]
    for p in probes:
        p.probe.every_n_epochs = 3

    def on_record(epoch: int, k: int, state: Any, gradients: dict[str, float], final: bool) -> None:
        probes[k].record(epoch, state, gradients, final)

    results = fit_array(members, data, on_record=on_record)
    for k, (rnn, tr) in enumerate(members):
        trial = optuna.trial.FixedTrial({})
        probes[k].store(trial, int(results[k].best["epoch"]), None, results[k].state)  # type: ignore[arg-type]
        alone = Introspection(fixed_batch(data), every_n_epochs=3, ends=True)
        lone = fit(rnn, tr, data, callbacks=[alone])
        assert (lone.epochs_run < 12) == bool(patience), lone.epochs_run  # the case it names
        want = sorted(
            {e for e in range(lone.epochs_run) if e % 3 == 0} | {lone.epochs_run - 1, int(lone.best["epoch"])}
        )
        assert [int(r["epoch"]) for r in alone.epochs] == want, (k, lone.epochs_run, lone.best)
        assert [int(r["epoch"]) for r in probes[k].probe.epochs] == want
        best = alone.summary(int(lone.best["epoch"]))  # the best epoch's own record, as the trial stores it
        assert trial.user_attrs["introspection"] == pytest.approx(best, rel=2e-3, abs=1e-4), k
        for mine, theirs in zip(probes[k].probe.epochs, alone.epochs):
            assert set(mine) == set(theirs), (k, set(mine) ^ set(theirs))
            for key, value in theirs.items():
                assert mine[key] == pytest.approx(value, rel=2e-3, abs=1e-5), (k, int(theirs["epoch"]), key)
        assert set(probes[k].probe.histograms) == set(alone.histograms)
        for name, hist in alone.histograms.items():
            for part, values in hist.items():
                assert probes[k].probe.histograms[name][part] == pytest.approx(values, rel=2e-3, abs=1e-4), (k, name)


def fit_steps(data: SequenceDataModule, epochs: int) -> int:
    return epochs * len(data.train_dataloader())

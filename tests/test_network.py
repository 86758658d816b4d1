"""The network: path selection, fused == loop, masking of padded sequences, the Conv1D front end, norms."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from conftest import C_IN, H, build, make_batch

from models.config import ConfigError, RNNConfig

CELLS = ("lstm", "gru", "rnn")

# ---------------------------------------------------------------------------------------------- path
#: every regularizer switched on alone (with a value that is "on"); the fused kernel must serve all of them
#: but per-sequence recurrent dropout and zoneout
ON_ALONE = [
    ("kernel_l1", 1e-3), ("kernel_l2", 1e-3), ("recurrent_l1", 1e-3), ("recurrent_l2", 1e-3), ("bias_l1", 1e-3),
    ("bias_l2", 1e-3), ("head_l1", 1e-3), ("head_l2", 1e-3), ("activity_l1", 1e-3), ("activity_l2", 1e-3),
    ("ar", 1e-2), ("tar", 1e-2), ("optimizer", "adam"), ("optimizer", "sgd"), ("optimizer", "rmsprop"),
    ("kernel_decay", 1e-2), ("recurrent_decay", 1e-2), ("head_decay", 1e-2), ("dropout", 0.2),
    ("dropout_variational", True), ("weight_drop", 0.3), ("layer_dropout", 0.2), ("output_dropout", 0.2),
    ("norm", "batch"), ("norm", "layer"), ("kernel_max_norm", 2.0), ("recurrent_max_norm", 2.0),
    ("bias_max_norm", 2.0), ("head_max_norm", 2.0), ("clip_norm", 1.0), ("clip_value", 0.5), ("input_noise", 0.1),
    ("label_smoothing", 0.1), ("recurrent_dropout_mode", "batch"), ("conv_stride", 2), ("bidirectional", True),
    ("num_layers", 2),
]  # fmt: skip
LOOP_ONLY = [("recurrent_dropout", 0.25), ("zoneout", 0.1)]


@pytest.mark.parametrize(("name", "value"), ON_ALONE, ids=[f"{n}={v}" for n, v in ON_ALONE])
def test_fused_path_for_every_config_that_allows_it(name: str, value: object) -> None:
    model = build(**{name: value})
    assert model.path == "fused"
    assert model.rnn_cfg.resolved_path == "fused"


def test_fused_path_with_all_fused_regularizers_at_once() -> None:
    params = {n: v for n, v in ON_ALONE if n != "optimizer"}
    params["recurrent_dropout"] = 0.25  # in batch mode (set above): a structured weight drop, still fused
    assert build(**params).path == "fused"


@pytest.mark.parametrize(("name", "value"), LOOP_ONLY)
def test_loop_path_only_when_required(name: str, value: float) -> None:
    assert build(**{name: value}).path == "loop"
    assert build(**{name: value, "path": "loop"}).path == "loop"
    assert build(path="loop").path == "loop"  # forcing the loop is allowed, though never needed
    with pytest.raises(ConfigError, match=r"path='fused' is impossible with .*allowed: path in \('auto', 'loop'\)"):
        build(**{name: value, "path": "fused"})


def test_batch_mode_recurrent_dropout_with_zoneout_still_needs_the_loop() -> None:
    assert build(recurrent_dropout=0.25, recurrent_dropout_mode="batch").path == "fused"
    assert build(recurrent_dropout=0.25, recurrent_dropout_mode="batch", zoneout=0.1).path == "loop"


# ---------------------------------------------------------------------------------------------- fused == loop
def _pair(**params: object) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A fused and a loop network with the very same weights."""
    fused = build(path="fused", **params).net
    loop = build(path="loop", seed=1, **params).net
    loop.load_state_dict(fused.state_dict())
    return fused, loop


EQUIV = list(itertools.product(CELLS, (False, True), ("last", "mean", "max")))


@pytest.mark.parametrize(("cell", "bidirectional", "pooling"), EQUIV)
def test_fused_and_loop_give_the_same_outputs_and_gradients(cell: str, bidirectional: bool, pooling: str) -> None:
    fused, loop = _pair(cell=cell, bidirectional=bidirectional, pooling=pooling, num_layers=2)
    x, lengths, y = make_batch(pad_value=3.0)
    for mode in ("eval", "train"):  # regularizers off: training mode computes the same function
        getattr(fused, mode)(), getattr(loop, mode)()
        a, b = fused(x, lengths), loop(x, lengths)
        torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.sequence, b.sequence, atol=1e-5, rtol=1e-5)
    torch.nn.functional.cross_entropy(a.logits, y).backward()
    torch.nn.functional.cross_entropy(b.logits, y).backward()
    grads_b = dict(loop.named_parameters())
    for name, p in fused.named_parameters():
        torch.testing.assert_close(p.grad, grads_b[name].grad, atol=1e-5, rtol=1e-4, msg=name)


# ---------------------------------------------------------------------------------------------- padding
LEAK = list(itertools.product(CELLS, (False, True), ("last", "mean", "max"), ("fused", "loop")))


@pytest.mark.parametrize(("cell", "bidirectional", "pooling", "path"), LEAK)
def test_padding_never_leaks(cell: str, bidirectional: bool, pooling: str, path: str) -> None:
    """A padded batch (with garbage in the padding) gives each sequence the logits it gets alone."""
    net = build(cell=cell, bidirectional=bidirectional, pooling=pooling, path=path, num_layers=2).net.eval()
    _assert_batch_equals_alone(net)


@pytest.mark.parametrize(
    "params",
    [
        {"norm": "layer", "pooling": "mean"},
        {"norm": "layer", "pooling": "max", "bidirectional": True},
        {"norm": "batch", "pooling": "mean"},
        {"conv_stride": 3, "pooling": "mean"},
        {"conv_stride": 2, "pooling": "last", "bidirectional": True},
        {"conv_stride": 2, "pooling": "max", "path": "loop"},
    ],
    ids=str,
)
def test_padding_never_leaks_through_norms_or_the_conv_front_end(params: dict[str, object]) -> None:
    net = build(**params).net.eval()
    with torch.no_grad():  # trained norms have non-zero shifts: padding must stay out all the same
        for p in net.norms.parameters():
            p.add_(torch.rand_like(p))
    _assert_batch_equals_alone(net)


def _assert_batch_equals_alone(net: torch.nn.Module) -> None:
    x, lengths, _ = make_batch(lengths=(7, 3, 5, 1, 6), pad_value=100.0)
    with torch.no_grad():
        out = net(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            alone = net(x[b : b + 1, :n], lengths[b : b + 1])
            torch.testing.assert_close(out.logits[b], alone.logits[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(out.pooled[b], alone.pooled[0], atol=1e-5, rtol=1e-5)
            steps = int(out.lengths[b])
            torch.testing.assert_close(out.sequence[b, :steps], alone.sequence[0, :steps], atol=1e-5, rtol=1e-5)
            assert not out.sequence[b, steps:].any(), "the sequence output must be zero past each length"


# ---------------------------------------------------------------------------------------------- conv front end
@pytest.mark.parametrize("stride", [2, 3, 4])
def test_conv_stride_shortens_lengths_to_ceil(stride: int) -> None:
    net = build(conv_stride=stride, conv_channels=5).net.eval()
    x, lengths, _ = make_batch(lengths=(9, 8, 4, 1, 3))
    out = net(x, lengths)
    expected = [math.ceil(n / stride) for n in lengths.tolist()]
    assert out.lengths.tolist() == expected
    assert out.sequence.shape[1] == math.ceil(x.shape[1] / stride)
    assert net.conv is not None and net.conv.conv.out_channels == 5
    assert net.layers[0].rnn.input_size == 5


def test_conv_stride_one_means_no_front_end() -> None:
    net = build(conv_stride=1).net
    assert net.conv is None


# ---------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(("cell", "bidirectional", "layers"), list(itertools.product(CELLS, (False, True), (1, 2))))
def test_parameter_roles(cell: str, bidirectional: bool, layers: int) -> None:
    net = build(cell=cell, bidirectional=bidirectional, num_layers=layers).net
    names = {id(p): n for n, p in net.named_parameters()}
    groups = {role: sorted(names[id(p)] for p in ps) for role, ps in net.parameter_groups().items()}
    dirs = ("", "_reverse") if bidirectional else ("",)
    per = [f"layers.{i}.rnn.{{}}_l0{d}" for i in range(layers) for d in dirs]
    assert groups["kernel"] == sorted(f.format("weight_ih") for f in per)
    assert groups["recurrent"] == sorted(f.format("weight_hh") for f in per)
    assert groups["bias"] == sorted(f.format(b) for f in per for b in ("bias_ih", "bias_hh"))
    assert groups["head"] == ["head.weight"]
    assert groups["other"] == ["head.bias"]
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    width = H * (2 if bidirectional else 1)
    assert net.layers[-1].rnn.weight_hh_l0.shape == (gates * H, H)
    assert net.head.weight.shape[1] == width


def test_logits_shape(batch: tuple[torch.Tensor, ...]) -> None:
    x, lengths, _ = batch
    out = build(bidirectional=True).net(x, lengths)
    assert out.logits.shape == (5, 4)
    assert out.pooled.shape == (5, 2 * H)
    assert out.mask is not None and out.mask.sum(1).tolist() == lengths.tolist()
    full = build().net(x[:, :3], torch.full((5,), 3))
    assert full.mask is None  # no sequence padded: no mask at all


def test_config_is_a_plain_dataclass() -> None:
    cfg = RNNConfig(input_size=3, num_classes=4, cell="gru")
    assert cfg.resolved_path == "fused" and not cfg.needs_loop


# ---------------------------------------------------------------------------------------------- the fast loop
def _loop_inputs(cell: str, bias: bool, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell] * 5
    x = torch.randn(4, 6, 3, generator=g, dtype=torch.float64)
    w_ih = torch.randn(gates, 3, generator=g, dtype=torch.float64)
    w_hh = torch.randn(gates, 5, generator=g, dtype=torch.float64) * 0.5
    b_ih, b_hh = (torch.randn(gates, generator=g, dtype=torch.float64) for _ in range(2))
    params = [x, w_ih, w_hh] + ([b_ih, b_hh] if bias else [])
    for p in params:
        p.requires_grad_()
    return (x, w_ih, w_hh, b_ih if bias else None, b_hh if bias else None)


FAST = list(itertools.product(CELLS, ("none", "per-sequence", "per-batch"), ("off", "train", "eval"), (True, False)))


@pytest.mark.parametrize(("cell", "mask", "zone", "bias"), FAST)
def test_fast_loop_equals_autograd_reference(cell: str, mask: str, zone: str, bias: bool) -> None:
    """The hand-written BPTT of the loop path: values and every gradient equal autograd's on the same math."""
    from models.recurrence import _Recurrence, autograd_loop
    from models.regularizers.zoneout import zoneout_keep

    inputs = _loop_inputs(cell, bias)
    x = inputs[0]
    h_mask = {"none": None, "per-sequence": (torch.rand(4, 5, dtype=x.dtype) > 0.4) * 2.0,
              "per-batch": (torch.rand(1, 5, dtype=x.dtype) > 0.4) * 2.0}[mask]  # fmt: skip
    rate = 0.0 if zone == "off" else 0.35
    keep_h = zoneout_keep(6, 4, 5, rate, zone == "train", x.detach())
    keep_c = zoneout_keep(6, 4, 5, rate, zone == "train", x.detach()) if cell == "lstm" else None
    fast = _Recurrence.apply(cell, *inputs, h_mask, keep_h, keep_c)
    ref = autograd_loop(cell, *inputs, None, h_mask, keep_h, keep_c)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12)
    grad_out = torch.randn_like(fast)
    wrt = [t for t in inputs if t is not None]
    for a, b in zip(torch.autograd.grad(fast, wrt, grad_out), torch.autograd.grad(ref, wrt, grad_out)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_fast_loop_gradcheck(cell: str) -> None:
    from models.recurrence import _Recurrence

    inputs = _loop_inputs(cell, True, seed=3)
    h_mask = torch.tensor([[2.0, 0.0, 2.0, 2.0, 0.0]], dtype=torch.float64)
    keep = (torch.rand(6, 4, 5, generator=torch.Generator().manual_seed(1)) > 0.7).double()
    assert torch.autograd.gradcheck(
        lambda *a: _Recurrence.apply(cell, *a, h_mask, keep, keep if cell == "lstm" else None), inputs
    )


@pytest.mark.parametrize("cell", CELLS)
def test_run_loop_with_valid_freezes_the_state_past_each_length(cell: str) -> None:
    from models.recurrence import run_loop

    x, w_ih, w_hh, b_ih, b_hh = (t.detach() for t in _loop_inputs(cell, True))  # type: ignore[union-attr]
    lengths = torch.tensor([6, 2, 4, 1])
    valid = torch.arange(6)[None, :] < lengths[:, None]
    frozen = run_loop(cell, x, w_ih, w_hh, b_ih, b_hh, valid, None, 0.0, False)
    free = run_loop(cell, x, w_ih, w_hh, b_ih, b_hh, None, None, 0.0, False)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(frozen[b, :n], free[b, :n])
        assert (frozen[b, n:] == frozen[b, n - 1]).all()


# ---------------------------------------------------------------------------------------------- fit history
def test_history_rows_carry_their_own_epochs_training_loss() -> None:
    """Each epoch's row holds that epoch's mean training loss (not the previous epoch's)."""
    from pytorch_lightning.callbacks import Callback

    from models.config import split_params
    from models.datamodule import SequenceDataModule
    from models.train import fit

    class Losses(Callback):
        def __init__(self) -> None:
            self.epochs: list[list[tuple[float, int]]] = []

        def on_train_epoch_start(self, trainer: object, pl_module: object) -> None:
            self.epochs.append([])

        def on_train_batch_end(self, trainer: object, pl_module: object, outputs: dict, batch: tuple, i: int) -> None:
            self.epochs[-1].append((float(outputs["loss"]), len(batch[2])))

    data = SequenceDataModule("synthetic:n=48,length=10", batch_size=16, seed=0)
    rnn, train = split_params({"hidden_size": H, "max_epochs": 3, "kernel_l2": 0.1}, input_size=2, num_classes=3)
    seen = Losses()
    result = fit(rnn, train, data, callbacks=[seen], accelerator="cpu")
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    for row, losses in zip(result.history, seen.epochs):
        mean = sum(loss * n for loss, n in losses) / sum(n for _, n in losses)
        assert row["train_loss"] == pytest.approx(mean, rel=1e-6)


@pytest.mark.parametrize("quiet", [True, False], ids=["barebones", "logging"])
def test_validation_metrics_cover_every_validation_batch(quiet: bool) -> None:
    """Each epoch's val_loss/val_acc are over the whole validation part (here three batches of up to 256), equal to
    evaluate() on it; the fast (barebones) trainer gets them from the module, the logging one also logs them."""
    from pytorch_lightning.callbacks import Callback

    from models.config import split_params
    from models.datamodule import SequenceDataModule
    from models.train import evaluate, fit

    class Seen(Callback):
        def __init__(self) -> None:
            self.logged: list[dict[str, float]] = []

        def on_validation_epoch_end(self, trainer: object, pl_module: object) -> None:
            m = trainer.callback_metrics  # type: ignore[attr-defined]
            self.logged.append({k: float(m[k]) for k in ("val_loss", "val_acc") if k in m})

    data = SequenceDataModule("synthetic:n=1500,length=10", batch_size=64, val_fraction=0.4, seed=0)
    assert len(data.val_dataloader()) >= 3, len(data.val_dataloader())
    rnn, train = split_params({"hidden_size": H, "max_epochs": 2, "patience": 0}, input_size=2, num_classes=3)
    seen = Seen()
    result = fit(rnn, train, data, callbacks=[seen], accelerator="cpu", quiet=quiet)
    last = result.history[-1]
    model = result.model  # holds the best epoch's weights: compare with that epoch's row
    whole = evaluate(model, data.val_set)
    best = result.best
    assert best["val_acc"] == pytest.approx(whole["acc"], abs=1e-6)
    assert best["val_loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert len(result.history) == 2 and last["epoch"] == 1
    if quiet:
        assert seen.logged == [{}, {}]  # nothing went through Lightning's logging
    else:
        assert [row["val_acc"] for row in seen.logged] == pytest.approx([r["val_acc"] for r in result.history])
        assert [row["val_loss"] for row in seen.logged] == pytest.approx([r["val_loss"] for r in result.history])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("norm", ["none", "layer", "batch"])
def test_every_norm_keeps_the_rnn_biases(cell: str, norm: str) -> None:
    """The norm acts on each layer's output, outside the recurrence: its shift cannot stand in for the gates'
    biases. Built without them under batch norm (until 2026-12-06, review5), an all-zero sequence (every channel
    at its training mean) left the state at 0 however long it was: lengths 2 and 9 gave bit-identical logits."""
    net = build(cell=cell, norm=norm, pooling="last", num_layers=2).net.eval()
    assert sum("bias" in name for name, _ in net.layers.named_parameters()) == 4  # ih and hh, two layers
    with torch.no_grad():
        for p in net.parameters():  # any weights at all: not an initialization accident
            p.copy_(torch.randn_like(p))
        outs = [net(torch.zeros(1, n, C_IN), torch.tensor([n])).logits[0] for n in (2, 9)]
    assert not torch.equal(outs[0], outs[1])

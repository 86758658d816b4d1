"""The Conv1D front end: lengths through the blocks, padding invariance, off == no front end, the original
one-block front end bit for bit, parameter shapes for stride / kernel / blocks / norm combinations."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from models.config import ConfigError, RNNConfig
from models.network import RNNClassifierNet

C_IN, K, H = 3, 4, 6
LENGTHS = (41, 17, 33, 1, 40, 8)

#: (stride, kernel, blocks, norm, pool) combinations; kernel 0 = stride, kernel < stride skips steps; pool: the
#: blocks at full resolution, the stride an average pooling after them (conv_pool)
COMBOS = [
    (2, 0, 1, "none", False), (3, 0, 1, "batch", False), (4, 8, 1, "none", False), (4, 8, 2, "batch", False),
    (8, 16, 3, "batch", False), (5, 3, 2, "none", False), (1, 5, 2, "batch", False), (1, 0, 1, "none", False),
    (16, 0, 2, "none", False),
    (4, 8, 3, "batch", True), (2, 0, 1, "none", True), (3, 5, 2, "none", True), (1, 8, 3, "batch", True),
    (8, 4, 2, "batch", True),
]  # fmt: skip
NAMES = ("stride", "kernel", "blocks", "norm", "pool")


def net_of(seed: int = 0, **params: Any) -> RNNClassifierNet:
    torch.manual_seed(seed)
    return RNNClassifierNet(RNNConfig(input_size=C_IN, num_classes=K, hidden_size=H, **params))


def combo(stride: int, kernel: int, blocks: int, norm: str, pool: bool = False) -> dict[str, Any]:
    return {
        "conv_stride": stride, "conv_kernel": kernel, "conv_layers": blocks, "conv_norm": norm, "conv_channels": 5,
        "conv_pool": pool,
    }  # fmt: skip


def batch(pad_value: float = 0.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(LENGTHS)
    x = torch.randn(len(LENGTHS), max(LENGTHS), C_IN, generator=g)
    past = torch.arange(x.shape[1])[None, :] >= lens[:, None]
    x[past] = pad_value if pad_value == 0.0 else pad_value * torch.randn(int(past.sum()), C_IN, generator=g)
    return x, lens


class _OriginalFrontEnd(nn.Module):
    """The front end as it was before conv_layers/conv_kernel/conv_norm existed (kept verbatim as the reference)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=stride, stride=stride)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps = x.shape[1]
        if bool((lengths < steps).any()):
            x = x * (torch.arange(steps, device=x.device) < lengths.to(x.device).unsqueeze(1)).unsqueeze(-1)
        pad = (-steps) % self.stride
        y = nn.functional.pad(x.transpose(1, 2), (0, pad))
        y = torch.relu(self.conv(y)).transpose(1, 2)
        return y, torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor")


# ---------------------------------------------------------------------------------------------- lengths, shapes
@pytest.mark.parametrize(NAMES, COMBOS)
def test_lengths_map_to_ceil_over_stride(stride: int, kernel: int, blocks: int, norm: str, pool: bool) -> None:
    net = net_of(**combo(stride, kernel, blocks, norm, pool)).eval()
    x, lens = batch()
    out = net(x, lens)
    assert out.lengths.tolist() == [math.ceil(n / stride) for n in LENGTHS]
    assert out.sequence.shape == (len(LENGTHS), math.ceil(max(LENGTHS) / stride), H)
    assert out.logits.shape == (len(LENGTHS), K)


@pytest.mark.parametrize(NAMES, COMBOS)
def test_parameter_shapes(stride: int, kernel: int, blocks: int, norm: str, pool: bool) -> None:
    net = net_of(**combo(stride, kernel, blocks, norm, pool))
    assert net.conv is not None
    assert net.conv.conv.weight.shape == (5, C_IN, kernel or stride)
    assert net.conv.conv.stride == (1 if pool else stride,)
    assert [tuple(c.weight.shape) for c in net.conv.more] == [(5, 5, 3)] * (blocks - 1)  # type: ignore[arg-type]
    assert len(net.conv.norms) == (blocks if norm == "batch" else 0)
    assert net.layers[0].rnn.input_size == 5  # type: ignore[union-attr]
    assert all(p.shape[0] == 5 for p in net.conv.norms.parameters())


def test_channels_default_to_hidden_size() -> None:
    net = net_of(conv_layers=2, conv_stride=2)
    assert net.conv is not None and net.conv.conv.out_channels == H
    assert net.layers[0].rnn.input_size == H  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- padding
@pytest.mark.parametrize(NAMES, COMBOS)
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("skip", [False, True], ids=["", "conv_skip"])
def test_garbage_past_the_lengths_changes_nothing(
    stride: int, kernel: int, blocks: int, norm: str, pool: bool, train: bool, skip: bool
) -> None:
    """Same batch, zeros vs. large random garbage past each length: every valid output is the same (in training
    too, where the masked BatchNorm's statistics must come from valid steps only; with ``conv_skip`` the head's
    average of the front end's features too)."""
    net = net_of(**combo(stride, kernel, blocks, norm, pool), pooling="mean", conv_skip=skip).train(train)
    clean, lens = batch()
    dirty, _ = batch(pad_value=1e3)
    assert not torch.equal(clean, dirty)
    with torch.no_grad():
        a, b = net(clean, lens), net(dirty, lens)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
    for i, n in enumerate(a.lengths.tolist()):
        torch.testing.assert_close(a.sequence[i, :n], b.sequence[i, :n], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(NAMES, COMBOS)
def test_more_padding_changes_nothing_in_training(stride: int, kernel: int, blocks: int, norm: str, pool: bool) -> None:
    """The same batch padded 23 steps further: in training, BatchNorm statistics must ignore the extra steps."""
    net = net_of(**combo(stride, kernel, blocks, norm, pool), pooling="mean").train()
    x, lens = batch(pad_value=9.0)
    longer = torch.cat([x, 9.0 * torch.ones(x.shape[0], 23, C_IN)], 1)
    with torch.no_grad():
        a, b = net(x, lens), net(longer, lens)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(NAMES, COMBOS)
@pytest.mark.parametrize("skip", [False, True], ids=["", "conv_skip"])
def test_a_sequence_alone_equals_it_in_a_padded_batch(
    stride: int, kernel: int, blocks: int, norm: str, pool: bool, skip: bool
) -> None:
    net = net_of(**combo(stride, kernel, blocks, norm, pool), pooling="max", conv_skip=skip).eval()
    with torch.no_grad():
        for p in net.conv.norms.parameters():  # type: ignore[union-attr]
            p.add_(torch.rand_like(p))  # non-trivial shifts: padding must still stay out
        x, lens = batch(pad_value=50.0)
        out = net(x, lens)
        for i, n in enumerate(LENGTHS):
            alone = net(x[i : i + 1, :n], lens[i : i + 1])
            torch.testing.assert_close(out.logits[i], alone.logits[0], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- off / original
@pytest.mark.parametrize("params", [{"conv_layers": 0}, {"conv_layers": 0, "conv_stride": 8, "conv_kernel": 16},
                                    {"conv_layers": -1, "conv_stride": 1}, {"conv_kernel": 7, "conv_norm": "batch"},
                                    {"conv_layers": 0, "conv_skip": True}],
                         ids=str)  # fmt: skip
def test_off_is_bit_identical_to_no_front_end(params: dict[str, object]) -> None:
    plain, off = net_of(seed=3), net_of(seed=3, **params)
    assert off.conv is None
    assert plain.state_dict().keys() == off.state_dict().keys()
    assert all(torch.equal(v, off.state_dict()[k]) for k, v in plain.state_dict().items())
    x, lens = batch(pad_value=7.0)
    assert torch.equal(plain(x, lens).logits, off(x, lens).logits)


@pytest.mark.parametrize("stride", [2, 3, 8])
@pytest.mark.parametrize("explicit", [False, True], ids=["conv_stride alone", "conv_layers 1, kernel = stride"])
def test_conv_stride_alone_is_the_original_front_end_bit_for_bit(stride: int, explicit: bool) -> None:
    extra = {"conv_layers": 1, "conv_kernel": stride} if explicit else {}
    net = net_of(seed=5, conv_stride=stride, conv_channels=4, **extra)
    torch.manual_seed(5)
    original = _OriginalFrontEnd(C_IN, 4, stride)
    assert net.conv is not None
    assert list(net.conv.state_dict()) == ["conv.weight", "conv.bias"]  # checkpoints keep their keys
    assert all(torch.equal(v, net.conv.state_dict()[k]) for k, v in original.state_dict().items())
    x, lens = batch(pad_value=3.0)
    new_y, new_l = net.conv(x, lens)
    old_y, old_l = original(x, lens)
    assert torch.equal(new_y, old_y) and torch.equal(new_l, old_l)


def test_conv_layers_zero_switches_off_a_stride() -> None:
    assert RNNConfig(conv_stride=8).conv_blocks == 1
    assert RNNConfig(conv_stride=8, conv_layers=0).conv_blocks == 0
    assert RNNConfig(conv_layers=2).conv_blocks == 2  # stride 1: no shortening, an FCN-like front end


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"conv_layers": -2}, r"conv_layers=-2: must be an integer >= -1"),
        ({"conv_kernel": -1}, r"conv_kernel=-1: must be an integer >= 0"),
        ({"conv_norm": "layer"}, r"conv_norm='layer': allowed values are none, batch"),
        ({"conv_layers": 1.5}, r"conv_layers=1.5: must be an integer >= -1"),
    ],
)
def test_bad_values_name_the_field(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RNNConfig(**params)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- conv_skip
@pytest.mark.parametrize(NAMES, COMBOS[:5] + COMBOS[9:11])
def test_conv_skip_adds_the_front_ends_average_to_what_the_head_reads(
    stride: int, kernel: int, blocks: int, norm: str, pool: bool
) -> None:
    """LSTM-FCN: the head reads [the RNN's pooled output, the front end's features averaged over the valid steps].
    Every other parameter is the same (the head is built last); with the new head columns zeroed the network is
    the one without the skip, and the columns alone give the average's contribution."""
    plain = net_of(seed=5, **combo(stride, kernel, blocks, norm, pool)).eval()
    skip = net_of(seed=5, **combo(stride, kernel, blocks, norm, pool), conv_skip=True).eval()
    assert skip.head.weight.shape == (K, H + 5) and plain.head.weight.shape == (K, H)
    shared = {k: v for k, v in plain.state_dict().items() if not k.startswith("head.")}
    assert all(torch.equal(v, skip.state_dict()[k]) for k, v in shared.items())
    x, lens = batch(pad_value=3.0)
    with torch.no_grad():
        skip.head.weight[:, :H] = plain.head.weight
        skip.head.weight[:, H:] = 0.0
        skip.head.bias.copy_(plain.head.bias)
        torch.testing.assert_close(skip(x, lens).logits, plain(x, lens).logits)
        extra = torch.randn(K, 5)
        skip.head.weight[:, H:] = extra
        features, flens = plain.conv(x, lens)  # type: ignore[misc]  # every step with conv_pool
        assert flens.tolist() == (list(LENGTHS) if pool else [math.ceil(n / stride) for n in LENGTHS])
        average = torch.stack([features[i, :n].mean(0) for i, n in enumerate(flens.tolist())])
        torch.testing.assert_close(skip(x, lens).logits, plain(x, lens).logits + average @ extra.T)


# ---------------------------------------------------------------------------------------------- conv_pool
@pytest.mark.parametrize(("stride", "kernel"), [(4, 8), (3, 5), (2, 0), (5, 1)])
def test_pool_runs_the_blocks_at_full_resolution_with_same_padding(stride: int, kernel: int) -> None:
    """The first block of ``conv_pool`` is the plain convolution over every step, its window centred on the step
    ("same" padding, zeros past each sequence's end), then ReLU; the stride only sets the pooling after it."""
    net = net_of(seed=2, **combo(stride, kernel, 1, "none", True)).eval()
    assert net.conv is not None
    x, lens = batch(pad_value=4.0)
    y, ylens = net.conv(x, lens)
    assert ylens.tolist() == list(LENGTHS) and y.shape[1] == max(LENGTHS)
    k = kernel or stride
    for i, n in enumerate(LENGTHS):
        seq = nn.functional.pad(x[i, :n].T, ((k - 1) // 2, k // 2))  # this sequence alone, zero-padded both ends
        want = torch.relu(nn.functional.conv1d(seq[None], net.conv.conv.weight, net.conv.conv.bias))[0].T
        torch.testing.assert_close(y[i, :n], want)


@pytest.mark.parametrize("stride", [1, 2, 3, 8])
def test_pool_downsample_averages_the_valid_steps_of_each_window(stride: int) -> None:
    """Window j of a sequence of n steps averages steps j*stride .. min((j+1)*stride, n) - 1; there are
    ceil(n / stride) windows, whatever lies past n (the last window is partial)."""
    net = net_of(**combo(stride, 3, 1, "none", True))
    assert net.conv is not None
    g = torch.Generator().manual_seed(1)
    y = torch.randn(len(LENGTHS), max(LENGTHS), 5, generator=g)
    lens = torch.tensor(LENGTHS)
    out, olens = net.conv.downsample(y, lens)
    assert olens.tolist() == [math.ceil(n / stride) for n in LENGTHS]
    assert out.shape == (len(LENGTHS), math.ceil(max(LENGTHS) / stride), 5)
    for i, n in enumerate(LENGTHS):
        want = torch.stack([y[i, j : min(j + stride, n)].mean(0) for j in range(0, n, stride)])
        torch.testing.assert_close(out[i, : len(want)], want)


def test_pool_off_is_the_strided_front_end_bit_for_bit() -> None:
    """``conv_pool: false`` (the default) builds and computes exactly what a study without the field ran."""
    old, off = net_of(seed=4, **combo(4, 8, 3, "batch")), net_of(seed=4, **combo(4, 8, 3, "batch", False))
    pooled = net_of(seed=4, **combo(4, 8, 3, "batch", True))  # the same parameters: only the arithmetic differs
    assert all(torch.equal(v, off.state_dict()[k]) and torch.equal(v, pooled.state_dict()[k])
               for k, v in old.state_dict().items())  # fmt: skip
    x, lens = batch(pad_value=2.0)
    assert torch.equal(old(x, lens).logits, off(x, lens).logits)


# ---------------------------------------------------------------------------------------------- branch_dropout
SKIP = {**combo(4, 8, 2, "none"), "conv_skip": True}  # no batch norm: training and eval compute the same blocks


def _halves(net: RNNClassifierNet, keep: str) -> None:
    """Zero the head's columns for the RNN's features (keep="front") or for the front end's (keep="rnn")."""
    with torch.no_grad():
        columns = slice(0, H) if keep == "front" else slice(H, None)
        net.head.weight[:, columns] = 0.0


def test_branch_dropout_zero_is_bit_identical_and_eval_is_a_no_op() -> None:
    """Rate 0 leaves the network, its outputs, gradients and the random stream as without it; in eval any rate
    is the identity."""
    x, lens = batch(pad_value=2.0)
    outs = []
    for extra in ({}, {"branch_dropout": 0.0}):
        net = net_of(seed=4, **SKIP, **extra).train()
        torch.manual_seed(9)
        logits = net(x, lens).logits
        logits.sum().backward()
        outs.append((logits, [p.grad.clone() for p in net.parameters()], torch.get_rng_state()))
    (a, ga, ra), (b, gb, rb) = outs
    assert torch.equal(a, b) and all(torch.equal(u, v) for u, v in zip(ga, gb)) and torch.equal(ra, rb)
    plain, dropped = net_of(seed=4, **SKIP).eval(), net_of(seed=4, **SKIP, branch_dropout=0.8).eval()
    assert torch.equal(plain(x, lens).logits, dropped(x, lens).logits)


@pytest.mark.parametrize("p", [0.3, 0.8])
def test_branch_dropout_drops_the_rnns_features_only(p: float) -> None:
    """In training the head reads dropout(the RNN's pooled output, p) (inverted: kept units scaled by 1 / (1 - p))
    next to the front end's average, which is never dropped; output_dropout would drop both."""
    x, lens = batch(pad_value=2.0)
    for keep in ("front", "rnn"):  # fresh networks each time: one half of the head zeroed, the other as built
        plain, dropped = net_of(seed=6, **SKIP).train(), net_of(seed=6, **SKIP, branch_dropout=p).train()
        _halves(plain, keep)
        _halves(dropped, keep)
        torch.manual_seed(11)
        got = dropped(x, lens).logits
        if keep == "front":  # the front end's side: exactly as without the branch dropout
            torch.testing.assert_close(got, plain(x, lens).logits, rtol=0, atol=0)
            continue
        pooled = plain(x, lens).pooled
        torch.manual_seed(11)
        mask = nn.functional.dropout(torch.ones_like(pooled), p)
        kept = mask[mask != 0]
        assert 0 < kept.numel() < mask.numel()
        torch.testing.assert_close(kept, torch.full_like(kept, 1 / (1 - p)))
        rnn_side = plain.head.weight[:, :H]
        assert rnn_side.abs().sum() > 0 and not torch.equal(got, plain(x, lens).logits)  # the dropout shows
        torch.testing.assert_close(got, (pooled * mask) @ rnn_side.T + plain.head.bias)

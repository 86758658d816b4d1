"""Data augmentation (scaling, magnitude / time warping, window slicing, mixup, cutmix) and weight averaging (EMA,
SWA), by value: each off leaves the model bit-identical, each is a no-op in eval mode, each does what it says on
variable-length batches without reading or writing past a sequence's length, and a tiny fit trains with each on."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import C_IN, H, K, build, make_batch
from pytorch_lightning.callbacks import Callback
from torch import nn
from torch.nn import functional as F

from models.classifier import RNNClassifier
from models.config import ConfigError, TrainConfig, split_params
from models.datamodule import SequenceDataModule
from models.regularizers import (
    Augment,
    WeightAverage,
    cutmix,
    magnitude_warp,
    mixup,
    ordered_batches,
    scale,
    time_warp,
    window_slice,
)
from models.regularizers.mixup import mix_coefficients
from models.regularizers.resample import KNOTS, sample_at
from models.regularizers.time_warp import warp_positions
from models.regularizers.weight_average import ema_weight
from models.regularizers.window_slice import slice_positions
from models.train import evaluate, fit
from search.checkpoints import TrialCheckpoints, _Directory
from search.spec import StudyFileError, parse_study

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
LENGTHS = (9, 4, 7, 1, 9, 2)
NEW = ("scaling", "magnitude_warp", "time_warp", "window_slice", "mixup", "cutmix", "ema_decay", "swa_start")
#: each new regularizer on, at a strength that makes its effect plain
ON: dict[str, dict[str, Any]] = {
    "scaling": {"scaling": 0.3},
    "magnitude_warp": {"magnitude_warp": 0.3},
    "time_warp": {"time_warp": 0.5},
    "window_slice": {"window_slice": 0.3},
    "mixup": {"mixup": 0.4},
    "cutmix": {"cutmix": 0.4},
    "mixup+cutmix": {"mixup": 0.4, "cutmix": 0.4},
    "mixup+label_smoothing": {"mixup": 0.4, "label_smoothing": 0.1},
    "all augmentations": {"scaling": 0.2, "magnitude_warp": 0.2, "time_warp": 0.3, "window_slice": 0.2, "cutmix": 1.0},
    "ema_decay": {"ema_decay": 0.9},
    "swa_start": {"swa_start": 0.5},
    "swa_start+batch norm": {"swa_start": 0.5, "norm": "batch"},
    "ema_decay+swa_start": {"ema_decay": 0.9, "swa_start": 0.5},
}


def nan_padded(lengths: tuple[int, ...] = LENGTHS, channels: int = C_IN, seed: int = 0) -> Batch:
    """A batch whose padding is NaN: anything that reads past a length turns its output NaN."""
    return make_batch(lengths, channels, seed, pad_value=float("nan"))


def ramp(lengths: tuple[int, ...], channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """x[b, t] = t on the valid steps, NaN past them: a linear signal, so an interpolated read returns its position."""
    lens = torch.tensor(lengths)
    t = torch.arange(max(lengths), dtype=torch.float32)
    x = t.view(1, -1, 1).expand(len(lengths), -1, channels).clone()
    x[t.unsqueeze(0).expand(len(lengths), -1) >= lens.unsqueeze(1)] = float("nan")
    return x, lens


def assert_clean(out: torch.Tensor, lengths: torch.Tensor) -> None:
    """Finite everywhere (nothing read past a length) and exactly zero on the padding."""
    assert torch.isfinite(out).all(), "a NaN from the padding leaked in: something read past a length"
    pad = torch.arange(out.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
    assert not out[pad].any(), "padding must stay zero"


def tiny_fit(params: dict[str, Any], epochs: int = 2, val_fraction: float = 0.2, seed: int = 0, **kwargs: Any) -> Any:
    data = SequenceDataModule("synthetic:n=48,length=10", batch_size=16, val_fraction=val_fraction, seed=0)
    rnn, train = split_params({"hidden_size": H, "max_epochs": epochs, "patience": 0, "seed": seed, **params},
                              input_size=data.input_size, num_classes=data.num_classes)  # fmt: skip
    return fit(rnn, train, data, accelerator="cpu", **kwargs), data


# ---------------------------------------------------------------------------------------------- off, eval
@pytest.mark.parametrize("name", NEW)
def test_each_off_is_bit_identical(name: str) -> None:
    """At 0 there is no augmenter and no averager: same state dict, loss, gradients, step, RNG stream, and fit."""
    x, lengths, y = batch = make_batch()
    off: dict[str, Any] = {name: 0.0}
    plain, variant = build(lr=0.1), build(lr=0.1, **off)
    assert variant.augment is None and variant.averager is None
    assert list(variant.state_dict()) == list(plain.state_dict())
    results = []
    for model in (plain, variant):
        torch.manual_seed(7)
        opt = model.configure_optimizers()
        loss = model.training_step(batch, 0)
        loss.backward()
        opt.step()
        results.append((loss.detach(), [torch.clone(p.grad) for p in model.parameters()],  # type: ignore[arg-type]
                        [p.detach().clone() for p in model.parameters()], torch.get_rng_state()))  # fmt: skip
    (loss_a, grads_a, params_a, rng_a), (loss_b, grads_b, params_b, rng_b) = results
    assert torch.equal(loss_a, loss_b) and torch.equal(rng_a, rng_b)
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))

    (fit_a, _), (fit_b, _) = tiny_fit({}), tiny_fit({name: 0})
    assert fit_a.history == fit_b.history
    for (k, a), b in zip(fit_a.model.state_dict().items(), fit_b.model.state_dict().values()):
        assert torch.equal(a, b), k


AUGMENTS = [k for k in ON if not ({"ema_decay", "swa_start"} & set(ON[k]))]


@pytest.mark.parametrize("case", AUGMENTS)
def test_augmentation_is_a_no_op_in_eval_mode(case: str) -> None:
    params = {k: v for k, v in ON[case].items() if k != "label_smoothing"}
    aug = Augment(K, **params)
    x, lengths, y = nan_padded()
    rng = torch.get_rng_state()
    out_x, out_y = aug.eval()(x, lengths, y)
    assert out_x is x and out_y is y and torch.equal(torch.get_rng_state(), rng)
    out_x, out_y = aug.train()(x, lengths, y)
    assert not torch.equal(torch.nan_to_num(out_x), torch.nan_to_num(x))
    assert_clean(out_x, lengths)
    model, plain = build(**ON[case]), build()  # validation never augments: the same metrics as the plain model
    for m in (model, plain):
        m.eval().validation_step((x.nan_to_num(), lengths, y), 0)
    assert model.val_metrics == plain.val_metrics


@pytest.mark.parametrize("case", AUGMENTS)
def test_augmentation_is_seeded_by_the_global_generator(case: str) -> None:
    params = {k: v for k, v in ON[case].items() if k != "label_smoothing"}
    aug = Augment(K, **params).train()
    x, lengths, y = nan_padded()
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        runs.append(aug(x, lengths, y))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][0], runs[2][0])


# ---------------------------------------------------------------------------------------------- each technique
def test_scaling_multiplies_each_sequence_and_channel_by_one_factor_around_one() -> None:
    std = 0.3
    x = torch.ones(2000, 20, 4)
    x[1000:, 7:] = 0.0
    out = scale(x, std)
    factor = out[:, 0]  # (B, C): one factor per sequence and channel ...
    assert torch.equal(out[:1000], factor[:1000].unsqueeze(1).expand(-1, 20, -1))  # ... held over all steps
    assert factor.mean().item() == pytest.approx(1.0, abs=0.02)
    assert factor.std().item() == pytest.approx(std, rel=0.05)
    assert not out[1000:, 7:].any()
    assert scale(x, 0.0) is x


def test_magnitude_warp_is_a_smooth_curve_through_normal_knots() -> None:
    std, n = 0.3, 2000
    lengths = torch.tensor([10] * n + [4] * n)  # knots at steps 0, 3, 6, 9 and at 0, 1, 2, 3
    x = torch.ones(2 * n, 10, 2)
    x[n:, 4:] = 0.0
    curve = magnitude_warp(x, lengths, std)
    assert not curve[n:, 4:].any()
    long, short = curve[:n], curve[n:, :4]
    knots = long[:, [0, 3, 6, 9]]
    assert knots.mean().item() == pytest.approx(1.0, abs=0.02) and knots.std().item() == pytest.approx(std, rel=0.05)
    torch.testing.assert_close(short.std().item(), std, rtol=0.05, atol=0)  # the short ones: every step is a knot
    for k in range(KNOTS - 1):  # between two knots the curve stays between them (no overshoot) ...
        seg, lo, hi = long[:, 3 * k : 3 * k + 4], knots[:, k : k + 1], knots[:, k + 1 : k + 2]
        assert (seg >= torch.minimum(lo, hi) - 1e-6).all() and (seg <= torch.maximum(lo, hi) + 1e-6).all()
    # ... with the smoothstep's values at 1/3 and 2/3 of the way: 7/27 and 20/27
    torch.testing.assert_close(long[:, 1], knots[:, 0] + (knots[:, 1] - knots[:, 0]) * 7 / 27)
    torch.testing.assert_close(long[:, 2], knots[:, 0] + (knots[:, 1] - knots[:, 0]) * 20 / 27)
    x, lengths, _ = nan_padded()
    warped = Augment(K, magnitude_warp=std).train()(x, lengths, torch.zeros(len(x), dtype=torch.long))[0]
    assert_clean(warped, lengths)


def test_time_warp_keeps_the_ends_and_is_strictly_monotone() -> None:
    lens = (30, 12, 5, 2, 1, 30)
    x, lengths = ramp(lens, channels=2)
    torch.manual_seed(0)
    pos = warp_positions(lengths, x.shape[1], 0.5)
    torch.manual_seed(0)
    out = time_warp(x, lengths, 0.5)
    assert_clean(out, lengths)
    for b, n in enumerate(lens):
        p = pos[b, :n]
        assert p[0] == 0 and p[-1] == n - 1, "both ends stay"
        assert (p[1:] > p[:-1]).all(), "strictly increasing"
        torch.testing.assert_close(out[b, :n, 0], p)  # a linear signal read at p is p: the warp itself
    assert (pos[0, 1:29] - torch.arange(1, 29)).abs().max() > 0.5, "it does distort time"
    speeds = pos[0, 1:30] - pos[0, :29]  # smooth: the local speed changes gradually
    assert (speeds[1:] - speeds[:-1]).abs().max() < 0.5 * speeds.mean()
    assert time_warp(x, lengths, 0.0) is x


@pytest.mark.parametrize("strength", [22.0, 26.0, 1.0e4])
def test_a_strong_time_warp_stays_finite(strength: float) -> None:
    """exp(strength * N(0, 1)) overflowed float32 from strength ~22: NaN positions, then an int64-minimum index
    error at random in a fraction of the batches (19 of 20 at 26)."""
    x, lengths = ramp((24,) * 500, channels=1)
    torch.manual_seed(0)
    out = time_warp(x, lengths, strength)
    assert torch.isfinite(out).all()
    pos = warp_positions(lengths, x.shape[1], strength)
    assert (pos[:, 0] == 0).all() and (pos[:, -1] == 23).all() and (pos[:, 1:] >= pos[:, :-1]).all()


@pytest.mark.parametrize("strength", [50.0, 1.0e3])
def test_a_strong_time_warp_keeps_the_last_step_of_a_two_step_sequence(strength: float) -> None:
    """Both knots a length-2 sequence reads underflowed to 0 from strength ~30 (46 % of them at 1e3): it read
    [x0, x0]. Knots more than 90 below the top are raised to e^-60."""
    x, lengths = ramp((2,) * 2000, channels=1)
    torch.manual_seed(0)
    pos = warp_positions(lengths, x.shape[1], strength)
    assert (pos[:, 0] == 0).all() and (pos[:, 1] == 1).all()


def test_window_slice_crops_a_window_and_stretches_it_back() -> None:
    rate, lens = 0.3, (11, 6, 2, 1, 11)
    x, lengths = ramp(lens)
    torch.manual_seed(1)
    pos = slice_positions(lengths, x.shape[1], rate)
    torch.manual_seed(1)
    out = window_slice(x, lengths, rate)
    assert out.shape == x.shape
    assert_clean(out, lengths)
    for b, n in enumerate(lens):
        seq = out[b, :n, 0]
        torch.testing.assert_close(seq, pos[b, :n])
        assert 0 <= seq[0] <= (n - 1) * rate + 1e-6 and seq[-1] <= n - 1 + 1e-5  # a window inside the valid span
        torch.testing.assert_close(seq[-1] - seq[0], torch.tensor((n - 1) * (1 - rate)))  # covering 1 - rate of it
    starts = slice_positions(torch.full((4000,), 11), 11, rate)[:, 0]
    assert starts.min() >= 0 and starts.max() <= 10 * rate and starts.mean().item() == pytest.approx(1.5, rel=0.05)
    assert window_slice(x, lengths, 0.0) is x


def test_sample_at_reads_valid_steps_only_and_exact_at_integers() -> None:
    x, lengths, _ = nan_padded()
    t = torch.arange(x.shape[1], dtype=torch.float32).expand(len(x), -1)
    out = sample_at(x, t, lengths, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(out[b, :n], x[b, :n])
    assert_clean(out, lengths)
    beyond = sample_at(x, t + 100, lengths, lengths)  # far past the end: clamped to the last valid step
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(beyond[b, :n], x[b, n - 1].expand(n, -1))


def test_mixup_coefficients_are_beta_draws_and_labels_sum_to_one() -> None:
    alpha, b = 0.4, 6
    lengths = torch.full((b,), 5)
    x = (torch.arange(b, dtype=torch.float32) + 1).view(-1, 1, 1).expand(-1, 5, 2).clone()  # sequence i holds i + 1
    target = torch.eye(b)  # class i for sequence i: the labels say who was mixed with whom, and how much
    torch.manual_seed(11)
    lam = torch.distributions.Beta(torch.tensor(alpha), torch.tensor(alpha)).sample((b,))
    perm = torch.randperm(b)
    torch.manual_seed(11)
    assert torch.equal(mix_coefficients(alpha, b, torch.device("cpu")), lam)
    torch.manual_seed(11)
    mixed, soft = mixup(x, lengths, target, alpha)
    torch.testing.assert_close(soft.sum(1), torch.ones(b))
    for i in range(b):
        j = int(perm[i])
        want = torch.zeros(b)
        want[i] += lam[i]
        want[j] += 1 - lam[i]
        torch.testing.assert_close(soft[i], want)
        torch.testing.assert_close(mixed[i], torch.full((5, 2), (lam[i] * (i + 1) + (1 - lam[i]) * (j + 1)).item()))
    big = mix_coefficients(0.4, 20000, torch.device("cpu"))  # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1))
    assert big.mean().item() == pytest.approx(0.5, abs=0.01)
    assert big.var().item() == pytest.approx(1 / (4 * (2 * 0.4 + 1)), rel=0.05)


def test_mixup_resamples_a_partner_of_another_length_to_the_sequence_own_length() -> None:
    x, lengths = ramp((9, 3, 5, 2))
    target = torch.eye(4)
    torch.manual_seed(2)
    lam = mix_coefficients(1.0, 4, torch.device("cpu"))
    perm = torch.randperm(4)
    torch.manual_seed(2)
    mixed, _ = mixup(x, lengths, target, 1.0)
    assert_clean(mixed, lengths)
    for i, n in enumerate(lengths.tolist()):
        m = int(lengths[perm[i]])
        stretched = torch.arange(n, dtype=torch.float32) * ((m - 1) / max(n - 1, 1))  # the partner's ramp, resampled
        torch.testing.assert_close(mixed[i, :n, 0], lam[i] * torch.arange(n) + (1 - lam[i]) * stretched)


def test_cutmix_segment_share_equals_the_label_weight() -> None:
    lens = (20, 13, 7, 1, 20, 10, 16, 4)
    b = len(lens)
    lengths = torch.tensor(lens)
    x = (torch.arange(b, dtype=torch.float32) + 1).view(-1, 1, 1).expand(-1, 20, 3).clone()
    x[torch.arange(20).unsqueeze(0) >= lengths.unsqueeze(1)] = float("nan")
    shares = []
    for seed in range(25):
        torch.manual_seed(seed)
        mixed, soft = cutmix(x, lengths, torch.eye(b), 1.0)
        assert_clean(mixed, lengths)
        torch.testing.assert_close(soft.sum(1), torch.ones(b))
        for i, n in enumerate(lens):
            seq = mixed[i, :n, 0]
            swapped = seq != i + 1
            partner = int(seq[swapped][0]) - 1 if swapped.any() else i
            assert (seq[swapped] == partner + 1).all()
            idx = swapped.nonzero().flatten()
            assert len(idx) == 0 or (idx[-1] - idx[0] + 1) == len(idx), "one contiguous segment"
            share = swapped.sum().item() / n
            if partner != i:
                assert soft[i, partner].item() == pytest.approx(share, abs=1e-6)
                assert soft[i, i].item() == pytest.approx(1 - share, abs=1e-6)
                shares.append(share)
    assert 0.3 < sum(shares) / len(shares) < 0.7  # Beta(1, 1): on average half the sequence


def test_mixup_loss_is_soft_cross_entropy_with_label_smoothing() -> None:
    ls = 0.1
    model = build(mixup=0.4, label_smoothing=ls)
    x, lengths, y = batch = make_batch()
    torch.manual_seed(5)
    assert model.augment is not None
    mixed, soft = model.augment(x, lengths, y)
    torch.manual_seed(5)
    loss = model.training_step(batch, 0)
    logits = model.net(mixed, lengths).logits
    by_hand = -(((1 - ls) * soft + ls / K) * F.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(loss, by_hand)


def test_config_checks_name_the_field_and_range() -> None:
    for name in ("window_slice", "ema_decay", "swa_start"):
        with pytest.raises(ConfigError, match=rf"^{name}=1.0: must be in \[0, 1\) \(0 = off\)$"):
            TrainConfig(**{name: 1.0})  # type: ignore[arg-type]
    for name in NEW:
        with pytest.raises(ConfigError, match=rf"^{name}=-0.1: must be a finite number >= 0 \(0 = off\)$"):
            TrainConfig(**{name: -0.1})  # type: ignore[arg-type]
    raw = {
        "name": "x",
        "dataset": "synthetic",
        "budget": {"trials": 1},
        "search": {"ema_decay": {"low": 0.9, "high": 1}},
    }
    with pytest.raises(StudyFileError, match="search.ema_decay.high: ema_decay is a rate"):
        parse_study(raw, Path("x.yaml"))


# ---------------------------------------------------------------------------------------------- weight averaging
def _net() -> nn.Module:
    return build(norm="batch", num_layers=2).net


def _set_weights(net: nn.Module, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g))
    return [t.clone() for t in net.state_dict().values() if t.is_floating_point()]


def test_ema_equals_the_warmed_up_hand_computation() -> None:
    decay, net = 0.8, _net()
    avg = WeightAverage(net, ema_decay=decay)
    assert not avg.ready
    snaps = []
    for step in range(5):
        snaps.append(_set_weights(net, step))
        avg.update(net, epoch=0)
    want = [t.clone() for t in snaps[0]]  # the first update copies
    for n in range(2, 6):  # then decay min(0.8, (1 + n) / (10 + n)): 3/12, 4/13, 5/14, 6/15
        d = min(decay, (1 + n) / (10 + n))
        want = [d * w + (1 - d) * s for w, s in zip(want, snaps[n - 1], strict=True)]
    for a, w in zip(avg.averages, want, strict=True):
        torch.testing.assert_close(a, w, rtol=1e-5, atol=1e-6)
    assert avg.ema_steps == 5 and avg.steps.tolist() == [5, 0]


def test_ema_follows_training_early_and_reaches_its_decay_late() -> None:
    """Weights moving steadily (w_k = k): 20 updates in, the warmed-up EMA lags ~2 steps, where a bias-corrected
    one of decay 0.99 would sit at the mean of all 20 (10.5); after 5,000 the factor is the decay itself."""
    net = _net()
    avg = WeightAverage(net, ema_decay=0.99)
    first = next(t for t in net.state_dict().values() if t.is_floating_point())
    for k in range(1, 21):
        with torch.no_grad():
            for t in net.state_dict().values():
                if t.is_floating_point():
                    t.fill_(float(k))
        avg.update(net, epoch=0)
    assert first.shape == avg.averages[0].shape
    assert 17.0 < float(avg.averages[0].flatten()[0]) < 19.0
    assert ema_weight(0.99, 1) == 1.0 and ema_weight(0.99, 5000) == pytest.approx(0.01)


def test_swa_batch_norm_recompute_skips_a_chunk_with_one_valid_position() -> None:
    """SWA's recompute reads the training part 256 sequences at a time; a last chunk of one length-1 sequence
    raised "Expected more than 1 value per channel" (the BatchNorm trains alone in an eval net, and the lone-position
    guard read the wrapper's mode): 257 one-step training sequences failed every trial. The chunk adds nothing."""
    model = build(norm="batch", swa_start=0.01)
    net, avg = model.net, model.averager
    assert avg is not None
    avg.update(net, 0)
    x, lengths, _ = make_batch()
    lone = (x[:1, :1], torch.ones(1, dtype=lengths.dtype))
    bn: Any = net.norms[0].norm
    net.eval()
    avg.swap_in(net, [(x, lengths)])
    expected = (bn.running_mean.clone(), bn.running_var.clone())
    avg.swap_out(net)
    avg.swap_in(net, [(x, lengths), lone])
    assert torch.equal(bn.running_mean, expected[0]) and torch.equal(bn.running_var, expected[1])
    avg.swap_out(net)


def test_swa_is_the_mean_of_the_snapshots_from_its_start_epoch() -> None:
    net = _net()
    for ema in (0.0, 0.5):  # with EMA on, EMA holds until SWA starts, then SWA's plain mean replaces it
        avg = WeightAverage(net, ema_decay=ema, swa_start_epoch=2)
        snaps = []
        for epoch in range(5):
            for step in range(2):
                w = _set_weights(net, 10 * epoch + step)
                avg.update(net, epoch)
                if epoch >= 2:
                    snaps.append(w)
            assert avg.ready == (epoch >= 2 or ema > 0)
        assert avg.swa_steps == 6 and avg.ema_steps == (4 if ema else 0)
        for i, a in enumerate(avg.averages):
            torch.testing.assert_close(a, torch.stack([s[i] for s in snaps]).mean(0), rtol=1e-5, atol=1e-6)


def test_swap_in_and_out_and_batch_norm_recomputed_for_swa() -> None:
    model = build(norm="batch", swa_start=0.01)
    net = model.net
    avg = model.averager
    assert avg is not None and avg.swa_start_epoch == 0
    avg.update(net, 0)
    training = _set_weights(net, 99)
    x, lengths, _ = make_batch()
    seen: list[torch.Tensor] = []
    bn: Any = net.norms[0].norm
    bn.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach()))
    net.eval()
    rng = torch.get_rng_state()
    avg.swap_in(net, [(x, lengths)])
    assert torch.equal(torch.get_rng_state(), rng), "the BatchNorm pass draws nothing"
    assert not net.training, "every module back in its mode"
    state = net.state_dict()
    for name, a in zip(avg.names, avg.averages):
        if "running" not in name:
            assert torch.equal(state[name], a), name
    assert isinstance(bn, nn.BatchNorm1d) and bn.running_mean is not None and bn.running_var is not None
    torch.testing.assert_close(bn.running_mean, seen[0].mean(0))  # the averaged net's own statistics, valid steps only
    torch.testing.assert_close(bn.running_var, seen[0].var(0, unbiased=True))
    assert seen[0].shape[0] == int(lengths.sum())
    avg.swap_out(net)
    avg.swap_out(net)  # twice: harmless
    for a, b in zip(training, [t for t in net.state_dict().values() if t.is_floating_point()]):
        assert torch.equal(a, b), "training weights restored exactly"


def test_ordered_batches_leave_the_batch_order_alone() -> None:
    data = SequenceDataModule("synthetic:n=40,length=8", batch_size=16, seed=0)
    loader = data.train_dataloader()
    generator = loader.sampler.generator  # type: ignore[attr-defined]
    before = generator.get_state()
    batches = list(ordered_batches(loader, batch_size=16))
    assert torch.equal(generator.get_state(), before)
    assert [len(x) for x, _ in batches] == [16, 16]
    assert torch.equal(batches[0][1], torch.from_numpy(data.train_set.lengths[:16]))  # in order
    assert list(ordered_batches(None)) == []


def test_the_average_is_saved_in_the_state_dict_and_a_reload_continues_it() -> None:
    net = _net()
    a, b = WeightAverage(net, ema_decay=0.7, swa_start_epoch=3), WeightAverage(net, ema_decay=0.7, swa_start_epoch=3)
    for epoch in range(3):
        _set_weights(net, epoch)
        a.update(net, epoch)
    assert any(k.startswith("avg_") for k in a.state_dict())
    b.load_state_dict(a.state_dict())
    assert (b.ema_steps, b.swa_steps) == (3, 0)
    for epoch in range(3, 5):
        _set_weights(net, epoch)
        a.update(net, epoch), b.update(net, epoch)
    for x, y in zip(a.averages, b.averages):
        assert torch.equal(x, y)


@pytest.mark.parametrize("params", [{"ema_decay": 0.9}, {"swa_start": 0.3, "norm": "batch"}], ids=["ema", "swa-bn"])
def test_validation_measures_the_average_and_the_fit_returns_it(params: dict[str, Any]) -> None:
    result, data = tiny_fit(params, epochs=3)
    model = result.model
    averaged = dict(zip(model.averager.names, model.averager.averages))
    for name, t in model.net.state_dict().items():
        if name in averaged and "running" not in name:
            assert torch.equal(t, averaged[name]), name
    assert evaluate(model, data.val_set)["loss"] == pytest.approx(result.best["val_loss"], rel=1e-5)
    plain, _ = tiny_fit({"norm": params.get("norm", "none")}, epochs=3)
    assert plain.history != result.history  # same training, other weights measured

    final, _ = tiny_fit(params, epochs=3, val_fraction=0.0)  # the final refit: no validation, the average is kept
    averaged = dict(zip(final.model.averager.names, final.model.averager.averages))
    for name, t in final.model.net.state_dict().items():
        if name in averaged and "running" not in name:
            assert torch.equal(t, averaged[name]), name


def test_with_swa_the_best_epoch_is_an_averaged_one_and_early_stopping_waits_for_it() -> None:
    """A fold that early-stopped before SWA began trained bit for bit as the plain model while the trial said
    ``swa_start 0.75``: the best epoch now comes from SWA's start on, and patience counts from there."""
    params = {"swa_start": 0.75, "patience": 1, "lr": 0.05}
    plain, _ = tiny_fit({"patience": 1, "lr": 0.05}, epochs=12)
    assert plain.epochs_run < 9  # the plain fit stops early, before epoch 9 where SWA begins
    result, _ = tiny_fit(params, epochs=12)
    assert result.best["epoch"] >= 9 and result.epochs_run >= 10
    assert result.model.averager.swa_steps > 0  # the kept weights are an average
    before = len(plain.history)  # until then both trained the same weights
    assert [r["val_loss"] for r in result.history[:before]] == [r["val_loss"] for r in plain.history]


def test_trials_run_before_the_swa_rule_are_named_on_resume(tmp_path: Path) -> None:
    """A study resumed across the change mixed trials whose SWA folds stopped before SWA began (scored as the
    plain model) with today's, unsaid: today's trials record the epoch their best is chosen from, older ones are
    named."""
    import optuna

    from search.objective import SWA_FROM_ATTR, Objective, older_swa_note, older_swa_trials

    raw = {"name": "swa", "dataset": "synthetic:n=48,length=10", "architecture": {"hidden_size": H},
           "budget": {"trials": 1, "max_epochs": 4}, "cv_folds": 1, "recipes": False, "introspect": False,
           "search": {"dropout": {"low": 0.0, "high": 0.3}}, "fixed": {"swa_start": 0.5, "lr": 0.01}}  # fmt: skip
    spec = parse_study(raw, tmp_path / "swa.yaml")
    study = optuna.create_study(direction="maximize")
    study.optimize(Objective(spec, accelerator="cpu"), n_trials=1)
    assert study.trials[0].user_attrs[SWA_FROM_ATTR] == 2 and older_swa_note(study) is None
    old = optuna.trial.create_trial(value=0.5, params={}, distributions={},
                                    user_attrs={"config": {"swa_start": 0.5}})  # fmt: skip
    study.add_trial(old)
    plain = optuna.trial.create_trial(value=0.5, params={}, distributions={}, user_attrs={"config": {"swa_start": 0.0}})
    study.add_trial(plain)
    assert older_swa_trials(study) == [1]
    note = older_swa_note(study)
    assert note is not None and note.startswith("note: trial(s) #1 ran swa_start before")


def test_a_resumed_fit_continues_the_average(tmp_path: Path) -> None:
    """A trial checkpoint (saved at an epoch's end) carries the average: resumed == uninterrupted."""

    class StopAfter(Callback):
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 1:
                trainer.should_stop = True

    params = {"ema_decay": 0.8, "swa_start": 0.5, "mixup": 0.3}
    whole, _ = tiny_fit(params, epochs=4)
    owner = TrialCheckpoints(_Directory(tmp_path), "t", rerun=False)
    tiny_fit(params, epochs=4, callbacks=[owner.callback(0), StopAfter()])
    ckpt = tmp_path / "t" / "fold-0.ckpt"
    assert any(k.startswith("averager.") for k in torch.load(ckpt, weights_only=False)["state_dict"])
    resumed, _ = tiny_fit(params, epochs=4, callbacks=[owner.callback(0)], ckpt_path=str(ckpt))
    assert resumed.history == whole.history
    for (k, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


# ---------------------------------------------------------------------------------------------- tiny fits
@pytest.mark.parametrize("case", list(ON))
def test_a_tiny_fit_trains_with_each_on(case: str) -> None:
    (a, _), (b, _) = tiny_fit(ON[case]), tiny_fit(ON[case])
    assert a.epochs_run == 2 and all(math.isfinite(r["val_loss"]) and math.isfinite(r["train_loss"]) for r in a.history)
    assert a.history == b.history, "seeded: a re-run is identical"
    bidi = build(bidirectional=True, pooling="mean", **ON[case])  # padding-aware paths of the net, one step
    x, lengths, y = make_batch()
    opt = bidi.configure_optimizers()
    bidi.training_step((x, lengths, y), 0).backward()
    opt.step()
    assert all(torch.isfinite(p).all() for p in bidi.parameters())
    assert isinstance(bidi, RNNClassifier)

"""models.introspect: statistics with known answers, per-gate splitting, the callback on a real fit, diagnoses."""

from __future__ import annotations

import json
import logging
import math
import warnings
from types import SimpleNamespace

import pytest
import torch

from models import introspect as I
from models.classifier import RNNClassifier
from models.config import GATES, RNNConfig, TrainConfig
from models.introspect import callback as C
from models.network import RNNClassifierNet

CELLS = ("lstm", "gru", "rnn")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: intra-op threads only add synchronization (and stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_net(cell: str = "lstm", hidden: int = 8, inputs: int = 3, seed: int = 0, **kw) -> RNNClassifierNet:
    torch.manual_seed(seed)
    return RNNClassifierNet(RNNConfig(input_size=inputs, num_classes=2, cell=cell, hidden_size=hidden, **kw)).eval()


def make_batch(batch: int = 6, steps: int = 12, inputs: int = 3, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, steps + 1, (batch,), generator=g)
    lengths[0] = steps
    x = torch.randn(batch, steps, inputs, generator=g)
    x = x * (torch.arange(steps)[None, :, None] < lengths[:, None, None])
    return x, lengths


def rnn_param(net: RNNClassifierNet, name: str, layer: int = 0, reverse: bool = False) -> torch.Tensor:
    return getattr(net.layers[layer].rnn, f"{name}_l0{'_reverse' if reverse else ''}")


def strict_json(d: object) -> None:
    json.dumps(d, allow_nan=False)


# ---------------------------------------------------------------------------------------------- gates
@pytest.mark.parametrize("cell", CELLS)
def test_split_gates_follows_pytorch_order(cell: str) -> None:
    gates = GATES[cell]
    w = torch.arange(len(gates) * 4, dtype=torch.float32).repeat_interleave(3).view(-1, 3)  # row r holds r
    blocks = I.split_gates(w, cell)
    assert list(blocks) == list(gates)
    for k, g in enumerate(gates):
        assert blocks[g].shape == (4, 3)
        assert blocks[g][:, 0].tolist() == list(range(4 * k, 4 * k + 4))
    if len(gates) > 1:
        with pytest.raises(ValueError, match="do not split"):
            I.split_gates(torch.zeros(len(gates) * 4 + 1, 3), cell)


@pytest.mark.parametrize("cell", CELLS)
def test_per_gate_keys_land_on_the_planted_layer_direction_and_gate(cell: str) -> None:
    net = make_net(cell, hidden=4, num_layers=2, bidirectional=True)
    prefixes = [p for p, _, _ in I.recurrent_weights(net)]
    assert prefixes == ["L0.fwd", "L0.bwd", "L1.fwd", "L1.bwd"]
    gates = GATES[cell]
    target = gates[-1]
    with torch.no_grad():
        w = rnn_param(net, "weight_hh", layer=1, reverse=True)
        w.zero_()
        k = gates.index(target)
        w[4 * k : 4 * k + 4] = 2.0  # every entry of the last gate's block: row norm 2 * sqrt(4) = 4
    stats = I.weight_stats(net)
    assert stats[f"L1.bwd.recurrent.{target}.max_unit"] == pytest.approx(4.0)
    assert stats[f"L1.bwd.recurrent.{target}.l2"] == pytest.approx(8.0)
    assert stats[f"L1.bwd.recurrent.{target}.spectral"] == pytest.approx(8.0, rel=1e-5)  # 2 * ones(4, 4)
    for g in gates[:-1]:
        assert stats[f"L1.bwd.recurrent.{g}.l2"] == 0.0
    assert stats["L1.fwd.recurrent." + target + ".l2"] != pytest.approx(8.0)
    # the second layer's kernel reads both directions of the first: (G*H, 2H)
    assert rnn_param(net, "weight_ih", layer=1).shape == (len(gates) * 4, 8)
    for p in prefixes:
        for g in gates:
            for key in (f"{p}.kernel.{g}.l2", f"{p}.recurrent.{g}.spectral", f"{p}.bias.{g}.mean"):
                assert key in stats
    strict_json(stats)


# ---------------------------------------------------------------------------------------------- weights
@pytest.mark.parametrize("cell", CELLS)
def test_spectral_norm_of_orthogonal_gate_blocks(cell: str) -> None:
    hidden = 6
    net = make_net(cell, hidden=hidden)
    gates = GATES[cell]
    scales = [0.4, 1.7, 0.9, 2.5][: len(gates)]
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        w = rnn_param(net, "weight_hh")
        for k, s in enumerate(scales):
            q, _ = torch.linalg.qr(torch.randn(hidden, hidden, generator=g))
            w[k * hidden : (k + 1) * hidden] = s * q
    stats = I.weight_stats(net)
    for gate, s in zip(gates, scales):
        assert stats[f"L0.fwd.recurrent.{gate}.spectral"] == pytest.approx(s, rel=1e-5)
        assert stats[f"L0.fwd.recurrent.{gate}.max_unit"] == pytest.approx(s, rel=1e-5)  # unit rows
        assert stats[f"L0.fwd.recurrent.{gate}.l2"] == pytest.approx(s * math.sqrt(hidden), rel=1e-5)
    # the stacked matrix [s_g Q_g] has W^T W = sum s_g^2 I
    whole = math.sqrt(sum(s * s for s in scales))
    assert stats["L0.fwd.recurrent.spectral"] == pytest.approx(whole, rel=1e-5)
    assert stats["recurrent.spectral"] == pytest.approx(whole, rel=1e-5)
    assert stats["recurrent.spectral_gate_max"] == pytest.approx(max(scales), rel=1e-5)
    # the exact public helper agrees
    assert float(I.spectral_norm(rnn_param(net, "weight_hh"))) == pytest.approx(whole, rel=1e-5)
    assert float(I.spectral_norm(torch.diag(torch.tensor([3.0, -5.0, 1.0])))) == pytest.approx(5.0)


def test_max_unit_norm_finds_a_planted_row_and_bias() -> None:
    net = make_net("lstm", hidden=5, inputs=4)
    with torch.no_grad():
        w = rnn_param(net, "weight_ih")
        w.uniform_(-0.1, 0.1)  # every row norm <= 0.2
        w[3 * 5 + 2] = torch.tensor([0.0, 3.0, 0.0, 4.0])  # output gate, unit 2: norm 5
        rnn_param(net, "bias_ih").zero_()
        rnn_param(net, "bias_hh").zero_()
        rnn_param(net, "bias_hh")[1 * 5 + 4] = -6.0  # forget gate, unit 4
    stats = I.weight_stats(net)
    assert stats["L0.fwd.kernel.o.max_unit"] == pytest.approx(5.0)
    assert stats["kernel.max_unit"] == pytest.approx(5.0)
    for g in "ifg":
        assert stats[f"L0.fwd.kernel.{g}.max_unit"] <= 0.2 + 1e-6
    assert stats["L0.fwd.bias.f.max_abs"] == pytest.approx(6.0)
    assert stats["L0.fwd.bias.f.mean"] == pytest.approx(-6.0 / 5)
    assert stats["L0.fwd.bias.i.l2"] == 0.0
    assert stats["bias.max_abs"] == pytest.approx(6.0)
    assert stats["head.max_unit"] == pytest.approx(float(net.head.weight.detach().norm(dim=1).max()))


def test_histograms_per_gate_share_edges_and_count_every_weight() -> None:
    net = make_net("gru", hidden=4, inputs=3, bidirectional=True)
    hists = I.weight_histograms(net, bins=7)
    assert set(hists) == {f"L0.{d}.{k}.{g}" for d in ("fwd", "bwd") for k in ("kernel", "recurrent") for g in "rzn"}
    for d in ("fwd", "bwd"):
        for g in "rzn":
            k, r = hists[f"L0.{d}.kernel.{g}"], hists[f"L0.{d}.recurrent.{g}"]
            assert k["edges"] == r["edges"] and len(k["edges"]) == 8
            assert sum(k["counts"]) == 4 * 3 and sum(r["counts"]) == 4 * 4
    strict_json(hists)


# ---------------------------------------------------------------------------------------------- activations
def test_forget_gate_bias_saturates_the_forget_gate_only() -> None:
    net = make_net("lstm", hidden=8)
    with torch.no_grad():
        rnn_param(net, "bias_ih")[8:16] = 20.0
    x, lengths = make_batch()
    stats = I.activation_stats(net, x, lengths)
    assert stats["L0.fwd.sat.f"] == 1.0 and stats["sat.f"] == 1.0
    assert stats["sat_high.f"] == 1.0 and stats["sat_low.f"] == 0.0
    for g in "igo":
        assert stats[f"sat.{g}"] < 0.05
    assert stats["act.nonfinite"] == 0.0
    findings = I.diagnose(stats)
    assert any("100% of forget-gate activations saturated" in f and "100% open" in f for f in findings), findings
    assert I.capture(net, x, lengths, method="loop").stats == pytest.approx(stats)


@pytest.mark.parametrize("cell", CELLS)
def test_a_unit_with_zero_weights_is_dead(cell: str) -> None:
    hidden, unit = 8, 5
    net = make_net(cell, hidden=hidden)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            w = rnn_param(net, name)
            for k in range(len(GATES[cell])):
                w[k * hidden + unit] = 0.0  # every gate's row of this unit: h stays exactly 0
    x, lengths = make_batch()
    stats = I.activation_stats(net, x, lengths)
    assert stats["L0.fwd.dead"] == pytest.approx(1 / hidden)
    assert stats["dead"] == pytest.approx(1 / hidden)
    assert any(f.startswith("12% of hidden units dead") for f in I.diagnose(stats))  # 12.5% >= 10%
    healthy = I.activation_stats(make_net(cell, hidden=hidden), x, lengths)
    assert healthy["dead"] == 0.0


def test_dead_counts_a_constant_nonzero_unit() -> None:
    net = make_net("rnn", hidden=4, inputs=2)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_hh"):
            rnn_param(net, name)[1] = 0.0
        rnn_param(net, "bias_ih")[1] = 0.5  # unit 1 outputs tanh(0.5) at every step: constant, not zero
    stats = I.activation_stats(net, *make_batch(inputs=2))
    assert stats["dead"] == pytest.approx(0.25)


def _identity_rnn(bidirectional: bool = False, recurrent: float = 0.0) -> RNNClassifierNet:
    """Vanilla RNN, 2 inputs, 2 units: h_t = tanh(x_t + recurrent * h_{t-1})."""
    net = make_net("rnn", hidden=2, inputs=2, bidirectional=bidirectional)
    with torch.no_grad():
        for layer_reverse in [False, True] if bidirectional else [False]:
            rnn_param(net, "weight_ih", reverse=layer_reverse).copy_(torch.eye(2))
            rnn_param(net, "weight_hh", reverse=layer_reverse).copy_(recurrent * torch.eye(2))
            rnn_param(net, "bias_ih", reverse=layer_reverse).zero_()
            rnn_param(net, "bias_hh", reverse=layer_reverse).zero_()
    return net


def test_hidden_norm_against_time_on_a_planted_sequence() -> None:
    net = _identity_rnn(bidirectional=True)
    x = torch.zeros(2, 4, 2)
    x[0, :, 0] = torch.tensor([0.1, 0.2, 0.3, 0.4])  # length 4
    x[1, :2, 1] = torch.tensor([0.5, 0.6])  # length 2, then padding
    lengths = torch.tensor([4, 2])
    cap = I.capture(net, x, lengths)
    n = lambda v: abs(math.tanh(v))  # noqa: E731  ||h_t|| = |tanh(x_t)| (one non-zero channel)
    fwd = [(n(0.1) + n(0.5)) / 2, (n(0.2) + n(0.6)) / 2, n(0.3), n(0.4)]
    bwd = [(n(0.4) + n(0.6)) / 2, (n(0.3) + n(0.5)) / 2, n(0.2), n(0.1)]  # each sequence read from its end
    assert cap.curves["L0.fwd"] == pytest.approx(fwd, rel=1e-5)
    assert cap.curves["L0.bwd"] == pytest.approx(bwd, rel=1e-5)
    s = cap.stats
    assert s["L0.fwd.hnorm.first"] == pytest.approx(fwd[0], rel=1e-5)
    assert s["L0.fwd.hnorm.last"] == pytest.approx((n(0.4) + n(0.6)) / 2, rel=1e-5)  # each one's last valid step
    assert s["L0.fwd.hnorm.peak"] == pytest.approx((n(0.4) + n(0.6)) / 2, rel=1e-5)
    assert s["L0.fwd.hnorm.fade"] == pytest.approx(1.0)
    assert s["L0.bwd.hnorm.last"] == pytest.approx((n(0.1) + n(0.5)) / 2, rel=1e-5)
    assert s["hnorm.first"] == pytest.approx((s["L0.fwd.hnorm.first"] + s["L0.bwd.hnorm.first"]) / 2)
    assert I.hidden_norm_curves(net, x, lengths, method="loop")["L0.bwd"] == pytest.approx(bwd, rel=1e-5)


def test_fading_state_and_contracting_recurrence_are_diagnosed() -> None:
    net = _identity_rnn(recurrent=0.1)
    x = torch.zeros(3, 6, 2)
    x[:, 0, 0] = torch.tensor([1.0, 2.0, 3.0])  # one impulse, then silence: h_t ~ 0.1^t h_0
    stats = {**I.weight_stats(net), **I.activation_stats(net, x, torch.tensor([6, 6, 6]))}
    assert stats["recurrent.spectral"] == pytest.approx(0.1, rel=1e-5)
    assert stats["hnorm.fade"] > 1e4
    findings = I.diagnose(stats)
    assert any(f.startswith("recurrent weights contract (spectral norm 0.10 < 1") for f in findings), findings
    assert any("information fades along the sequence" in f for f in findings), findings


def test_nan_is_flagged_and_kept_out_of_the_numbers() -> None:
    net = make_net("lstm", hidden=4)
    with torch.no_grad():
        rnn_param(net, "weight_hh")[5, 1] = float("nan")  # forget gate, unit 1
    x, lengths = make_batch()
    stats = {**I.weight_stats(net), **I.activation_stats(net, x, lengths)}
    assert stats["weights.nonfinite"] == 1.0
    assert stats["act.nonfinite"] >= 1.0
    assert "L0.fwd.recurrent.f.spectral" not in stats and "L0.fwd.recurrent.i.spectral" in stats
    assert all(math.isfinite(v) for v in stats.values())
    strict_json(stats)
    findings = I.diagnose(stats)
    assert "NaN/Inf in weights: 1 non-finite entries (weights.nonfinite)" in findings
    assert any(f.startswith("NaN/Inf in activations") for f in findings)


def test_gradient_stats_read_the_log_and_detect_nan_gradients() -> None:
    model = RNNClassifier(RNNConfig(input_size=3, num_classes=2, hidden_size=4), TrainConfig())
    log = model.grad_log
    log.steps, log.clipped, log.norm_sum, log.norm_max = 10, 8, 20.0, 5.0
    log.group_sums = {"kernel": 3.0, "recurrent": 7.0}
    stats = I.gradient_stats(model)
    assert stats["grad.steps"] == 10 and stats["grad.clip_fraction"] == 0.8
    assert stats["grad.norm_mean"] == 2.0 and stats["grad.norm_max"] == 5.0
    assert stats["grad.kernel"] == 0.3 and stats["grad.recurrent"] == 0.7
    assert stats["grad.nonfinite"] == 0.0
    assert "gradients clipped on 80% of steps (threshold 50%)" in " ".join(I.diagnose(stats))
    model.net.head.weight.grad = torch.full_like(model.net.head.weight, float("inf"))
    assert I.gradient_stats(model)["grad.nonfinite"] == model.net.head.weight.numel()
    assert any(f.startswith("NaN/Inf in gradients") for f in I.diagnose(I.gradient_stats(model)))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    "kw",
    [{}, {"bidirectional": True, "num_layers": 2}, {"conv_stride": 3, "norm": "layer"}, {"zoneout": 0.3},
     {"norm": "batch", "num_layers": 2}],
    ids=["plain", "bi2", "conv", "zoneout", "batchnorm"],
)  # fmt: skip
def test_replay_matches_the_step_by_step_loop_and_the_network(cell: str, kw: dict) -> None:
    net = make_net(cell, **kw)
    x, lengths = make_batch(steps=13)
    x = 3 * x  # push some gates into saturation
    fast, loop = I.capture(net, x, lengths), I.capture(net, x, lengths, method="loop")
    assert fast.stats.keys() == loop.stats.keys()
    assert fast.stats == pytest.approx(loop.stats, abs=1e-5)
    assert fast.curves.keys() == loop.curves.keys()
    for key, curve in fast.curves.items():
        assert curve == pytest.approx(loop.curves[key], abs=1e-5)
    out = net(x, lengths)
    valid = out.mask if out.mask is not None else torch.ones(out.sequence.shape[:2], dtype=torch.bool)
    for cap in (fast, loop):
        assert torch.allclose(cap.sequence[valid], out.sequence[valid], atol=1e-5)
    assert net.training is False


@pytest.mark.parametrize("method", ["replay", "loop"])
@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_captured_sequence_is_the_networks_own_padding_included(method: str, norm: str) -> None:
    """``Capture.sequence`` is the last layer's output as the network's forward gives it, zeros at the padding: a
    layer norm with a shift (its bias) refilled the padding when the mask came before the norm."""
    net = make_net("gru", bidirectional=True, num_layers=2, norm=norm)
    with torch.no_grad():
        for m in net.norms:
            m.norm.bias.uniform_(0.2, 0.5)
    x, lengths = make_batch(steps=13)
    assert bool((lengths < 13).any())
    cap = I.capture(net, x, lengths, method=method)
    torch.testing.assert_close(cap.sequence, net(x, lengths).sequence, atol=1e-5, rtol=1e-5)


def test_capture_restores_training_mode_and_rejects_unknown_method() -> None:
    net = make_net("gru").train()
    I.capture(net, *make_batch())
    assert net.training
    with pytest.raises(ValueError, match="replay, loop"):
        I.capture(net, *make_batch(), method="fused")


# ---------------------------------------------------------------------------------------------- diagnoses
def test_a_healthy_model_has_no_findings() -> None:
    net = make_net("lstm", hidden=32)
    x, lengths = make_batch(batch=16, steps=20)
    model = SimpleNamespace(grad_log=SimpleNamespace(steps=9, summary=lambda: {
        "grad_norm_mean": 0.5, "grad_norm_max": 0.9, "clip_fraction": 0.0}), parameters=lambda: [])  # fmt: skip
    stats = {**I.weight_stats(net), **I.activation_stats(net, x, lengths), **I.gradient_stats(model)}
    assert I.diagnose(stats) == []
    assert I.diagnose({}) == []


def test_each_diagnosis_cites_its_number() -> None:
    stats = {
        "recurrent.i.spectral": 0.3, "recurrent.f.spectral": 0.4, "recurrent.spectral": 0.55,
        "sat.f": 0.35, "sat_low.f": 0.05, "sat_high.f": 0.30, "sat.g": 0.1, "sat.hidden": 0.5,
        "grad.clip_fraction": 0.8, "dead": 0.12, "hnorm.fade": 10.0, "hnorm.peak": 2.0, "hnorm.last": 0.2,
    }  # fmt: skip
    text = "\n".join(I.diagnose(stats))
    assert "recurrent weights contract (spectral norm 0.40 < 1" in text and "forget (f) gate" in text
    assert "whole recurrent matrix 0.55" in text
    assert "35% of forget-gate activations saturated" in text and "30% open, 5% shut" in text
    assert "cell-candidate" not in text  # 10% < 30%
    assert "50% of hidden outputs saturated" in text
    assert "gradients clipped on 80% of steps" in text
    assert "12% of hidden units dead" in text
    assert "hidden-state norm falls 10.0x from its peak (2) to the last step (0.2" in text
    assert len(I.diagnose(stats)) == 6
    # just below every threshold: nothing
    below = {"recurrent.f.spectral": 1.0, "sat.f": 0.29, "grad.clip_fraction": 0.49, "dead": 0.09, "hnorm.fade": 9.9}
    assert I.diagnose(below) == []


# ---------------------------------------------------------------------------------------------- callback
def test_callback_hooks_skip_sanity_check_and_honour_every_n_epochs() -> None:
    model = RNNClassifier(RNNConfig(input_size=3, num_classes=2, hidden_size=4), TrainConfig())
    cb = I.Introspection(make_batch(batch=80), every_n_epochs=2)
    assert cb.x.shape[0] == I.MAX_SEQUENCES
    cb.on_fit_start(None, model)  # type: ignore[arg-type]
    assert model.track_group_gradients
    for epoch, sanity in ((0, True), (0, False), (1, False), (2, False)):
        cb.on_validation_epoch_end(SimpleNamespace(sanity_checking=sanity, current_epoch=epoch), model)  # type: ignore[arg-type]
    assert [r["epoch"] for r in cb.history()] == [0.0, 2.0]
    assert cb.summary(epoch=1)["epoch"] == 0.0 and cb.summary()["epoch"] == 2.0
    with pytest.raises(ValueError):
        I.Introspection(make_batch(), every_n_epochs=0)


def test_callback_records_every_epoch_of_a_real_fit(tmp_path) -> None:
    from models.datamodule import SequenceDataModule
    from models.train import fit

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    data = SequenceDataModule("synthetic:n=120,length=16", batch_size=32)
    cb = I.Introspection(I.fixed_batch(data))
    rnn = RNNConfig(input_size=data.input_size, num_classes=data.num_classes, cell="lstm", hidden_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(
            rnn, TrainConfig(max_epochs=2, patience=0, clip_norm=1e-3), data, callbacks=[cb], accelerator="cpu"
        )
    assert result.epochs_run == 2
    assert [r["epoch"] for r in cb.epochs] == [0.0, 1.0]
    assert cb.reused and cb._handles == []  # the validation pass's own layer outputs were replayed; hooks gone
    steps = math.ceil(len(data.train_set) / 32)
    for row in cb.epochs:
        assert row["grad.steps"] == steps  # the log is reset after each read: per epoch, not cumulative
        assert row["grad.recurrent"] > 0 and row["grad.head"] > 0  # per-component norms switched on
        assert row["grad.clip_fraction"] == 1.0  # a tiny clip_norm cuts every step
        for key in ("L0.fwd.recurrent.f.spectral", "L0.fwd.kernel.i.max_unit", "L0.fwd.sat.f", "dead", "hnorm.fade"):
            assert key in row
        assert all(isinstance(v, float) and math.isfinite(v) for v in row.values())
    assert len(cb.curves) == 2 and len(cb.curves[0]["L0.fwd"]) == cb.x.shape[1]
    summary = cb.summary()
    assert 20 <= len(summary) <= 100 and not any(k.startswith("L0") for k in summary)
    assert summary["epoch"] == 1.0 and "recurrent.f.spectral" in summary and "sat.f" in summary
    assert any(f.startswith("gradients clipped on 100% of steps") for f in I.diagnose(summary))
    assert set(cb.histograms) >= {"L0.fwd.kernel.f", "L0.fwd.recurrent.f"}
    strict_json(cb.state())
    assert cb.seconds > 0
    paths = cb.figures(tmp_path, prefix="t_")
    assert set(paths) == {"weights", "gradients", "saturation", "hidden_norm"}
    for path in paths.values():
        assert path.parent == tmp_path and path.name.startswith("t_")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


@pytest.mark.parametrize("params", [{"ema_decay": 0.9}, {"swa_start": 0.5, "norm": "batch"}], ids=["ema", "swa-bn"])
def test_every_record_of_a_trial_measures_the_weights_validation_measured(params: dict) -> None:
    """With EMA or SWA on, the last epoch's record (taken at train end, where the module holds its training
    weights) measured the raw weights while validation and the fit's result were the average: two trials with
    different ``swa_start`` stored identical weight norms. Each record equals the validated weights' statistics."""
    from pytorch_lightning.callbacks import Callback

    from models.datamodule import SequenceDataModule
    from models.train import fit

    class Validated(Callback):  # runs while validation's weights are in (before the module's own hook)
        def __init__(self) -> None:
            self.states: dict[int, dict] = {}

        def on_validation_epoch_end(self, trainer, pl_module) -> None:
            self.states[trainer.current_epoch] = {k: v.clone() for k, v in pl_module.net.state_dict().items()}

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    data = SequenceDataModule("synthetic:n=60,length=10", batch_size=16)
    probe, seen = I.Introspection(I.fixed_batch(data), every_n_epochs=8, ends=True), Validated()
    rnn = RNNConfig(
        input_size=data.input_size, num_classes=data.num_classes, hidden_size=8, norm=params.get("norm", "none")
    )
    train = TrainConfig(max_epochs=4, patience=0, lr=0.05, **{k: v for k, v in params.items() if k != "norm"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(rnn, train, data, callbacks=[probe, seen], accelerator="cpu")
    net = RNNClassifierNet(rnn)
    assert [int(r["epoch"]) for r in probe.epochs] == sorted({0, 3, int(result.best["epoch"])})
    for row in probe.epochs:
        net.load_state_dict(seen.states[int(row["epoch"])])
        want = I.weight_stats(net)
        assert {k: row[k] for k in want} == pytest.approx(want, rel=1e-6), int(row["epoch"])
    net.load_state_dict(seen.states[3])
    assert probe.histograms == I.weight_histograms(net)


def test_figures_of_a_deep_network_keep_its_last_layer_and_name_what_they_leave_out() -> None:
    """A 3-layer bidirectional GRU's figures kept L0-L1 and silently dropped L2, the layer the head reads."""
    from models.introspect.plots import not_shown, shown

    names = [f"L{i}.{d}" for i in range(3) for d in ("fwd", "bwd")]
    kept, left = shown(names)
    assert kept == ["L0.fwd", "L0.bwd", "L2.fwd", "L2.bwd"] and left == ["L1.fwd", "L1.bwd"]
    assert not_shown(left) == " (L1.fwd, L1.bwd not shown)"
    assert shown(names[:4]) == (names[:4], []) and not_shown([]) == ""


@pytest.mark.parametrize(("whole", "said"), [(1.8, False), (0.95, True)])
def test_contraction_is_said_only_when_the_whole_recurrent_matrix_contracts(whole: float, said: bool) -> None:
    """Four LSTM gate blocks of 0.9 each make a whole matrix of 1.8: the diagnosis said "contract" next to it."""
    stats = {**{f"recurrent.{g}.spectral": 0.9 for g in "ifgo"}, "recurrent.spectral": whole}
    assert any(f.startswith("recurrent weights contract") for f in I.diagnose(stats)) == said


def test_a_resumed_fit_keeps_the_records_and_gradients_of_its_epochs_before_the_resume(tmp_path) -> None:
    """Introspection was not in the checkpoint: a trial resumed after its best epoch stored that epoch with no
    gradient numbers (the clipping diagnosis silently gone) and lost the earlier records."""
    from pytorch_lightning.callbacks import Callback

    from models.datamodule import SequenceDataModule
    from models.train import fit

    class SaveAndStop(Callback):
        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if trainer.current_epoch == 2:
                trainer.save_checkpoint(tmp_path / "fit.ckpt")
                trainer.should_stop = True

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    data = SequenceDataModule("synthetic:n=60,length=10", batch_size=16)
    rnn = RNNConfig(input_size=data.input_size, num_classes=data.num_classes, hidden_size=8)
    train = TrainConfig(max_epochs=5, patience=0, lr=0.05, clip_norm=1e-3)
    whole = I.Introspection(I.fixed_batch(data), every_n_epochs=8, ends=True)
    first, resumed = (I.Introspection(I.fixed_batch(data), every_n_epochs=8, ends=True) for _ in range(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(rnn, train, data, callbacks=[whole], accelerator="cpu")
        fit(rnn, train, data, callbacks=[first, SaveAndStop()], accelerator="cpu")
        fit(rnn, train, data, callbacks=[resumed], accelerator="cpu", ckpt_path=str(tmp_path / "fit.ckpt"))
    # (a plain Lightning checkpoint does not restore the batch order: the epochs after the resume differ from an
    # uninterrupted fit's; a trial's own checkpoints do, test_augment.test_a_resumed_fit_continues_the_average)
    assert sorted(resumed.epoch_gradients) == sorted(whole.epoch_gradients) == [0, 1, 2, 3, 4]
    for epoch in (0, 1, 2):  # the epochs before the resume: the first run's own numbers
        assert resumed.epoch_gradients[epoch] == first.epoch_gradients[epoch]
    assert resumed.epochs[0] == first.epochs[0]  # the scheduled record of epoch 0, from before the resume
    assert [r["epoch"] for r in resumed.epochs] == [r["epoch"] for r in whole.epochs]
    assert all(row["grad.steps"] > 0 for row in resumed.epochs)
    # the trial's figures draw every epoch's gradients, not lines across the sparse records
    assert [g["epoch"] for g in resumed.state()["gradients"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    before = resumed.summary(0)  # a best epoch before the resume keeps its gradient numbers
    assert before["grad.clip_fraction"] == 1.0


def test_plots_accept_plain_inputs(tmp_path) -> None:
    history = [{"epoch": 0.0, "grad.norm_mean": 0.0, "sat.r": 0.2, "sat.hidden": 0.0, "dead": 0.0}]
    assert I.plot_gradients(history, tmp_path / "g.png").exists()
    assert I.plot_saturation(history, tmp_path / "s.png").exists()
    assert I.plot_hidden_norm({}, tmp_path / "sub" / "h.png").exists()
    assert I.plot_weight_histograms(I.weight_histograms(make_net("rnn")), tmp_path / "w.png").exists()


def test_replaying_the_validation_forward_matches_a_fresh_forward() -> None:
    model = RNNClassifier(RNNConfig(input_size=3, num_classes=2, hidden_size=6, bidirectional=True, num_layers=2,
                                    conv_stride=2), TrainConfig())  # fmt: skip
    x, lengths = make_batch(batch=10, steps=14)
    cb = I.Introspection((x[:4], lengths[:4]))
    cb.on_fit_start(None, model)  # type: ignore[arg-type]
    model.eval()
    with torch.no_grad():
        model(x, lengths)  # a "validation batch" whose head is the fixed batch
    row = cb.record(model, 0)
    assert cb.reused
    fresh = I.activation_stats(model.net, x[:4], lengths[:4])
    assert {k: row[k] for k in fresh} == pytest.approx(fresh, abs=1e-6)
    with torch.no_grad():
        model(x[4:], lengths[4:])  # another batch: ignored, the record runs its own forward
    row = cb.record(model, 1)
    assert not cb.reused and {k: row[k] for k in fresh} == pytest.approx(fresh, abs=1e-6)
    cb.on_train_end(None, model)  # type: ignore[arg-type]
    assert cb._handles == [] and "L0.fwd.kernel.i" in cb.histograms


def test_divergence_leaves_a_last_record_and_other_errors_none() -> None:
    from models.classifier import DivergedError

    model = RNNClassifier(RNNConfig(input_size=3, num_classes=2, hidden_size=4), TrainConfig())
    cb = I.Introspection(make_batch())
    trainer = SimpleNamespace(current_epoch=3)
    cb.on_exception(trainer, model, KeyboardInterrupt())  # type: ignore[arg-type]
    assert cb.epochs == []
    cb.on_exception(trainer, model, DivergedError("training loss nan"))  # type: ignore[arg-type]
    assert cb.summary()["diverged"] == 1.0 and cb.summary()["epoch"] == 3.0
    assert any(f.startswith("the fit diverged") for f in I.diagnose(cb.summary()))


def test_record_threads_follow_the_faster_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    t = C._Threads()
    cpu = torch.device("cpu")
    assert t.pick(torch.device("meta")) is None  # accelerators: torch's setting, untouched
    assert t.pick(cpu) == 1
    t.seconds[1] = 0.010
    assert t.pick(cpu) == 4  # each mode is tried once
    t.seconds[4] = 0.002
    picks = [t.pick(cpu) for _ in range(t.PROBE_EVERY)]
    assert picks.count(4) == t.PROBE_EVERY - 1 and picks.count(1) == 1  # the slower mode is probed again
    t.seconds[1] = 0.001  # ... and taken when it has become the faster one
    assert t.pick(cpu) == 1


@pytest.mark.parametrize("top", [0.997, 0.9951, 0.99996])
def test_contraction_never_reads_one_below_one(top: float) -> None:
    """A spectral norm just below 1 was printed with 2 decimals: "spectral norm 1.00 < 1"."""
    for stats in (
        {"recurrent.f.spectral": top, "recurrent.i.spectral": 0.5, "recurrent.spectral": top},
        {"recurrent.spectral": top},
    ):
        found = [f for f in I.diagnose(stats) if f.startswith("recurrent weights contract")]
        assert found and "1.00 <" not in found[0] and "matrix 1.00" not in found[0], found
        quoted = float(found[0].split("spectral norm ")[1].split(" <")[0])
        assert quoted < 1 and abs(quoted - top) < 0.01


@pytest.mark.parametrize(
    ("gates", "says", "never"),
    [
        ("h", "on its own, the hidden state shrinks from step to step", "gated cell"),
        ("ifgo", "alone does not make a gated cell forget", "on its own, the hidden state shrinks"),
        ("rzn", "alone does not make a gated cell forget", "on its own, the hidden state shrinks"),
        ("", "a tanh RNN's hidden state shrinks", "on its own, the hidden state shrinks"),
    ],
)
def test_contraction_says_what_it_means_for_the_cell(gates: str, says: str, never: str) -> None:
    """Only a tanh RNN's state shrinks with its recurrent weights (Pascanu et al.): an LSTM's cell state and a GRU's
    update gate carry memory past them. The sentence told every LSTM at PyTorch's starting weights (0.34) that its
    hidden state shrinks from step to step; the probe's LSTM at 0.30 kept its state over 60 zero steps."""
    stats = {**{f"recurrent.{g}.spectral": 0.3 for g in gates}, "recurrent.spectral": 0.44}
    found = [f for f in I.diagnose(stats) if f.startswith("recurrent weights contract")]
    assert len(found) == 1 and says in found[0] and never not in found[0], found
    assert "recurrent decay or a recurrent penalty is on" in found[0]


@pytest.mark.parametrize(
    ("optimizer", "says", "never"),
    [
        ("adamw", "adamw divides each step by a running estimate", "not the learning rate, sets"),
        ("adam", "adam divides each step by a running estimate", "not the learning rate, sets"),
        ("rmsprop", "rmsprop divides each step by a running estimate", "not the learning rate, sets"),
        ("sgd", "the clipping threshold, not the learning rate, sets the step size", "running estimate"),
        (None, "with SGD the clipping threshold, not the learning rate, sets the step size (with Adam", "{optimizer}"),
    ],
)
def test_frequent_clipping_is_read_by_the_optimizer(optimizer: str | None, says: str, never: str) -> None:
    # "the clipping threshold, not the learning rate, sets the step size" was said of every fit, and every study's
    # default is AdamW, whose step a clip on every step does not change (the test below)
    (found,) = I.diagnose({"grad.clip_fraction": 0.8}, optimizer)
    assert found.startswith("gradients clipped on 80% of steps (threshold 50%): ")
    assert says in found and never not in found


def test_every_optimizer_has_its_own_reading_of_frequent_clipping() -> None:
    """An optimizer added to models.config.OPTIMIZERS and to neither reading would get the both-readings sentence of
    an unknown one (None) without a word."""
    from models.config import OPTIMIZERS
    from models.introspect.diagnoses import ADAPTIVE_OPTIMIZERS, CLIP_MEANS

    assert set(OPTIMIZERS) == ADAPTIVE_OPTIMIZERS | {k for k in CLIP_MEANS if k not in (None, "adaptive")}


@pytest.mark.parametrize(("optimizer", "alike"), [("adamw", True), ("adam", True), ("rmsprop", True), ("sgd", False)])
def test_a_clip_on_every_step_cancels_in_adaptive_optimizers_only(optimizer: str, alike: bool) -> None:
    # what the sentences above claim: clip norms 0.01 and 0.001, both cutting every step, move the weights alike
    # under Adam(W) and RMSprop (measured: 2e-4 and 6e-4 of the distance moved apart) and ten times apart under SGD
    def moved(clip: float) -> torch.Tensor:
        torch.manual_seed(0)
        net = torch.nn.Linear(8, 3)
        x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
        start = torch.cat([p.detach().flatten() for p in net.parameters()])
        make = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop,
                "sgd": torch.optim.SGD}[optimizer]  # fmt: skip
        opt = make(net.parameters(), lr=1e-2)
        for _ in range(10):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            assert float(torch.nn.utils.clip_grad_norm_(net.parameters(), clip)) > clip  # cut on every step
            opt.step()
        return torch.cat([p.detach().flatten() for p in net.parameters()]) - start

    a, b = moved(0.01), moved(0.001)
    apart = float((a - b).norm() / a.norm())
    assert (apart < 1e-2) == alike and (apart > 0.5) == (not alike)

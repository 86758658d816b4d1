"""models.introspect.time_gradients: the loss's gradient over time steps, with known answers, in the callback, the
diagnoses and the figures."""

from __future__ import annotations

import json
import logging
import warnings

import pytest
import torch

from models import introspect as I
from models.config import RNNConfig, TrainConfig
from models.network import RNNClassifierNet


def net_of(cell: str = "rnn", seed: int = 0, **kw) -> RNNClassifierNet:
    torch.manual_seed(seed)
    return RNNClassifierNet(RNNConfig(input_size=3, num_classes=2, cell=cell, hidden_size=8, **kw)).eval()


def labelled_batch(n: int = 4, steps: int = 20, seed: int = 1, lengths: list[int] | None = None):
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor(lengths if lengths is not None else [steps] * n)
    x = torch.randn(len(lens), steps, 3, generator=g) * (torch.arange(steps)[None, :, None] < lens[:, None, None])
    return x, lens, torch.arange(len(lens)) % 2


def test_without_recurrent_weights_only_the_last_step_reaches_the_loss() -> None:
    """A tanh RNN with W_hh = 0 read at its last step: h_T depends on x_T alone, so every earlier step's gradient
    is exactly 0 and the last tenth (two of 20 steps, the second carrying all of it) holds it all."""
    net = net_of("rnn", pooling="last")
    with torch.no_grad():
        net.layers[0].rnn.weight_hh_l0.zero_()
    x, lengths, y = labelled_batch()
    s = I.time_gradients(net, x, lengths, y)
    assert [s[f"tgrad.p{k}"] for k in range(9)] == [0.0] * 9
    assert s["tgrad.p9"] == pytest.approx(10.0)  # the tenth's 2 steps (0, g) average g / 2; all 20 average g / 20
    assert s["tgrad.least"] == 0.0 and s["tgrad.early"] == 0.0 and s["tgrad.sequences"] == 4.0
    assert any("barely reaches the first 9 tenths" in f for f in I.diagnose(s))


def test_identical_steps_share_the_gradient_evenly_under_mean_pooling() -> None:
    """Zero inputs: every step of a mean-pooled RNN without recurrence has the same state and the same gradient."""
    net = net_of("rnn", pooling="mean")
    with torch.no_grad():
        net.layers[0].rnn.weight_hh_l0.zero_()
    x, lengths, y = labelled_batch()
    s = I.time_gradients(net, torch.zeros_like(x), lengths, y)
    assert all(s[f"tgrad.p{k}"] == pytest.approx(1.0) for k in range(I.TENTHS))
    assert s["tgrad.early"] == pytest.approx(1.0) and not I.diagnose(s)


def test_padding_is_never_counted_and_short_sequences_fill_their_own_tenths() -> None:
    """A 5-step sequence in a 20-step batch: its 5 valid steps fall in tenths 1, 3, 5, 7 and 9 (0-based 0, 2, 4,
    6, 8); with W_hh = 0 and last pooling only its step 5 (tenth 9 of its own length) has gradient."""
    net = net_of("rnn", pooling="last")
    with torch.no_grad():
        net.layers[0].rnn.weight_hh_l0.zero_()
    x, lengths, y = labelled_batch(lengths=[5])
    s = I.time_gradients(net, x, lengths, y)
    assert {k for k in range(I.TENTHS) if f"tgrad.p{k}" in s} == {0, 2, 4, 6, 8}
    assert s["tgrad.p8"] == pytest.approx(5.0) and s["tgrad.p0"] == 0.0


def test_a_last_tenth_without_gradient_gives_no_first_to_last_ratio() -> None:
    """Max pooling over a tanh RNN without recurrence, all input weights 1: a sequence at +1 on its first step and
    -1 after peaks at step 0 only, so only step 0 gets gradient and its last tenth none; one at +1 throughout ties
    everywhere and amax shares the gradient evenly. The ratio is the second sequence's 1, not 1.8e296 (a zero last
    tenth divided by 1e-300 made the median explode)."""
    net = net_of("rnn", pooling="max")
    with torch.no_grad():
        rnn = net.layers[0].rnn
        rnn.weight_hh_l0.zero_(), rnn.weight_ih_l0.fill_(1.0), rnn.bias_ih_l0.zero_(), rnn.bias_hh_l0.zero_()
    x = -torch.ones(2, 20, 3)
    x[0, 0], x[1] = 1.0, 1.0
    s = I.time_gradients(net, x, torch.tensor([20, 20]), torch.tensor([0, 1]))
    assert s["tgrad.sequences"] == 2.0 and s["tgrad.early"] == pytest.approx(1.0)
    assert s["tgrad.p9"] == pytest.approx(0.5)  # (0 + 1) / 2
    alone = I.time_gradients(net, x[:1], torch.tensor([20]), torch.tensor([0]))
    assert "tgrad.early" not in alone and alone["tgrad.sequences"] == 1.0 and alone["tgrad.p0"] == pytest.approx(10.0)
    assert not any("first tenth gets" in f for f in I.diagnose(alone))


@pytest.mark.parametrize(
    "kw",
    [
        {"cell": "lstm"},
        {"cell": "gru", "bidirectional": True, "num_layers": 2, "norm": "layer"},
        {"cell": "lstm", "conv_stride": 4, "path": "loop"},
        {"cell": "lstm", "norm": "batch", "pooling": "max"},
    ],
    ids=["lstm", "bigru-2-layer-norm", "front-end-loop", "batch-norm-max"],
)
def test_each_layer_input_is_measured_and_no_parameter_gradient_is_touched(kw: dict) -> None:
    net = net_of(**kw).train()
    x, lengths, y = labelled_batch(n=6, steps=24, lengths=[24, 20, 13, 9, 24, 17])
    s = I.time_gradients(net, x, lengths, y)
    assert net.training  # put back as it was
    assert all(p.grad is None for p in net.parameters())
    layers = kw.get("num_layers", 1)
    for i in range(layers):
        assert f"L{i}.tgrad.least" in s and f"L{i}.tgrad.early" in s and s[f"L{i}.tgrad.sequences"] == 6.0
    assert s["tgrad.least"] == s["L0.tgrad.least"] and s["tgrad.nonfinite"] == 0.0
    json.dumps(s, allow_nan=False)


def test_the_gradient_measured_matches_autograd_on_the_input() -> None:
    """For the first layer without a front end, the layer's input is the data: the per-step norms are those of
    d(summed cross-entropy)/dx, taken here directly."""
    net = net_of("lstm")
    x, lengths, y = labelled_batch(n=3, steps=10)
    xg = x.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(net(xg, lengths).logits, y, reduction="sum")
    (g,) = torch.autograd.grad(loss, [xg])
    norms = g.norm(dim=-1)
    rel = norms / norms.mean(1, keepdim=True)  # 10 steps: one per tenth
    s = I.time_gradients(net, x, lengths, y)
    assert [s[f"tgrad.p{k}"] for k in range(10)] == pytest.approx(rel.mean(0).tolist(), rel=1e-5)
    assert s["tgrad.early"] == pytest.approx(float((norms[:, 0] / norms[:, -1]).median()), rel=1e-5)


def test_nonfinite_counts_gradient_entries_at_valid_steps() -> None:
    """NaN recurrent weights: every valid step's 3 input-gradient entries are NaN, padding's are not counted (the
    docstring and the other ``*.nonfinite`` keys count entries; it counted steps, 3 times fewer)."""
    net = net_of("lstm")
    with torch.no_grad():
        net.layers[0].rnn.weight_hh_l0.fill_(float("nan"))
    x, lengths, y = labelled_batch(lengths=[20, 12, 5, 1])
    s = I.time_gradients(net, x, lengths, y)
    assert s["tgrad.nonfinite"] == s["L0.tgrad.nonfinite"] == 38.0 * 3
    assert s["tgrad.sequences"] == 0.0 and "tgrad.least" not in s and "tgrad.early" not in s


def test_mismatched_batch_is_refused() -> None:
    x, lengths, y = labelled_batch()
    with pytest.raises(ValueError, match="same sequences"):
        I.time_gradients(net_of(), x, lengths, y[:2])


@pytest.mark.parametrize(
    ("parts", "said"),
    [
        ({0: 0.001, 1: 0.5}, "the first tenth"),
        ({0: 0.001, 1: 0.002, 2: 0.5}, "the first 2 tenths"),
        ({4: 0.005, 5: 0.003, 0: 2.0}, "tenths 5-6"),
        ({2: 0.0, 7: 0.0, 0: 1.0}, "tenths 3, 8"),
    ],
)
def test_the_diagnosis_names_the_tenths_the_gradient_misses(parts: dict[int, float], said: str) -> None:
    stats = {f"tgrad.p{k}": v for k, v in parts.items()}
    stats["tgrad.least"] = min(parts.values())
    found = [f for f in I.diagnose(stats) if "gradient barely reaches" in f]
    assert len(found) == 1 and f"reaches {said} of each sequence" in found[0]
    assert f"threshold {I.TIME_GRADIENT_SHARE:g}" in found[0]


@pytest.mark.parametrize(
    ("parts", "said", "not_said"),
    [
        ({0: 0.0, 1: 0.005, 5: 1.0, 9: 3.0}, ["vanishes over time steps", "a bidirectional layer"], ["middle"]),
        ({0: 2.0, 4: 0.004, 5: 0.002, 9: 2.0}, ["from both ends before the middle"], ["bidirectional"]),
        ({0: 5.0, 5: 1.0, 8: 0.003, 9: 0.0}, ["barely depends on the latest steps"], ["vanishes", "bidirectional"]),
    ],
    ids=["start", "middle", "end"],
)
def test_the_diagnosis_advice_fits_where_the_gradient_is_missing(
    parts: dict[int, float], said: list[str], not_said: list[str]
) -> None:
    """A bidirectional network's weak middle was told to add "a bidirectional layer", and an unread end that the
    gradient "vanishes over time steps"."""
    stats = {f"tgrad.p{k}": v for k, v in parts.items()}
    stats["tgrad.least"], stats["tgrad.early"] = min(parts.values()), 0.0
    (found,) = [f for f in I.diagnose(stats) if "gradient barely reaches" in f]
    assert all(w in found for w in said) and not any(w in found for w in not_said), found
    assert "gets 0 times the last tenth's" in found  # "0x" read as a hex prefix


def test_a_gradient_above_the_threshold_is_not_a_finding() -> None:
    assert not I.diagnose({"tgrad.least": I.TIME_GRADIENT_SHARE, "tgrad.p0": I.TIME_GRADIENT_SHARE})


@pytest.mark.parametrize(
    ("shares", "note"),
    [
        ([2.6e-21, 1e-3, 10.0], "drawn at 1e-06: shares below it (down to 2.6e-21)"),
        ([1e-6, 1e-3, 10.0], ""),
    ],
)
def test_the_figure_says_when_it_draws_a_share_at_its_floor(shares: list[float], note: str, tmp_path) -> None:
    from models.introspect.plots import floor_note

    row = {"epoch": 0.0, "tgrad.least": min(shares), **{f"L0.tgrad.p{k}": v for k, v in enumerate(shares)}}
    assert floor_note([row], ["L0"]) == note
    assert I.plot_time_gradient([row], tmp_path / "t.png").stat().st_size > 0


def test_the_callback_measures_it_only_when_asked_and_draws_its_figure(tmp_path) -> None:
    from models.datamodule import SequenceDataModule
    from models.train import fit

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    data = SequenceDataModule("synthetic:n=80,length=16", batch_size=32)
    with pytest.raises(ValueError, match="labels"):
        I.Introspection(I.fixed_batch(data)[:2], time_gradients=True)
    on, off = I.Introspection(I.fixed_batch(data), time_gradients=True), I.Introspection(I.fixed_batch(data))
    rnn = RNNConfig(input_size=data.input_size, num_classes=data.num_classes, cell="lstm", hidden_size=8)
    for probe in (on, off):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit(rnn, TrainConfig(max_epochs=2, patience=0), data, callbacks=[probe], accelerator="cpu")
    assert all("tgrad.least" in r and "L0.tgrad.p0" in r for r in on.epochs)
    assert not any(k.startswith("tgrad") or ".tgrad." in k for r in off.epochs for k in r)  # search trials: off
    assert "tgrad.early" in on.summary() and "L0.tgrad.early" not in on.summary()
    assert I.figure_kinds(on.state())[-1] == "time_gradient" and "time_gradient" not in I.figure_kinds(off.state())
    paths = on.figures(tmp_path)
    assert paths["time_gradient"].stat().st_size > 0 and "time_gradient" not in off.figures(tmp_path / "off")


def test_a_gradient_of_zero_everywhere_is_said_not_hidden() -> None:
    """Logits so far apart that float32's softmax is exactly one-hot: no sequence has a gradient to place in time,
    and the report says so instead of leaving the row empty."""
    net = net_of("lstm")
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([200.0, -200.0]))  # (the weights read at most a few units of |h| <= 1)
    x, lengths, _ = labelled_batch()
    s = I.time_gradients(net, x, lengths, torch.zeros(len(lengths), dtype=torch.long))
    assert s["tgrad.sequences"] == 0.0 and "tgrad.least" not in s
    assert any("gradient is zero on every sequence" in f for f in I.diagnose(s))
    assert not any("gradient is zero" in f for f in I.diagnose({"tgrad.sequences": 3.0, "tgrad.least": 0.5}))

"""Plain-language findings from the statistics, each quoting its number and the threshold below."""

from __future__ import annotations

import math
from collections.abc import Mapping

from models.introspect.activations import SIGMOID_HIGH, SIGMOID_LOW, TANH_LIMIT
from models.introspect.layout import GATE_NAMES, SIGMOID_GATES, gate_label
from models.introspect.time_gradients import TENTHS

CONTRACT_SPECTRAL = 1.0  # largest recurrent gate-block spectral norm below this: the recurrence contracts
SATURATION_FRACTION = 0.30  # a gate with at least this fraction of saturated activations
CLIP_FRACTION = 0.50  # clipping cut at least this fraction of the steps
DEAD_FRACTION = 0.10  # at least this fraction of hidden units dead
FADE_RATIO = 10.0  # the hidden-state norm falls at least this many times from its peak to the last step
#: optimizers that divide each step by a running estimate of the gradient's size: clipping that scales every step's
#: gradient alike cancels there, so the learning rate, not the clip norm, sets the step size (it said the opposite of
#: every study's default AdamW: the verdict6 probe)
ADAPTIVE_OPTIMIZERS = frozenset({"adam", "adamw", "rmsprop"})
#: what clipping on most steps means, by optimizer (None: not known)
CLIP_MEANS = {
    "sgd": "the clipping threshold, not the learning rate, sets the step size",
    "adaptive": "the clip norm sits below the usual gradient norm; {optimizer} divides each step by a running "
    "estimate of the gradient's size, so clipping every step alike leaves the step size to the learning rate and "
    "only reweights the steps whose clip factor differs",
    None: "the clip norm sits below the usual gradient norm; with SGD the clipping threshold, not the learning rate, "
    "sets the step size (with Adam, AdamW or RMSprop, which divide each step by a running estimate of the gradient's "
    "size, the learning rate still does)",
}
#: a tenth of the sequence whose gradient is below this share of an even spread: the gradient vanishes before it
TIME_GRADIENT_SHARE = 0.01
#: what a contracting recurrence means, by cell, never by configuration (it blamed "recurrent decay or a recurrent
#: penalty" in baselines with neither; a small tanh RNN's untrained weights contract in most seeds). Only a tanh
#: RNN's state is carried by the recurrent weights alone (Pascanu et al. 2013); an LSTM's cell state and a GRU's
#: update gate carry it past them: an LSTM at spectral norm 0.30 kept its hidden-state norm over 60 zero steps
#: (1.48 -> 1.07) where a tanh RNN's fell to 0, and the sentence had said the state shrinks for every cell
DECAY_PUSHES = "where recurrent decay or a recurrent penalty is on, it pushes the weights there"
CONTRACT_MEANS = {
    "rnn": "on its own, the hidden state shrinks from step to step and the input must keep renewing it (the "
    f"hidden-state fade says whether it does); {DECAY_PUSHES}",
    "gated": "the previous hidden state feeds back only weakly into the gates, which alone does not make a gated "
    "cell forget (an LSTM's cell state and a GRU's update gate carry memory past these weights; the hidden-state "
    f"fade says whether information fades); {DECAY_PUSHES}",
    "unknown": "a tanh RNN's hidden state shrinks from step to step on its own; a gated cell's need not (its cell "
    f"state or update gate carries memory past these weights; the hidden-state fade says which); {DECAY_PUSHES}",
}


def _below(value: float, limit: float) -> str:
    """``value`` with 2 decimals, or as many more (up to 6) as it takes to read below ``limit``: a spectral norm of
    0.997 read "1.00 < 1"."""
    for digits in range(2, 7):
        text = f"{value:.{digits}f}"
        if float(text) < limit:
            return text
    return f"{value:.6g}"


def compact(stats: Mapping[str, float]) -> dict[str, float]:
    """The aggregate keys of a stats dict (everything but the per-layer ``L<i>.`` keys)."""
    return {k: v for k, v in stats.items() if not (k.startswith("L") and k[1:2].isdigit())}


def diagnose(stats: Mapping[str, float], optimizer: str | None = None) -> list[str]:
    """Plain-language findings from a stats dict (an :meth:`~models.introspect.callback.Introspection.summary`,
    a history row, or the union of :func:`~models.introspect.weights.weight_stats`,
    :func:`~models.introspect.weights.gradient_stats` and :func:`~models.introspect.activations.activation_stats`).
    Each finding quotes the number and the threshold (module constants) it comes from; a key that is absent is not
    judged. ``optimizer``: the fit's (:data:`models.config.OPTIMIZERS`), which decides what frequent clipping means
    (:data:`CLIP_MEANS`); None says both readings."""
    found: list[str] = []
    for key, what in (
        ("weights.nonfinite", "weights"),
        ("grad.nonfinite", "gradients"),
        ("act.nonfinite", "activations on the fixed batch"),
    ):
        if stats.get(key, 0.0) > 0:
            found.append(f"NaN/Inf in {what}: {int(stats[key])} non-finite entries ({key})")
    if stats.get("diverged", 0.0) > 0:
        found.append("the fit diverged (diverged=1): the last record was taken when training stopped")
    gates = [
        (k.split(".")[1], v)
        for k, v in stats.items()
        if k.startswith("recurrent.") and k.endswith(".spectral") and k.count(".") == 2
    ]
    if gates:
        g, top = max(gates, key=lambda gv: gv[1])
        whole = stats.get("recurrent.spectral")
        # the whole matrix too: gate blocks of 0.9 each make a whole LSTM matrix of up to 1.8, which does not
        # contract by the same rule (the sentence said "contract" next to "whole recurrent matrix 1.80")
        if top < CONTRACT_SPECTRAL and (whole is None or whole < CONTRACT_SPECTRAL):
            extra = (
                f"; whole recurrent matrix {_below(whole, CONTRACT_SPECTRAL)}"
                if whole is not None and len(gates) > 1
                else ""
            )
            by = "the recurrent (h) block" if g == "h" else f"the {gate_label(g)} gate"  # a tanh RNN has no gate
            cell = "rnn" if {gate for gate, _ in gates} == {"h"} else "gated"
            found.append(
                f"recurrent weights contract (spectral norm {_below(top, CONTRACT_SPECTRAL)} < "
                f"{CONTRACT_SPECTRAL:g}, the largest over the recurrent gate blocks, layers and directions, reached "
                f"by {by}{extra}): {CONTRACT_MEANS[cell]}"
            )
    elif "recurrent.spectral" in stats and stats["recurrent.spectral"] < CONTRACT_SPECTRAL:
        found.append(
            f"recurrent weights contract (spectral norm {_below(stats['recurrent.spectral'], CONTRACT_SPECTRAL)} < "
            f"{CONTRACT_SPECTRAL:g}, the largest over the whole recurrent matrices): {CONTRACT_MEANS['unknown']}"
        )
    for k, v in stats.items():
        g = k.split(".")[-1]
        if not (k.startswith("sat.") and k.count(".") == 1 and g != "h" and v >= SATURATION_FRACTION):
            continue  # the vanilla RNN's gate h is its hidden output: reported once, as "hidden"
        threshold = f"threshold {100 * SATURATION_FRACTION:.0f}%"
        if g == "hidden":
            found.append(
                f"{100 * v:.0f}% of hidden outputs saturated (beyond +-{TANH_LIMIT:g}; {threshold}): "
                "units act as binary switches and their gradients vanish"
            )
            continue
        if g in SIGMOID_GATES:
            band = f"outside [{SIGMOID_LOW:g}, {SIGMOID_HIGH:g}]"
            lo, hi = stats.get(f"sat_low.{g}"), stats.get(f"sat_high.{g}")
            if lo is not None and hi is not None:
                band += f": {100 * hi:.0f}% open, {100 * lo:.0f}% shut"
        else:
            band = f"beyond +-{TANH_LIMIT:g}"
        found.append(
            f"{100 * v:.0f}% of {GATE_NAMES.get(g, g)}-gate activations saturated ({band}; {threshold}): "
            "the gate barely learns, its gradient is near zero"
        )
    clip = stats.get("grad.clip_fraction")
    if clip is not None and clip >= CLIP_FRACTION:
        kind = "adaptive" if optimizer in ADAPTIVE_OPTIMIZERS else optimizer if optimizer in CLIP_MEANS else None
        found.append(
            f"gradients clipped on {100 * clip:.0f}% of steps (threshold {100 * CLIP_FRACTION:.0f}%): "
            + CLIP_MEANS[kind].format(optimizer=optimizer)
        )
    dead = stats.get("dead")
    if dead is not None and dead >= DEAD_FRACTION:
        found.append(
            f"{100 * dead:.0f}% of hidden units dead (constant output over the fixed batch; threshold "
            f"{100 * DEAD_FRACTION:.0f}%): capacity unused, e.g. from strong L1/decay or saturation"
        )
    fade = stats.get("hnorm.fade")
    if fade is not None and fade >= FADE_RATIO:
        peak, last = stats.get("hnorm.peak", math.nan), stats.get("hnorm.last", math.nan)
        found.append(
            f"hidden-state norm falls {fade:.1f}x from its peak ({peak:.3g}) to the last step ({last:.3g}; "
            f"threshold {FADE_RATIO:g}x): information fades along the sequence"
        )
    found += _time_gradient(stats)
    return found


def _time_gradient(stats: Mapping[str, float]) -> list[str]:
    """The finding on the loss's gradient over time steps (:mod:`models.introspect.time_gradients`), if any, with
    the remedy that fits where the gradient is missing: the start (a forward recurrence's vanishing gradient), the
    middle only (a bidirectional network's two directions both fading: it had advised a bidirectional layer to
    one), or the end (the read-out does not depend on the latest steps: no vanishing over time at all)."""
    least = stats.get("tgrad.least")
    if stats.get("tgrad.sequences") == 0 and not stats.get("tgrad.nonfinite"):
        return [
            "the loss's gradient is zero on every sequence of the fixed batch (tgrad.sequences 0: predictions so "
            "confident that float32 rounds them to exactly one-hot, or an output that does not depend on the input): "
            "how far back in time it reaches is not measured, and these sequences teach training nothing more"
        ]
    if least is None or least >= TIME_GRADIENT_SHARE:
        return []
    parts = [(k, stats[f"tgrad.p{k}"]) for k in range(TENTHS) if f"tgrad.p{k}" in stats]
    weak = [k for k, v in parts if v < TIME_GRADIENT_SHARE]
    where = _tenths(weak)
    early = stats.get("tgrad.early")
    ratio = (
        f"; the first tenth gets {early:.2g} times the last tenth's (median over sequences)"
        if early is not None
        else ""
    )
    shorter = "a shorter sequence for the RNN (a strided Conv1D front end, or a larger stride)"
    if weak and weak[-1] == TENTHS - 1:
        why = (
            "the read-out barely depends on the latest steps (max pooling peaking earlier, or a reverse direction "
            "read where it starts)"
        )
        fix = f"mean pooling or {shorter} spreads it"
    elif weak and weak[0] > 0:
        why = "it fades from both ends before the middle, so training learns little from those steps"
        fix = f"{shorter}, or mean or max pooling, carries gradient there"
    else:
        why = "it vanishes over time steps, so training learns little from those steps"
        fix = f"{shorter}, mean or max pooling, or a bidirectional layer carries gradient there"
    return [
        f"the loss's gradient barely reaches {where} of each sequence ({least:.2g} of an even share at the least; "
        f"threshold {TIME_GRADIENT_SHARE:g}{ratio}): {why}; {fix}"
    ]


def _tenths(parts: list[int]) -> str:
    """``[0, 1, 2]`` -> "the first 3 tenths"; ``[3, 4, 5]`` -> "tenths 4-6"; ``[0]`` -> "the first tenth"."""
    if not parts:
        return "part"
    if parts == list(range(len(parts))):
        return "the first tenth" if len(parts) == 1 else f"the first {len(parts)} tenths"
    if parts == list(range(parts[0], parts[0] + len(parts))):
        return f"tenth {parts[0] + 1}" if len(parts) == 1 else f"tenths {parts[0] + 1}-{parts[-1] + 1}"
    return "tenths " + ", ".join(str(k + 1) for k in parts)

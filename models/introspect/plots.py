"""The figures of a record (PNG, Agg; matplotlib is imported only when drawing): weight histograms per gate,
gradient norms, saturation per gate and the hidden-state norm against the step."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.introspect.diagnoses import SATURATION_FRACTION, TIME_GRADIENT_SHARE
from models.introspect.layout import gate_label
from models.introspect.time_gradients import TENTHS

#: shares of the time-gradient figure below this are drawn at it (a vanished gradient, not a log-scale hole)
TIME_GRADIENT_FLOOR = 1e-6
#: the figures a record yields, file = name + ".png"
FIGURES = ("weights", "gradients", "saturation", "hidden_norm", "time_gradient")


def figure_kinds(state: Mapping[str, Any]) -> list[str]:
    """The figures :func:`figures_from_state` draws for ``state`` (weights only when histograms were recorded, the
    gradient over time only when it was measured)."""
    epochs = state.get("epochs") or []
    drawn = {"weights": bool(state.get("histograms")), "time_gradient": any("tgrad.least" in r for r in epochs)}
    return [k for k in FIGURES if drawn.get(k, bool(epochs))]


def figures_from_state(state: Mapping[str, Any], outdir: str | Path, prefix: str = "") -> dict[str, Path]:
    """The figures of a recorded :meth:`~models.introspect.callback.Introspection.state` (e.g. read back from a trial's ``introspection.json``),
    written into ``outdir`` as ``<prefix><kind>.png``; kind -> path."""
    outdir = Path(outdir)
    epochs, curves, histograms = state.get("epochs") or [], state.get("curves") or [], state.get("histograms") or {}
    paths: dict[str, Path] = {}
    if histograms:
        paths["weights"] = plot_weight_histograms(histograms, outdir / f"{prefix}weights.png")
    if epochs:
        paths["gradients"] = plot_gradients(state.get("gradients") or epochs, outdir / f"{prefix}gradients.png")
        numbers = [int(r["epoch"]) for r in epochs]
        sparse = " (recorded epochs: lines join them)" if numbers != list(range(numbers[0], numbers[-1] + 1)) else ""
        paths["saturation"] = plot_saturation(
            epochs, outdir / f"{prefix}saturation.png", "Saturated activations per gate" + sparse
        )
        series: dict[str, list[float]] = {}
        dashed: list[str] = []
        picks = [(epochs[0], curves[0] if curves else {})]
        if len(epochs) > 1:
            picks.append((epochs[-1], curves[-1] if curves else {}))
        left: list[str] = []
        for n, (row, curve_set) in enumerate(picks):
            names, left = shown(list(curve_set))
            for name in names:
                label = f"epoch {int(row['epoch']) + 1} {name}"
                series[label] = curve_set[name]
                if n == 0 and len(picks) > 1:
                    dashed.append(label)
        title = "Hidden-state norm along the sequence" + not_shown(left)
        paths["hidden_norm"] = plot_hidden_norm(series, outdir / f"{prefix}hidden_norm.png", title, dashed=dashed)
    if "time_gradient" in figure_kinds(state):
        paths["time_gradient"] = plot_time_gradient(epochs, outdir / f"{prefix}time_gradient.png")
    return paths


def shown(names: list[str], limit: int = 4) -> tuple[list[str], list[str]]:
    """At most ``limit`` of ``names`` (layer-directions in network order): the first and the last ones, the last
    layer being what the head reads; and those left out, which the figure's title names. A 3-layer bidirectional
    network's figures kept its first four and silently dropped its last layer."""
    if len(names) <= limit:
        return names, []
    first, last = limit // 2, limit - limit // 2
    return names[:first] + names[len(names) - last :], names[first : len(names) - last]


def not_shown(left: Sequence[str]) -> str:
    return f" ({', '.join(left)} not shown)" if left else ""


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (7.0, 4.0)) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_weight_histograms(
    histograms: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | Path,
    title: str = "Weights per gate: kernel vs recurrent",
    max_rows: int = 4,
) -> Path:
    """One panel per layer/direction (rows, at most ``max_rows``) and gate (columns), kernel and recurrent
    weight histograms (from :func:`~models.introspect.weights.weight_histograms`) overlaid, each as the fraction of its weights per bin (the
    legend gives the number of weights)."""
    groups: dict[str, dict[str, dict[str, Mapping[str, Sequence[float]]]]] = {}
    for key, h in histograms.items():
        layer, direction, kind, gate = key.split(".")
        groups.setdefault(f"{layer}.{direction}", {}).setdefault(gate, {})[kind] = h
    prefixes, left = shown(list(groups), max_rows)
    gates = list(groups[prefixes[0]]) if prefixes else []
    fig, axes = _figure(
        max(len(prefixes), 1), max(len(gates), 1), (3.2 * max(len(gates), 1), 2.6 * max(len(prefixes), 1) + 0.6)
    )
    for r, prefix in enumerate(prefixes):
        for c, g in enumerate(gates):
            ax = axes[r][c]
            for kind, color in (("kernel", "tab:blue"), ("recurrent", "tab:orange")):
                hist = groups[prefix][g].get(kind)
                if hist is not None:
                    total = max(sum(hist["counts"]), 1)
                    label = f"{kind} ({total})"
                    fractions = [c / total for c in hist["counts"]]
                    ax.stairs(fractions, hist["edges"], color=color, label=label, fill=True, alpha=0.45)
            ax.set_title(f"{prefix.replace('.', ' ')} · {gate_label(g)} gate", fontsize=9)
            ax.set_xlabel("weight value", fontsize=8)
            ax.set_ylabel("fraction of weights", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6)
    fig.suptitle(title + not_shown(left))
    return _save(fig, path)


def plot_gradients(
    history: Sequence[Mapping[str, float]], path: str | Path, title: str = "Gradient norm per epoch (before clipping)"
) -> Path:
    """Global gradient norm (mean and max over each epoch's steps) and per-component means, log scale, with the
    fraction of clipped steps on the right axis."""
    fig, axes = _figure(size=(7.5, 4.2))
    ax = axes[0][0]
    epochs = [int(r["epoch"]) + 1 for r in history]
    styles = [
        ("grad.norm_mean", "global (mean)", "k", "-"),
        ("grad.norm_max", "global (max)", "k", ":"),
        ("grad.kernel", "kernel", "tab:blue", "-"),
        ("grad.recurrent", "recurrent", "tab:orange", "-"),
        ("grad.bias", "bias", "tab:green", "-"),
        ("grad.head", "head", "tab:purple", "-"),
    ]
    positive = False
    for key, label, color, ls in styles:
        ys = [r.get(key, math.nan) for r in history]
        if any(math.isfinite(y) for y in ys):
            ax.plot(epochs, ys, ls, color=color, label=label, marker=".")
            positive = positive or any(y > 0 for y in ys if math.isfinite(y))
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    _integer_ticks(ax)
    ax.set_ylabel("gradient L2 norm")
    ax2 = ax.twinx()
    ax2.bar(
        epochs, [r.get("grad.clip_fraction", 0.0) for r in history], color="tab:red", alpha=0.2, label="clipped steps"
    )
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("fraction of steps clipped", color="tab:red")
    lines, labels = ax.get_legend_handles_labels()
    lines2, labels2 = ax2.get_legend_handles_labels()
    ax.legend(lines + lines2, labels + labels2, fontsize=7, loc="upper right")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_title(title)
    return _save(fig, path)


def plot_saturation(
    history: Sequence[Mapping[str, float]], path: str | Path, title: str = "Saturated activations per gate"
) -> Path:
    """Per epoch: the fraction of saturated activations of each gate and of the hidden outputs, and the fraction
    of dead units (dashed)."""
    fig, axes = _figure(size=(7.5, 4.2))
    ax = axes[0][0]
    epochs = [int(r["epoch"]) + 1 for r in history]
    keys = sorted(
        {k for r in history for k in r if k.startswith("sat.") and k.count(".") == 1 and k != "sat.h"},
        key=lambda k: "ifgorznhidden".find(k.split(".")[1]),  # gate order, the hidden output last
    )  # a vanilla RNN's gate h is its hidden output: drawn once
    for k in keys:
        g = k.split(".")[1]
        label = "hidden output h" if g == "hidden" else f"{gate_label(g)} gate"
        ax.plot(epochs, [100 * r.get(k, math.nan) for r in history], marker=".", label=label)
    ax.plot(epochs, [100 * r.get("dead", math.nan) for r in history], "k--", label="dead units")
    ax.axhline(
        100 * SATURATION_FRACTION, color="grey", lw=0.8, ls=":", label=f"{100 * SATURATION_FRACTION:.0f}% threshold"
    )
    ax.set_ylim(-2, 102)
    ax.set_xlabel("epoch")
    _integer_ticks(ax)
    ax.set_ylabel("% of activations (units for dead)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title)
    return _save(fig, path)


def plot_hidden_norm(
    series: Mapping[str, Sequence[float]],
    path: str | Path,
    title: str = "Hidden-state norm along the sequence",
    dashed: Sequence[str] = (),
) -> Path:
    """One line per series (e.g. ``"epoch 20 L0.fwd"``): the mean ||h_t|| over valid sequences against t. Series
    whose labels end with the same word share a colour; those listed in ``dashed`` are drawn dashed."""
    fig, axes = _figure(size=(7.5, 4.2))
    ax = axes[0][0]
    colors: dict[str, str] = {}
    for label, curve in series.items():
        group = label.split()[-1] if label.split() else label
        color = colors.setdefault(group, f"C{len(colors) % 10}")
        ax.plot(range(1, len(curve) + 1), list(curve), "--" if label in dashed else "-", color=color, label=label)
    ax.set_xlabel("time step (in the direction's processing order)")
    _integer_ticks(ax)
    ax.set_ylabel("mean ||h_t|| over valid sequences")
    ax.set_ylim(bottom=0)
    if series:
        ax.legend(fontsize=7)
    ax.set_title(title)
    return _save(fig, path)


def floor_note(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> str:
    """The legend entry of the floor line when :func:`plot_time_gradient` draws a share of ``rows`` (layer inputs
    ``names``) at :data:`TIME_GRADIENT_FLOOR` instead of its value; "" when none is below it. A tanh RNN's 2.6e-21
    was drawn at 1e-06, silently, beside a table that said 2.6e-21."""
    values = [v for r in rows for n in names for k in range(TENTHS) if (v := r.get(f"{n}.tgrad.p{k}")) is not None]
    lowest = min(values, default=TIME_GRADIENT_FLOOR)
    if lowest >= TIME_GRADIENT_FLOOR:
        return ""
    return f"drawn at {TIME_GRADIENT_FLOOR:g}: shares below it (down to {lowest:.2g})"


def plot_time_gradient(
    history: Sequence[Mapping[str, float]], path: str | Path, title: str = "The loss's gradient along the sequence"
) -> Path:
    """Per layer input (``L0`` = the data after the front end): the mean gradient norm in each tenth of the
    sequences' valid steps relative to an even share (:mod:`models.introspect.time_gradients`), log scale, at the
    first (dashed) and the last measured epoch; a share below :data:`TIME_GRADIENT_FLOOR` is drawn at it, and a
    line there says so (:func:`floor_note`)."""
    fig, axes = _figure(size=(7.5, 4.2))
    ax = axes[0][0]
    measured = [r for r in history if "tgrad.least" in r]
    picks = measured[:1] + measured[-1:] if len(measured) > 1 else measured
    layers = sorted({k.split(".")[0] for r in measured for k in r if k.startswith("L") and ".tgrad.p" in k})
    names, left = shown(layers)
    floor = TIME_GRADIENT_FLOOR
    for n, row in enumerate(picks):
        for j, name in enumerate(names):
            xs = [k + 1 for k in range(TENTHS) if f"{name}.tgrad.p{k}" in row]
            ys = [max(row[f"{name}.tgrad.p{k}"], floor) for k in range(TENTHS) if f"{name}.tgrad.p{k}" in row]
            dashed = n == 0 and len(picks) > 1
            label = f"epoch {int(row['epoch']) + 1} {name} input"
            ax.plot(xs, ys, "--" if dashed else "-", color=f"C{j % 10}", marker=".", label=label)
    ax.axhline(1.0, color="grey", lw=0.8, ls="-", label="even share")
    ax.axhline(TIME_GRADIENT_SHARE, color="tab:red", lw=0.8, ls=":", label=f"{TIME_GRADIENT_SHARE:g} (vanished)")
    note = floor_note(picks, names)
    if note:
        ax.axhline(floor, color="black", lw=0.6, ls="-.", label=note)
    ax.set_yscale("log")
    ax.set_xlabel("tenth of the sequence's valid steps (data order)")
    ax.set_xticks(range(1, TENTHS + 1))
    ax.set_ylabel("gradient norm / the sequence's mean")
    ax.legend(fontsize=7)
    ax.set_title(title + not_shown(left))
    return _save(fig, path)

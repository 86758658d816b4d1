"""Introspection of an RNN classifier: weights, gradients and activations per layer, direction and gate.

What it measures (every statistic is a plain function with a known answer; the thresholds are module
constants), one module per concern:

- :mod:`~models.introspect.layout`: the gates' and directions' layout of the parameters and the flat keys;
- :mod:`~models.introspect.weights`: **weights** per layer ``L<i>``, direction ``fwd``/``bwd`` and gate (LSTM
  ``i f g o``, GRU ``r z n``, vanilla RNN ``h``) for the kernel, recurrent kernel and bias: L2 norm, largest
  per-unit incoming norm, spectral norm of each recurrent gate block and of the whole recurrent matrix (below 1
  the recurrent map contracts and a tanh RNN's memory fades, Pascanu et al. 2013); **gradients** from
  :class:`models.classifier.GradientLog` (global norm before clipping, per component, the clipped fraction,
  NaN/Inf entries); **histograms** of kernel and recurrent weights per gate;
- :mod:`~models.introspect.activations`: **activations** on a fixed batch with the model's own weights in eval
  mode, over the valid steps only: saturated gate activations, dead hidden units, the hidden-state norm against
  the time step (gates from the step-by-step recurrence or, by default and several times cheaper, replayed at
  once from the recorded layer outputs; both give the same numbers);
- :mod:`~models.introspect.time_gradients`: the **loss's gradient over time steps**, per layer input and tenth of
  the sequence: whether it reaches the earliest steps or vanishes on the way (``make report``'s refits);
- :mod:`~models.introspect.callback`: :class:`Introspection`, the Lightning callback that records all of it once
  per validation epoch, compactly;
- :mod:`~models.introspect.diagnoses`: :func:`diagnose` turns the numbers into plain-language findings;
- :mod:`~models.introspect.plots`: the ``plot_*`` figures (PNG, Agg).

Keys are flat strings. Per layer and direction: ``L0.fwd.recurrent.f.spectral``, ``L0.fwd.kernel.i.l2``,
``L0.fwd.sat.f`` ... Aggregated over layers and directions (the compact :meth:`Introspection.summary`):
``recurrent.f.spectral``, ``sat.f``, ``dead``, ``grad.clip_fraction`` ... Non-finite statistics are left out
(the ``*.nonfinite`` counters say why), so every value is a finite float and the dicts are strict JSON.
"""

from models.introspect.activations import (
    CHUNK_STEPS,
    DEAD_TOLERANCE,
    SIGMOID_HIGH,
    SIGMOID_LOW,
    TANH_LIMIT,
    Capture,
    activation_stats,
    capture,
    hidden_norm_curves,
)
from models.introspect.callback import MAX_SEQUENCES, Introspection, fixed_batch
from models.introspect.diagnoses import (
    CLIP_FRACTION,
    CONTRACT_SPECTRAL,
    DEAD_FRACTION,
    FADE_RATIO,
    SATURATION_FRACTION,
    TIME_GRADIENT_SHARE,
    compact,
    diagnose,
)
from models.introspect.layout import DIRECTIONS, GATE_NAMES, SIGMOID_GATES, recurrent_weights, split_gates
from models.introspect.plots import (
    FIGURES,
    figure_kinds,
    figures_from_state,
    plot_gradients,
    plot_hidden_norm,
    plot_saturation,
    plot_time_gradient,
    plot_weight_histograms,
)
from models.introspect.time_gradients import TENTHS, time_gradients
from models.introspect.weights import (
    HIST_BINS,
    gradient_stats,
    nonfinite_count,
    spectral_norm,
    unit_norms,
    weight_histograms,
    weight_stats,
)

__all__ = [
    "CHUNK_STEPS", "CLIP_FRACTION", "CONTRACT_SPECTRAL", "DEAD_FRACTION", "DEAD_TOLERANCE", "DIRECTIONS", "FADE_RATIO",
    "FIGURES", "GATE_NAMES", "HIST_BINS", "MAX_SEQUENCES", "SATURATION_FRACTION", "SIGMOID_GATES", "SIGMOID_HIGH",
    "SIGMOID_LOW", "TANH_LIMIT", "TENTHS", "TIME_GRADIENT_SHARE", "Capture", "Introspection", "activation_stats", "capture", "compact", "diagnose",
    "figure_kinds", "figures_from_state", "fixed_batch", "gradient_stats", "hidden_norm_curves", "nonfinite_count",
    "plot_gradients", "plot_hidden_norm", "plot_saturation", "plot_time_gradient", "plot_weight_histograms",
    "recurrent_weights", "spectral_norm", "split_gates", "time_gradients", "unit_norms", "weight_histograms",
    "weight_stats",
]  # fmt: skip

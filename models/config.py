"""Config dataclasses: every regularizer of the classifier is one plain, named field.

A search (``search/``) produces a flat ``dict`` of hyperparameters; :func:`split_params` validates it and
splits it into the network's :class:`RNNConfig` and the training loop's :class:`TrainConfig`.  Every field
that regularizes is "off" at 0 / ``"none"`` and, when off, leaves the model bit-identical to the plain one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

CELLS = ("lstm", "gru", "rnn")
CONV_NORMS = ("none", "batch")
POOLINGS = ("last", "mean", "max")
NORMS = ("none", "batch", "layer")
PATHS = ("auto", "fused", "loop")
RECURRENT_DROPOUT_MODES = ("sequence", "batch")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ("h",)}


class ConfigError(ValueError):
    """A hyperparameter with a bad value; the message names the field and the allowed values."""


@dataclass
class RNNConfig:
    """The network: an RNN encoder, pooling, optional normalization and a softmax head."""

    input_size: int = 1  # channels per time step; set from the data by the caller
    num_classes: int = 2  # softmax width; set from the data by the caller
    cell: str = "lstm"  # lstm | gru | rnn (tanh): LSTM is the usual default for classification
    hidden_size: int = 64  # units per direction; 64 is plenty for the UEA/UCR datasets shipped here
    num_layers: int = 1  # stacked RNN layers; depth rarely helps on short sequences
    bidirectional: bool = False  # read the sequence both ways; doubles the pooled width
    pooling: str = "last"  # last | mean | max over the valid (unpadded) steps, fed to the head
    conv_stride: int = 1  # >1 adds a strided Conv1D front end that shortens long sequences (1 = off)
    conv_channels: int = 0  # channels of that Conv1D; 0 = hidden_size
    conv_layers: int = -1  # Conv1D blocks before the RNN (0 = off); -1 = auto: one block iff conv_stride > 1
    conv_kernel: int = 0  # kernel of the first (strided) block; 0 = conv_stride (windows side by side)
    conv_norm: str = "none"  # none | batch: masked BatchNorm before each block's ReLU (as in FCN blocks)
    dropout: float = 0.0  # input dropout rate (0 = off); 0.1-0.2 is the usual start
    dropout_variational: bool = False  # one input-dropout mask per sequence, shared over time (Gal)
    recurrent_dropout: float = 0.0  # dropout on the hidden state fed back, one mask per sequence (Gal)
    recurrent_dropout_mode: str = "sequence"  # sequence (needs the loop) | batch (one mask per batch, fused)
    weight_drop: float = 0.0  # DropConnect on hidden-to-hidden weights, resampled each forward (AWD-LSTM)
    layer_dropout: float = 0.0  # dropout between stacked layers (variational when dropout_variational)
    output_dropout: float = 0.0  # dropout between the pooled RNN output and the head
    zoneout: float = 0.0  # probability that a unit keeps its previous state (needs the loop)
    norm: str = "none"  # none | batch | layer, on each RNN layer's output; batch drops that layer's bias
    input_noise: float = 0.0  # std of Gaussian noise added to standardized inputs in training
    path: str = "auto"  # auto picks the fused kernel whenever the config allows; fused | loop force one

    def __post_init__(self) -> None:
        _check_choice("cell", self.cell, CELLS)
        _check_choice("pooling", self.pooling, POOLINGS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("conv_norm", self.conv_norm, CONV_NORMS)
        _check_choice("path", self.path, PATHS)
        _check_choice("recurrent_dropout_mode", self.recurrent_dropout_mode, RECURRENT_DROPOUT_MODES)
        for name in ("input_size", "num_classes", "hidden_size", "num_layers", "conv_stride"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("conv_channels", self.conv_channels, minimum=0)
        _check_int("conv_layers", self.conv_layers, minimum=-1)
        _check_int("conv_kernel", self.conv_kernel, minimum=0)
        if self.num_classes < 2:
            raise ConfigError(f"num_classes={self.num_classes!r}: a classifier needs at least 2 classes")
        for name in ("dropout", "recurrent_dropout", "weight_drop", "layer_dropout", "output_dropout", "zoneout"):
            _check_rate(name, getattr(self, name))
        _check_nonneg("input_noise", self.input_noise)
        if self.path == "fused" and self.needs_loop:
            raise ConfigError(
                "path='fused' is impossible with "
                f"recurrent_dropout={self.recurrent_dropout} (mode {self.recurrent_dropout_mode!r}) / "
                f"zoneout={self.zoneout}; allowed: path in ('auto', 'loop') or recurrent_dropout_mode='batch'"
            )

    @property
    def needs_loop(self) -> bool:
        """True when a regularizer acts inside the recurrence, where the fused kernel cannot reach."""
        return self.zoneout > 0 or (self.recurrent_dropout > 0 and self.recurrent_dropout_mode == "sequence")

    @property
    def conv_blocks(self) -> int:
        """Conv1D blocks the network builds: ``conv_layers``, or for auto (-1) one iff ``conv_stride`` > 1."""
        if self.conv_layers >= 0:
            return self.conv_layers
        return 1 if self.conv_stride > 1 else 0

    @property
    def resolved_path(self) -> str:
        """``fused`` or ``loop``: the path a model built from this config runs."""
        if self.path == "auto":
            return "loop" if self.needs_loop else "fused"
        return self.path


@dataclass
class TrainConfig:
    """The loss, the optimizer and the training loop."""

    optimizer: str = "adamw"  # adam (coupled L2 via gradient) | adamw | sgd | rmsprop (decoupled decay)
    lr: float = 3e-3  # Adam-family step size that trains a 64-unit RNN in a few dozen epochs
    momentum: float = 0.9  # sgd/rmsprop momentum; ignored by adam/adamw
    kernel_l1: float = 0.0  # L1 penalty on input-to-hidden weights, all gates
    kernel_l2: float = 0.0  # L2 penalty on input-to-hidden weights; 1e-4 / 1e-3 are the usual tries
    recurrent_l1: float = 0.0  # L1 penalty on hidden-to-hidden weights
    recurrent_l2: float = 0.0  # L2 penalty on hidden-to-hidden weights; too much erases memory
    bias_l1: float = 0.0  # L1 penalty on RNN biases (rarely worth it)
    bias_l2: float = 0.0  # L2 penalty on RNN biases (rarely worth it)
    head_l1: float = 0.0  # L1 penalty on the softmax head's weights
    head_l2: float = 0.0  # L2 penalty on the softmax head's weights
    activity_l1: float = 0.0  # L1 penalty on the pooled RNN output (Keras activity_regularizer)
    activity_l2: float = 0.0  # L2 penalty on the pooled RNN output
    ar: float = 0.0  # AWD-LSTM activation regularization: ar * mean(h_t^2)
    tar: float = 0.0  # AWD-LSTM temporal activation regularization: tar * mean((h_t - h_{t-1})^2)
    kernel_decay: float = 0.0  # weight decay of input-to-hidden weights (its own value: see the shapes)
    recurrent_decay: float = 0.0  # weight decay of hidden-to-hidden weights, independent of kernel_decay
    head_decay: float = 0.0  # weight decay of the head's weights
    kernel_max_norm: float = 0.0  # cap on each unit's incoming input weight L2 norm (Keras MaxNorm)
    recurrent_max_norm: float = 0.0  # cap on each unit's incoming recurrent weight L2 norm
    bias_max_norm: float = 0.0  # cap on each bias entry's magnitude
    head_max_norm: float = 0.0  # cap on each class's incoming head weight L2 norm
    clip_norm: float = 0.0  # clip gradients to this global L2 norm (Pascanu et al. 2013)
    clip_value: float = 0.0  # clip each gradient entry to [-clip_value, clip_value]
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    scaling: float = 0.0  # std of a per-sequence, per-channel input factor around 1 (amplitude invariance)
    magnitude_warp: float = 0.0  # std of a smooth 4-knot curve around 1 multiplying each channel over time
    time_warp: float = 0.0  # log-speed std of a smooth monotone time distortion (ends fixed): tempo invariance
    window_slice: float = 0.0  # fraction of each sequence cropped away, the rest stretched back (shift invariance)
    mixup: float = 0.0  # alpha of Beta(alpha, alpha) blending two sequences and their labels; 0.2-0.4 is usual
    cutmix: float = 0.0  # alpha: a time segment swapped with another sequence's, labels mixed by its length share
    ema_decay: float = 0.0  # validate / keep an EMA of the weights (0.99-0.999): flatter, less noisy end point
    swa_start: float = 0.0  # fraction of max_epochs after which the mean of every step's weights is kept (SWA)
    batch_size: int = 32  # sequences per step; 32 keeps ~9 steps/epoch on JapaneseVowels' 216 training series
    max_epochs: int = 40  # enough for JapaneseVowels to converge with early stopping
    patience: int = 10  # early-stopping patience in epochs on the monitored metric (0 = off)
    seed: int = 0  # seeds weights, masks and batch order

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("float", float) and f.name not in ("lr",):
                _check_nonneg(f.name, value)
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr={self.lr!r}: must be a finite number > 0")
        _check_rate("label_smoothing", self.label_smoothing)
        for name in ("window_slice", "ema_decay", "swa_start"):
            _check_rate(name, getattr(self, name))
        _check_rate("momentum", self.momentum)
        for name in ("batch_size", "max_epochs"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("patience", self.patience, minimum=0)
        _check_int("seed", self.seed, minimum=0)

    @property
    def decays(self) -> dict[str, float]:
        return {"kernel": self.kernel_decay, "recurrent": self.recurrent_decay, "head": self.head_decay}


#: hyperparameters that set the network shape rather than regularize it
ARCHITECTURE_NAMES = (
    "cell", "hidden_size", "num_layers", "bidirectional", "pooling", "conv_stride", "conv_channels", "conv_layers",
    "conv_kernel", "conv_norm",
)  # fmt: skip
#: the fields the data sets, never the user
DATA_NAMES = ("input_size", "num_classes")
RNN_NAMES = tuple(f.name for f in fields(RNNConfig) if f.name not in DATA_NAMES)
TRAIN_NAMES = tuple(f.name for f in fields(TrainConfig))
#: every name a study file may search or fix
HYPERPARAMETER_NAMES = RNN_NAMES + TRAIN_NAMES
#: the regularizers (each one off at its zero / "none" value)
REGULARIZER_NAMES = (
    "kernel_l1", "kernel_l2", "recurrent_l1", "recurrent_l2", "bias_l1", "bias_l2", "head_l1", "head_l2",
    "activity_l1", "activity_l2", "ar", "tar", "optimizer", "kernel_decay", "recurrent_decay", "head_decay",
    "dropout", "recurrent_dropout", "weight_drop", "layer_dropout", "output_dropout", "zoneout", "norm",
    "kernel_max_norm", "recurrent_max_norm", "bias_max_norm", "head_max_norm", "clip_norm", "clip_value",
    "input_noise", "label_smoothing", "scaling", "magnitude_warp", "time_warp", "window_slice", "mixup", "cutmix",
    "ema_decay", "swa_start",
)  # fmt: skip


def split_params(params: dict[str, Any], **data: Any) -> tuple[RNNConfig, TrainConfig]:
    """Validate a flat hyperparameter dict and split it into the two configs.

    ``data`` carries ``input_size`` / ``num_classes`` from the dataset.
    """
    unknown = sorted(set(params) - set(HYPERPARAMETER_NAMES))
    if unknown:
        raise ConfigError(f"unknown hyperparameter(s) {unknown}; allowed: {', '.join(HYPERPARAMETER_NAMES)}")
    rnn = {k: v for k, v in params.items() if k in RNN_NAMES}
    train = {k: v for k, v in params.items() if k in TRAIN_NAMES}
    return RNNConfig(**rnn, **data), TrainConfig(**train)


def as_dict(*configs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in configs:
        out.update(dataclasses.asdict(c))
    return out


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: allowed values are {', '.join(allowed)}")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r}: must be an integer >= {minimum}")


def _check_nonneg(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name}={value!r}: must be a finite number >= 0 (0 = off)")


def _check_rate(name: str, value: Any) -> None:
    _check_nonneg(name, value)
    if value >= 1:
        raise ConfigError(f"{name}={value!r}: must be in [0, 1) (0 = off)")


__all__ = [
    "ARCHITECTURE_NAMES", "CELLS", "GATES", "HYPERPARAMETER_NAMES", "NORMS", "OPTIMIZERS", "POOLINGS",
    "REGULARIZER_NAMES", "ConfigError", "RNNConfig", "TrainConfig", "as_dict", "split_params",
]  # fmt: skip

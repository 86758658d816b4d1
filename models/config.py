"""Config dataclasses: every regularizer of the classifier is one plain, named field.

A search (``search/``) produces a flat ``dict`` of hyperparameters; :func:`split_params` validates it and
splits it into the network's :class:`RNNConfig` and the training loop's :class:`TrainConfig`.  Every field
that regularizes is "off" at 0 / ``"none"`` and, when off, leaves the model bit-identical to the plain one.

Each field says what it is in its metadata, and every list of names below is derived from it (nothing else
lists hyperparameters):

- ``kind``: how it is validated: :data:`RATE` (a number in [0, 1)), :data:`AMOUNT` (a finite number >= 0),
  :data:`POSITIVE` (> 0), :data:`INTEGER` (with ``minimum``), :data:`CHOICE` (one of ``choices``), :data:`FLAG`;
- ``role``: :data:`REGULARIZER` (off at its default, but the always-on ``optimizer``), :data:`ARCHITECTURE`
  (the network's shape, set under ``architecture:`` in a study file), :data:`DATA` (set from the dataset, never
  by the user), or none (a training setting such as ``lr``);
- ``depends``: the names that change what a regularizer does (a recipe that sets it sets these too);
- ``group``: :data:`AUGMENTATION` for the data augmentations (:class:`models.regularizers.Augment`).

Adding a regularizer: its module under ``models/regularizers/`` and one field here (see README, "The
hyperparameters").
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.data import Splits

CELLS = ("lstm", "gru", "rnn")
CONV_NORMS = ("none", "batch")
POOLINGS = ("last", "mean", "max")
NORMS = ("none", "batch", "layer")
PATHS = ("auto", "fused", "loop")
RECURRENT_DROPOUT_MODES = ("sequence", "batch")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
#: how inputs are scaled before the network (models.datamodule.SequenceDataModule)
NORMALIZATIONS = ("channel", "series")
GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ("h",)}
#: the weights a regularizer addresses by role (``kernel_l2``, ``recurrent_decay``, ``head_max_norm``, ...)
WEIGHT_ROLES = ("kernel", "recurrent", "bias", "head")
#: the network's parameter groups (``RNNClassifierNet.parameter_groups``): the roles, and everything else
PARAMETER_GROUPS = (*WEIGHT_ROLES, "other")

# field metadata: kinds, roles, groups
RATE, AMOUNT, POSITIVE, INTEGER, CHOICE, FLAG = "rate", "amount", "positive", "integer", "choice", "flag"
REGULARIZER, ARCHITECTURE, DATA = "regularizer", "architecture", "data"
AUGMENTATION = "augmentation"


class ConfigError(ValueError):
    """A hyperparameter with a bad value; the message names the field and the allowed values."""


def _hp(default: Any, kind: str | tuple[str, ...], role: str | None = None, minimum: int = 0, **extra: Any) -> Any:
    """A config field; ``kind`` a tuple of strings is a :data:`CHOICE` among them."""
    meta: dict[str, Any] = {"role": role, **extra}
    if isinstance(kind, tuple):
        meta.update(kind=CHOICE, choices=kind)
    else:
        meta.update(kind=kind, minimum=minimum)
    return field(default=default, metadata=meta)


#: bounds on the sizes a study may ask for: far above any RNN that trains on one machine, and below the sizes at
#: which building the network overflows or hangs after the study was created (hidden_size 1e9, num_layers 1e6)
WIDEST, DEEPEST = 65_536, 256


def _arch(default: Any, kind: str | tuple[str, ...], minimum: int = 0, maximum: int | None = None) -> Any:
    return _hp(default, kind, ARCHITECTURE, minimum, **({"maximum": maximum} if maximum is not None else {}))


def _reg(kind: str | tuple[str, ...] = AMOUNT, *depends: str, default: Any = 0.0, group: str | None = None) -> Any:
    """A regularizer, off at ``default`` (0 unless said); ``depends``: the names that change what it does."""
    return _hp(default, kind, REGULARIZER, depends=depends, group=group)


@dataclass(frozen=True)
class RNNConfig:
    """The network: an RNN encoder, pooling, optional normalization and a softmax head."""

    input_size: int = _hp(1, INTEGER, DATA, 1)  # channels per time step; set from the data by the caller
    num_classes: int = _hp(2, INTEGER, DATA, 1)  # softmax width; set from the data by the caller
    cell: str = _arch("lstm", CELLS)  # lstm | gru | rnn (tanh): LSTM is the usual default for classification
    #: units per direction; 64 is plenty for the UEA/UCR datasets shipped here
    hidden_size: int = _arch(64, INTEGER, 1, WIDEST)
    num_layers: int = _arch(1, INTEGER, 1, DEEPEST)  # stacked RNN layers; depth rarely helps on short sequences
    bidirectional: bool = _arch(False, FLAG)  # read the sequence both ways; doubles the pooled width
    pooling: str = _arch("last", POOLINGS)  # last | mean | max over the valid (unpadded) steps, fed to the head
    #: >1 adds a strided Conv1D front end that shortens long sequences (1 = off)
    conv_stride: int = _arch(1, INTEGER, 1, WIDEST)
    conv_channels: int = _arch(0, INTEGER, 0, WIDEST)  # channels of that Conv1D; 0 = hidden_size
    #: Conv1D blocks before the RNN (0 = off); -1 = auto: one block iff conv_stride > 1
    conv_layers: int = _arch(-1, INTEGER, -1, DEEPEST)
    #: kernel of the first (strided) block; 0 = conv_stride (windows side by side)
    conv_kernel: int = _arch(0, INTEGER, 0, WIDEST)
    #: none | batch: masked BatchNorm before each block's ReLU (as in FCN blocks)
    conv_norm: str = _arch("none", CONV_NORMS)
    #: the head also reads the front end's features averaged over the valid steps, next to the RNN's pooled
    #: output (LSTM-FCN, Karim et al. 2017); no effect without a front end
    conv_skip: bool = _arch(False, FLAG)
    #: every block at full resolution ("same" padding, as FCN) and the stride an average pooling before the
    #: RNN, instead of a strided first block: the RNN sees as many steps, the blocks and the skip see them all
    conv_pool: bool = _arch(False, FLAG)
    dropout: float = _reg(RATE, "dropout_variational")  # input dropout rate (0 = off); 0.1-0.2 is the usual start
    dropout_variational: bool = _hp(False, FLAG)  # one input-dropout mask per sequence, shared over time (Gal)
    #: dropout on the hidden state fed back, one mask per sequence (Gal)
    recurrent_dropout: float = _reg(RATE, "recurrent_dropout_mode")
    #: sequence (needs the loop) | batch (one mask per batch, fused)
    recurrent_dropout_mode: str = _hp("sequence", RECURRENT_DROPOUT_MODES)
    #: DropConnect on hidden-to-hidden weights, resampled each forward (AWD-LSTM)
    weight_drop: float = _reg(RATE, "optimizer")
    #: dropout between stacked layers (variational when dropout_variational)
    layer_dropout: float = _reg(RATE, "dropout_variational")
    output_dropout: float = _reg(RATE)  # dropout between the pooled RNN output and the head
    #: dropout on the RNN's pooled output only, where the head also reads the front end (conv_skip): LSTM-FCN's
    #: 0.8 after the LSTM keeps the RNN from fitting the training split alone; no effect without conv_skip
    branch_dropout: float = _reg(RATE, "conv_skip")
    zoneout: float = _reg(RATE)  # probability that a unit keeps its previous state (needs the loop)
    #: none | batch | layer, on each RNN layer's output (the RNN keeps its biases: they act inside the recurrence)
    norm: str = _reg(NORMS, default="none")
    input_noise: float = _reg()  # std of Gaussian noise added to standardized inputs in training
    path: str = _hp("auto", PATHS)  # auto picks the fused kernel whenever the config allows; fused | loop force one

    def __post_init__(self) -> None:
        _validate(self)
        if self.num_classes < 2:
            raise ConfigError(f"num_classes={self.num_classes!r}: a classifier needs at least 2 classes")
        if self.path == "fused" and self.needs_loop:
            raise ConfigError(
                "path='fused' is impossible with "
                f"recurrent_dropout={self.recurrent_dropout} (mode {self.recurrent_dropout_mode!r}) / "
                f"zoneout={self.zoneout}; allowed: path in ('auto', 'loop') or recurrent_dropout_mode='batch'"
            )

    @property
    def sequence_recurrent_dropout(self) -> bool:
        """Recurrent dropout with one mask per sequence: it acts inside the recurrence (the loop path)."""
        return self.recurrent_dropout > 0 and self.recurrent_dropout_mode == "sequence"

    @property
    def batch_recurrent_dropout(self) -> bool:
        """Recurrent dropout with one mask per mini-batch: dropped columns of the hidden-to-hidden weights."""
        return self.recurrent_dropout > 0 and self.recurrent_dropout_mode == "batch"

    @property
    def needs_loop(self) -> bool:
        """True when a regularizer acts inside the recurrence, where the fused kernel cannot reach."""
        return self.zoneout > 0 or self.sequence_recurrent_dropout

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


@dataclass(frozen=True)
class TrainConfig:
    """The loss, the optimizer and the training loop."""

    #: adam (coupled L2 via gradient) | adamw | sgd | rmsprop (decoupled decay); never off
    optimizer: str = _hp("adamw", OPTIMIZERS, REGULARIZER)
    lr: float = _hp(3e-3, POSITIVE)  # Adam-family step size that trains a 64-unit RNN in a few dozen epochs
    momentum: float = _hp(0.9, RATE)  # sgd/rmsprop momentum; ignored by adam/adamw
    kernel_l1: float = _reg()  # L1 penalty on input-to-hidden weights, all gates
    kernel_l2: float = _reg()  # L2 penalty on input-to-hidden weights; 1e-4 / 1e-3 are the usual tries
    recurrent_l1: float = _reg()  # L1 penalty on hidden-to-hidden weights
    recurrent_l2: float = _reg()  # L2 penalty on hidden-to-hidden weights; too much erases memory
    bias_l1: float = _reg()  # L1 penalty on RNN biases (rarely worth it)
    bias_l2: float = _reg()  # L2 penalty on RNN biases (rarely worth it)
    head_l1: float = _reg()  # L1 penalty on the softmax head's weights
    head_l2: float = _reg()  # L2 penalty on the softmax head's weights
    activity_l1: float = _reg()  # L1 penalty on the pooled RNN output (Keras activity_regularizer)
    activity_l2: float = _reg()  # L2 penalty on the pooled RNN output
    ar: float = _reg()  # AWD-LSTM activation regularization: ar * mean(h_t^2)
    tar: float = _reg()  # AWD-LSTM temporal activation regularization: tar * mean((h_t - h_{t-1})^2)
    #: weight decay of input-to-hidden weights (its own value: see the shapes)
    kernel_decay: float = _reg(AMOUNT, "optimizer")
    #: weight decay of hidden-to-hidden weights, independent of kernel_decay
    recurrent_decay: float = _reg(AMOUNT, "optimizer")
    head_decay: float = _reg(AMOUNT, "optimizer")  # weight decay of the head's weights
    kernel_max_norm: float = _reg()  # cap on each unit's incoming input weight L2 norm (Keras MaxNorm)
    recurrent_max_norm: float = _reg()  # cap on each unit's incoming recurrent weight L2 norm
    bias_max_norm: float = _reg()  # cap on each bias entry's magnitude
    head_max_norm: float = _reg()  # cap on each class's incoming head weight L2 norm
    clip_norm: float = _reg()  # clip gradients to this global L2 norm (Pascanu et al. 2013)
    clip_value: float = _reg()  # clip each gradient entry to [-clip_value, clip_value]
    label_smoothing: float = _reg(RATE)  # cross-entropy label smoothing
    #: std of a per-sequence, per-channel input factor around 1 (amplitude invariance)
    scaling: float = _reg(group=AUGMENTATION)
    #: std of a smooth 4-knot curve around 1 multiplying each channel over time
    magnitude_warp: float = _reg(group=AUGMENTATION)
    #: log-speed std of a smooth monotone time distortion (ends fixed): tempo invariance
    time_warp: float = _reg(group=AUGMENTATION)
    #: fraction of each sequence cropped away, the rest stretched back (shift invariance)
    window_slice: float = _reg(RATE, group=AUGMENTATION)
    #: alpha of Beta(alpha, alpha) blending two sequences and their labels; 0.2-0.4 is usual
    mixup: float = _reg(group=AUGMENTATION)
    #: alpha: a time segment swapped with another sequence's, labels mixed by its length share
    cutmix: float = _reg(group=AUGMENTATION)
    #: validate / keep an EMA of the weights (0.99-0.999): flatter, less noisy end point
    ema_decay: float = _reg(RATE)
    #: fraction of max_epochs after which the mean of every step's weights is kept (SWA)
    swa_start: float = _reg(RATE)
    #: channel: each channel standardized with the training part's mean and std (amplitudes kept comparable);
    #: series: each sequence's channels z-normalized on their own (UCR's convention: shape only, for data whose
    #: scales differ by orders of magnitude, as PLAID's currents)
    normalize: str = _hp("channel", NORMALIZATIONS)
    #: sequences per step; 32 keeps ~9 steps/epoch on JapaneseVowels' 216 training series
    batch_size: int = _hp(32, INTEGER, minimum=1)
    max_epochs: int = _hp(40, INTEGER, minimum=1)  # enough for JapaneseVowels to converge with early stopping
    patience: int = _hp(10, INTEGER)  # early-stopping patience in epochs on the monitored metric (0 = off)
    seed: int = _hp(0, INTEGER)  # seeds weights, masks and batch order

    def __post_init__(self) -> None:
        _validate(self)

    def _by_role(self, suffix: str) -> dict[str, float]:
        return {role: getattr(self, f"{role}_{suffix}") for role in WEIGHT_ROLES if hasattr(self, f"{role}_{suffix}")}

    @property
    def penalties(self) -> dict[str, tuple[float, float]]:
        """Weight role -> (L1, L2) penalty, in :data:`WEIGHT_ROLES` order."""
        return {role: (getattr(self, f"{role}_l1"), getattr(self, f"{role}_l2")) for role in WEIGHT_ROLES}

    @property
    def decays(self) -> dict[str, float]:
        """Weight role -> weight decay, for the roles that have one (kernel, recurrent, head)."""
        return self._by_role("decay")

    @property
    def max_norms(self) -> dict[str, float]:
        """Weight role -> max-norm cap (0 = none), in :data:`WEIGHT_ROLES` order."""
        return self._by_role("max_norm")


def _names(cls: type | None = None, **match: Any) -> tuple[str, ...]:
    """The field names (of ``cls``, else of both configs in order) whose metadata has every ``match`` value."""
    classes = (cls,) if cls is not None else (RNNConfig, TrainConfig)
    return tuple(
        f.name for c in classes for f in fields(c) if all(f.metadata.get(k) == v for k, v in match.items())
    )  # fmt: skip


#: hyperparameters that set the network shape rather than regularize it
ARCHITECTURE_NAMES = _names(role=ARCHITECTURE)
#: the fields the data sets, never the user
DATA_NAMES = _names(role=DATA)
RNN_NAMES = tuple(f.name for f in fields(RNNConfig) if f.name not in DATA_NAMES)
TRAIN_NAMES = tuple(f.name for f in fields(TrainConfig))
#: every name a study file may search or fix
HYPERPARAMETER_NAMES = RNN_NAMES + TRAIN_NAMES
#: the regularizers (each one off at its zero / "none" value, but the optimizer)
REGULARIZER_NAMES = _names(role=REGULARIZER)
#: names whose values are probabilities: in [0, 1), and a searched range must stay below 1
RATE_NAMES = _names(kind=RATE)
#: the data augmentations, in the order :class:`models.regularizers.Augment` applies them
AUGMENTATION_NAMES = _names(group=AUGMENTATION)
#: the names that change what a regularizer does: a recipe that sets the key sets these too
DEPENDS: dict[str, tuple[str, ...]] = {
    f.name: f.metadata["depends"] for c in (RNNConfig, TrainConfig) for f in fields(c) if f.metadata.get("depends")
}


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


def configs_for(
    params: dict[str, Any], splits: Splits | None = None, seed: int | None = None
) -> tuple[RNNConfig, TrainConfig]:
    """The two configs of ``params`` for a dataset: ``input_size`` / ``num_classes`` from ``splits`` (without
    one, the placeholders 1 / 2: enough to validate, or for a config that drops them); ``seed``, when given,
    replaces the training seed (a study's seed wins over a ``seed`` in its values)."""
    data = {"input_size": 1, "num_classes": 2}
    if splits is not None:
        data = {"input_size": splits.train.X.shape[2], "num_classes": len(splits.classes)}
    rnn, train = split_params(params, **data)
    return rnn, (train if seed is None else dataclasses.replace(train, seed=seed))


def as_dict(*configs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in configs:
        out.update(dataclasses.asdict(c))
    return out


#: what the front end's other settings need to act: Conv1D blocks (conv_layers > 0, or auto with a stride > 1)
CONV_SETTINGS = ("conv_stride", "conv_channels", "conv_kernel", "conv_norm", "conv_skip", "branch_dropout")


def inert_names(values: dict[str, Any]) -> set[str]:
    """The names in a flat configuration that change nothing in the network it builds: the front end's settings
    without Conv1D blocks, ``branch_dropout`` without the skip, ``layer_dropout`` in one layer, ``momentum`` for an
    optimizer without one, and each regularizer's ``depends`` names (``recurrent_dropout_mode``) with it off. A configuration printed with them showed
    ``conv_kernel: 0, conv_stride: 16`` for a network that had no Conv1D."""
    v = {**defaults(), **values}
    out: set[str] = set()
    blocks = v["conv_layers"] if v["conv_layers"] >= 0 else int(v["conv_stride"] > 1)
    if blocks == 0:
        out.update(CONV_SETTINGS)
        if v["conv_layers"] < 0:  # auto: the stride is what decides there is no block (1 against a baseline's 4)
            out.discard("conv_stride")
    elif not v["conv_skip"]:
        out.add("branch_dropout")
    if v["num_layers"] <= 1:
        out.add("layer_dropout")
    if v["optimizer"] not in ("sgd", "rmsprop"):
        out.add("momentum")
    for name in {d for deps in DEPENDS.values() for d in deps} - {"conv_skip", "optimizer", "num_layers"}:
        users = [reg for reg, deps in DEPENDS.items() if name in deps]
        if users and all(not v[reg] for reg in users):
            out.add(name)
    return out & set(values)


def defaults() -> dict[str, Any]:
    """Every hyperparameter at its default: ``RNNConfig()`` and ``TrainConfig()`` as one flat dict (a fresh copy of
    one built once: building and validating the two configs took 0.2 ms, and comparing a trial's configuration
    with another, :func:`search.selection.same_config`, read them five times: 1 s a scan of 1,000 trials)."""
    return dict(_defaults())


@functools.cache
def _defaults() -> dict[str, Any]:
    return as_dict(RNNConfig(), TrainConfig())


def _validate(config: Any) -> None:
    """Check every field against its metadata: choices and flags, then integers, then numbers (>= 0, > 0, then
    < 1)."""
    meta = [(f.name, f.metadata, getattr(config, f.name)) for f in fields(config)]
    for name, m, value in meta:
        if m["kind"] == CHOICE:
            _check_choice(name, value, m["choices"])
        elif m["kind"] == FLAG and not isinstance(value, bool):  # "no" (a string: YAML 1.2) is true to Python
            raise ConfigError(f"{name}={value!r}: allowed values are true, false")
    for name, m, value in meta:
        if m["kind"] == INTEGER:
            _check_int(name, value, m["minimum"], m.get("maximum"))
    for name, m, value in meta:
        if m["kind"] in (AMOUNT, RATE):
            _check_nonneg(name, value)
        elif m["kind"] == POSITIVE and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
                                        or not math.isfinite(value)):  # fmt: skip
            raise ConfigError(f"{name}={value!r}: must be a finite number > 0")
    for name, m, value in meta:
        if m["kind"] == RATE:
            _check_rate(name, value)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: allowed values are {', '.join(allowed)}")


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{name}={value!r}: must be an integer >= {minimum}" + (f" and <= {maximum}" if maximum else "")
        )
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value!r}: must be an integer in {minimum}..{maximum}")


def _check_nonneg(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name}={value!r}: must be a finite number >= 0 (0 = off)")


def _check_rate(name: str, value: Any) -> None:
    _check_nonneg(name, value)
    if value >= 1:
        raise ConfigError(f"{name}={value!r}: must be in [0, 1) (0 = off)")


__all__ = [
    "ARCHITECTURE_NAMES", "AUGMENTATION_NAMES", "CELLS", "DEPENDS", "GATES", "HYPERPARAMETER_NAMES", "NORMS",
    "OPTIMIZERS", "PARAMETER_GROUPS", "POOLINGS", "RATE_NAMES", "REGULARIZER_NAMES", "WEIGHT_ROLES", "ConfigError",
    "RNNConfig", "TrainConfig", "as_dict", "configs_for", "inert_names", "split_params",
]  # fmt: skip

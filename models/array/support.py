"""Which configurations can be array members, and which can share one array."""

from __future__ import annotations

from models.config import AUGMENTATION_NAMES, RNNConfig, TrainConfig

#: the optimizers an array implements (StackedAdam); sgd / rmsprop trials run alone
ARRAY_OPTIMIZERS = ("adam", "adamw")


def unsupported(rnn: RNNConfig, train: TrainConfig) -> str | None:
    """Why this configuration cannot be an array member (None = it can): the search side then runs it alone."""
    if rnn.zoneout > 0:
        return "zoneout is not supported in arrays"
    if rnn.conv_blocks > 0:
        return "the Conv1D front end (conv_stride / conv_layers) is not supported in arrays"
    augment = [n for n in AUGMENTATION_NAMES if getattr(train, n)]
    if augment:
        return f"data augmentation ({', '.join(augment)}) is not supported in arrays"
    if train.ema_decay or train.swa_start:
        return "weight averaging (ema_decay / swa_start) is not supported in arrays"
    if train.optimizer not in ARRAY_OPTIMIZERS:
        return f"optimizer={train.optimizer!r} is not supported in arrays (allowed: {', '.join(ARRAY_OPTIMIZERS)})"
    return None


def array_key(rnn: RNNConfig, train: TrainConfig) -> tuple:
    """Configurations with equal keys can share one array: the shapes and structural choices the array does not
    handle per member. Per member (not in the key): every rate, penalty, decay, cap and clip, lr, adam vs adamw,
    recurrent-dropout mode and path (the array computes both paths' function), dropout_variational, patience,
    max_epochs and seed. (``normalize`` is in it: the members of an array read the same batches.)"""
    return (
        rnn.input_size, rnn.num_classes, rnn.cell, rnn.hidden_size, rnn.num_layers, rnn.bidirectional, rnn.pooling,
        rnn.norm, train.batch_size, train.normalize,
    )  # fmt: skip

"""regtune's models: an RNN sequence classifier whose every regularizer is a named hyperparameter.

This package never imports optuna; ``search/`` drives it.
"""

from models.config import (
    HYPERPARAMETER_NAMES,
    REGULARIZER_NAMES,
    ConfigError,
    RNNConfig,
    TrainConfig,
    as_dict,
    split_params,
)
from models.network import NetOutput, RNNClassifierNet

__all__ = [
    "HYPERPARAMETER_NAMES", "REGULARIZER_NAMES", "ConfigError", "NetOutput", "RNNClassifierNet", "RNNConfig",
    "TrainConfig", "as_dict", "split_params",
]  # fmt: skip

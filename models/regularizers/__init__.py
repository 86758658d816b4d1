"""One regularization technique per module, each a no-op at rate 0 and (but zoneout's expectation) in eval."""

from models.regularizers.clipping import clip_gradients
from models.regularizers.decoupled_decay import decay_
from models.regularizers.input_noise import GaussianNoise
from models.regularizers.locked_dropout import SequenceDropout
from models.regularizers.max_norm import apply_max_norm, unit_norms
from models.regularizers.norm import SequenceNorm
from models.regularizers.penalties import (
    WeightPenalties,
    activity_penalty,
    ar_penalty,
    tar_penalty,
    weight_penalty,
)
from models.regularizers.recurrent_dropout import recurrent_mask
from models.regularizers.weight_drop import drop_columns, drop_weight
from models.regularizers.zoneout import zoneout

__all__ = [
    "GaussianNoise", "SequenceDropout", "SequenceNorm", "WeightPenalties", "activity_penalty", "apply_max_norm",
    "ar_penalty", "clip_gradients", "decay_", "drop_columns", "drop_weight", "recurrent_mask", "tar_penalty",
    "unit_norms", "weight_penalty", "zoneout",
]  # fmt: skip

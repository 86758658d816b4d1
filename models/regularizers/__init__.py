"""One regularization technique per module, each a no-op at rate 0 and (but zoneout's expectation) in eval."""

from models.regularizers.augment import AUGMENTATION_NAMES, Augment
from models.regularizers.branch_dropout import BranchDropout
from models.regularizers.clipping import clip_gradients
from models.regularizers.cutmix import cutmix
from models.regularizers.decoupled_decay import decay_
from models.regularizers.input_noise import GaussianNoise
from models.regularizers.magnitude_warp import magnitude_warp
from models.regularizers.max_norm import apply_max_norm, unit_norms
from models.regularizers.mixup import mixup
from models.regularizers.norm import SequenceNorm
from models.regularizers.penalties import (
    WeightPenalties,
    activity_penalty,
    ar_penalty,
    tar_penalty,
    weight_penalty,
)
from models.regularizers.recurrent_dropout import recurrent_mask
from models.regularizers.scaling import scale
from models.regularizers.sequence_dropout import SequenceDropout
from models.regularizers.time_warp import time_warp
from models.regularizers.weight_average import WeightAverage, ordered_batches, swa_start_epoch
from models.regularizers.weight_drop import drop_columns, drop_weight
from models.regularizers.window_slice import window_slice
from models.regularizers.zoneout import zoneout

__all__ = [
    "BranchDropout", "GaussianNoise", "SequenceDropout", "SequenceNorm", "WeightPenalties", "activity_penalty", "apply_max_norm",
    "ar_penalty", "clip_gradients", "decay_", "drop_columns", "drop_weight", "recurrent_mask", "tar_penalty",
    "unit_norms", "weight_penalty", "zoneout",
    "AUGMENTATION_NAMES", "Augment", "WeightAverage", "cutmix", "magnitude_warp", "mixup", "ordered_batches", "scale",
    "swa_start_epoch", "time_warp", "window_slice",
]  # fmt: skip

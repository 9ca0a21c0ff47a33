"""augspace: augmentation transforms for input space, feature space and weight space."""

from . import functional, params, schedule, viz
from .feature import FeatureTransform
from .params import (
    DropBlockParams,
    DropoutParams,
    EraseParams,
    FlipParams,
    RescaleParams,
)
from .schedule import CosineSchedule, LinearSchedule, Schedule, step
from .transforms import (
    Cutout,
    DropBlock,
    Dropout,
    PixelDropout,
    RandomErasing,
    RandomHorizontalFlip,
    RandomRescale,
    RandomTransform,
    RandomVerticalFlip,
    SpatialDropout,
)
from .weight import DropConnect, WeightNoise, WeightStandardization, WeightTransform

__version__ = "0.1.0.dev0"

__all__ = [
    "CosineSchedule",
    "Cutout",
    "DropBlock",
    "DropBlockParams",
    "DropConnect",
    "Dropout",
    "DropoutParams",
    "EraseParams",
    "FeatureTransform",
    "FlipParams",
    "LinearSchedule",
    "PixelDropout",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomRescale",
    "RandomTransform",
    "RandomVerticalFlip",
    "RescaleParams",
    "Schedule",
    "SpatialDropout",
    "WeightNoise",
    "WeightStandardization",
    "WeightTransform",
    "__version__",
    "functional",
    "params",
    "schedule",
    "step",
    "viz",
]

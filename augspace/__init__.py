"""augspace: augmentation transforms for input space, feature space and weight space."""

from . import functional, params, schedule, viz
from .feature import FeatureTransform
from .mixing import ManifoldMixup
from .params import (
    CutMixParams,
    DropBlockParams,
    DropoutParams,
    EraseParams,
    FlipParams,
    ManifoldMixupParams,
    MixUpParams,
    RescaleParams,
)
from .schedule import CosineSchedule, LinearSchedule, Schedule, step
from .transforms import (
    CutMix,
    Cutout,
    DropBlock,
    Dropout,
    MixUp,
    PixelDropout,
    RandomErasing,
    RandomHorizontalFlip,
    RandomRescale,
    RandomTransform,
    RandomVerticalFlip,
    SharedDraw,
    SpatialDropout,
)
from .weight import DropConnect, WeightNoise, WeightStandardization, WeightTransform

__version__ = "0.1.0.dev0"

__all__ = [
    "CosineSchedule",
    "CutMix",
    "CutMixParams",
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
    "ManifoldMixup",
    "ManifoldMixupParams",
    "MixUp",
    "MixUpParams",
    "PixelDropout",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomRescale",
    "RandomTransform",
    "RandomVerticalFlip",
    "RescaleParams",
    "Schedule",
    "SharedDraw",
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

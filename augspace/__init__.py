"""augspace: augmentation transforms for input space, feature space and weight space."""

from . import functional, params, viz
from .feature import FeatureTransform
from .params import EraseParams, FlipParams, RescaleParams
from .transforms import (
    Cutout,
    RandomErasing,
    RandomHorizontalFlip,
    RandomRescale,
    RandomTransform,
    RandomVerticalFlip,
)
from .weight import DropConnect, WeightNoise, WeightStandardization, WeightTransform

__version__ = "0.1.0.dev0"

__all__ = [
    "Cutout",
    "DropConnect",
    "EraseParams",
    "FeatureTransform",
    "FlipParams",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomRescale",
    "RandomTransform",
    "RandomVerticalFlip",
    "RescaleParams",
    "WeightNoise",
    "WeightStandardization",
    "WeightTransform",
    "__version__",
    "functional",
    "params",
    "viz",
]

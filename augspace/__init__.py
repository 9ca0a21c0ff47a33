"""augspace: augmentation transforms for input space, feature space and weight space."""

from . import functional, params
from .params import EraseParams, FlipParams, RescaleParams
from .transforms import Cutout, RandomErasing, RandomTransform

__version__ = "0.1.0.dev0"

__all__ = [
    "Cutout",
    "EraseParams",
    "FlipParams",
    "RandomErasing",
    "RandomTransform",
    "RescaleParams",
    "__version__",
    "functional",
    "params",
]

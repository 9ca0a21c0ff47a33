"""The transform classes, one module per family."""

from ._base import Layout, RandomTransform
from ._erase import Cutout, RandomErasing
from ._geometry import RandomHorizontalFlip, RandomRescale, RandomVerticalFlip

__all__ = [
    "Cutout",
    "Layout",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomRescale",
    "RandomTransform",
    "RandomVerticalFlip",
]

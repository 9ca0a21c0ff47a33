"""The transform classes, one module per family."""

from ._base import Layout, RandomTransform
from ._dropout import DropBlock, Dropout, PixelDropout, SpatialDropout
from ._erase import Cutout, RandomErasing
from ._geometry import RandomHorizontalFlip, RandomRescale, RandomVerticalFlip

__all__ = [
    "Cutout",
    "DropBlock",
    "Dropout",
    "Layout",
    "PixelDropout",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomRescale",
    "RandomTransform",
    "RandomVerticalFlip",
    "SpatialDropout",
]

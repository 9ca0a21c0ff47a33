"""The transform classes, one module per family."""

from ._base import Layout, RandomTransform
from ._dropout import DropBlock, Dropout, PixelDropout, SpatialDropout
from ._erase import Cutout, RandomErasing
from ._geometry import RandomHorizontalFlip, RandomRescale, RandomVerticalFlip
from ._mix import CutMix, MixUp
from ._share import Replay, SharedDraw

__all__ = [
    "CutMix",
    "Cutout",
    "DropBlock",
    "Dropout",
    "Layout",
    "MixUp",
    "PixelDropout",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomRescale",
    "RandomTransform",
    "RandomVerticalFlip",
    "Replay",
    "SharedDraw",
    "SpatialDropout",
]

"""The transform classes, one module per family."""

from ._base import Layout, RandomTransform
from ._erase import Cutout, RandomErasing

__all__ = ["Cutout", "Layout", "RandomErasing", "RandomTransform"]

"""Stateless batched kernels: each applies sampled parameters to a tensor, with no randomness inside."""

from ._erase import box_mask, erase, fill_value
from ._geometry import horizontal_flip, rescale, vertical_flip

__all__ = ["box_mask", "erase", "fill_value", "horizontal_flip", "rescale", "vertical_flip"]

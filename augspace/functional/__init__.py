"""Stateless batched kernels: each applies sampled parameters to a tensor, with no randomness inside."""

from ._dropout import drop_block, drop_block_mask, drop_block_scale, dropout
from ._erase import box_mask, erase, fill_value
from ._geometry import horizontal_flip, rescale, vertical_flip

__all__ = [
    "box_mask",
    "drop_block",
    "drop_block_mask",
    "drop_block_scale",
    "dropout",
    "erase",
    "fill_value",
    "horizontal_flip",
    "rescale",
    "vertical_flip",
]

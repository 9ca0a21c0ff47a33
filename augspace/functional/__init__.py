"""Stateless batched kernels: each applies sampled parameters to a tensor, with no randomness inside."""

from ._dropout import drop_block, drop_block_mask, drop_block_scale, dropout
from ._erase import box_mask, erase, fill_value
from ._geometry import horizontal_flip, rescale, vertical_flip
from ._mix import box_fraction, cutmix, mix_targets, mixup, soft_targets

__all__ = [
    "box_fraction",
    "box_mask",
    "cutmix",
    "drop_block",
    "drop_block_mask",
    "drop_block_scale",
    "dropout",
    "erase",
    "fill_value",
    "horizontal_flip",
    "mix_targets",
    "mixup",
    "rescale",
    "soft_targets",
    "vertical_flip",
]

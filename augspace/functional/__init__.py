"""Stateless batched kernels: each applies sampled parameters to a tensor, with no randomness inside."""

from ._erase import box_mask, erase, fill_value

__all__ = ["box_mask", "erase", "fill_value"]

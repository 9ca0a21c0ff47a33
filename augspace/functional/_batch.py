"""Helpers that line up per-sample parameters with the input's leading dimensions."""

from __future__ import annotations

import torch
from torch import Tensor


def check_batch_shape(owner: str, x: Tensor, batch_shape: torch.Size) -> None:
    """Raise ``ValueError`` unless ``x`` has the leading dimensions ``batch_shape`` followed by at least ``(H, W)``."""
    if x.ndim < len(batch_shape) + 2 or x.shape[: len(batch_shape)] != batch_shape:
        raise ValueError(
            f"{owner}: the input's leading dimensions must match the parameters' batch shape {tuple(batch_shape)}, "
            f"got an input of shape {tuple(x.shape)}"
        )


def expand_to_input(per_sample: Tensor, x: Tensor, batch_ndim: int) -> Tensor:
    """View a ``(*B, ...)`` tensor with singleton dimensions inserted after ``*B`` so it broadcasts against ``x``.

    The trailing ``per_sample.ndim - batch_ndim`` dimensions line up with the trailing dimensions of ``x``.
    """
    missing = x.ndim - per_sample.ndim
    shape = (*per_sample.shape[:batch_ndim], *([1] * missing), *per_sample.shape[batch_ndim:])
    return per_sample.reshape(shape)

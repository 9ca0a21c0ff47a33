"""Erasing kernels: paint the union of boxes in each sample with a fill."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ._batch import check_batch_shape, expand_to_input

# Integer images are taken to span [0, max of the dtype], as torchvision's conversions assume.
# A standard normal draw z becomes middle + z * max / 4 on integer images, so that +-2 standard deviations span the
# range, then it is rounded and clamped.
_NORMAL_SPREAD = 4.0


def box_mask(boxes: Tensor, height: int, width: int) -> Tensor:
    """Return the ``(*B, height, width)`` bool mask of the pixels inside any of each sample's boxes.

    A pixel is inside a box when its centre lies in the half-open box ``[top, bottom) x [left, right)`` given in
    normalised coordinates (see :mod:`augspace.params`), so boxes reaching past the border are clipped there.

    Args:
        boxes: ``(*B, K, 4)`` boxes ``(top, left, bottom, right)`` as fractions of the height and width.
        height: number of rows of the grid to paint on.
        width: number of columns of the grid to paint on.
    """
    if boxes.ndim < 2 or boxes.shape[-1] != 4:
        raise ValueError(f"box_mask: boxes must have shape (*B, K, 4), got {tuple(boxes.shape)}")
    boxes = boxes.to(torch.float32)
    row_centres = torch.arange(height, device=boxes.device, dtype=torch.float32) + 0.5
    column_centres = torch.arange(width, device=boxes.device, dtype=torch.float32) + 0.5

    # Comparing centres in pixel units against box edges scaled by the grid size keeps the decision exact on the
    # grid the box was drawn for: edges are whole numbers there and centres are half-integers.
    top, left, bottom, right = (edge.unsqueeze(-1) for edge in boxes.unbind(-1))
    in_rows = (row_centres >= top * height) & (row_centres < bottom * height)
    in_columns = (column_centres >= left * width) & (column_centres < right * width)
    return (in_rows.unsqueeze(-1) & in_columns.unsqueeze(-2)).any(dim=-3)


def fill_value(x: Tensor, fill: float | Sequence[float] | str, *, noise: Tensor | None = None) -> Tensor:
    """Return a tensor of ``x``'s dtype, broadcastable to ``x``, holding the values erased pixels take.

    Conversion: floating point inputs take a numeric fill as it is. Integer inputs, taken to span [0, max] of
    their dtype (0 to 255 for uint8), take it rounded to the nearest integer and clamped to that range, so nothing
    wraps around. ``"mean"`` is each sample's per-channel mean over height and width, accumulated in float32 (and
    rounded for integer inputs). ``"uniform"`` and ``"normal"`` use the per-pixel ``noise`` drawn with the
    parameters, U(0, 1) and N(0, 1) as they are on floating point inputs. On integer inputs uniform noise is spread
    evenly over [0, max], and normal noise becomes ``max / 2 + z * max / 4``, rounded and clamped.

    Args:
        x: the ``(..., C, H, W)`` input.
        fill: a number, a sequence of one number or of one number per channel, or ``"mean"``, ``"uniform"`` or
            ``"normal"``.
        noise: the float32 per-pixel draw for ``"uniform"`` (in [0, 1)) or ``"normal"``, broadcastable to ``x``.

    Raises:
        ValueError: if a per-channel fill does not match the number of channels, or a random fill has no noise.
    """
    floating = x.dtype.is_floating_point
    maximum = 1.0 if floating else float(torch.iinfo(x.dtype).max)

    if isinstance(fill, str):
        if fill == "mean":
            value = x.mean(dim=(-2, -1), keepdim=True, dtype=torch.float32)
        elif fill in ("uniform", "normal"):
            if noise is None:
                raise ValueError(
                    f"fill_value: fill={fill!r} needs the per-pixel noise drawn with the parameters, got None"
                )
            if floating:
                value = noise
            elif fill == "uniform":
                value = torch.floor(noise * (maximum + 1.0))
            else:
                value = maximum / 2.0 + noise * (maximum / _NORMAL_SPREAD)
        else:
            raise ValueError(
                f"fill_value: fill must be a number, a sequence or one of 'mean', 'uniform', 'normal', got {fill!r}"
            )
    else:
        value = torch.as_tensor(fill, dtype=torch.float32, device=x.device)
        if value.ndim == 1:
            channels = x.shape[-3]
            if value.numel() not in (1, channels):
                raise ValueError(
                    f"fill_value: fill must have 1 or {channels} values for {channels} channels, got {fill!r}"
                )
            value = value.view(-1, 1, 1)

    if not floating:
        value = torch.round(value).clamp_(0.0, maximum)
    return value.to(x.dtype)


def erase(
    x: Tensor,
    boxes: Tensor,
    apply: Tensor,
    fill: float | Sequence[float] | str = 0.0,
    *,
    noise: Tensor | None = None,
    inplace: bool = False,
) -> Tensor:
    """Paint each sample's boxes with ``fill``, in the samples where ``apply`` is true.

    Args:
        x: input of shape ``(*B, ..., C, H, W)``; the dimensions between ``*B`` and ``(H, W)`` share each sample's
            boxes.
        boxes: ``(*B, K, 4)`` boxes ``(top, left, bottom, right)`` in normalised coordinates.
        apply: ``(*B,)`` bool, whether each sample is erased.
        fill: what erased pixels take; see :func:`fill_value` for the conversion to ``x``'s dtype.
        noise: the per-pixel draw for ``fill="uniform"`` or ``"normal"``.
        inplace: write into ``x`` instead of returning a new tensor.

    Returns:
        A tensor of ``x``'s shape, dtype, device and memory format (``x`` itself when ``inplace`` is set).
    """
    check_batch_shape("erase", x, apply.shape)
    if boxes.shape[:-2] != apply.shape:
        raise ValueError(
            f"erase: boxes must have shape (*B, K, 4) with *B = {tuple(apply.shape)}, got {tuple(boxes.shape)}"
        )
    mask = box_mask(boxes, x.shape[-2], x.shape[-1]) & apply.to(torch.bool)[..., None, None]
    mask = expand_to_input(mask, x, len(apply.shape))
    value = fill_value(x, fill, noise=noise)

    if inplace:
        return x.copy_(torch.where(mask, value, x))
    output = torch.where(mask, value, x)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        output = output.contiguous(memory_format=torch.channels_last)
    return output

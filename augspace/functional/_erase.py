"""Erasing kernels: paint the union of boxes in each sample with a fill."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ._batch import check_batch_shape, expand_to_input
from ._boxes import draw_into_boxes, paint_boxes, pixel_ranges, use_host_path

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
            return noise_to_fill(noise, fill, x.dtype)
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


def noise_to_fill(noise: Tensor, fill: str, dtype: torch.dtype) -> Tensor:
    """Convert float32 noise for ``fill="uniform"`` or ``"normal"`` into fill values of ``dtype``, as
    :func:`fill_value` describes."""
    if dtype.is_floating_point:
        return noise.to(dtype)
    maximum = float(torch.iinfo(dtype).max)
    if fill == "uniform":
        value = torch.floor(noise * (maximum + 1.0))
    else:
        value = maximum / 2.0 + noise * (maximum / _NORMAL_SPREAD)
    return torch.round(value).clamp_(0.0, maximum).to(dtype)


def noise_in_boxes(
    shape: tuple[int, ...] | torch.Size,
    boxes: Tensor,
    apply: Tensor,
    draw: Callable[[tuple[int, ...]], Tensor],
) -> Tensor:
    """Return a float32 tensor of ``shape`` whose pixels inside the boxes of the chosen samples are fresh draws.

    This is the CPU form of the per-pixel noise that ``fill="normal"`` and ``"uniform"`` take. A standard normal
    number costs several times a copy of one float on the CPU, so only the boxes (and at most as many pixels again
    next to them) are drawn. The other pixels are left as :func:`torch.empty` leaves them: unspecified, and never
    read by :func:`erase`.

    Args:
        shape: ``(*B, ..., C, H, W)``, the input's shape.
        boxes: ``(*B, K, 4)`` boxes in normalised coordinates.
        apply: ``(*B,)`` bool, whether each sample is erased; the others get no draws.
        draw: returns float32 draws of the given shape on the CPU, for example ``lambda shape: torch.randn(shape)``.
    """
    noise = torch.empty(shape, dtype=torch.float32)
    planes = _as_planes(noise, apply.ndim)
    sample, rows, columns, hole = _boxes_on_host(boxes, apply, shape[-2], shape[-1], with_holes=True)
    draw_into_boxes(planes, sample, hole, rows, columns, draw)
    return noise


def erase(
    x: Tensor,
    boxes: Tensor,
    apply: Tensor,
    fill: float | Sequence[float] | str = 0.0,
    *,
    noise: Tensor | None = None,
    inplace: bool = False,
    rescale: bool = False,
) -> Tensor:
    """Paint each sample's boxes with ``fill``, in the samples where ``apply`` is true.

    With ``rescale``, the pixels left in each erased sample are divided by the sample's kept fraction, the share of
    its pixels outside every box, as dropout scales what it keeps. The expected activation of the whole map is then
    unchanged. The fraction is counted in float32 on the grid of ``x``. A sample whose boxes cover every pixel has
    nothing to scale and comes out as the fill, with no NaN or inf. Integer inputs are divided in float32, then
    rounded and clamped to their dtype's range, and float16 and bfloat16 inputs are divided in float32.

    On the CPU, outside ``torch.compile``, when no gradient is recorded and the boxes are on average at least 32
    pixels wide, the boxes are written into a copy of the input (into the input itself with ``inplace``) without a
    full-size mask. The result is the same.

    Args:
        x: input of shape ``(*B, ..., C, H, W)``; the dimensions between ``*B`` and ``(H, W)`` share each sample's
            boxes.
        boxes: ``(*B, K, 4)`` boxes ``(top, left, bottom, right)`` in normalised coordinates.
        apply: ``(*B,)`` bool, whether each sample is erased.
        fill: what erased pixels take; see :func:`fill_value` for the conversion to ``x``'s dtype.
        noise: the per-pixel draw for ``fill="uniform"`` or ``"normal"``. Only its pixels inside the boxes of the
            chosen samples are read.
        inplace: write into ``x`` instead of returning a new tensor.
        rescale: divide the kept pixels of each erased sample by its kept fraction. Needs a fill of 0.

    Returns:
        A tensor of ``x``'s shape, dtype, device and memory format (``x`` itself when ``inplace`` is set).

    Raises:
        ValueError: if the shapes of ``x``, ``boxes`` and ``apply`` disagree, or ``rescale`` is set with a fill other
            than 0.
    """
    check_batch_shape("erase", x, apply.shape)
    if boxes.shape[:-2] != apply.shape:
        raise ValueError(
            f"erase: boxes must have shape (*B, K, 4) with *B = {tuple(apply.shape)}, got {tuple(boxes.shape)}"
        )
    if rescale and not is_zero_fill(fill):
        raise ValueError(f"erase: rescale=True keeps the expected activation only with fill=0, got fill={fill!r}")
    apply = apply.to(device=x.device, dtype=torch.bool)
    # Noise is converted to fill values later, by the CPU path only inside the boxes.
    random_fill = is_random_fill(fill) and noise is not None
    value = noise if random_fill else fill_value(x, fill, noise=noise)
    divisor = _kept_fraction(boxes, apply, x) if rescale else None

    if use_host_path(x) and _as_planes(x, apply.ndim) is not None:
        selection = _boxes_on_host(boxes, apply, x.shape[-2], x.shape[-1])
        if _rows_are_long(selection[2]):
            return _erase_on_host(x, selection, apply, value, divisor=divisor, fill=fill, inplace=inplace)

    if random_fill:
        value = noise_to_fill(noise, fill, x.dtype)
    mask = box_mask(boxes, x.shape[-2], x.shape[-1]) & apply[..., None, None]
    mask = expand_to_input(mask, x, len(apply.shape))
    kept = x if divisor is None else _divide(x, expand_to_input(divisor, x, apply.ndim))
    if inplace:
        return x.copy_(torch.where(mask, value, kept))
    output = torch.where(mask, value, kept)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        output = output.contiguous(memory_format=torch.channels_last)
    return output


def is_random_fill(fill: float | Sequence[float] | str) -> bool:
    """Return whether ``fill`` is ``"uniform"`` or ``"normal"``, a fill drawn per pixel.

    The ``isinstance`` check comes first, because ``in`` on a NumPy array fill compares element by element.
    """
    return isinstance(fill, str) and fill in ("uniform", "normal")


def is_zero_fill(fill: float | Sequence[float] | str) -> bool:
    """Return whether ``fill`` is the number 0, or a sequence of zeros."""
    if isinstance(fill, str):
        return False
    values = list(fill) if isinstance(fill, Sequence) else [fill]
    return all(value == 0 for value in values)


def _kept_fraction(boxes: Tensor, apply: Tensor, x: Tensor) -> Tensor:
    """Return the ``(*B,)`` float32 divisor of each sample: its kept fraction, or 1 where nothing is kept or erased."""
    height, width = x.shape[-2:]
    mask = box_mask(boxes.to(x.device), height, width) & apply[..., None, None]
    kept = 1.0 - mask.sum(dim=(-2, -1), dtype=torch.float32) / max(height * width, 1)
    return torch.where(kept > 0.0, kept, torch.ones_like(kept))


def _divide(x: Tensor, divisor: Tensor) -> Tensor:
    """Divide ``x`` by a float32 divisor in float32 (float64 stays float64), returning ``x``'s dtype."""
    if x.dtype in (torch.float32, torch.float64):
        return x / divisor.to(x.dtype)
    quotient = x.to(torch.float32) / divisor
    if x.dtype.is_floating_point:
        return quotient.to(x.dtype)
    info = torch.iinfo(x.dtype)
    return quotient.round_().clamp_(info.min, info.max).to(x.dtype)


def _as_planes(x: Tensor, batch_ndim: int) -> Tensor | None:
    """View ``x`` as ``(samples, planes, H, W)`` without copying, or return ``None`` when its strides forbid it."""
    samples = math.prod(x.shape[:batch_ndim])
    planes = math.prod(x.shape[batch_ndim:-2])
    try:
        return x.view(samples, planes, x.shape[-2], x.shape[-1])
    except RuntimeError:
        return None


#: Mean box width, in pixels, from which writing only the boxes beats one ``torch.where`` pass on the CPU. Each box
#: row is a separate short write, so narrow boxes on small feature maps (28x28 at half size, 14 columns) cost more
#: per element than the whole-tensor pass.
# NOTE: measured on one 2-core AMD EPYC (AVX-512) machine with torch 2.14; other CPUs may move the crossing point.
_MIN_ROW_LENGTH = 32


def _boxes_on_host(
    boxes: Tensor, apply: Tensor, height: int, width: int, *, with_holes: bool = False
) -> tuple[Tensor, ...]:
    """Return the sample index, row range and column range of each non-empty box of a chosen sample, as int64.

    With ``with_holes``, the index of each box among its sample's boxes follows.
    """
    count = boxes.shape[-2]
    flat_boxes = boxes.reshape(-1, count, 4).cpu()
    rows = pixel_ranges(flat_boxes[..., 0::2], height)
    columns = pixel_ranges(flat_boxes[..., 1::2], width)
    sample = torch.arange(flat_boxes.shape[0]).unsqueeze(-1).expand(-1, count)
    chosen = apply.reshape(-1, 1).cpu() & (rows[1] > rows[0]) & (columns[1] > columns[0])
    selection = (sample[chosen], (rows[0][chosen], rows[1][chosen]), (columns[0][chosen], columns[1][chosen]))
    if with_holes:
        return (*selection, torch.arange(count).expand(flat_boxes.shape[0], -1)[chosen])
    return selection


def _rows_are_long(columns: tuple[Tensor, Tensor]) -> bool:
    """Return whether the boxes' mean width reaches :data:`_MIN_ROW_LENGTH`, or there is no box to write."""
    widths = columns[1] - columns[0]
    return widths.numel() == 0 or float(widths.float().mean()) >= _MIN_ROW_LENGTH


def _erase_on_host(
    x: Tensor,
    selection: tuple[Tensor, ...],
    apply: Tensor,
    value: Tensor,
    *,
    divisor: Tensor | None,
    fill: float | Sequence[float] | str,
    inplace: bool,
) -> Tensor:
    """CPU form of :func:`erase`: copy (or divide) ``x`` once, then write only the boxes' pixels.

    ``value`` is the fill from :func:`fill_value`, or the float32 noise for ``fill="uniform"`` and ``"normal"``.
    """
    batch_ndim = apply.ndim
    if divisor is None:
        output = x if inplace else x.clone()
    elif inplace:
        output = x.copy_(_divide(x, expand_to_input(divisor, x, batch_ndim)))
    else:
        output = _divide(x, expand_to_input(divisor, x, batch_ndim)).contiguous(memory_format=_memory_format(x))

    height, width = x.shape[-2:]
    planes = _as_planes(output, batch_ndim)
    samples, channels = planes.shape[:2]
    if is_random_fill(fill):
        # value is the float32 noise here, converted window by window.
        source = value.reshape(samples, channels, height, width)
        paint_boxes(planes, *selection, source=source, convert=lambda noise: noise_to_fill(noise, fill, x.dtype))
    elif isinstance(fill, str):  # "mean", the only other string fill
        paint_boxes(planes, *selection, value=value.reshape(samples, channels, 1, 1))
    else:
        per_plane = torch.broadcast_to(value, (*x.shape[batch_ndim:-2], 1, 1)).reshape(channels, 1, 1)
        paint_boxes(planes, *selection, value=per_plane)
    return output


def _memory_format(x: Tensor) -> torch.memory_format:
    """Return channels_last for a channels_last input that is not also contiguous, else contiguous_format."""
    if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format

"""Writing axis-aligned boxes into a batch on the CPU, touching only the boxes' pixels.

The kernels in this package have a generic form that builds a full-size mask and selects with ``torch.where``, which
runs on any device and under ``torch.compile``. On the CPU that form reads and writes every element, while a box
usually covers a small part of the image. The helpers here read the box coordinates on the host, which costs nothing
on the CPU. They write the boxes through one ``index_put_`` per window size into a strided view of the output whose
entries are all windows of that size, so no Python loop runs over the samples.

A box of ``L`` rows is covered by ``k = ceil(L / m)`` windows of ``m`` rows, where ``m <= L < 4 * m``: the first at its
top, the last ending at its bottom, and the others evenly spaced between, overlapping where ``k * m > L``. So boxes of
any size share a few window sizes, found by grouping the lengths greedily from the smallest. Overlapping writes of
:func:`paint_boxes` store the same value twice, so the result does not depend on their order, and it equals the
generic form exactly. :func:`draw_into_boxes` writes fresh draws instead, one window per box, in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def use_host_path(x: Tensor, *, records_gradient: bool = False) -> bool:
    """Return whether a kernel may take its CPU path: a CPU tensor outside ``torch.compile``.

    A CPU path that autograd cannot differentiate (``records_gradient=False``) is also skipped when ``x`` needs a
    gradient.
    """
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return False
    return records_gradient or not (torch.is_grad_enabled() and x.requires_grad)


def pixel_ranges(edges: Tensor, length: int) -> tuple[Tensor, Tensor]:
    """Return the first and end (exclusive) pixel indices whose centres lie in ``[low, high)`` of each edge pair.

    The comparison is the one :func:`~augspace.functional.box_mask` makes, centres ``i + 0.5`` against the float32
    edges scaled by ``length``, so both select the same pixels.

    Args:
        edges: ``(..., 2)`` float32 ``(low, high)`` in normalised coordinates.
        length: number of pixels along the axis.
    """
    centres = torch.arange(length, dtype=torch.float32) + 0.5
    scaled = edges.to(torch.float32) * length
    first = torch.searchsorted(centres, scaled[..., 0].contiguous(), side="left")
    end = torch.searchsorted(centres, scaled[..., 1].contiguous(), side="left")
    return first, end


#: Most windows per box and axis. A larger number means fewer window sizes, so fewer ``index_put_`` calls, but more
#: pixels written twice where windows overlap (at most ``m`` per axis, below the box's own length).
_MAX_WINDOWS = 4


def _window_lengths(lengths: Tensor) -> Tensor:
    """Return each box's window length: the smallest length of its group, where a group spans ``[m, 4 * m)``."""
    distinct = torch.unique(lengths).tolist()
    window = torch.empty_like(lengths)
    index = 0
    while index < len(distinct):
        smallest = distinct[index]
        window[(lengths >= smallest) & (lengths < _MAX_WINDOWS * smallest)] = smallest
        while index < len(distinct) and distinct[index] < _MAX_WINDOWS * smallest:
            index += 1
    return window


def _axis_windows(first: Tensor, end: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Return the ``(M, 4)`` window starts, the ``(M,)`` window length and the ``(M, 4)`` mask of windows in use.

    Window ``j`` of ``k`` starts at ``first + floor(j * (L - m) / (k - 1))``. Consecutive starts differ by at most
    ``ceil((L - m) / (k - 1)) <= m`` because ``L <= k * m``, so the windows leave no gap.
    """
    lengths = end - first
    window = _window_lengths(lengths)
    count = torch.div(lengths + window - 1, window, rounding_mode="floor")
    step = torch.arange(_MAX_WINDOWS)
    spacing = (lengths - window).unsqueeze(-1) * step
    starts = first.unsqueeze(-1) + torch.div(spacing, (count - 1).clamp(min=1).unsqueeze(-1), rounding_mode="floor")
    used = step < count.unsqueeze(-1)
    return starts, window, used


def all_windows(planes: Tensor, height: int, width: int) -> Tensor:
    """View ``(S, P, H, W)`` as ``(S, H - height + 1, W - width + 1, P, height, width)``: every window of that size.

    The view overlaps itself, so it is only read from, or written by ops that store the same value at each element.
    """
    samples, channels, rows, columns = planes.shape
    sample_stride, channel_stride, row_stride, column_stride = planes.stride()
    return planes.as_strided(
        (samples, rows - height + 1, columns - width + 1, channels, height, width),
        (sample_stride, row_stride, column_stride, channel_stride, row_stride, column_stride),
        planes.storage_offset(),
    )


def paint_boxes(
    planes: Tensor,
    sample: Tensor,
    rows: tuple[Tensor, Tensor],
    columns: tuple[Tensor, Tensor],
    *,
    value: Tensor | None = None,
    source: Tensor | None = None,
    convert: Callable[[Tensor], Tensor] | None = None,
) -> None:
    """Write boxes into ``planes`` in place: a value per sample or per plane, or the same pixels of ``source``.

    Args:
        planes: ``(S, P, H, W)`` output, written in place; any strides.
        sample: ``(M,)`` int64 sample index of each box.
        rows: ``(first, end)`` ``(M,)`` int64 row ranges, non-empty and inside the image.
        columns: ``(first, end)`` ``(M,)`` int64 column ranges, non-empty and inside the image.
        value: fill broadcastable to ``(P, 1, 1)``, or ``(S, P, 1, 1)`` for a value per sample.
        source: ``(S, P, H, W)`` tensor whose pixels inside the boxes are copied.
        convert: applied to the pixels read from ``source`` before they are written, for example a dtype conversion.
    """
    if sample.numel() == 0:
        return
    row_starts, row_window, row_used = _axis_windows(*rows)
    column_starts, column_window, column_used = _axis_windows(*columns)

    # Every pair of a row window and a column window of one box, keeping only the windows in use.
    pairs = (-1, _MAX_WINDOWS, _MAX_WINDOWS)
    used = (row_used.unsqueeze(-1) & column_used.unsqueeze(-2)).flatten(1)
    pair_rows = row_starts.unsqueeze(-1).expand(pairs).flatten(1)[used]
    pair_columns = column_starts.unsqueeze(-2).expand(pairs).flatten(1)[used]
    counts = used.sum(dim=1)
    pair_sample = sample.repeat_interleave(counts)
    height = row_window.repeat_interleave(counts)
    width = column_window.repeat_interleave(counts)

    key = height * (planes.shape[-1] + 1) + width
    for group in torch.unique(key).tolist():
        chosen = key == group
        group_height, group_width = divmod(group, planes.shape[-1] + 1)
        index = (pair_sample[chosen], pair_rows[chosen], pair_columns[chosen])
        if source is not None:
            values = all_windows(source, group_height, group_width)[index]
            values = values if convert is None else convert(values)
        elif value is not None and value.ndim == 4:
            values = value[index[0]]
        else:
            values = value
        all_windows(planes, group_height, group_width).index_put_(index, values)


def _length_buckets(lengths: Tensor) -> Tensor:
    """Return a bucket per length: ``floor(2 * log2(length))``, so lengths in one bucket are within a factor sqrt(2)."""
    return torch.floor(torch.log2(lengths.to(torch.float64)) * 2.0).to(torch.int64)


def draw_into_boxes(
    planes: Tensor,
    sample: Tensor,
    hole: Tensor,
    rows: tuple[Tensor, Tensor],
    columns: tuple[Tensor, Tensor],
    draw: Callable[[tuple[int, ...]], Tensor],
) -> None:
    """Write fresh random numbers over every box of ``planes`` in place, drawing little beyond the boxes' pixels.

    Each box is covered by one window: boxes whose heights fall in the same bucket of :func:`_length_buckets` share
    the bucket's largest height as window height, and likewise for widths. A window starts at its box's first row
    and column, moved back where it would cross the border. So a window may also write pixels next to its box,
    which the caller must not read, and the numbers drawn are at most twice the boxes' pixels. Each hole index and
    window size gets one ``index_put_``, in a fixed order. The windows of one call belong to distinct samples, so
    they never overlap, and the result is the same on every run.

    Args:
        planes: ``(S, P, H, W)`` tensor, written in place.
        sample: ``(M,)`` int64 sample index of each box.
        hole: ``(M,)`` int64 hole index of each box, distinct among the boxes of one sample.
        rows: ``(first, end)`` ``(M,)`` int64 row ranges, non-empty and inside the image.
        columns: ``(first, end)`` ``(M,)`` int64 column ranges, non-empty and inside the image.
        draw: returns a float tensor of the given shape and ``planes``'s dtype, for example
            ``lambda shape: torch.randn(shape)``.
    """
    if sample.numel() == 0:
        return
    height, width = planes.shape[-2:]
    heights = rows[1] - rows[0]
    widths = columns[1] - columns[0]
    row_bucket = _length_buckets(heights)
    column_bucket = _length_buckets(widths)
    # Holes are written one index after another, so that the windows of one call come from distinct samples.
    key = (hole * 64 + row_bucket) * 64 + column_bucket
    for group in torch.unique(key).tolist():
        chosen = key == group
        window_height = int(heights[chosen].max())
        window_width = int(widths[chosen].max())
        top = torch.clamp(rows[0][chosen], max=height - window_height)
        left = torch.clamp(columns[0][chosen], max=width - window_width)
        values = draw((int(chosen.sum()), planes.shape[1], window_height, window_width))
        all_windows(planes, window_height, window_width).index_put_((sample[chosen], top, left), values)

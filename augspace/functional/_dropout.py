"""Dropout kernels: zero single units, whole channels, whole pixels or blocks, and rescale the units that are kept.

The transforms in :mod:`augspace.transforms` draw the masks and DropBlock seeds; these functions only apply them.
:func:`drop_block_mask` states how a seed places its block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ._batch import check_batch_shape, expand_to_input

#: Values of ``normalize``: count the kept units over the whole batch or over each sample.
NORMALIZE_MODES = ("batch", "sample")

# Bytes that are each 0 or 1 are counted as int64 words of eight bytes, summed 127 words at a time. Every byte total
# then stays below 128, so no byte carries into its neighbour or into the sign bit, and the eight byte totals are
# added afterwards. This reads the buffer once, eight units per addition.
_WORDS_PER_SUM = 127
_BYTES_PER_SUM = 8 * _WORDS_PER_SUM


def dropout(x: Tensor, mask: Tensor, scale: Tensor) -> Tensor:
    """Zero the units of ``x`` where ``mask`` is true and multiply the others by ``scale``.

    The product is computed in float32 (float64 for float64 inputs) and rounded once to ``x``'s dtype. Integer inputs
    are rounded to the nearest integer and clamped to their dtype's range, so nothing wraps around.

    Args:
        x: input of shape ``(*B, ..., C, H, W)``. The dimensions between ``*B`` and ``C``, such as a video's frames,
            share each sample's mask.
        mask: ``(*B, C', H', W')`` bool, true where a unit is zeroed. Each of ``C'``, ``H'`` and ``W'`` is either the
            size in ``x`` or 1, which shares the mask across channels, rows or columns.
        scale: ``(*B,)`` factor for the kept units of each sample.

    Returns:
        A new tensor of ``x``'s shape, dtype, device and memory format.

    Raises:
        ValueError: if the shapes of ``x``, ``mask`` and ``scale`` do not match.
    """
    batch_shape = scale.shape
    check_batch_shape("dropout", x, batch_shape)
    if mask.ndim != len(batch_shape) + 3 or mask.shape[: len(batch_shape)] != batch_shape:
        raise ValueError(
            f"dropout: mask must have shape (*B, C, H, W) with *B = {tuple(batch_shape)}, got {tuple(mask.shape)}"
        )
    for name, size, mask_size in zip(("channels", "height", "width"), x.shape[-3:], mask.shape[-3:], strict=True):
        if mask_size not in (1, size):
            raise ValueError(
                f"dropout: mask {name} must be 1 or {size} for an input of shape {tuple(x.shape)}, "
                f"got a mask of shape {tuple(mask.shape)}"
            )

    kept_scale = _per_sample(scale.to(torch.float32), 3)
    factor = torch.where(mask, 0.0, kept_scale)
    return _multiply(x, expand_to_input(factor, x, len(batch_shape)))


def drop_block_mask(seeds: Tensor, block_size: int | tuple[int, int]) -> Tensor:
    """Return the ``(*B, C', H, W)`` bool mask of the units that DropBlock seeds drop.

    Convention: the seeds of a ``bh x bw`` block on an ``H x W`` map lie on an extended grid of ``H + bh - 1`` rows
    and ``W + bw - 1`` columns. The seed at row ``i`` and column ``j`` of that grid drops map rows ``i - bh + 1`` to
    ``i`` and columns ``j - bw + 1`` to ``j``, clipped to the map. The grid thus contains exactly the positions of the
    blocks that overlap the map, and every map unit is covered by ``bh * bw`` of them. Example: with a 3x3 block on a
    4x4 map the grid is 6x6; seed ``(0, 0)`` drops only map unit ``(0, 0)``, seed ``(2, 2)`` drops rows and columns
    0 to 2, and seed ``(5, 5)`` drops only unit ``(3, 3)``.

    Args:
        seeds: ``(*B, C', H + bh - 1, W + bw - 1)`` bool, true at each seed. A strided tensor is dilated with two
            max-pools. A sparse COO tensor on the CPU, the form that sampling on the CPU produces because seeds are
            rare, is painted block by block.
        block_size: ``bh`` or ``(bh, bw)``, the block's height and width in cells, at most the map's size.

    Raises:
        ValueError: if ``seeds`` has fewer than 3 dimensions or is smaller than one block.
    """
    block_height, block_width = _block_pair(block_size)
    height, width = _map_size("drop_block_mask", seeds, block_height, block_width)
    batch_shape = seeds.shape[:-3]

    if _is_sparse_on_cpu(seeds):
        buffer = torch.from_numpy(_paint(seeds, block_height, block_width, height, width))
        units = seeds.shape[-3] * height * width
        return buffer[:, :units].view(torch.bool).reshape(*batch_shape, seeds.shape[-3], height, width)

    seeds = seeds.to_dense() if seeds.is_sparse else seeds
    if height == 0 or width == 0 or seeds.numel() == 0:
        return torch.zeros((*batch_shape, seeds.shape[-3], height, width), dtype=torch.bool, device=seeds.device)
    planes = seeds.reshape(-1, 1, *seeds.shape[-2:]).to(torch.float32)
    dilated = F.max_pool2d(F.max_pool2d(planes, (block_height, 1), stride=1), (1, block_width), stride=1)
    return (dilated > 0).reshape(*batch_shape, seeds.shape[-3], height, width)


def drop_block_scale(seeds: Tensor, block_size: int | tuple[int, int], normalize: str = "batch") -> Tensor:
    """Return the ``(*B,)`` float32 factor that rescales the units DropBlock keeps, so the expected output is the input.

    The factor is the number of units divided by the number of kept units, both counted exactly and divided in float32.
    ``"batch"`` counts over the whole batch, as Ghiasi et al. (2018) normalise, and ``"sample"`` over each sample.
    Where nothing is kept the factor is 0, so a fully dropped input gives zeros rather than NaN.

    Args:
        seeds: ``(*B, C', H + bh - 1, W + bw - 1)`` bool seeds, strided or sparse COO (see :func:`drop_block_mask`).
        block_size: ``bh`` or ``(bh, bw)`` in cells.
        normalize: ``"batch"`` or ``"sample"``.

    Raises:
        ValueError: if ``normalize`` is not one of :data:`NORMALIZE_MODES`, or the seeds are smaller than one block.
    """
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"drop_block_scale: normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")
    block_height, block_width = _block_pair(block_size)
    height, width = _map_size("drop_block_scale", seeds, block_height, block_width)
    batch_shape = seeds.shape[:-3]
    units = seeds.shape[-3] * height * width

    if _is_sparse_on_cpu(seeds):
        buffer = _paint(seeds, block_height, block_width, height, width)
        dropped = torch.from_numpy(_count_per_sample(buffer)).reshape(batch_shape)
    else:
        dropped = drop_block_mask(seeds, (block_height, block_width)).flatten(len(batch_shape)).sum(-1)

    if normalize == "batch":
        units = units * batch_shape.numel()
        dropped = dropped.sum()
    kept_units = (units - dropped).to(torch.float32)
    scale = torch.where(kept_units > 0, units / kept_units.clamp(min=1.0), 0.0)
    return scale.expand(batch_shape).contiguous()


def drop_block(x: Tensor, seeds: Tensor, block_size: int | tuple[int, int], scale: Tensor) -> Tensor:
    """Zero the blocks that ``seeds`` drop and multiply the other units by ``scale``.

    With sparse seeds on the CPU and one mask per channel, the input is multiplied once and the dropped units are then
    written as zeros by index, so the work beyond the multiplication grows with the number of dropped units. With
    sparse seeds and one mask shared by all channels, a factor per unit of the shared map multiplies the input once.
    Strided seeds build the mask with :func:`drop_block_mask` and apply it with :func:`dropout`. All give the same
    output.

    Args:
        x: input of shape ``(*B, ..., C, H, W)``. The dimensions between ``*B`` and ``C``, such as a video's frames,
            share each sample's seeds.
        seeds: ``(*B, C', H + bh - 1, W + bw - 1)`` bool seeds, strided or sparse COO, with ``C'`` equal to ``C``
            (a mask per channel) or 1 (one mask shared by all channels).
        block_size: ``bh`` or ``(bh, bw)`` in cells, at most ``(H, W)``.
        scale: ``(*B,)`` factor for the kept units, as :func:`drop_block_scale` computes it.

    Returns:
        A new tensor of ``x``'s shape, dtype, device and memory format; see :func:`dropout` for the rounding.

    Raises:
        ValueError: if the shapes of ``x``, ``seeds`` and ``scale`` do not match ``block_size``.
    """
    block_height, block_width = _block_pair(block_size)
    height, width = _map_size("drop_block", seeds, block_height, block_width)
    batch_shape = scale.shape
    check_batch_shape("drop_block", x, batch_shape)
    if seeds.shape[:-3] != batch_shape or seeds.shape[-3] not in (1, x.shape[-3]) or (height, width) != x.shape[-2:]:
        grid = f"{x.shape[-2] + block_height - 1}, {x.shape[-1] + block_width - 1}"
        raise ValueError(
            f"drop_block: seeds must have shape (*B, 1 or {x.shape[-3]}, {grid}) with *B = {tuple(batch_shape)} for "
            f"an input of shape {tuple(x.shape)} and a {block_height}x{block_width} block, got {tuple(seeds.shape)}"
        )

    if not (_is_sparse_on_cpu(seeds) and x.device.type == "cpu"):
        mask = drop_block_mask(seeds, (block_height, block_width)).to(x.device)
        return dropout(x, mask, scale.to(x.device))

    scale = scale.to(torch.float32)
    if seeds.shape[-3] == x.shape[-3] and x.ndim == len(batch_shape) + 3 and _flat_view(x) is not None:
        output = _multiply(x, _per_sample(scale, 3))
        _write_zeros(output, _block_offsets(seeds, output.stride(), block_height, block_width))
        return output
    keep_mask = 1 - _paint(seeds, block_height, block_width, height, width)[:, : seeds.shape[-3] * height * width]
    factor = torch.from_numpy(keep_mask * scale.reshape(-1, 1).numpy()).reshape(seeds.shape[:-2] + (height, width))
    return _multiply(x, expand_to_input(factor, x, len(batch_shape)))


def _block_pair(block_size: int | tuple[int, int]) -> tuple[int, int]:
    """Return ``block_size`` as a pair of ints of at least 1."""
    pair = (block_size, block_size) if isinstance(block_size, int) else tuple(block_size)
    if len(pair) != 2 or not all(isinstance(side, int) and not isinstance(side, bool) and side >= 1 for side in pair):
        raise ValueError(f"drop_block: block_size must be an int or a pair of ints of at least 1, got {block_size!r}")
    return pair[0], pair[1]


def _map_size(owner: str, seeds: Tensor, block_height: int, block_width: int) -> tuple[int, int]:
    """Return the ``(H, W)`` of the map that seeds on an extended grid were drawn for."""
    if seeds.ndim < 3:
        raise ValueError(f"{owner}: seeds must have shape (*B, C, H + bh - 1, W + bw - 1), got {tuple(seeds.shape)}")
    height, width = seeds.shape[-2] - block_height + 1, seeds.shape[-1] - block_width + 1
    if height < 0 or width < 0:
        raise ValueError(
            f"{owner}: seeds of shape {tuple(seeds.shape)} are smaller than one {block_height}x{block_width} block"
        )
    return height, width


def _per_sample(values: Tensor, trailing: int) -> Tensor:
    """View ``(*B,)`` values with ``trailing`` singleton dimensions appended."""
    return values.reshape(*values.shape, *([1] * trailing))


def _multiply(x: Tensor, factor: Tensor) -> Tensor:
    """Return ``x * factor`` computed in at least float32, in ``x``'s dtype and memory format.

    ``factor`` is a float32 tensor of at least one dimension, so type promotion computes half precision and integer
    inputs in float32 rather than rounding the factor to the input's dtype first.
    """
    if x.dtype in (torch.float32, torch.float64):
        output = x * factor
    elif x.dtype.is_floating_point:
        output = (x * factor).to(x.dtype)
    else:
        limits = torch.iinfo(x.dtype)
        output = (x * factor).round_().clamp_(limits.min, limits.max).to(x.dtype)

    if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        output = output.contiguous(memory_format=torch.channels_last)
    return output


def _flat_view(x: Tensor) -> Tensor | None:
    """Return a 1-D view of ``x``'s storage in memory order, or ``None`` unless ``x`` is contiguous or channels_last."""
    if x.is_contiguous():
        return x.view(-1)
    if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1).view(-1)
    return None


# The helpers below serve sparse seeds on the CPU. They do their index arithmetic in NumPy: each step is a simple
# vectorised operation on tens of thousands of seeds, and NumPy runs it on the calling thread, where torch would
# start its thread pool for every step. On a busy machine each start can wait for a time slice.


def _is_sparse_on_cpu(seeds: Tensor) -> bool:
    return seeds.is_sparse and seeds.device.type == "cpu"


def _block_offsets(seeds: Tensor, strides: Sequence[int], block_height: int, block_width: int) -> np.ndarray:
    """Return the int64 storage offsets of every unit the seeds drop, in a ``(*B, C, H, W)`` tensor with ``strides``.

    A block that reaches past the border has its rows and columns clamped to the map, which repeats some of its
    units rather than reaching units outside it. The repeats are harmless where the offsets are written to.
    """
    coordinates = seeds.coalesce().indices().numpy()
    *plane_coordinates, seed_rows, seed_columns = coordinates
    plane_offsets = np.zeros(coordinates.shape[1], dtype=np.int64)
    for index, stride in zip(plane_coordinates, strides[:-2], strict=True):
        plane_offsets += index * stride

    # Row r of a table contains the map rows that a seed in grid row r drops, clamped to the map; likewise for columns.
    grid_height, grid_width = seeds.shape[-2:]
    row_table = np.arange(grid_height)[:, None] + np.arange(1 - block_height, 1)
    row_table = row_table.clip(0, grid_height - block_height) * strides[-2]
    column_table = np.arange(grid_width)[:, None] + np.arange(1 - block_width, 1)
    column_table = column_table.clip(0, grid_width - block_width) * strides[-1]

    if grid_height * grid_width <= coordinates.shape[1]:
        # Many seeds per grid cell: gather each seed's whole block from one table, one row per grid cell.
        table = (row_table[:, None, :, None] + column_table[None, :, None, :]).reshape(grid_height * grid_width, -1)
        offsets = table.take(seed_rows * grid_width + seed_columns, axis=0)
        offsets += plane_offsets[:, None]
        return offsets.reshape(-1)
    rows = row_table.take(seed_rows, axis=0) + plane_offsets[:, None]
    return (rows[:, :, None] + column_table.take(seed_columns, axis=0)[:, None, :]).reshape(-1)


def _write_zeros(output: Tensor, offsets: np.ndarray) -> None:
    """Write zeros at ``offsets`` of ``output``'s storage, through autograd when it records a gradient."""
    flat = _flat_view(output)
    if (torch.is_grad_enabled() and output.requires_grad) or output.dtype == torch.bfloat16:
        flat.index_fill_(0, torch.from_numpy(offsets), 0)
    else:
        flat.numpy()[offsets] = 0


def _paint(seeds: Tensor, block_height: int, block_width: int, height: int, width: int) -> np.ndarray:
    """Paint the blocks of sparse seeds as ones into a ``(prod(*B), L)`` uint8 array of zeros, one row per sample.

    Each row contains the sample's ``C' * H * W`` units in order, padded with zeros so that
    :func:`_count_per_sample` can sum it as int64 words: to a multiple of 8 bytes when it is at most
    ``_BYTES_PER_SUM`` long, else to a multiple of ``_BYTES_PER_SUM``.
    """
    batch_shape = seeds.shape[:-3]
    units = seeds.shape[-3] * height * width
    chunk = _BYTES_PER_SUM if units > _BYTES_PER_SUM else max(8, -(-units // 8) * 8)
    row_length = max(1, -(-units // chunk)) * chunk
    buffer = np.zeros((batch_shape.numel(), row_length), dtype=np.uint8)

    batch_strides = [row_length * batch_shape[index + 1 :].numel() for index in range(len(batch_shape))]
    strides = (*batch_strides, height * width, width, 1)
    buffer.reshape(-1)[_block_offsets(seeds, strides, block_height, block_width)] = 1
    return buffer


def _count_per_sample(buffer: np.ndarray) -> np.ndarray:
    """Return the number of ones in each row of an array from :func:`_paint`, as int64."""
    samples, words_per_row = buffer.shape[0], buffer.shape[1] // 8
    words_per_sum = min(words_per_row, _WORDS_PER_SUM)
    sums = words_per_row // words_per_sum
    words = buffer.view(np.int64).reshape(samples, sums, words_per_sum)
    return words.sum(axis=-1).view(np.uint8).reshape(samples, sums * 8).sum(axis=-1, dtype=np.int64)

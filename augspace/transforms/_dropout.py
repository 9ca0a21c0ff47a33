"""The dropout family: DropBlock on feature maps, Dropout and SpatialDropout on units and channels, PixelDropout on
images.

Each drop probability is a number or a :class:`~augspace.Schedule`, whose current value is read at every call.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import functional as AF
from .._validation import check_bool, check_probability, check_size, is_real
from ..functional._dropout import NORMALIZE_MODES
from ..params import DropBlockParams, DropoutParams
from ..schedule import Schedule
from ._base import Layout, RandomTransform
from ._erase import side_in_pixels

Rate = float | Schedule

# Sampling on the CPU draws seeds one by one below this seed rate, and a uniform number per grid cell above it.
# Measured on a 64x64x28x28 float32 batch on one CPU thread, the sparse draw is 4 to 40 times faster for seed rates up
# to 0.1. It is still faster at 0.5 (64 ms against 120 ms with 1x1 blocks), and near 0.8 the two cost the same.
_SPARSE_MAX_SEED_RATE = 0.5

# Seed gaps drawn at once on the CPU: the expected number of seeds plus this many standard deviations (and 16 more
# for tiny grids). By a normal approximation of the seed count, a second draw is needed about once in 1e15 calls.
_EXTRA_DEVIATIONS = 8.0


def seed_rate(drop_prob: float | Tensor, block_area: int) -> float | Tensor:
    """Return the probability ``1 - (1 - drop_prob) ** (1 / block_area)`` that a grid cell is a DropBlock seed.

    Every map unit is covered by exactly ``block_area`` seed positions of the extended grid, so with independent seeds
    it is dropped with probability ``1 - (1 - rate) ** block_area``, which this rate makes equal to ``drop_prob``.
    """
    if isinstance(drop_prob, Tensor):
        return -torch.expm1(torch.log1p(-drop_prob.to(torch.float32)) / block_area)
    if drop_prob >= 1.0:
        return 1.0
    return -math.expm1(math.log1p(-drop_prob) / block_area)


class DropBlock(RandomTransform):
    """Drop contiguous blocks of each feature map and rescale the rest, as in Ghiasi, Lin & Le (2018), "DropBlock: A
    regularization method for convolutional networks".

    Each unit of the map is dropped with probability ``drop_prob``, exactly, at every position and for every map and
    block size. The dropped set is a union of ``bh x bw`` blocks clipped to the map, placed by independent seeds.

    Derivation: a block may sit at every position where it overlaps the map, an extended grid of
    ``(H + bh - 1) x (W + bw - 1)`` positions. A seed at grid row ``i`` and column ``j`` drops map rows ``i - bh + 1``
    to ``i`` and columns ``j - bw + 1`` to ``j``. Every unit, at the border as in the middle, is covered by exactly
    ``bh * bw`` positions. With each position a seed independently with probability ``gamma``, a unit survives only
    if none of its ``bh * bw`` positions is a seed, so it is dropped with probability ``1 - (1 - gamma) ** (bh * bw)``.
    Setting that to ``drop_prob`` gives ``gamma = 1 - (1 - drop_prob) ** (1 / (bh * bw))``. Example: a 7x7 block on a
    7x7 map has a 13x13 grid. At ``drop_prob=0.1``, ``gamma = 1 - 0.9 ** (1 / 49) = 0.00215``, so a map gets
    169 * 0.00215 = 0.36 seeds on average, and each unit is dropped with probability 0.1. The paper's
    ``gamma = drop_prob / (bh * bw) * H * W / ((H - bh + 1) * (W - bw + 1))`` places seeds only where a whole block
    fits and ignores overlapping blocks, so the rate it drops differs from ``drop_prob``, the more so on small maps and
    with large blocks.

    The kept units are multiplied by the number of units over the number kept, counted exactly over the whole batch
    (``normalize="batch"``, as the paper) or over each sample (``"sample"``), so the expected output equals the input.
    A fully dropped batch or sample comes out as zeros. float16 and bfloat16 inputs are multiplied in float32.

    On the CPU, for seed rates below 0.5 (so for every ``drop_prob`` below 0.5), seeds are drawn sparsely, as the
    gaps between successive seeds in raster order. Their blocks are then written as zeros by index, so the work beyond
    one multiplication of the input grows with the number of dropped units. On other devices, under
    ``torch.compile`` and at higher rates, every grid cell draws a uniform number and the seeds are dilated with two
    max-pools, with no graph break and no host sync. Both draw the same distribution.

    Input ``(..., C, H, W)``; each leading index is a sample, and a ``Video``'s frames share their sample's seeds.
    Masks and bounding boxes in the same call are returned unchanged.

    Args:
        drop_prob: the probability that each unit is dropped, in [0, 1], or a :class:`~augspace.Schedule` of it,
            such as ``LinearSchedule(0.0, 0.1, steps=5000)``.
        block_size: side of the square block, or ``(height, width)``. An int is in cells, a float in (0, 1] a
            fraction of the map's shorter side, rounded half up to whole cells (at least 1). Even sizes are allowed.
            A block larger than the map is clipped to the map.
        per_channel: draw an independent mask for each channel, which the paper found works better; ``False`` shares
            one mask across channels and is faster.
        normalize: count the kept units over the ``"batch"`` or over each ``"sample"``.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range, or a schedule leaves [0, 1].

    Example:
        >>> import torch, augspace as A
        >>> drop = A.DropBlock(drop_prob=0.2, block_size=3, generator=torch.Generator().manual_seed(0))
        >>> out = drop(torch.ones(64, 16, 14, 14))
        >>> round(float((out == 0).float().mean()), 2), round(float(out.mean()), 2)
        (0.2, 1.0)
    """

    def __init__(
        self,
        drop_prob: Rate,
        block_size: int | float | tuple[int | float, int | float],
        *,
        per_channel: bool = True,
        normalize: str = "batch",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p=1.0, generator=generator)
        self.drop_prob = _check_rate("DropBlock", "drop_prob", drop_prob)
        self.block_size = check_size("DropBlock", "block_size", block_size)
        self.per_channel = check_bool("DropBlock", "per_channel", per_channel)
        if not isinstance(normalize, str):
            raise TypeError(f"DropBlock: normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")
        if normalize not in NORMALIZE_MODES:
            raise ValueError(f"DropBlock: normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")
        self.normalize = normalize

    def block_cells(self, height: int, width: int) -> tuple[int, int]:
        """Return the block's ``(height, width)`` in cells on an ``height x width`` map, clipped to the map."""
        shorter = min(height, width)
        block_height = side_in_pixels(self.block_size[0], shorter)
        block_width = side_in_pixels(self.block_size[1], shorter)
        return max(1, min(block_height, height)), max(1, min(block_width, width))

    def sample(self, layout: Layout) -> DropBlockParams:
        block_height, block_width = self.block_cells(layout.height, layout.width)
        channels = layout.inner_shape[-1] if self.per_channel else 1
        grid = (*layout.batch_shape, channels, layout.height + block_height - 1, layout.width + block_width - 1)
        rate = seed_rate(_current(self.drop_prob), block_height * block_width)

        if layout.device.type == "cpu" and not torch.compiler.is_compiling() and float(rate) < _SPARSE_MAX_SEED_RATE:
            seeds = self._draw_sparse_seeds(grid, float(rate))
        else:
            seeds = self.draw_uniform(grid, layout.device) < rate
        scale = AF.drop_block_scale(seeds, (block_height, block_width), self.normalize)
        return DropBlockParams(seeds=seeds, scale=scale)

    def apply_image(self, x: Tensor, params: DropBlockParams) -> Tensor:
        if isinstance(self.drop_prob, float) and self.drop_prob == 0.0:
            return x
        block = self.block_cells(x.shape[-2], x.shape[-1])
        return AF.drop_block(x, params.seeds, block, params.scale)

    def extra_repr(self) -> str:
        rate = "" if isinstance(self.drop_prob, Schedule) else f"drop_prob={self.drop_prob}, "
        return f"{rate}block_size={self.block_size}, per_channel={self.per_channel}, normalize={self.normalize!r}"

    def _draw_sparse_seeds(self, grid: tuple[int, ...], rate: float) -> Tensor:
        """Draw independent seeds with probability ``rate`` per grid cell, as a coalesced sparse COO bool tensor."""
        rest = self._draw_seed_positions(math.prod(grid), rate).numpy()
        coordinates = np.empty((len(grid), rest.size), dtype=np.int64)
        for dim in range(len(grid) - 1, 0, -1):
            rest, coordinates[dim] = np.divmod(rest, grid[dim])
        coordinates[0] = rest
        values = torch.from_numpy(np.ones(rest.size, dtype=np.bool_))
        return torch.sparse_coo_tensor(
            torch.from_numpy(coordinates), values, grid, is_coalesced=True, check_invariants=False
        )

    def _draw_seed_positions(self, cells: int, rate: float) -> Tensor:
        """Draw the sorted flat int64 positions of the successes among ``cells`` Bernoulli(``rate``) trials.

        The gaps between successive successes are independent and geometric, so their running sum visits exactly the
        successes, in order, at a cost proportional to their number rather than to ``cells``.
        """
        if cells == 0 or rate <= 0.0:
            return torch.zeros(0, dtype=torch.int64)
        device = torch.device("cpu") if self.generator is None else self.generator.device
        expected = cells * rate
        count = math.ceil(expected + _EXTRA_DEVIATIONS * math.sqrt(expected) + 16)

        chunks = []
        last = -1
        while last < cells:
            gaps = torch.empty(count, dtype=torch.int64, device=device).geometric_(rate, generator=self.generator)
            gaps[0] += last
            chunks.append(gaps.cumsum_(0).cpu())
            last = int(chunks[-1][-1])
        positions = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
        return positions[: int(np.searchsorted(positions.numpy(), cells))]


class _UnitDropout(RandomTransform):
    """Shared parts of Dropout, SpatialDropout and PixelDropout: the rate, the mask draw and the kernel call."""

    #: Whether the kept units are divided by the keep probability.
    rescales = True

    def __init__(self, p: Rate, *, generator: torch.Generator | None) -> None:
        super().__init__(p=1.0, generator=generator)
        self.p = _check_rate(type(self).__name__, "p", p)

    def mask_shape(self, layout: Layout) -> tuple[int, ...]:
        """Return the ``(*B, C', H', W')`` shape of the mask, with 1 where units share a draw."""
        raise NotImplementedError

    def sample(self, layout: Layout) -> DropoutParams:
        p = _current(self.p)
        mask = self.draw_uniform(self.mask_shape(layout), layout.device) < p
        if not self.rescales:
            scale = torch.ones(layout.batch_shape, device=layout.device)
        elif isinstance(p, Tensor):
            keep_scale = torch.where(p < 1.0, 1.0 / (1.0 - p).clamp(min=1e-12), 0.0)
            scale = keep_scale.to(layout.device, torch.float32).expand(layout.batch_shape).contiguous()
        else:
            scale = torch.full(layout.batch_shape, 1.0 / (1.0 - p) if p < 1.0 else 0.0, device=layout.device)
        return DropoutParams(mask=mask, scale=scale)

    def apply_image(self, x: Tensor, params: DropoutParams) -> Tensor:
        if isinstance(self.p, float) and self.p == 0.0:
            return x
        return AF.dropout(x, params.mask, params.scale)

    def extra_repr(self) -> str:
        return "" if isinstance(self.p, Schedule) else f"p={self.p}"


class Dropout(_UnitDropout):
    """Zero each unit independently with probability ``p`` and divide the rest by ``1 - p``, as in Srivastava et al.
    (2014), "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", and ``torch.nn.Dropout``.

    Here ``p`` is the drop probability of each unit, as in ``torch.nn.Dropout``, not the probability of transforming a
    sample. The factor ``1 / (1 - p)`` keeps the expected output equal to the input; at ``p=1`` everything is zeroed.
    Integer inputs are rounded and clamped to their range, and float16 and bfloat16 inputs are multiplied in float32.

    Input ``(..., C, H, W)``; each leading index is a sample, and a ``Video``'s frames share their sample's mask.
    Masks and bounding boxes in the same call are returned unchanged.

    Args:
        p: the probability that each unit is zeroed, in [0, 1], or a :class:`~augspace.Schedule` of it.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``p`` is out of range, or a schedule leaves [0, 1].

    Example:
        >>> import torch, augspace as A
        >>> out = A.Dropout(0.5, generator=torch.Generator().manual_seed(0))(torch.ones(2, 8, 16, 16))
        >>> sorted(out.unique().tolist())
        [0.0, 2.0]
    """

    def __init__(self, p: Rate, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, generator=generator)

    def mask_shape(self, layout: Layout) -> tuple[int, ...]:
        return (*layout.batch_shape, layout.inner_shape[-1], layout.height, layout.width)


class SpatialDropout(_UnitDropout):
    """Zero whole channels independently with probability ``p`` and divide the rest by ``1 - p``, as in Tompson et al.
    (2015), "Efficient Object Localization Using Convolutional Networks", and ``torch.nn.Dropout2d``.

    Neighbouring activations of a feature map are strongly correlated, so dropping single units removes little
    information; dropping a whole channel removes all of it. Here ``p`` is the drop probability of each channel, not
    the probability of transforming a sample. Rounding and dtypes are as in :class:`Dropout`.

    Input ``(..., C, H, W)``; each leading index is a sample, and a ``Video``'s frames share their sample's mask.
    Masks and bounding boxes in the same call are returned unchanged.

    Args:
        p: the probability that each channel is zeroed, in [0, 1], or a :class:`~augspace.Schedule` of it.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``p`` is out of range, or a schedule leaves [0, 1].

    Example:
        >>> import torch, augspace as A
        >>> out = A.SpatialDropout(0.5, generator=torch.Generator().manual_seed(0))(torch.ones(4, 8, 5, 5))
        >>> sorted(out.amax(dim=(-2, -1)).unique().tolist()), sorted(out.amin(dim=(-2, -1)).unique().tolist())
        ([0.0, 2.0], [0.0, 2.0])
    """

    def __init__(self, p: Rate, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, generator=generator)

    def mask_shape(self, layout: Layout) -> tuple[int, ...]:
        return (*layout.batch_shape, layout.inner_shape[-1], 1, 1)


class PixelDropout(_UnitDropout):
    """Zero whole pixels, all channels at once, independently with probability ``p``, in input space.

    The kept pixels are not rescaled, so images keep their range (a uint8 image would otherwise clip at 255); use
    :class:`Dropout` on feature maps, where the expected activation matters. Here ``p`` is the drop probability of
    each pixel, not the probability of transforming a sample.

    Input ``(..., C, H, W)``: PIL images, tensors and batches; each leading index is a sample, and a ``Video``'s frames
    share their sample's mask. Masks and bounding boxes in the same call are returned unchanged.

    Args:
        p: the probability that each pixel is zeroed, in [0, 1], or a :class:`~augspace.Schedule` of it.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``p`` is out of range, or a schedule leaves [0, 1].

    Example:
        >>> import torch, augspace as A
        >>> out = A.PixelDropout(0.25, generator=torch.Generator().manual_seed(0))(torch.ones(3, 64, 64))
        >>> bool(torch.equal(out[0] == 0, out[2] == 0)), round(float((out == 0).float().mean()), 2)
        (True, 0.25)
    """

    rescales = False

    def __init__(self, p: Rate, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, generator=generator)

    def mask_shape(self, layout: Layout) -> tuple[int, ...]:
        return (*layout.batch_shape, 1, layout.height, layout.width)


def _check_rate(owner: str, name: str, value: Any) -> Rate:
    """Return a probability as a float, or a schedule whose values stay in [0, 1]."""
    if isinstance(value, Schedule):
        if value.low < 0.0 or value.high > 1.0:
            raise ValueError(
                f"{owner}: {name} must stay in [0, 1], got a schedule from {value.start!r} to {value.end!r}"
            )
        return value
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number or a Schedule, got {value!r}")
    return check_probability(owner, name, value)


def _current(rate: Rate) -> float | Tensor:
    """Return a rate's value now: the number itself, or the schedule's ``value`` buffer."""
    return rate.value if isinstance(rate, Schedule) else rate

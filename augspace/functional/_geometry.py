"""Geometric kernels: per-sample flips and per-sample zoom about the centre, output size kept.

Geometry convention: pixel ``i`` of a side of length ``L`` covers ``[i, i + 1)``, its centre is at ``i + 0.5`` and the
image centre is at ``L / 2``. A zoom by factor ``s`` maps a point at distance ``d`` from the centre to distance
``s * d``. Example: on a 16-row image zoomed by 2, output row 0 (centre 0.5) reads the input at row coordinate
``(0.5 - 8) / 2 + 8 = 4.25``, so the output's top row shows the input's row 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms.v2 import InterpolationMode

from .._validation import check_interpolation
from ._batch import check_batch_shape, expand_to_input
from ._boxes import use_host_path
from ._erase import fill_value

#: The interpolation modes :func:`rescale` accepts.
RESCALE_INTERPOLATIONS = (InterpolationMode.NEAREST, InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)


def horizontal_flip(x: Tensor, apply: Tensor) -> Tensor:
    """Mirror left and right, in the samples where ``apply`` is true.

    Args:
        x: input of shape ``(*B, ..., H, W)``, such as an image batch ``(*B, C, H, W)`` or a mask ``(*B, H, W)``.
            The dimensions between ``*B`` and ``(H, W)`` share each sample's decision.
        apply: ``(*B,)`` bool, whether each sample is flipped.

    Returns:
        A new tensor of ``x``'s shape, dtype, device and memory format.

    Example:
        >>> import torch
        >>> x = torch.arange(4.0).view(2, 1, 1, 2)
        >>> horizontal_flip(x, torch.tensor([True, False])).flatten().tolist()
        [1.0, 0.0, 2.0, 3.0]
    """
    return _flip("horizontal_flip", x, apply, dim=-1)


def vertical_flip(x: Tensor, apply: Tensor) -> Tensor:
    """Mirror top and bottom, in the samples where ``apply`` is true.

    Args:
        x: input of shape ``(*B, ..., H, W)``. The dimensions between ``*B`` and ``(H, W)`` share each sample's
            decision.
        apply: ``(*B,)`` bool, whether each sample is flipped.

    Returns:
        A new tensor of ``x``'s shape, dtype, device and memory format.

    Example:
        >>> import torch
        >>> x = torch.arange(4.0).view(2, 1, 2, 1)
        >>> vertical_flip(x, torch.tensor([True, False])).flatten().tolist()
        [1.0, 0.0, 2.0, 3.0]
    """
    return _flip("vertical_flip", x, apply, dim=-2)


def _flip(owner: str, x: Tensor, apply: Tensor, dim: int) -> Tensor:
    check_batch_shape(owner, x, apply.shape)
    chosen = expand_to_input(apply.to(device=x.device, dtype=torch.bool), x, apply.ndim)
    flipped = x.flip(dim)
    if use_host_path(x):
        # Selecting into the flipped batch itself saves allocating, and page-faulting, a second full-size output.
        # Ops with ``out=`` record no gradient, hence this form only without autograd.
        return torch.where(chosen, flipped, x, out=flipped)
    return _keep_memory_format(torch.where(chosen, flipped, x), x)


def rescale(
    x: Tensor,
    factor: Tensor,
    apply: Tensor,
    *,
    interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
    fill: float | Sequence[float] = 0.0,
    min_factor: float | None = None,
) -> Tensor:
    """Zoom each sample about its centre by its own factor, keeping the height and width.

    A factor above 1 zooms in: the image is enlarged and its centre cropped. Below 1 it zooms out: the image is
    shrunk and the border is padded with ``fill``. Output pixels whose source centre falls outside the input take
    ``fill``. Resampling is separable, one axis after the other, and follows PIL's resampling filters: the triangle
    filter for bilinear and the Keys cubic with ``a = -0.5`` for bicubic. When shrinking, the filter is widened by
    ``1 / factor``, which antialiases as PIL's resize does. Weights are normalised over the taps inside the image.
    Nearest reads the input pixel that contains the source point and does no antialiasing. With a factor of exactly 1
    every interpolation returns a finite input unchanged. On CUDA and under ``torch.compile``, an inf or NaN spreads to
    neighbours through taps of weight 0. On the CPU, bilinear and bicubic resampling of an input with an inf or NaN
    sums only the taps of nonzero weight with ``embedding_bag``, so a sample not chosen comes back unchanged, inf and
    NaN included. A finite input there may go through dense matrix products, and in both forms a ``-0.0`` of a
    sample not chosen comes back as ``+0.0``.

    Integer inputs are resampled in float32, then rounded and clamped to their dtype's range, so nothing wraps
    around. float32 holds integers exactly only up to 2**24, so larger int32 or int64 values lose precision. float16
    and bfloat16 are resampled in float32 and cast back, and float64 is resampled in float64. A bool input (a mask)
    is resampled as uint8.

    Args:
        x: input of shape ``(*B, ..., H, W)``, such as an image batch ``(*B, C, H, W)`` or a mask ``(*B, H, W)``.
            The dimensions between ``*B`` and ``(H, W)`` share each sample's factor.
        factor: ``(*B,)`` zoom factors, all positive.
        apply: ``(*B,)`` bool, whether each sample is rescaled.
        interpolation: ``NEAREST``, ``BILINEAR`` or ``BICUBIC``, as an ``InterpolationMode`` or its string value.
        fill: value of the padded pixels: a number or one number per channel, converted to ``x``'s dtype as
            :func:`fill_value` does (rounded and clamped for integer inputs).
        min_factor: a lower bound of ``factor``, known on the host, that sizes the filter. ``None`` computes
            ``factor.min()``, which synchronises with the device. A bound above the smallest factor truncates that
            sample's filter.

    Returns:
        A new tensor of ``x``'s shape, dtype, device and memory format.

    Raises:
        ValueError: if the shapes of ``x``, ``factor`` and ``apply`` disagree, ``min_factor`` is not positive, or
            ``interpolation`` is not one of the three modes.
        TypeError: if ``interpolation`` is neither an ``InterpolationMode`` nor a string.

    Example:
        >>> import torch
        >>> x = torch.ones(1, 1, 4, 4)
        >>> out = rescale(x, torch.tensor([0.5]), torch.tensor([True]), fill=0.0)
        >>> out[0, 0].tolist()
        [[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    mode = check_interpolation("rescale", interpolation, RESCALE_INTERPOLATIONS)
    check_batch_shape("rescale", x, apply.shape)
    if factor.shape != apply.shape:
        raise ValueError(
            f"rescale: factor and apply must have the same shape, got {tuple(factor.shape)} and {tuple(apply.shape)}"
        )
    if x.dtype == torch.bool:
        as_uint8 = rescale(x.to(torch.uint8), factor, apply, interpolation=mode, fill=fill, min_factor=min_factor)
        return as_uint8.to(torch.bool)
    min_factor = _filter_bound(factor, min_factor)

    if mode != InterpolationMode.NEAREST and x.numel() > 0 and use_host_path(x, records_gradient=True):
        return _rescale_on_host(x, factor, apply, mode, fill, min_factor)

    batch_ndim = apply.ndim
    samples = math.prod(apply.shape)
    height, width = x.shape[-2:]
    factor = factor.reshape(samples).to(device=x.device, dtype=torch.float32)
    rows = _taps(factor, height, mode, min_factor)
    columns = _taps(factor, width, mode, min_factor)

    # Flatten to (samples, planes, H, W): one factor per sample, shared by the planes (channels, frames).
    flat = x.reshape(samples, math.prod(x.shape[batch_ndim:-2]), height, width)
    if mode != InterpolationMode.NEAREST:
        flat = flat.to(_work_dtype(x.dtype))
    resampled = _resample(_resample(flat, rows, dim=2), columns, dim=3)
    resampled = _to_dtype(resampled, x.dtype).reshape(x.shape)

    inside = (rows.inside.unsqueeze(-1) & columns.inside.unsqueeze(-2)).reshape(*apply.shape, height, width)
    output = torch.where(expand_to_input(inside, x, batch_ndim), resampled, fill_value(x, fill))
    chosen = expand_to_input(apply.to(device=x.device, dtype=torch.bool), x, batch_ndim)
    return _keep_memory_format(torch.where(chosen, output, x), x)


@dataclass(frozen=True)
class _Taps:
    """Filter taps along one axis for each sample and output position.

    Attributes:
        index: ``(N, L, K)`` int64 input positions, clamped into the image.
        weight: ``(N, L, K)`` weights, normalised per output position, or ``None`` for nearest (one tap of weight 1).
        inside: ``(N, L)`` bool, whether the output position's source centre lies inside the input.
    """

    index: Tensor
    weight: Tensor | None
    inside: Tensor

    def select(self, samples: slice) -> _Taps:
        """Return the taps of a slice of the samples."""
        weight = None if self.weight is None else self.weight[samples]
        return _Taps(self.index[samples], weight, self.inside[samples])


def _triangle(t: Tensor) -> Tensor:
    return (1.0 - t.abs()).clamp_(min=0.0)


def _keys_cubic(t: Tensor) -> Tensor:
    # The Keys cubic kernel with a = -0.5, which matches PIL's BICUBIC in the tests. It is 1 at 0 and exactly 0 at
    # every other integer, so a factor of 1 reproduces the input.
    t = t.abs()
    near = (1.5 * t - 2.5) * t * t + 1.0
    far = ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0
    return torch.where(t <= 1.0, near, torch.where(t < 2.0, far, torch.zeros_like(t)))


#: Filter function and its support radius in input pixels at factor 1.
_FILTERS: dict[InterpolationMode, tuple[Callable[[Tensor], Tensor], float]] = {
    InterpolationMode.BILINEAR: (_triangle, 1.0),
    InterpolationMode.BICUBIC: (_keys_cubic, 2.0),
}


def _filter_bound(factor: Tensor, min_factor: float | None) -> float:
    """Return the host-side lower bound of the factors that sizes the filter."""
    if min_factor is None:
        # Reading the factors back synchronises with the device, so callers that know a bound pass it instead.
        return float(factor.min()) if factor.numel() > 0 else 1.0
    if not math.isfinite(min_factor) or min_factor <= 0.0:
        raise ValueError(f"rescale: min_factor must be a positive finite number, got {min_factor!r}")
    return float(min_factor)


def _taps(factor: Tensor, length: int, mode: InterpolationMode, min_factor: float) -> _Taps:
    """Compute the filter taps that resample one axis of ``length`` pixels, zoomed by ``factor`` (``(N,)``)."""
    centres = torch.arange(length, device=factor.device, dtype=torch.float32) + 0.5
    source = (centres - length / 2) / factor.unsqueeze(-1) + length / 2
    inside = (source >= 0.0) & (source < length)
    if mode == InterpolationMode.NEAREST:
        index = source.floor().clamp_(0, max(length - 1, 0)).long().unsqueeze(-1)
        return _Taps(index, None, inside)

    # The filter stretches by 1 / factor when shrinking, so each output pixel averages over the input pixels it
    # covers. The tap count comes from the host-side bound, plus one spare tap for rounding in the float32 factors.
    # Taps beyond a sample's own support get weight 0.
    kernel, support = _FILTERS[mode]
    stretch = (1.0 / factor).clamp(min=1.0).view(-1, 1, 1)
    max_radius = support * max(1.0, 1.0 / min_factor)
    count = math.ceil(2.0 * max_radius) + 1
    first = torch.floor(source - 0.5 - max_radius) + 1.0
    position = first.unsqueeze(-1) + torch.arange(count, device=factor.device, dtype=torch.float32)

    in_image = (position >= 0.0) & (position < length) & inside.unsqueeze(-1)
    weight = kernel((position + 0.5 - source.unsqueeze(-1)) / stretch) * in_image
    weight = weight / weight.sum(dim=-1, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny)
    index = position.clamp(0, max(length - 1, 0)).long()
    return _Taps(index, weight, inside)


def _resample(x: Tensor, taps: _Taps, dim: int) -> Tensor:
    """Resample ``x`` of shape ``(N, P, H, W)`` along ``dim`` (2 for rows, 3 for columns) with per-sample taps."""

    def along_dim(per_position: Tensor) -> Tensor:
        # (N, L) -> (N, 1, L, 1) for rows or (N, 1, 1, L) for columns.
        return per_position[:, None, :, None] if dim == 2 else per_position[:, None, None, :]

    # The output has the input's size, so every gathered index tensor has x's shape.
    if taps.weight is None:
        return x.gather(dim, along_dim(taps.index[..., 0]).expand(x.shape))

    # Each of the few taps is one gather over the whole batch, so memory stays linear in the input size. Products
    # with weights 0 and 1 are exact, so a factor of 1 returns the input bit for bit.
    output = None
    for tap in range(taps.index.shape[-1]):
        gathered = x.gather(dim, along_dim(taps.index[..., tap]).expand(x.shape))
        term = gathered * along_dim(taps.weight[..., tap].to(x.dtype))
        output = term if output is None else output + term
    return output


def _rescale_on_host(
    x: Tensor,
    factor: Tensor,
    apply: Tensor,
    mode: InterpolationMode,
    fill: float | Sequence[float],
    min_factor: float,
) -> Tensor:
    """CPU form of :func:`rescale`, for the filtered modes: one ``embedding_bag`` pass per axis, or for small finite
    maps two dense matrix products (see :data:`_DENSE_MAX_SIDE`).

    ``embedding_bag`` with per-tap weights sums weighted rows of a table, which is one axis of separable resampling
    in one pass. The table is the batch viewed as rows, and each output row is a bag of the input rows under its
    taps. Only taps of nonzero weight enter a bag, and a sample not chosen is resampled at factor 1, whose single
    tap of weight 1 copies it exactly. Rows are resampled first, on the samples as they are, then columns, on the
    rows' result transposed by one copy.
    """
    batch_ndim = apply.ndim
    samples, planes = math.prod(apply.shape), math.prod(x.shape[batch_ndim:-2])
    height, width = x.shape[-2:]
    chosen = apply.reshape(samples).to(torch.bool)
    factor = torch.where(chosen, factor.reshape(samples).to(torch.float32), torch.ones((), dtype=torch.float32))
    rows = _taps(factor, height, mode, min_factor)
    columns = _taps(factor, width, mode, min_factor)

    # Samples go through in chunks of about _CHUNK_BYTES (a few images), so the intermediate copies stay in the cache
    # and in memory the allocator reuses. Only the output is full-size. Under autograd, the chunks come from split()
    # and go back through cat(). A slice or a slice assignment per chunk would make a gradient of the whole batch for
    # each chunk in the backward pass: 2.5 s instead of 0.4 s on 128x256x28x28 maps.
    source = x.reshape(samples, planes, height, width)
    chunk = max(1, _CHUNK_BYTES // max(planes * height * width * 4, 1))
    parts = [slice(start, start + chunk) for start in range(0, samples, chunk)]
    sources = source.split(chunk) if samples > 0 else ()
    in_place = not (torch.is_grad_enabled() and x.requires_grad)
    output = torch.empty((samples, planes, height, width), dtype=x.dtype)
    if _dense_pays(source):

        def resample(piece: Tensor, part: slice, destination: Tensor | None) -> Tensor:
            return _rescale_dense(piece, rows.select(part), columns.select(part), destination)

    else:
        # The bags of every chunk are built at once, because many small parallel ops cost more than their work on a
        # busy CPU.
        column_bags = _Bags.build(columns, planes, chunk)
        row_bags = _Bags.build(rows, planes, chunk)

        def resample(piece: Tensor, part: slice, destination: Tensor | None) -> Tensor:
            return _rescale_chunk(piece, row_bags.select(part), column_bags.select(part), destination)

    # Each chunk is written into the output at once, so only one chunk's temporaries are alive at a time.
    pieces = [
        resample(piece, part, output[part] if in_place else None) for piece, part in zip(sources, parts, strict=True)
    ]
    output = (output if in_place or not pieces else torch.cat(pieces)).view(x.shape)

    # Outside the source, bags are empty and matrix rows are zero, so both sum to 0, the fill when the fill is 0.
    if any(value != 0 for value in (fill if isinstance(fill, Sequence) else [fill])):
        inside = (rows.inside.unsqueeze(-1) & columns.inside.unsqueeze(-2)).reshape(*apply.shape, height, width)
        output = torch.where(expand_to_input(inside, x, batch_ndim), output, fill_value(x, fill))
    return _keep_memory_format(output, x)


#: Bytes of float32 samples resampled together on the CPU. A chunk and its transposed copy then stay in the caches
#: between the passes, and freed chunks stay below glibc's 32 MiB threshold for returning memory to the system. On
#: 64 images of 3x224x224, 2 MiB chunks (3 samples) took 2.3 times a clone against 3.9 for 16 MiB chunks.
# NOTE: measured on one 2-core AMD EPYC (1 MiB of L2 cache per core, 32 MiB of L3 cache). The best size depends on
# the cache sizes.
_CHUNK_BYTES = 2 * 2**20


#: Maximum side for which the CPU path resamples with dense per-sample matrices. Rows of a 28x28 feature map have
#: 28 values, so ``embedding_bag`` spends its time on per-bag work. On 128x256x28x28 float32 maps the bags took about
#: 170 ms and the matrix products 50 ms, and 525 ms against 360 ms with the backward pass. From 96x96 maps on, the
#: bags were faster without a backward pass.
_DENSE_MAX_SIDE = 64


def _dense_pays(source: Tensor) -> bool:
    """Return whether ``(N, P, H, W)`` samples are resampled with dense matrices rather than ``embedding_bag``.

    Dense products multiply every input value, also by weights of 0, so an inf or NaN would spread along its row and
    column. Non-finite inputs therefore take the bags, which skip taps of weight 0. The row pass multiplies a
    ``(P, H, H)`` stack of one matrix per sample, so heights far above the width also take the bags.
    """
    height, width = source.shape[-2:]
    if max(height, width) > _DENSE_MAX_SIDE or height > 2 * width:
        return False
    # A sum is finite only when every term is, and it costs one read where isfinite costs several passes. A sum that
    # overflows sends finite inputs to the bags, which give the same result.
    return not source.dtype.is_floating_point or bool(torch.isfinite(source.sum(dtype=torch.float32)))


def _dense_matrices(taps: _Taps, length: int) -> Tensor:
    """Return the ``(N, L, L)`` float32 matrices whose row ``o`` contains the tap weights of output position ``o``."""
    matrices = torch.zeros((taps.index.shape[0], length, length), dtype=torch.float32)
    return matrices.scatter_add_(2, taps.index, taps.weight)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Return the dtype that the CPU path resamples ``dtype`` in: float64 for float64, else float32."""
    return torch.promote_types(dtype, torch.float32) if dtype.is_floating_point else torch.float32


def _rescale_dense(source: Tensor, rows: _Taps, columns: _Taps, output: Tensor | None) -> Tensor:
    """Resample ``(N, P, H, W)`` samples with two batched matrix products, columns then rows, in ``source``'s dtype.

    The result is written into ``output`` and returned, or returned as a new tensor when ``output`` is ``None``.
    Products with weights 0 and 1 are exact, so a sample at factor 1 comes out equal to its input.
    """
    samples, planes, height, width = source.shape
    work_dtype = _work_dtype(source.dtype)
    work = source.to(work_dtype)
    column_matrices = _dense_matrices(columns, width).to(work_dtype).transpose(1, 2)
    by_columns = torch.bmm(work.reshape(samples, planes * height, width), column_matrices)
    row_matrices = _dense_matrices(rows, height).to(work_dtype).unsqueeze(1)
    resampled = _to_dtype(torch.matmul(row_matrices, by_columns.view(samples, planes, height, width)), source.dtype)
    return resampled if output is None else output.copy_(resampled)


def _rescale_chunk(
    source: Tensor,
    rows: tuple[Tensor, Tensor, Tensor],
    columns: tuple[Tensor, Tensor, Tensor],
    output: Tensor | None,
) -> Tensor:
    """Resample ``(n, planes, H, W)`` samples along rows, then columns, with their bags; write and return ``output``.

    Rows of a plane are contiguous, so the row pass reads the samples as they are. The column pass works on one
    transposed copy, and the transposing copy back into ``output`` also converts to its dtype. With ``output`` set to
    ``None``, a new tensor of ``source``'s dtype is written.
    """
    samples, planes, height, width = source.shape
    work_dtype = _work_dtype(source.dtype)
    if output is None:
        output = torch.empty(source.shape, dtype=source.dtype)
    table = source.to(work_dtype).reshape(-1, width)
    by_rows = _bag_resample(table, *rows).view(samples, planes, height, width)

    by_columns = torch.empty((samples, planes, width, height), dtype=work_dtype)
    by_columns.copy_(by_rows.transpose(-1, -2))
    resampled = _bag_resample(by_columns.view(-1, height), *columns).view(samples, planes, width, height)
    if not output.dtype.is_floating_point:
        resampled = _to_dtype(resampled, output.dtype)
    return output.copy_(resampled.transpose(-1, -2))


def _bag_resample(table: Tensor, index: Tensor, weight: Tensor, offsets: Tensor) -> Tensor:
    """Sum the weighted rows of ``table`` that each bag selects: one output row per bag."""
    return torch.nn.functional.embedding_bag(
        index, table, offsets, mode="sum", per_sample_weights=weight.to(table.dtype)
    )


@dataclass(frozen=True)
class _Bags:
    """The ``embedding_bag`` input of one axis: the taps of nonzero weight of every output row, chunk by chunk.

    Output row ``o`` of plane ``p`` of sample ``s`` is a bag of the rows its taps select within that plane, numbered
    from the start of the chunk that holds ``s``, so each chunk's table is the chunk alone.

    Attributes:
        index: ``(T,)`` int64 table rows of all taps, bag after bag.
        weight: ``(T,)`` float32 tap weights.
        starts: ``(N * planes * L,)`` int64 position of each bag's first tap in ``index``.
        planes: planes per sample.
        length: output rows per plane.
    """

    index: Tensor
    weight: Tensor
    starts: Tensor
    planes: int
    length: int

    @staticmethod
    def build(taps: _Taps, planes: int, chunk: int) -> _Bags:
        """Collect the taps of nonzero weight of every output row of every plane, for chunks of ``chunk`` samples."""
        samples, length, count = taps.index.shape
        in_chunk = torch.arange(samples) % chunk
        first_row = ((in_chunk.unsqueeze(-1) * planes + torch.arange(planes)) * length).view(samples, planes, 1, 1)
        index = (first_row + taps.index.unsqueeze(1)).expand(samples, planes, length, count)
        weight = taps.weight.unsqueeze(1).expand(samples, planes, length, count)
        used = weight != 0.0
        sizes = used.sum(dim=-1).flatten()
        return _Bags(index[used], weight[used], sizes.cumsum(0) - sizes, planes, length)

    def select(self, samples: slice) -> tuple[Tensor, Tensor, Tensor]:
        """Return the index, weights and offsets of the bags of a slice of the samples, offsets counted from 0."""
        per_sample = self.planes * self.length
        first_bag, end_bag = samples.start * per_sample, min(samples.stop * per_sample, self.starts.numel())
        first_tap = int(self.starts[first_bag])
        end_tap = int(self.starts[end_bag]) if end_bag < self.starts.numel() else self.index.numel()
        offsets = self.starts[first_bag:end_bag] - first_tap
        return self.index[first_tap:end_tap], self.weight[first_tap:end_tap], offsets


def _to_dtype(x: Tensor, dtype: torch.dtype) -> Tensor:
    """Convert resampled values back to ``dtype``, rounding and clamping for integer dtypes."""
    if x.dtype == dtype:
        return x
    if dtype.is_floating_point:
        return x.to(dtype)
    info = torch.iinfo(dtype)
    return x.round().clamp_(info.min, info.max).to(dtype)


def _keep_memory_format(output: Tensor, like: Tensor) -> Tensor:
    """Return ``output`` in channels_last when ``like`` is channels_last and not also contiguous."""
    if like.is_contiguous(memory_format=torch.channels_last) and not like.is_contiguous():
        return output.contiguous(memory_format=torch.channels_last)
    return output

"""Frozen dataclasses of sampled parameters.

A transform's ``make_params`` draws all of its randomness into one of these, and a pure function in
:mod:`augspace.functional` applies it. ``*B`` below is the batch shape: the leading dimensions of the input before
``(C, H, W)`` (before ``(T, C, H, W)`` for a video, whose frames share one draw).

Convention: boxes are stored in normalised coordinates, as fractions of the height and width, with pixel edges at
``i / H``. A pixel or feature-map cell belongs to a box when its centre, ``(i + 0.5) / H``, lies in the half-open
interval ``[top, bottom)``, and likewise for columns. On the grid the box was drawn for, this selects exactly the
drawn rows ``top * H <= i < bottom * H``. On a coarser grid, such as a hidden layer at stride 8, it selects the cells
whose centres the box covers. Example: a box from ``top=0.25`` to ``bottom=0.5`` covers rows 8 to 15 of a 32-row
image and row 1 of a 4-row map (centre 1.5 / 4 = 0.375).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class EraseParams:
    """Boxes to erase, drawn by :class:`~augspace.Cutout` and :class:`~augspace.RandomErasing`.

    Attributes:
        boxes: ``(*B, K, 4)`` float32 boxes ``(top, left, bottom, right)`` in normalised coordinates. ``K`` is the
            number of holes per sample. Boxes may reach past the border and are clipped there.
        apply: ``(*B,)`` bool, whether each sample is erased at all.
        noise: per-pixel random fill of the input's full shape for ``fill="normal"`` or ``"uniform"``, else
            ``None``. Only its pixels inside the boxes of the chosen samples are used. For CPU inputs only those
            (and some pixels next to them) are drawn, and the rest of the tensor is unspecified.
    """

    boxes: Tensor
    apply: Tensor
    noise: Tensor | None = None

    @property
    def batch_shape(self) -> torch.Size:
        """Leading dimensions the params were drawn for."""
        return self.apply.shape


@dataclass(frozen=True)
class FlipParams:
    """Per-sample flip decisions, drawn by the flip transforms.

    Attributes:
        apply: ``(*B,)`` bool, whether each sample is flipped.
    """

    apply: Tensor

    @property
    def batch_shape(self) -> torch.Size:
        """Leading dimensions the params were drawn for."""
        return self.apply.shape


@dataclass(frozen=True)
class RescaleParams:
    """Per-sample zoom factors, drawn by :class:`~augspace.RandomRescale`.

    Attributes:
        factor: ``(*B,)`` float32 zoom factor about the centre. Above 1 zooms in (the image is enlarged and cropped),
            below 1 zooms out (it is shrunk and padded).
        apply: ``(*B,)`` bool, whether each sample is rescaled.
        min_factor: a lower bound of ``factor`` known on the host. It sizes the resampling filter without reading
            the tensor back from the device.
    """

    factor: Tensor
    apply: Tensor
    min_factor: float

    @property
    def batch_shape(self) -> torch.Size:
        """Leading dimensions the params were drawn for."""
        return self.apply.shape


@dataclass(frozen=True)
class MixUpParams:
    """Pairs and mixing weights, drawn by :class:`~augspace.MixUp`.

    Sample ``i`` becomes ``lam[i] * x[i] + (1 - lam[i]) * x[permutation[i]]``, and its target is mixed with the
    same weights. A sample paired with itself (``permutation[i] == i``) is unchanged.

    Attributes:
        lam: ``(N,)`` float32 weight in [0, 1] of each sample's own image, drawn from Beta(alpha, alpha). Every entry
            is the same when one value is drawn for the whole batch.
        permutation: ``(N,)`` int64, the partner of each sample.
    """

    lam: Tensor
    permutation: Tensor

    @property
    def batch_shape(self) -> torch.Size:
        """Leading dimensions the params were drawn for."""
        return self.permutation.shape


@dataclass(frozen=True)
class CutMixParams:
    """Pasted boxes and pairs, drawn by :class:`~augspace.CutMix`.

    Sample ``i`` receives the pixels of sample ``permutation[i]`` inside ``boxes[i]``. The box is in normalised
    coordinates (see the module docstring), so it can be replayed on a grid of another size, where it covers the
    cells whose centres it contains.

    Attributes:
        boxes: ``(N, 4)`` float32 boxes ``(top, left, bottom, right)`` in normalised coordinates. Boxes may reach past
            the border and are clipped there.
        permutation: ``(N,)`` int64, the partner of each sample.
        lam: ``(N,)`` float32 fraction of each image that keeps its own pixels on the grid the boxes were drawn for:
            exactly ``1 - pasted_pixels / (H * W)``, with the box clipped at the border and rounded to whole pixels.
            A sample that the permutation pairs with itself keeps all its pixels but still gets this ``lam``. Its
            target puts all its weight on its own label.
    """

    boxes: Tensor
    permutation: Tensor
    lam: Tensor

    @property
    def batch_shape(self) -> torch.Size:
        """Leading dimensions the params were drawn for."""
        return self.permutation.shape


@dataclass(frozen=True)
class DropBlockParams:
    """Block seeds and rescaling factors, drawn by :class:`~augspace.DropBlock`.

    Seeds are in cells of the map they were drawn for, not in normalised coordinates, because the seed rate that
    gives the requested drop rate depends on the map's size. :func:`~augspace.functional.drop_block_mask` states how
    a seed places its block on the extended grid.

    Attributes:
        seeds: ``(*B, C', H + bh - 1, W + bw - 1)`` bool, true at each seed of a ``bh x bw`` block on an ``H x W``
            map. ``C'`` is the number of channels, or 1 when all channels share one mask. A strided tensor, or a
            sparse COO tensor when drawn on the CPU, where seeds are rare enough to store by their indices.
        scale: ``(*B,)`` float32 factor for the kept units of each sample.
    """

    seeds: Tensor
    scale: Tensor

    @property
    def batch_shape(self) -> torch.Size:
        """Leading dimensions the params were drawn for."""
        return self.scale.shape


@dataclass(frozen=True)
class DropoutParams:
    """Units to zero and rescaling factors, drawn by :class:`~augspace.Dropout`, :class:`~augspace.SpatialDropout`
    and :class:`~augspace.PixelDropout`.

    Attributes:
        mask: ``(*B, C', H', W')`` bool, true where a unit is zeroed. Each of ``C'``, ``H'`` and ``W'`` is the input's
            size or 1: ``(C, H, W)`` for single units, ``(C, 1, 1)`` for whole channels, ``(1, H, W)`` for whole pixels.
        scale: ``(*B,)`` float32 factor for the kept units of each sample.
    """

    mask: Tensor
    scale: Tensor

    @property
    def batch_shape(self) -> torch.Size:
        """Leading dimensions the params were drawn for."""
        return self.scale.shape


@dataclass(frozen=True)
class ManifoldMixupParams:
    """The draw of one :class:`~augspace.ManifoldMixup` call.

    Attributes:
        layer: 0-d int64 index into ``ManifoldMixup.candidates`` of the layer that was mixed (``None`` in
            ``candidates`` stands for the input).
        lam: 0-d float32 weight of each sample's own content at that layer. In ``"cutmix"`` mode it is the fraction
            of the layer's grid outside the box, counted in whole cells. It is 1 when the chosen layer did not run.
        permutation: ``(N,)`` int64, the partner of each sample.
        boxes: ``(1, 4)`` float32 box ``(top, left, bottom, right)`` in normalised coordinates in ``"cutmix"`` mode,
            shared by the batch, else ``None``.
    """

    layer: Tensor
    lam: Tensor
    permutation: Tensor
    boxes: Tensor | None = None

    @property
    def batch_shape(self) -> torch.Size:
        """Leading dimensions the params were drawn for."""
        return self.permutation.shape

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
        noise: per-pixel random fill of the input's full shape for ``fill="normal"`` or ``"uniform"``, else ``None``.
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

"""Geometric transforms: per-sample flips and random rescaling, for images and feature maps alike."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import PIL.Image
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from .. import functional as AF
from .._validation import check_interpolation, check_number_fill, check_range
from ..functional._batch import check_batch_shape
from ..functional._geometry import RESCALE_INTERPOLATIONS
from ..params import FlipParams, RescaleParams
from ._base import Layout, RandomTransform


def _check_single_image(owner: str, batch_shape: torch.Size, input_kind: str) -> None:
    """Raise ``ValueError`` unless the parameters were drawn for one unbatched image."""
    if len(batch_shape) > 0:
        raise ValueError(
            f"{owner}: {input_kind} belong to a single image, but the image in the same call is a batch of shape "
            f"{tuple(batch_shape)} with one draw per sample. Transform each image together with its {input_kind}"
        )


class _RandomFlip(RandomTransform):
    """Shared parts of the flips: the per-sample draw and the dispatch to masks, boxes and PIL images."""

    flip: Callable[[Tensor, Tensor], Tensor]
    flip_boxes: Callable[[Tensor], Tensor]
    pil_method: PIL.Image.Transpose

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p=p, generator=generator)

    def replayable(self) -> bool:
        """Return ``True``, because a draw contains only per-sample decisions and factors, which apply on any grid."""
        return True

    def sample(self, layout: Layout) -> FlipParams:
        return FlipParams(apply=self.draw_apply(layout.batch_shape, layout.device))

    def apply_image(self, x: Tensor, params: FlipParams) -> Tensor:
        return type(self).flip(x, params.apply)

    def apply_mask(self, mask: Tensor, params: FlipParams) -> Tensor:
        check_batch_shape(type(self).__name__, mask, params.batch_shape)
        return type(self).flip(mask, params.apply)

    def apply_boxes(self, boxes: tv_tensors.BoundingBoxes, params: FlipParams) -> tv_tensors.BoundingBoxes:
        """Flip the boxes of an unbatched image with it.

        Moving the flag to the boxes' device synchronises when the image is on another device, such as CUDA.
        """
        _check_single_image(type(self).__name__, params.batch_shape, "BoundingBoxes")
        flipped = type(self).flip_boxes(boxes).as_subclass(Tensor)
        chosen = params.apply.to(device=boxes.device, dtype=torch.bool)
        return tv_tensors.wrap(torch.where(chosen, flipped, boxes.as_subclass(Tensor)), like=boxes)

    def apply_pil(self, image: PIL.Image.Image, params: FlipParams) -> PIL.Image.Image:
        """Flip a PIL image of any mode with PIL, or return it as it is when its sample is not chosen."""
        _check_single_image(type(self).__name__, params.batch_shape, "PIL images")
        if bool(params.apply):
            return image.transpose(type(self).pil_method)
        return image


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left and right, each sample independently with probability ``p``.

    The flip is decided per sample: each leading index of a ``(..., C, H, W)`` tensor gets its own draw, the frames of
    a ``Video`` of shape ``(..., T, C, H, W)`` share one, and a PIL image is one sample. On feature maps the same
    object mirrors activations, which is the input-space flip applied to a hidden layer.

    Masks in the same call, of shape ``(*B, ..., H, W)`` with the image's batch dimensions in front, are flipped with
    their image. ``BoundingBoxes`` describe one image, so they are flipped with an unbatched image (batch shape
    ``()``); together with a batch they raise ``ValueError``. PIL images of any mode are flipped with PIL.

    Args:
        p: probability that each sample is flipped, drawn independently per sample.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if ``p`` is not a real number or ``generator`` is not a ``torch.Generator``.
        ValueError: if ``p`` is outside [0, 1]. At call time, if ``BoundingBoxes`` come with a batch of images.

    Example:
        >>> import torch, augspace as A
        >>> images = torch.arange(6.0).view(3, 1, 1, 2)
        >>> out = A.RandomHorizontalFlip(p=1.0, generator=torch.Generator().manual_seed(0))(images)
        >>> out.flatten().tolist()
        [1.0, 0.0, 3.0, 2.0, 5.0, 4.0]
    """

    flip = staticmethod(AF.horizontal_flip)
    flip_boxes = staticmethod(TF.horizontal_flip)
    pil_method = PIL.Image.Transpose.FLIP_LEFT_RIGHT


class RandomVerticalFlip(_RandomFlip):
    """Mirror top and bottom, each sample independently with probability ``p``.

    The flip is decided per sample, as for :class:`RandomHorizontalFlip`: each leading index of a ``(..., C, H, W)``
    tensor gets its own draw, the frames of a ``Video`` share one, and a PIL image is one sample. Masks move with
    their image, ``BoundingBoxes`` with an unbatched image only (``ValueError`` with a batch), and PIL images of any
    mode are flipped with PIL.

    Args:
        p: probability that each sample is flipped, drawn independently per sample.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if ``p`` is not a real number or ``generator`` is not a ``torch.Generator``.
        ValueError: if ``p`` is outside [0, 1]. At call time, if ``BoundingBoxes`` come with a batch of images.

    Example:
        >>> import torch, augspace as A
        >>> images = torch.arange(4.0).view(2, 1, 2, 1)
        >>> out = A.RandomVerticalFlip(p=1.0, generator=torch.Generator().manual_seed(0))(images)
        >>> out.flatten().tolist()
        [1.0, 0.0, 3.0, 2.0]
    """

    flip = staticmethod(AF.vertical_flip)
    flip_boxes = staticmethod(TF.vertical_flip)
    pil_method = PIL.Image.Transpose.FLIP_TOP_BOTTOM


class RandomRescale(RandomTransform):
    """Zoom each sample about its centre by a random factor, keeping its height and width.

    Each sample's factor is drawn log-uniformly from ``scale_factor``, so zooming in by ``s`` and out by ``1 / s``
    are equally likely: the default ``(0.8, 1.25)`` is centred on 1 in log scale. A factor above 1 zooms in, so the
    image is enlarged and its centre cropped. A factor below 1 zooms out, so the image is shrunk and the border
    padded with ``fill``. See :func:`augspace.functional.rescale` for the resampling: PIL's bilinear and bicubic
    filters, antialiased when shrinking, and the identity at a factor of exactly 1.

    The factor is drawn per sample: each leading index of a ``(..., C, H, W)`` tensor gets its own, the frames of a
    ``Video`` share one, and a PIL image is one sample. PIL images in modes L, LA, RGB, RGBA, CMYK and YCbCr take the
    tensor path, so a PIL image and its tensor give the same pixels. Other PIL modes raise ``TypeError``.

    Masks of shape ``(*B, ..., H, W)`` are resampled with nearest and padded with 0. ``BoundingBoxes`` of an
    unbatched image are scaled about the centre and then clamped according to their ``clamping_mode`` (to the canvas
    by default), as torchvision's geometric transforms do. A clamped box zoomed entirely out of view has zero area,
    and ``v2.SanitizeBoundingBoxes`` removes such boxes. Boxes with a batch of images raise ``ValueError``.

    Geometry convention: the centre is at ``(H / 2, W / 2)`` in pixel-edge coordinates, where pixel ``i`` spans
    ``[i, i + 1)``. Example: zooming a 64x64 image by 2 turns a box from 24 to 40 into one from 16 to 48.

    Args:
        scale_factor: range ``(low, high)`` of the zoom factor, both positive; ``(1, 1)`` is the identity.
        p: probability that each sample is rescaled, drawn independently per sample.
        interpolation: ``NEAREST``, ``BILINEAR`` or ``BICUBIC``, as an ``InterpolationMode`` or its string value.
        fill: value of the padding when zooming out: a number or one number per channel, rounded and clamped for
            uint8 images.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type, including a bool where a number is meant. At call time, if a
            PIL image is in a mode without a tensor conversion.
        ValueError: if an argument is out of range, such as ``scale_factor`` with low > high. At call time, if
            ``BoundingBoxes`` come with a batch of images or a per-channel ``fill`` does not match the channels.

    Example:
        >>> import torch, augspace as A
        >>> rescale = A.RandomRescale(scale_factor=(0.5, 0.5), fill=0.0, generator=torch.Generator().manual_seed(0))
        >>> out = rescale(torch.ones(2, 3, 8, 8))
        >>> out[0, 0, 0].tolist(), out[0, 0, 4].tolist()
        ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    """

    def __init__(
        self,
        scale_factor: tuple[float, float] = (0.8, 1.25),
        *,
        p: float = 1.0,
        interpolation: InterpolationMode | str = InterpolationMode.BILINEAR,
        fill: float | Sequence[float] = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p=p, generator=generator)
        name = type(self).__name__
        self.scale_factor = check_range(name, "scale_factor", scale_factor, lower=0.0, upper=math.inf, open_lower=True)
        self.interpolation = check_interpolation(name, interpolation, RESCALE_INTERPOLATIONS)
        self.fill = check_number_fill(name, fill)

    def replayable(self) -> bool:
        """Return ``True``, because a draw contains only per-sample decisions and factors, which apply on any grid."""
        return True

    def sample(self, layout: Layout) -> RescaleParams:
        low, high = self.scale_factor
        log_low, log_high = math.log(low), math.log(high)
        uniform = self.draw_uniform(layout.batch_shape, layout.device)

        # Clamping keeps float32 rounding from leaving the range, so ``low`` bounds the factors for the filter size
        # and (1, 1) gives exactly 1.
        factor = torch.exp(log_low + (log_high - log_low) * uniform).clamp_(low, high)
        apply = self.draw_apply(layout.batch_shape, layout.device)
        return RescaleParams(factor=factor, apply=apply, min_factor=low)

    def apply_image(self, x: Tensor, params: RescaleParams) -> Tensor:
        return AF.rescale(
            x,
            params.factor,
            params.apply,
            interpolation=self.interpolation,
            fill=self.fill,
            min_factor=params.min_factor,
        )

    def apply_mask(self, mask: Tensor, params: RescaleParams) -> Tensor:
        check_batch_shape(type(self).__name__, mask, params.batch_shape)
        return AF.rescale(
            mask,
            params.factor,
            params.apply,
            interpolation=InterpolationMode.NEAREST,
            fill=0.0,
            min_factor=params.min_factor,
        )

    def apply_boxes(self, boxes: tv_tensors.BoundingBoxes, params: RescaleParams) -> tv_tensors.BoundingBoxes:
        """Scale the boxes of an unbatched image about the canvas centre, then clamp them.

        Moving the factor to the boxes' device synchronises when the image is on another device, such as CUDA.
        """
        _check_single_image(type(self).__name__, params.batch_shape, "BoundingBoxes")
        factor = params.factor.to(device=boxes.device, dtype=torch.float32)
        chosen = params.apply.to(device=boxes.device, dtype=torch.bool)
        scaled = _scale_boxes(boxes, factor)
        return tv_tensors.wrap(torch.where(chosen, scaled, boxes.as_subclass(Tensor)), like=boxes)


def _scale_boxes(boxes: tv_tensors.BoundingBoxes, factor: Tensor) -> Tensor:
    """Scale boxes of any format about the canvas centre by a 0-d ``factor`` and clamp them by their mode."""
    rotated = tv_tensors.is_rotated_bounding_format(boxes.format)
    corner_format = tv_tensors.BoundingBoxFormat.XYXYXYXY if rotated else tv_tensors.BoundingBoxFormat.XYXY
    plain = boxes.as_subclass(Tensor)
    corners = TF.convert_bounding_box_format(plain.to(torch.float32), old_format=boxes.format, new_format=corner_format)

    # Corner formats alternate x and y, so one (x, y) centre repeated covers every corner.
    height, width = boxes.canvas_size
    centre = torch.tensor([width / 2, height / 2], device=boxes.device).repeat(corners.shape[-1] // 2)
    scaled = (corners - centre) * factor + centre

    scaled = TF.convert_bounding_box_format(scaled, old_format=corner_format, new_format=boxes.format)
    scaled = TF.clamp_bounding_boxes(
        scaled, format=boxes.format, canvas_size=boxes.canvas_size, clamping_mode=boxes.clamping_mode
    )
    if not plain.dtype.is_floating_point:
        scaled = scaled.round()
    return scaled.to(plain.dtype)

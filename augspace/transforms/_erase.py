"""Erasing transforms: Cutout and RandomErasing, for images and feature maps alike."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .. import functional as AF
from .._validation import check_bool, check_fill, check_int, check_range, check_size
from ..functional._erase import is_random_fill, is_zero_fill, noise_in_boxes
from ..params import EraseParams
from ._base import Layout, RandomTransform

Fill = float | Sequence[float] | str


def side_in_pixels(side: int | float, length: int) -> int:
    """Return a hole side in pixels: an int as it is, a float as that fraction of ``length``, rounded half up."""
    if isinstance(side, int):
        return side
    return max(1, math.floor(side * length + 0.5))


class _EraseTransform(RandomTransform):
    """Shared parts of the erasing transforms: the fill, the optional noise draw and the kernel call."""

    #: Whether the kept pixels of each erased sample are divided by its kept fraction; see :class:`Cutout`.
    rescale = False

    def __init__(self, *, p: float, fill: Fill, inplace: bool, generator: torch.Generator | None) -> None:
        super().__init__(p=p, generator=generator)
        name = type(self).__name__
        self.fill = check_fill(name, fill)
        self.inplace = check_bool(name, "inplace", inplace)

    def replayable(self) -> bool:
        """Return whether a draw can be replayed on another grid: boxes can, per-pixel noise cannot."""
        return not is_random_fill(self.fill)

    def draw_noise(self, layout: Layout, boxes: Tensor, apply: Tensor) -> Tensor | None:
        """Draw the per-pixel float32 noise a random fill needs, or return ``None``.

        On the CPU, outside ``torch.compile``, only the boxes of the chosen samples are drawn (see
        :func:`~augspace.functional._erase.noise_in_boxes`). Elsewhere every pixel is drawn: a draw sized by the boxes
        would need their coordinates on the host, which costs a device sync.
        """
        if not is_random_fill(self.fill):
            return None
        draw = self.draw_uniform if self.fill == "uniform" else self.draw_normal
        if layout.device.type == "cpu" and not torch.compiler.is_compiling():
            return noise_in_boxes(layout.shape, boxes, apply, lambda shape: draw(shape, layout.device))
        return draw(layout.shape, layout.device)

    def apply_image(self, x: Tensor, params: EraseParams) -> Tensor:
        return AF.erase(
            x, params.boxes, params.apply, self.fill, noise=params.noise, inplace=self.inplace, rescale=self.rescale
        )


class Cutout(_EraseTransform):
    """Erase one or more fixed-size holes per sample, as in DeVries & Taylor (2017), "Improved Regularization of
    Convolutional Neural Networks with Cutout".

    Each hole's centre is drawn uniformly over all pixels, and the hole is clipped where it reaches past the border,
    so holes near the edge erase less (the expected erased fraction is below ``size**2 / (H * W)``). With
    ``inside=True`` the whole hole stays inside the image instead, its top-left corner uniform over the positions
    where it fits. Holes are independent and may overlap. A hole of ``h`` rows spans rows ``c - h // 2`` to
    ``c - h // 2 + h - 1`` around centre row ``c``, so odd sizes are exact (a 5-pixel hole is 5 pixels wide).

    Masks and bounding boxes in the same call are returned unchanged.

    Args:
        size: side of the square hole, or ``(height, width)``. An int is in pixels (cells on a feature map). A float
            in (0, 1] is a fraction of the shorter side, rounded half up to whole pixels (at least 1), so one setting
            means the same at 224x224 and at 7x7.
        holes: number of holes per sample.
        p: probability that each sample is erased, drawn independently per sample.
        fill: what erased pixels take: a number, a per-channel sequence, ``"normal"`` (per-pixel N(0, 1)),
            ``"uniform"`` (per-pixel U(0, 1)) or ``"mean"`` (the sample's own per-channel mean, which suits
            activations because they are not zero-centred). See :func:`augspace.functional.fill_value` for uint8.
        inside: keep every hole entirely inside the image instead of clipping it at the border.
        inplace: write into the input tensor instead of returning a new one.
        rescale: divide the pixels left in each erased sample by the fraction of the sample they make up, as dropout
            scales what it keeps, so the expected activation of the whole map is unchanged. The fraction is counted
            in float32, and a sample erased entirely comes out as 0. Needs ``fill=0``. Prefer it to ``fill="mean"``
            when the layers after this one should see the same expected activation as at evaluation time. Prefer
            ``fill="mean"`` when the values inside the hole should keep plausible statistics and the rest of the map
            its own scale.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range, or ``rescale`` is set with a fill other than 0.

    Example:
        >>> import torch, augspace as A
        >>> images = torch.ones(4, 3, 8, 8)
        >>> out = A.Cutout(size=4, generator=torch.Generator().manual_seed(0))(images)
        >>> out.shape, bool((out == 0).any())
        (torch.Size([4, 3, 8, 8]), True)
    """

    def __init__(
        self,
        size: int | float | tuple[int | float, int | float],
        *,
        holes: int = 1,
        p: float = 1.0,
        fill: Fill = 0.0,
        inside: bool = False,
        inplace: bool = False,
        rescale: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p=p, fill=fill, inplace=inplace, generator=generator)
        self.size = check_size("Cutout", "size", size)
        self.holes = check_int("Cutout", "holes", holes, minimum=1)
        self.inside = check_bool("Cutout", "inside", inside)
        self.rescale = check_bool("Cutout", "rescale", rescale)
        if self.rescale and not is_zero_fill(self.fill):
            raise ValueError(f"Cutout: rescale=True keeps the expected activation only with fill=0, got {fill!r}")

    def sample(self, layout: Layout) -> EraseParams:
        height, width = layout.height, layout.width
        shorter = min(height, width)
        hole_height = side_in_pixels(self.size[0], shorter)
        hole_width = side_in_pixels(self.size[1], shorter)
        if self.inside:
            hole_height, hole_width = min(hole_height, height), min(hole_width, width)

        uniform = self.draw_uniform((*layout.batch_shape, self.holes, 2), layout.device)
        if self.inside:
            top = _uniform_integer(uniform[..., 0], height - hole_height + 1)
            left = _uniform_integer(uniform[..., 1], width - hole_width + 1)
        else:
            top = _uniform_integer(uniform[..., 0], height) - hole_height // 2
            left = _uniform_integer(uniform[..., 1], width) - hole_width // 2

        boxes = _normalised_boxes(top, left, top + hole_height, left + hole_width, height, width)
        apply = self.draw_apply(layout.batch_shape, layout.device)
        return EraseParams(boxes=boxes, apply=apply, noise=self.draw_noise(layout, boxes, apply))


class RandomErasing(_EraseTransform):
    """Erase one box per sample whose area and aspect ratio are random, as in Zhong et al. (2017), "Random Erasing
    Data Augmentation".

    The area is a fraction of the image drawn uniformly from ``scale``; the aspect ratio, height / width, is drawn
    log-uniformly from ``ratio``. The box's height and width are rounded to whole pixels (at least 1) and it is
    placed uniformly among the positions where it lies entirely inside the image.

    When a drawn box does not fit (it is taller or wider than the image), the draw is repeated, up to 10 attempts
    in all, drawn at once for the whole batch. If none of them fits, the first attempt's box is shrunk to the
    largest box with its aspect ratio that fits, so a sample chosen by ``p`` is always erased, never silently
    skipped. Only such a shrunk box can have an area below ``scale``'s lower bound.

    Masks and bounding boxes in the same call are returned unchanged.

    Args:
        p: probability that each sample is erased, drawn independently per sample.
        scale: range of the erased area as a fraction of the image area, within (0, 1].
        ratio: range of the aspect ratio, height / width, of the erased box.
        fill: what erased pixels take: a number, a per-channel sequence, ``"normal"`` (per-pixel N(0, 1)),
            ``"uniform"`` (per-pixel U(0, 1)) or ``"mean"`` (the sample's own per-channel mean). See
            :func:`augspace.functional.fill_value` for uint8.
        inplace: write into the input tensor instead of returning a new one.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.

    Example:
        >>> import torch, augspace as A
        >>> erase = A.RandomErasing(p=1.0, generator=torch.Generator().manual_seed(0))
        >>> out = erase(torch.ones(2, 3, 32, 32))
        >>> bool(((out == 0).float().mean(dim=(1, 2, 3)) >= 0.02 * 0.8).all())
        True
    """

    #: Number of boxes drawn per sample before falling back to shrinking the first one.
    max_attempts = 10

    def __init__(
        self,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.33),
        ratio: tuple[float, float] = (0.3, 3.3),
        fill: Fill = 0.0,
        *,
        inplace: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p=p, fill=fill, inplace=inplace, generator=generator)
        self.scale = check_range("RandomErasing", "scale", scale, lower=0.0, upper=1.0, open_lower=True)
        self.ratio = check_range("RandomErasing", "ratio", ratio, lower=0.0, upper=math.inf, open_lower=True)

    def sample(self, layout: Layout) -> EraseParams:
        height, width = layout.height, layout.width
        batch_shape, device = layout.batch_shape, layout.device
        uniform = self.draw_uniform((*batch_shape, self.max_attempts, 2), device)

        area = (self.scale[0] + (self.scale[1] - self.scale[0]) * uniform[..., 0]) * (height * width)
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(log_low + (log_high - log_low) * uniform[..., 1])
        exact_height = torch.sqrt(area * aspect)
        exact_width = torch.sqrt(area / aspect)
        box_height = torch.round(exact_height).clamp_(min=1.0)
        box_width = torch.round(exact_width).clamp_(min=1.0)

        # The first attempt that fits; argmax returns the first maximum, and attempt 0 when none fits.
        fits = (box_height <= height) & (box_width <= width)
        chosen = fits.to(torch.uint8).argmax(dim=-1, keepdim=True)
        any_fits = fits.any(dim=-1)
        box_height = box_height.gather(-1, chosen).squeeze(-1)
        box_width = box_width.gather(-1, chosen).squeeze(-1)

        # Fallback: shrink attempt 0 by one factor on both sides until it fits, which keeps its aspect ratio.
        shrink = torch.minimum(height / exact_height[..., 0], width / exact_width[..., 0]).clamp_(max=1.0)
        shrunk_height = torch.floor(exact_height[..., 0] * shrink).clamp_(1.0, max(height, 1))
        shrunk_width = torch.floor(exact_width[..., 0] * shrink).clamp_(1.0, max(width, 1))
        box_height = torch.where(any_fits, box_height, shrunk_height)
        box_width = torch.where(any_fits, box_width, shrunk_width)

        position = self.draw_uniform((*batch_shape, 2), device)
        top = _uniform_integer(position[..., 0], height - box_height + 1)
        left = _uniform_integer(position[..., 1], width - box_width + 1)
        boxes = _normalised_boxes(top, left, top + box_height, left + box_width, height, width).unsqueeze(-2)
        apply = self.draw_apply(batch_shape, device)
        return EraseParams(boxes=boxes, apply=apply, noise=self.draw_noise(layout, boxes, apply))


def _uniform_integer(uniform: Tensor, count: int | Tensor) -> Tensor:
    """Map numbers uniform in [0, 1) to integers uniform in ``0 .. count - 1``, as float32."""
    return torch.floor(uniform * count).clamp_(min=0.0).minimum(torch.as_tensor(count, device=uniform.device) - 1.0)


def _normalised_boxes(top: Tensor, left: Tensor, bottom: Tensor, right: Tensor, height: int, width: int) -> Tensor:
    """Stack pixel box edges into ``(..., 4)`` boxes in normalised coordinates."""
    height, width = max(height, 1), max(width, 1)
    return torch.stack([top / height, left / width, bottom / height, right / width], dim=-1).to(torch.float32)

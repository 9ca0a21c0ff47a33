"""The base class of augspace's random transforms: per-sample draws, eval identity and input dispatch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import PIL.Image
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform
from torchvision.transforms.v2 import functional as TF

from .._random import RandomStreamMixin
from .._validation import check_probability

if TYPE_CHECKING:
    from ._share import SharedDraw

# PIL modes that convert to a uint8 tensor with one plane per band and back without loss.
_PIL_MODES = ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr")


@dataclass(frozen=True)
class Layout:
    """Shape, device and dtype of the input that parameters are drawn for.

    ``batch_shape`` gets one draw per index, ``inner_shape`` (channels, or frames and channels) shares it.
    """

    batch_shape: torch.Size
    inner_shape: torch.Size
    height: int
    width: int
    device: torch.device
    dtype: torch.dtype

    @property
    def shape(self) -> torch.Size:
        """Full shape of the input tensor."""
        return torch.Size((*self.batch_shape, *self.inner_shape, self.height, self.width))


def layout_of(owner: str, x: Any) -> Layout:
    """Return the layout of an image-like input: a PIL image, an ``Image``, a ``Video`` or a plain tensor."""
    if isinstance(x, PIL.Image.Image):
        width, height = x.size
        return Layout(torch.Size(), torch.Size((len(x.getbands()),)), height, width, torch.device("cpu"), torch.uint8)
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}: expected a PIL image or a tensor, got {type(x).__name__}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{owner}: expected a floating point or integer image tensor, got dtype {x.dtype}")
    per_draw = 4 if isinstance(x, tv_tensors.Video) else 3
    if x.ndim < per_draw:
        expected = "(..., T, C, H, W)" if per_draw == 4 else "(..., C, H, W)"
        raise ValueError(f"{owner}: expected a tensor of shape {expected}, got shape {tuple(x.shape)}")
    split = x.ndim - per_draw
    return Layout(x.shape[:split], x.shape[split:-2], x.shape[-2], x.shape[-1], x.device, x.dtype)


class RandomTransform(RandomStreamMixin, Transform):
    """Base of the random transforms: one independent draw per sample, and the identity in eval mode.

    A tensor of shape ``(..., C, H, W)`` is a batch whose every leading index gets its own draw, gated by ``p``
    independently. A ``Video`` of shape ``(..., T, C, H, W)`` shares each draw across its frames, and a PIL image is
    one sample. Subclasses implement :meth:`sample` and :meth:`apply_image`, and override :meth:`apply_mask`,
    :meth:`apply_boxes` and :meth:`apply_pil` where those inputs change.
    """

    def __init__(self, *, p: float, generator: torch.Generator | None) -> None:
        super().__init__()
        name = type(self).__name__
        self.p = check_probability(name, "p", p)
        self.set_generator(name, generator)

    def forward(self, *inputs: Any) -> Any:
        """Transform the inputs in training mode; in eval mode, return them unchanged (the same objects)."""
        if not self.training:
            return inputs if len(inputs) > 1 else inputs[0]
        return super().forward(*inputs)

    def forward_tensor(self, x: Tensor) -> Tensor:
        """Transform a plain ``(..., C, H, W)`` tensor, without the pytree dispatch of :meth:`forward`.

        This is the path feature-space hooks take: it runs under ``torch.compile`` without graph breaks.
        """
        if not self.training:
            return x
        return self.apply_image(x, self.sample(layout_of(type(self).__name__, x)))

    def replayable(self) -> bool:
        """Return whether a draw can be applied to a tensor of another height and width (see :meth:`share`)."""
        return False

    def share(self) -> SharedDraw:
        """Return a :class:`~augspace.transforms.SharedDraw` that applies this transform and keeps its draw for replay.

        Raises:
            TypeError: if the transform's draw depends on the grid it was drawn for.
        """
        from ._share import SharedDraw

        return SharedDraw(self)

    def make_params(self, flat_inputs: list[Any]) -> Any:
        """Draw parameters for the first image-like input; every other input in the call reuses them."""
        for item in flat_inputs:
            if not isinstance(item, (tv_tensors.Mask, tv_tensors.BoundingBoxes)):
                return self.sample(layout_of(type(self).__name__, item))
        raise TypeError(
            f"{type(self).__name__}: expected an image (a PIL image, a tensor, an Image or a Video) among the inputs, "
            f"got only {[type(item).__name__ for item in flat_inputs]}"
        )

    def transform(self, inpt: Any, params: Any) -> Any:
        """Dispatch one input to the method for its type."""
        if isinstance(inpt, PIL.Image.Image):
            return self.apply_pil(inpt, params)
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            return self.apply_boxes(inpt, params)
        if isinstance(inpt, tv_tensors.Mask):
            output = self.apply_mask(inpt, params)
            return output if isinstance(output, tv_tensors.Mask) else tv_tensors.wrap(output, like=inpt)
        if isinstance(inpt, (tv_tensors.Image, tv_tensors.Video)):
            layout_of(type(self).__name__, inpt)
            return tv_tensors.wrap(self.apply_image(inpt.as_subclass(Tensor), params), like=inpt)
        if isinstance(inpt, Tensor):
            layout_of(type(self).__name__, inpt)
            return self.apply_image(inpt, params)
        return inpt

    def sample(self, layout: Layout) -> Any:
        """Draw the parameters for an input of the given layout."""
        raise NotImplementedError

    def apply_image(self, x: Tensor, params: Any) -> Tensor:
        """Apply drawn parameters to an image tensor of shape ``(*B, ..., H, W)``."""
        raise NotImplementedError

    def apply_mask(self, mask: Tensor, params: Any) -> Tensor:
        """Apply drawn parameters to a segmentation ``Mask``; the default returns the mask itself, unchanged."""
        return mask

    def apply_boxes(self, boxes: tv_tensors.BoundingBoxes, params: Any) -> tv_tensors.BoundingBoxes:
        """Apply drawn parameters to bounding boxes; the default leaves them unchanged."""
        return boxes

    def apply_pil(self, image: PIL.Image.Image, params: Any) -> PIL.Image.Image:
        """Apply drawn parameters to a PIL image through a uint8 tensor, keeping the image mode."""
        if image.mode not in _PIL_MODES:
            raise TypeError(
                f"{type(self).__name__}: expected a PIL image in one of the modes {_PIL_MODES}, got mode {image.mode!r}"
            )
        tensor = TF.pil_to_tensor(image)
        return TF.to_pil_image(self.apply_image(tensor, params), mode=image.mode)

    def draw_apply(self, batch_shape: torch.Size, device: torch.device) -> Tensor:
        """Decide for each sample, independently with probability ``p``, whether it is transformed."""
        if self.p == 1.0:
            return torch.ones(batch_shape, dtype=torch.bool, device=device)
        return self.draw_uniform(batch_shape, device) < self.p

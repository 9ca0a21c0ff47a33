"""One draw of a transform applied in several places: at the input and again on a hidden layer's grid."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ._base import RandomTransform, layout_of


class SharedDraw(nn.Module):
    """Apply a transform to a batch and keep its draw, so :meth:`replay` can apply the same draw elsewhere.

    Calling it on a ``(N, C, H, W)`` batch draws new parameters, stores them in :attr:`params` and applies them, as
    the transform itself would. The module returned by :meth:`replay` applies the stored parameters to any tensor
    with the same leading dimensions, such as a hidden layer's ``(N, C', h, w)`` feature maps, for example through
    :class:`~augspace.FeatureTransform`. Boxes are stored as fractions of the height and width, so a replayed box
    covers the cells whose centres it covers on that layer's grid. This answers questions such as whether erasing
    a region at the input differs from erasing the same region in feature space.

    Use :meth:`RandomTransform.share` to build one. Only transforms whose parameters do not depend on the grid can
    be shared: Cutout and RandomErasing with a constant, per-channel or ``"mean"`` fill, the flips and
    RandomRescale.

    NOTE: the stored draw is a Python attribute that changes every step, so under ``torch.compile`` a replay
    recompiles or runs eagerly. Use it in eager mode.

    Args:
        transform: the transform whose draw is shared.

    Raises:
        TypeError: if ``transform`` cannot be replayed on another grid.

    Example:
        >>> import torch, augspace as A
        >>> shared = A.Cutout(size=0.5, generator=torch.Generator().manual_seed(0)).share()
        >>> images = shared(torch.ones(1, 3, 8, 8))  # erases rows 1 to 4 and columns 4 to 7
        >>> features = shared.replay()(torch.ones(1, 16, 4, 4))  # the same region at stride 2
        >>> (features == 0).all(dim=1).int()[0]
        tensor([[0, 0, 1, 1],
                [0, 0, 1, 1],
                [0, 0, 0, 0],
                [0, 0, 0, 0]], dtype=torch.int32)
    """

    def __init__(self, transform: RandomTransform) -> None:
        super().__init__()
        if not isinstance(transform, RandomTransform) or not transform.replayable():
            raise TypeError(
                f"SharedDraw: transform must be an augspace transform whose draw does not depend on the grid, got "
                f"{transform!r}. Random per-pixel fills ('normal', 'uniform') cannot be replayed on another grid."
            )
        self.transform = transform
        self.params: Any = None

    def forward(self, x: Tensor) -> Tensor:
        """Draw new parameters for ``x``, keep them, and apply them; in eval mode return ``x`` unchanged."""
        if not (self.training and self.transform.training):
            return x
        self.params = self.transform.sample(layout_of(type(self.transform).__name__, x))
        return self.transform.apply_image(x, self.params)

    def replay(self) -> Replay:
        """Return a module that applies the latest draw to the tensor it is called on."""
        return Replay(self)


class Replay(nn.Module):
    """Apply the latest draw of a :class:`SharedDraw` to another tensor with the same leading dimensions."""

    def __init__(self, shared: SharedDraw) -> None:
        super().__init__()
        # A plain attribute rather than a submodule, so the transform is not listed twice in state_dict.
        self.__dict__["shared"] = shared

    def forward(self, x: Tensor) -> Tensor:
        """Apply the stored draw to ``x``; return ``x`` unchanged when nothing was drawn or in eval mode."""
        shared = self.shared
        if shared.params is None or not (self.training and shared.training and shared.transform.training):
            return x
        return shared.transform.apply_image(x, shared.params)

"""Weight-space parametrizations: modules that map a layer's weight to the weight its forward pass uses.

Each one is an ``nn.Module`` whose ``forward`` takes the stored weight and returns a tensor of the same shape and
dtype, the form ``torch.nn.utils.parametrize`` expects. :class:`~augspace.WeightTransform` registers them on chosen
layers, and they also work on their own, called on any tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._random import RandomStreamMixin
from ._validation import check_probability, check_real


class WeightParametrization(nn.Module):
    """Base of augspace's weight parametrizations, with a hook that checks a layer before registration.

    :class:`~augspace.WeightTransform` calls :meth:`check_layer` on every ``WeightParametrization`` it is about to
    register, including those nested inside an ``nn.Sequential``, before it changes any layer. A subclass that
    only suits some layers or weight shapes overrides it and raises there, so a bad choice of layer fails with the
    layer's name and leaves the model untouched.
    """

    def check_layer(self, name: str, layer: nn.Module, weight: Tensor) -> None:
        """Raise ``ValueError`` if this parametrization does not suit ``weight`` of the layer called ``name``."""


class WeightStandardization(WeightParametrization):
    """Standardise a weight to zero mean and unit variance per output channel.

    Weight Standardization (Qiao et al., 2019, "Micro-Batch Training with Batch-Channel Normalization and Weight
    Standardization") replaces each output channel's weights ``W[i]`` by ``(W[i] - mean(W[i])) / sqrt(var(W[i]) +
    eps)``. The mean and the biased (population) variance are taken over all the other dimensions of the weight,
    which are the input channels and kernel positions of a convolution, or the input features of a linear layer. The
    statistics are computed in float32 (float64 for a float64 weight), and the result is cast back to the weight's
    dtype.

    It acts the same way in training and in eval mode. Gradients flow through the statistics to the stored weight.

    Shapes: a weight of shape ``(out_channels, ...)`` with at least two dimensions and at least two elements per
    output channel, as for ``nn.Linear`` and ``nn.Conv1d/2d/3d``. The weight of ``nn.ConvTranspose1d/2d/3d`` has the
    input channels first, so :meth:`check_layer` rejects those layers.

    Args:
        eps: added to the variance before the square root. It keeps a constant channel finite (it becomes zeros),
            and it shrinks the standardised variance to ``var / (var + eps)``, so it should stay well below the
            weights' variance (about ``1 / (3 * fan_in)`` for PyTorch's default initialisation of conv and linear
            layers).

    Raises:
        TypeError: if ``eps`` is not a real number (a bool included).
        ValueError: if ``eps`` is negative or not finite. At call time, if the weight has fewer than two dimensions
            or fewer than two elements per output channel.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> weight = torch.randn(4, 3, 3, 3) * 0.1 + 0.5
        >>> standardised = WeightStandardization()(weight)
        >>> bool(standardised.mean(dim=(1, 2, 3)).abs().max() < 1e-5)
        True
        >>> bool((standardised.var(dim=(1, 2, 3), correction=0) - 1).abs().max() < 1e-3)
        True
    """

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = check_real("WeightStandardization", "eps", eps)
        if self.eps < 0:
            raise ValueError(f"WeightStandardization: eps must be at least 0, got {eps!r}")

    def forward(self, weight: Tensor) -> Tensor:
        """Return the weight standardised per output channel, in the weight's dtype."""
        _check_weight_shape(weight)
        statistics_dtype = torch.promote_types(weight.dtype, torch.float32)
        values = weight.to(statistics_dtype).reshape(1, weight.shape[0], -1)

        # batch_norm in training mode normalises each channel of (1, C, L) by its mean and biased variance in one
        # fused kernel. On a 512x512x3x3 weight, its forward and backward took about a fifth of the time of var_mean
        # and elementwise ops (torch 2.14, 2 CPU cores).
        standardised = nn.functional.batch_norm(values, None, None, training=True, momentum=0.0, eps=self.eps)
        return standardised.reshape(weight.shape).to(weight.dtype)

    def check_layer(self, name: str, layer: nn.Module, weight: Tensor) -> None:
        """Raise ``ValueError`` for a transposed convolution or a weight of an unsuitable shape."""
        if isinstance(layer, nn.modules.conv._ConvTransposeNd):
            raise ValueError(
                f"WeightStandardization: layer {name!r} is a {type(layer).__name__}, whose weight has the input "
                "channels first, so per-output-channel statistics do not apply. Select Linear and ConvNd layers."
            )
        try:
            _check_weight_shape(weight)
        except ValueError as error:
            raise ValueError(f"{error} (layer {name!r})") from None

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class DropConnect(RandomStreamMixin, WeightParametrization):
    """Drop individual weights at random in training, and rescale the kept ones.

    DropConnect (Wan et al., 2013, "Regularization of Neural Networks using DropConnect") sets each weight to zero
    independently with probability ``p`` and divides the kept weights by ``1 - p``, so the expected weight is the
    stored one. A new mask is drawn at every call, which is once per forward pass for a layer that reads its weight
    once. In eval mode it returns the weight itself. With ``p = 1`` every weight is zero, and with ``p = 0`` the
    weight is returned unchanged, with no draw.

    This simplifies the paper in three ways. One mask serves the whole batch, where the paper draws one per sample
    at the cost of a copy of the weight per sample. Inference uses the stored weights, which are the mean of the
    rescaled masked weights, where the paper samples from a Gaussian approximation of each unit's input. The paper
    also masks the biases, which a second ``WeightTransform`` with ``tensor_name="bias"`` does here.

    Randomness comes from ``generator`` when given, and otherwise from torch's global generator, so
    ``torch.manual_seed`` reproduces the masks. The mask is drawn on the weight's device, or on the generator's
    device and then moved to the weight's.

    Args:
        p: probability of dropping each weight, in [0, 1].
        generator: a ``torch.Generator`` for the masks, or ``None`` for torch's global generator.

    Raises:
        TypeError: if ``p`` is not a real number (a bool included) or ``generator`` is not a ``torch.Generator``.
        ValueError: if ``p`` is outside [0, 1].

    Example:
        >>> import torch
        >>> weight = torch.ones(2, 4)
        >>> DropConnect(0.5, generator=torch.Generator().manual_seed(0))(weight)
        tensor([[0., 2., 0., 0.],
                [0., 2., 0., 2.]])
        >>> DropConnect(0.5).eval()(weight) is weight
        True
    """

    def __init__(self, p: float, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability("DropConnect", "p", p)
        self.set_generator("DropConnect", generator)

    def forward(self, weight: Tensor) -> Tensor:
        """Return the weight with a fresh random mask applied in training mode, or the weight itself in eval mode."""
        if not self.training or self.p == 0.0:
            return weight

        keep = self.draw_uniform(weight.shape, weight.device) >= self.p
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        return weight * keep * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


class WeightNoise(RandomStreamMixin, WeightParametrization):
    """Add Gaussian noise to a weight in training.

    Each call adds independent noise drawn from ``N(0, std**2)`` to every weight, a new draw at every call, so the
    expected weight is the stored one. ``std`` is absolute, in the units of the weight, so one value suits layers
    whose weights have similar scales. In eval mode, and for ``std = 0``, it returns the weight itself.

    Randomness comes from ``generator`` when given, and otherwise from torch's global generator. The noise is drawn
    in float32 on the weight's device (or on the generator's, then moved), and cast to the weight's dtype.

    Args:
        std: standard deviation of the noise, at least 0.
        generator: a ``torch.Generator`` for the noise, or ``None`` for torch's global generator.

    Raises:
        TypeError: if ``std`` is not a real number (a bool included) or ``generator`` is not a ``torch.Generator``.
        ValueError: if ``std`` is negative or not finite.

    Example:
        >>> import torch
        >>> noisy = WeightNoise(0.1, generator=torch.Generator().manual_seed(0))(torch.zeros(10_000))
        >>> round(noisy.std().item(), 2)
        0.1
    """

    def __init__(self, std: float, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.std = check_real("WeightNoise", "std", std)
        if self.std < 0:
            raise ValueError(f"WeightNoise: std must be at least 0, got {std!r}")
        self.set_generator("WeightNoise", generator)

    def forward(self, weight: Tensor) -> Tensor:
        """Return the weight plus fresh Gaussian noise in training mode, or the weight itself in eval mode."""
        if not self.training or self.std == 0.0:
            return weight

        noise = self.draw_normal(weight.shape, weight.device)
        return weight + (noise * self.std).to(weight.dtype)

    def extra_repr(self) -> str:
        return f"std={self.std}"


def _check_weight_shape(weight: Tensor) -> None:
    """Raise ``ValueError`` unless ``weight`` has at least two dimensions and two elements per output channel."""
    if weight.ndim < 2 or weight[0].numel() < 2:
        raise ValueError(
            "WeightStandardization: expected a weight of shape (out_channels, ...) with at least 2 dimensions and "
            f"at least 2 elements per output channel, got shape {tuple(weight.shape)}"
        )

"""Pictures of transforms for notebooks and the ``preview`` command: grids of draws and views of feature maps.

The functions come in two layers. :func:`transform_grid` and :func:`feature_grid` take a transform and an image and
return a finished picture. Underneath, :func:`draw_samples`, :func:`capture_features`, :func:`changed_fraction` and
:func:`zeroed_fraction` compute on tensors, and :func:`render_draws`, :func:`render_feature_maps` and :func:`stack`
lay tensors out as PIL images, labelled with PIL's default font. Only :func:`show`, which puts a picture into a
matplotlib figure with a title, needs matplotlib, and it imports matplotlib when called.

Images are PIL images or tensors of shape ``(C, H, W)``, or ``(B, C, H, W)`` for a batch, either uint8 or floating
point with values in [0, 1]. Float values outside [0, 1], such as a ``fill="normal"``, are clipped for display only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal

import PIL.Image
import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from ._layout import (
    GAP,
    LABEL_WIDTH,
    LINE_HEIGHT,
    MARGIN,
    ImageInput,
    as_image_tensor,
    render_draws,
    render_feature_maps,
    stack,
)
from .feature import select_layers
from .transforms import RandomTransform

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "GAP",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LABEL_WIDTH",
    "LINE_HEIGHT",
    "MARGIN",
    "capture_features",
    "changed_fraction",
    "draw_samples",
    "feature_grid",
    "render_draws",
    "render_feature_maps",
    "show",
    "stack",
    "to_model_input",
    "transform_grid",
    "zeroed_fraction",
]

#: Per-channel mean and standard deviation of ImageNet, which torchvision's pretrained models expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def draw_samples(transform: Callable[[Tensor], Tensor], x: ImageInput, *, samples: int = 4, seed: int = 0) -> Tensor:
    """Apply a transform ``samples`` times to the same input and stack the outputs.

    An augspace :class:`~augspace.RandomTransform` is called once on ``samples`` copies stacked along a new first
    dimension, so each copy gets its own draw from its per-sample randomness. Any other transform, such as a
    torchvision v2 transform, is called once per sample. Draws from torch's global generator are seeded with ``seed``
    inside :func:`torch.random.fork_rng`, so the same seed gives the same draws and the caller's random state is left
    as it was. A transform with its own ``generator`` draws from that generator instead. A transform in eval mode
    returns its input unchanged, so every draw equals ``x``.

    Args:
        transform: a shape-preserving transform that takes a tensor, in training mode.
        x: a PIL image, or a tensor of shape ``(..., C, H, W)``. A PIL image is converted to a uint8 tensor.
        samples: number of draws.
        seed: seed of torch's global generator for the draws.

    Returns:
        A tensor of shape ``(samples, *x.shape)`` with the input's dtype.

    Raises:
        TypeError: if ``x`` is neither a PIL image nor a tensor, ``samples`` is not an int, or the transform returns
            something other than a tensor.
        ValueError: if ``samples`` is below 1 or the transform changes the shape of its input.

    Example:
        >>> import torch, augspace as A
        >>> draws = draw_samples(A.Cutout(size=0.5), torch.ones(3, 8, 8), samples=2, seed=0)
        >>> draws.shape, bool((draws[0] != draws[1]).any())
        (torch.Size([2, 3, 8, 8]), True)
    """
    x = as_image_tensor("draw_samples", x)
    if isinstance(samples, bool) or not isinstance(samples, int):
        raise TypeError(f"draw_samples: samples must be an int, got {samples!r}")
    if samples < 1:
        raise ValueError(f"draw_samples: samples must be at least 1, got {samples!r}")

    with _seeded(seed, x.device):
        if isinstance(transform, RandomTransform):
            draws = _check_draw(transform, transform(x.unsqueeze(0).repeat(samples, *([1] * x.ndim))), x, batched=True)
        else:
            draws = torch.stack([_check_draw(transform, transform(x.clone()), x) for _ in range(samples)])
    return draws


def capture_features(model: nn.Module, layer: str, x: Tensor) -> Tensor:
    """Run ``model`` on ``x`` and return the output of one layer, without gradients.

    The model runs in eval mode, so batch norm uses its running statistics and updates nothing, and dropout is off.
    The training flag of every module is restored afterwards. ``x`` is moved to the device of the model's first
    parameter and is otherwise passed as it is: normalise it as the model expects.

    Args:
        model: the model to run.
        layer: the name of the layer, or a glob pattern that picks exactly one layer, as in
            :func:`augspace.feature.select_layers`.
        x: the model's input, usually a batch of shape ``(N, C, H, W)``.

    Returns:
        The layer's output, detached.

    Raises:
        ValueError: if ``layer`` picks no layer or more than one (the message lists close matches of a name), or the
            layer does not run in the forward pass.
        TypeError: if the layer's output is not a tensor.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        >>> capture_features(model, "1", torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 4, 6, 6])
    """
    picked = select_layers(model, layer)
    if len(picked) != 1:
        names = [name for name, _ in picked]
        raise ValueError(f"capture_features: layer {layer!r} must pick exactly one layer, got {len(picked)}: {names}")
    name, module = picked[0]

    captured: list[object] = []
    handle = module.register_forward_hook(lambda _module, _args, output: captured.append(output))
    modes = {submodule: submodule.training for submodule in model.modules()}
    parameter = next(model.parameters(), None)
    try:
        model.eval()
        with torch.no_grad():
            model(x if parameter is None else x.to(parameter.device))
    finally:
        handle.remove()
        for submodule, training in modes.items():
            submodule.training = training

    if not captured:
        raise ValueError(f"capture_features: layer {name!r} did not run in the forward pass of {type(model).__name__}")
    output = captured[0]
    if not isinstance(output, Tensor):
        raise TypeError(f"capture_features: layer {name!r} returned a {type(output).__name__}, expected a tensor")
    return output.detach()


def changed_fraction(before: Tensor, after: Tensor, *, per: Literal["element", "pixel"] = "element") -> float:
    """Measure the fraction of elements or pixels that a transform changed, averaged over all draws.

    An element counts as changed when its value differs at all, so a rescaled activation counts as much as an erased
    one. With ``per="pixel"`` a position ``(h, w)`` counts as changed when any of its channels changed.

    Args:
        before: the input, of shape ``(..., C, H, W)``.
        after: the outputs, of a shape that ``before`` broadcasts to, such as the result of :func:`draw_samples`.
        per: ``"element"`` counts every value, ``"pixel"`` every spatial position (channel dimension ``-3``).

    Returns:
        The changed fraction, in [0, 1].

    Example:
        >>> import torch
        >>> changed_fraction(torch.ones(3, 2, 2), torch.tensor([[[0.0, 1.0], [1.0, 1.0]]] * 3), per="pixel")
        0.25
    """
    changed = _broadcast(before, after) != after
    if per == "pixel":
        changed = changed.any(dim=-3)
    return float(changed.float().mean())


def zeroed_fraction(before: Tensor, after: Tensor, *, per: Literal["element", "pixel"] = "element") -> float:
    """Measure the fraction of non-zero elements or pixels that a transform set to zero, averaged over all draws.

    Elements that were already zero are left out of the count, because zeroing them changes nothing. After a ReLU
    about half of the activations are zero, so this fraction estimates the drop rate of a dropout-like transform,
    where :func:`changed_fraction` would also count the rescaled survivors. With ``per="pixel"`` a pixel is non-zero
    when any channel is, and zeroed when all its channels become zero.

    Args:
        before: the input, of shape ``(..., C, H, W)``.
        after: the outputs, of a shape that ``before`` broadcasts to.
        per: ``"element"`` counts every value, ``"pixel"`` every spatial position (channel dimension ``-3``).

    Returns:
        The zeroed fraction in [0, 1], or 0.0 when ``before`` is zero everywhere.

    Example:
        >>> import torch
        >>> zeroed_fraction(torch.tensor([0.0, 1.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 4.0, 6.0]))
        0.3333333432674408
    """
    nonzero = _broadcast(before, after) != 0
    is_zero = after == 0
    if per == "pixel":
        nonzero, is_zero = nonzero.any(dim=-3), is_zero.all(dim=-3)
    count = nonzero.sum()
    return float((nonzero & is_zero).sum() / count.clamp(min=1))


def transform_grid(
    transform: Callable[[Tensor], Tensor],
    images: ImageInput,
    *,
    samples: int = 4,
    seed: int = 0,
    tile_size: int = 128,
    title: str | None = None,
) -> PIL.Image.Image:
    """Draw a transform several times on an image or a batch and lay the draws out as a grid.

    This is :func:`draw_samples` followed by :func:`render_draws`. The title defaults to the transform's ``repr``.

    Args:
        transform: a shape-preserving transform that takes a tensor, in training mode.
        images: a PIL image, or a uint8 or float tensor of shape ``(C, H, W)`` or ``(B, C, H, W)``.
        samples: number of draws, one column each.
        seed: seed of torch's global generator for the draws.
        tile_size: width of each tile in pixels.
        title: a line of text above the grid.

    Returns:
        An RGB image with one row per image and the original in the first column.

    Example:
        >>> import torch, augspace as A
        >>> grid = transform_grid(A.Cutout(size=0.3), torch.rand(3, 32, 32), samples=3, tile_size=32)
        >>> grid.size == (2 * MARGIN + LABEL_WIDTH + 4 * 32 + 3 * GAP, 2 * MARGIN + 2 * LINE_HEIGHT + 32)
        True
    """
    x = as_image_tensor("transform_grid", images)
    draws = draw_samples(transform, x, samples=samples, seed=seed)
    return render_draws(x, draws, tile_size=tile_size, title=repr(transform) if title is None else title)


def feature_grid(
    model: nn.Module,
    layer: str,
    transform: Callable[[Tensor], Tensor],
    image: ImageInput,
    *,
    samples: int = 4,
    channels: int | Sequence[int] = 3,
    seed: int = 0,
    tile_size: int = 128,
    title: str | None = None,
) -> PIL.Image.Image:
    """Draw a transform several times on one layer's feature maps of an image and lay the draws out as a grid.

    The draws are what a :class:`~augspace.FeatureTransform` hooked on that layer would do to its output.

    The image is scaled to [0, 1] and normalised with :data:`IMAGENET_MEAN` and :data:`IMAGENET_STD`, as
    torchvision's models expect, and the layer's output is captured with :func:`capture_features`. The transform is
    then drawn ``samples`` times on that output and laid out with :func:`render_feature_maps`. For another
    normalisation, call those functions directly.

    Args:
        model: the model, such as ``torchvision.models.resnet18()``.
        layer: the name of the layer whose output is transformed.
        transform: a shape-preserving transform that takes a tensor, in training mode.
        image: one RGB image: a PIL image, or a uint8 or float tensor of shape ``(3, H, W)``.
        samples: number of draws, one column each.
        channels: the number of channels to show, or their indices.
        seed: seed of torch's global generator for the draws.
        tile_size: width of each tile in pixels.
        title: a line of text above the grid; it defaults to the layer name, the maps' shape and the transform.

    Returns:
        An RGB image with one row per channel shown and a last row for the mean over channels.

    Raises:
        ValueError: if ``image`` is not a single image or the layer's output is not of shape ``(1, C, H, W)``.

    Example:
        >>> import torch, augspace as A
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        >>> grid = feature_grid(model, "1", A.Cutout(size=0.5), torch.rand(3, 16, 16), samples=2, tile_size=32)
        >>> grid.height == 2 * MARGIN + 2 * LINE_HEIGHT + 4 * 32 + 3 * GAP
        True
    """
    features = capture_features(model, layer, to_model_input(image)).cpu()
    if features.ndim != 4 or features.shape[0] != 1:
        raise ValueError(
            f"feature_grid: layer {layer!r} returned shape {tuple(features.shape)}, expected feature maps of shape "
            "(1, C, H, W). Pick a convolutional layer"
        )

    draws = draw_samples(transform, features[0], samples=samples, seed=seed)
    if title is None:
        title = f"{layer} {'x'.join(map(str, features.shape[1:]))}: {transform!r}"
    return render_feature_maps(features[0], draws, channels=channels, tile_size=tile_size, title=title)


def to_model_input(image: ImageInput) -> Tensor:
    """Turn one RGB image into a normalised float32 batch of shape ``(1, 3, H, W)`` for a torchvision model.

    A uint8 image is scaled to [0, 1] and a float image is taken to be in [0, 1]; both are then normalised with
    :data:`IMAGENET_MEAN` and :data:`IMAGENET_STD`.

    Raises:
        ValueError: if ``image`` is not of shape ``(3, H, W)``.
    """
    x = as_image_tensor("to_model_input", image)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"to_model_input: expected one RGB image of shape (3, H, W), got shape {tuple(x.shape)}")
    x = TF.to_dtype(x, torch.float32, scale=True)
    return TF.normalize(x, list(IMAGENET_MEAN), list(IMAGENET_STD)).unsqueeze(0)


def show(picture: PIL.Image.Image, *, title: str | None = None, dpi: int = 100) -> Figure:
    """Put a picture into a matplotlib figure of the picture's size, with an optional title and no axis ticks.

    Args:
        picture: a picture from this module, or any PIL image.
        title: the figure's title.
        dpi: dots per inch; the figure is ``picture.size / dpi`` inches, so one pixel is one dot.

    Returns:
        A ``matplotlib.figure.Figure``, which a notebook displays and ``savefig`` writes.

    Raises:
        ModuleNotFoundError: if matplotlib is not installed (``pip install augspace[examples]`` installs it).
    """
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "show needs matplotlib, which augspace does not require: pip install matplotlib", name=error.name
        ) from error

    extra = 0.3 if title else 0.0
    figure = Figure(figsize=(picture.width / dpi, picture.height / dpi + extra), dpi=dpi)
    axes = figure.add_axes((0.0, 0.0, 1.0, picture.height / (picture.height + extra * dpi)))
    axes.imshow(picture)
    axes.set_axis_off()
    if title:
        figure.suptitle(title)
    return figure


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators inside a fork of the random state, restored on exit."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _check_draw(transform: object, output: object, x: Tensor, *, batched: bool = False) -> Tensor:
    """Return a transform's output if it is a tensor of the input's shape, with a leading draw dimension if batched."""
    if not isinstance(output, Tensor):
        raise TypeError(
            f"draw_samples: {type(transform).__name__} returned {type(output).__name__}, expected a tensor. "
            "Transforms that also need labels, such as mixing transforms, need a batch and labels of their own."
        )
    shape = output.shape[1:] if batched else output.shape
    if shape != x.shape:
        raise ValueError(
            f"draw_samples: {type(transform).__name__} turned an input of shape {tuple(x.shape)} into shape "
            f"{tuple(shape)}, but the draws are compared with the input, so the shape must stay the same"
        )
    return output


def _broadcast(before: Tensor, after: Tensor) -> Tensor:
    """Return ``before`` on ``after``'s device, broadcast to its shape."""
    return before.to(after.device).expand_as(after)

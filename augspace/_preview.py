"""The ``preview`` command: draw transforms on a photo and on a layer's feature maps, and measure what they change.

Transform specs are parsed with :mod:`ast` and never evaluated: a spec is the name of a public augspace transform,
optionally called with keyword arguments whose values are Python literals, such as ``"Cutout(size=0.3, holes=2)"``.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL.Image
import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from . import viz
from .transforms import RandomTransform

#: The photo used when no image is given: astronaut Eileen Collins, a public-domain NASA photo (see data/README.md).
DEFAULT_IMAGE = Path(__file__).parent / "data" / "astronaut.jpg"

# Arguments that make each transform visible on a single photo; a public transform missing here is built with its
# defaults. Flips keep p=0.5 so that some draws show the image unflipped.
_PRESETS = {
    "Cutout": "size=0.3",
    "RandomErasing": "p=1.0",
    "RandomHorizontalFlip": "p=0.5",
    "RandomVerticalFlip": "p=0.5",
    "RandomRescale": "",
    "PixelDropout": "p=0.2",
    "Dropout": "p=0.2",
    "SpatialDropout": "p=0.2",
    "DropBlock": "drop_prob=0.15, block_size=0.15",
}

# Mixing transforms blend different samples of a batch and mix their labels, so one image has nothing to show.
_BATCH_ONLY = ("MixUp", "CutMix", "ManifoldMixup")

_SPEC_FORM = "a transform name, optionally called with literal keyword arguments, such as 'Cutout(size=0.3, holes=2)'"


class PreviewError(Exception):
    """An invalid argument or input of the command, reported as a usage error without a traceback."""


@dataclass(frozen=True)
class Statistics:
    """Measured fractions, averaged over the draws of one transform; the unit fractions are ``None`` without a model."""

    spec: str
    pixels_changed: float
    pixels_zeroed: float
    units_changed: float | None = None
    units_zeroed: float | None = None


def transform_names() -> list[str]:
    """Return the names of the transforms a spec may use: the concrete transform classes in ``augspace.__all__``.

    Mixing transforms are left out, because they need a batch of different images and their labels.
    """
    import augspace

    names = []
    for name in augspace.__all__:
        value = getattr(augspace, name)
        is_transform = inspect.isclass(value) and issubclass(value, RandomTransform) and value is not RandomTransform
        if is_transform and name not in _BATCH_ONLY:
            names.append(name)
    return names


def default_specs() -> list[str]:
    """Return one spec per public transform, with the arguments of ``_PRESETS`` where it has some, in its order."""
    names = transform_names()
    ordered = [name for name in _PRESETS if name in names] + [name for name in names if name not in _PRESETS]
    return [f"{name}({_PRESETS.get(name, '')})" for name in ordered]


def parse_spec(spec: str) -> tuple[type[nn.Module], dict[str, Any]]:
    """Parse a spec such as ``"Cutout(size=0.3)"`` into a transform class and its keyword arguments, without eval.

    The spec must be a bare name or a call of a name with keyword arguments only, and each value must be a Python
    literal (a number, string, bool, ``None``, or a tuple or list of them), as :func:`ast.literal_eval` accepts.

    Raises:
        PreviewError: if the spec is not of that form or names no public transform; the message lists what is accepted.
    """
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError) as error:
        raise PreviewError(f"invalid transform {spec!r}: expected {_SPEC_FORM} ({error})") from None

    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name, call = node.func.id, node
    elif isinstance(node, ast.Name):
        name, call = node.id, None
    elif isinstance(node, ast.Call):
        raise PreviewError(
            f"invalid transform {spec!r}: only a transform name may be called, got {ast.unparse(node.func)!r}. "
            f"Expected {_SPEC_FORM}"
        )
    else:
        raise PreviewError(
            f"invalid transform {spec!r}: {ast.unparse(node)!r} is neither a name nor a call. Expected {_SPEC_FORM}"
        )

    if name in _BATCH_ONLY:
        raise PreviewError(
            f"{name} in {spec!r} mixes the images of a batch and their labels, so it has nothing to show on one image. "
            "examples/gallery.py draws it on a batch"
        )
    names = transform_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise PreviewError(f"unknown transform {name!r} in {spec!r}.{hint} Accepted names: {', '.join(names)}")

    import augspace

    return getattr(augspace, name), {} if call is None else _literal_keywords(spec, call)


def _literal_keywords(spec: str, call: ast.Call) -> dict[str, Any]:
    """Return the keyword arguments of a parsed call, each value a literal."""
    if call.args:
        raise PreviewError(
            f"invalid transform {spec!r}: positional arguments are not accepted; pass every argument by keyword, such "
            "as 'Cutout(size=0.3)'"
        )
    keywords = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise PreviewError(f"invalid transform {spec!r}: '**' unpacking is not accepted; write each keyword out")
        try:
            keywords[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            raise PreviewError(
                f"invalid transform {spec!r}: the value of {keyword.arg!r}, {ast.unparse(keyword.value)}, is not a "
                "literal. Accepted values are numbers, strings, True, False, None, and tuples or lists of them"
            ) from None
    return keywords


def build_transform(spec: str) -> nn.Module:
    """Parse a spec and construct its transform, in training mode.

    Raises:
        PreviewError: if the spec is invalid or the transform rejects its arguments.
    """
    cls, keywords = parse_spec(spec)
    try:
        return cls(**keywords)
    except (TypeError, ValueError) as error:
        raise PreviewError(f"cannot build {spec!r}: {error}") from None


def load_image(path: str | Path | None, image_size: int) -> Tensor:
    """Read an image file as a uint8 RGB tensor of shape ``(3, H, W)``, resized so its shorter side is ``image_size``.

    Args:
        path: the image file; ``None`` reads :data:`DEFAULT_IMAGE`.
        image_size: the length of the shorter side after resizing, in pixels; 0 keeps the image's size.

    Raises:
        PreviewError: if the file is missing or is not an image PIL can read; the message names the path.
    """
    path = DEFAULT_IMAGE if path is None else Path(path)
    try:
        with PIL.Image.open(path) as opened:
            image = opened.convert("RGB")
    except FileNotFoundError:
        raise PreviewError(f"image not found: {path}") from None
    except (OSError, PIL.Image.DecompressionBombError) as error:
        raise PreviewError(f"cannot read the image {path}: {error}") from None

    if image_size > 0:
        scale = image_size / min(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, PIL.Image.Resampling.LANCZOS)
    return TF.pil_to_tensor(image)


def build_model(name: str, weights: str | Path | None, *, seed: int) -> nn.Module:
    """Build a torchvision model with random weights drawn from ``seed``, or with a state dict loaded from a file.

    Nothing is downloaded: ``torchvision.models.get_model(name, weights=None)`` builds the architecture only.

    Raises:
        PreviewError: if the model name is unknown, or the weights file cannot be read or does not fit the model.
    """
    import torchvision.models

    names = torchvision.models.list_models()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5)
        hint = f"Close matches: {', '.join(close)}" if close else "See torchvision.models.list_models() for the names"
        raise PreviewError(f"unknown torchvision model {name!r}. {hint}")

    torch.manual_seed(seed)
    model = torchvision.models.get_model(name, weights=None)
    if weights is not None:
        try:
            state_dict = torch.load(weights, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, pickle.UnpicklingError) as error:
            raise PreviewError(f"cannot read the weights file {weights}: {error}") from None
        if not isinstance(state_dict, dict):
            raise PreviewError(
                f"the weights file {weights} contains a {type(state_dict).__name__}, expected a state dict"
            )
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as error:
            raise PreviewError(f"the weights in {weights} do not fit {name}: {error}") from None
    return model.eval()


def layer_features(model: nn.Module, model_name: str, layer: str, image: Tensor) -> Tensor:
    """Return one layer's feature maps of an image, of shape ``(C, H, W)``.

    Raises:
        PreviewError: if the layer is not found (with close matches), the model fails on the image, or the layer's
            output is not a stack of feature maps.
    """
    try:
        features = viz.capture_features(model, layer, viz.to_model_input(image))
    except (ValueError, TypeError) as error:
        raise PreviewError(str(error)) from None
    except RuntimeError as error:
        shape = "x".join(map(str, image.shape))
        raise PreviewError(f"{model_name} failed on a {shape} image: {error}. Try another --image-size") from None

    if features.ndim != 4 or features.shape[0] != 1:
        raise PreviewError(
            f"layer {layer!r} of {model_name} returned shape {tuple(features.shape)}, but the preview shows feature "
            "maps of shape (1, C, H, W). Pick a convolutional layer, such as layer2 of a ResNet"
        )
    return features[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the ``preview`` command to ``parser``."""
    parser.add_argument(
        "image", nargs="?", help="image file to transform (default: the photo that ships with augspace)"
    )
    parser.add_argument(
        "--transform",
        action="append",
        metavar="SPEC",
        help="transform to draw, such as 'Cutout(size=0.3, holes=2)': an augspace transform name with literal keyword "
        f"arguments; repeat the option for several. Names: {', '.join(transform_names())} (default: each of them with "
        "preset arguments)",
    )

    parser.add_argument("--model", metavar="NAME", help="torchvision model whose layer to show, such as resnet18")
    parser.add_argument("--layer", metavar="NAME", help="name of the layer whose feature maps to show, such as layer2")
    parser.add_argument(
        "--weights", metavar="PATH", help="local state dict file for --model (default: random weights from --seed)"
    )

    parser.add_argument("--samples", type=int, default=4, metavar="N", help="draws per transform (default: 4)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the draws and weights (default: 0)")
    parser.add_argument(
        "--channels", type=int, default=3, metavar="N", help="feature maps shown besides their mean (default: 3)"
    )

    parser.add_argument(
        "--image-size",
        type=int,
        default=256,
        metavar="PIXELS",
        help="resize the image so that its shorter side has this length; 0 keeps its size (default: 256)",
    )
    parser.add_argument(
        "--tile-size", type=int, default=128, metavar="PIXELS", help="width of each tile in the picture (default: 128)"
    )
    parser.add_argument(
        "-o", "--output", default="preview.png", metavar="OUT.png", help="picture to write (default: preview.png)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the ``preview`` command: write the picture and print the measured fractions.

    Raises:
        PreviewError: for an invalid option, spec, image, model, layer or output path.
    """
    _check_options(args)
    notes: list[str] = []
    transforms = _build_transforms(args.transform, notes)

    image = load_image(args.image, args.image_size)
    features = None
    if args.model is not None:
        model = build_model(args.model, args.weights, seed=args.seed)
        features = layer_features(model, args.model, args.layer, image)

    blocks, statistics = [], []
    for spec, transform in transforms:
        try:
            block, measured = _preview_transform(spec, transform, image, features, args)
        except (TypeError, ValueError, RuntimeError) as error:
            if args.transform is not None:
                raise PreviewError(f"{spec} failed: {error}") from None
            notes.append(f"skipped {spec}: {error}")
            continue
        blocks.append(block)
        statistics.append(measured)
    if not blocks:
        raise PreviewError("no transform could be drawn: " + "; ".join(notes))

    picture = viz.stack(blocks, rule=True)
    try:
        picture.save(args.output, format="PNG")
    except (OSError, ValueError) as error:
        raise PreviewError(f"cannot write {args.output}: {error}") from None

    print("\n".join([*notes, format_statistics(statistics, args.layer, args.samples, args.seed)]))
    print(f"wrote {args.output} ({picture.width}x{picture.height} pixels)")
    return 0


def format_statistics(statistics: Sequence[Statistics], layer: str | None, samples: int, seed: int) -> str:
    """Format the measured fractions as a table, one transform per line."""
    headers = ["transform", "pixels changed", "pixels zeroed"]
    if layer is not None:
        headers += [f"{layer} units changed", f"{layer} units zeroed"]
    rows = []
    for item in statistics:
        values = [item.pixels_changed, item.pixels_zeroed, item.units_changed, item.units_zeroed]
        rows.append([item.spec, *(f"{100 * value:.1f}%" for value in values[: len(headers) - 1])])

    widths = [max(len(row[column]) for row in [headers, *rows]) for column in range(len(headers))]
    lines = [
        f"mean fractions over {samples} draws (seed {seed}). 'changed' counts any change of value, rescaling included.",
        "'zeroed' counts the non-zero pixels or units that became zero, out of all non-zero ones; a pixel is zero when "
        "all its channels are.",
    ]
    for row in [headers, *rows]:
        cells = [row[0].ljust(widths[0])] + [text.rjust(width) for text, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _build_transforms(specs: list[str] | None, notes: list[str]) -> list[tuple[str, nn.Module]]:
    """Build the given specs, or the default ones when ``specs`` is ``None``; a default that fails becomes a note."""
    transforms = []
    for spec in default_specs() if specs is None else specs:
        try:
            transforms.append((spec, build_transform(spec)))
        except PreviewError as error:
            if specs is not None:
                raise
            notes.append(f"skipped {spec}: {error}")
    return transforms


def _check_options(args: argparse.Namespace) -> None:
    """Raise ``PreviewError`` for options out of range or used without their partner."""
    if (args.model is None) != (args.layer is None):
        raise PreviewError("--model and --layer go together: give both to show feature maps, or neither")
    if args.weights is not None and args.model is None:
        raise PreviewError("--weights needs --model and --layer")
    for option, value, minimum in [
        ("--samples", args.samples, 1),
        ("--channels", args.channels, 0),
        ("--image-size", args.image_size, 0),
        ("--tile-size", args.tile_size, 16),
    ]:
        if value < minimum:
            raise PreviewError(f"{option} must be at least {minimum}, got {value}")


def _preview_transform(
    spec: str, transform: nn.Module, image: Tensor, features: Tensor | None, args: argparse.Namespace
) -> tuple[PIL.Image.Image, Statistics]:
    """Draw one transform on the image and, when given, on the feature maps; return its picture and fractions."""
    draws = viz.draw_samples(transform, image, samples=args.samples, seed=args.seed)
    pixels_changed = viz.changed_fraction(image, draws, per="pixel")
    pixels_zeroed = viz.zeroed_fraction(image, draws, per="pixel")
    title = f"{spec}: pixels {100 * pixels_changed:.1f}% changed, {100 * pixels_zeroed:.1f}% zeroed"
    if features is None:
        block = viz.render_draws(image, draws, tile_size=args.tile_size, title=title)
        return block, Statistics(spec, pixels_changed, pixels_zeroed)

    feature_draws = viz.draw_samples(transform, features, samples=args.samples, seed=args.seed)
    units_changed = viz.changed_fraction(features, feature_draws)
    units_zeroed = viz.zeroed_fraction(features, feature_draws)
    shape = "x".join(map(str, features.shape))
    feature_title = (
        f"{args.layer} ({shape}): units {100 * units_changed:.1f}% changed, {100 * units_zeroed:.1f}% zeroed; "
        "colours span the original's range"
    )
    block = viz.stack(
        [
            viz.render_draws(image, draws, tile_size=args.tile_size, title=title),
            viz.render_feature_maps(
                features,
                feature_draws,
                channels=args.channels,
                tile_size=args.tile_size,
                title=feature_title,
                compact=True,
            ),
        ]
    )
    return block, Statistics(spec, pixels_changed, pixels_zeroed, units_changed, units_zeroed)

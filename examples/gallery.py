"""Regenerate the gallery: one picture per family of transforms, in input space and feature space side by side.

Each picture has one row per transform. On the left, the photo that ships with augspace (astronaut Eileen Collins,
a public-domain NASA photo) and a few draws of the transform on it. On the right, the same number of draws of the
same transform on the feature maps of ``layer2`` of a torchvision ResNet-18 with random weights, which are 128 maps
of 32x32 for the 256x256 photo. Each of those tiles is a mosaic of the three most varied channels and the mean over
all channels.

Families: erasing (Cutout, RandomErasing), geometry (flips, RandomRescale), and, where this version of augspace has
them, dropout (PixelDropout, Dropout, SpatialDropout, DropBlock) and mixing (MixUp, CutMix). Mixing needs a batch:
it mixes the four quadrants of the photo, each enlarged to 256x256, and shows the first of them. A transform this
version lacks is skipped, and so is a family left empty.

Run it from the repository root, after ``pip install -e .[examples]``::

    python examples/gallery.py                      # writes docs/gallery/*.png in a few seconds
    python examples/gallery.py --out /tmp/gallery --samples 4 --seed 1

The pictures are the same, byte for byte, for the same seed and the same versions of torch, torchvision and Pillow.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont
import torch
import torchvision
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF
from tqdm import tqdm

import augspace as A
from augspace import viz

#: The layer whose feature maps are shown.
LAYER = "layer2"

#: Each family's transforms as (class name, keyword arguments). Names missing from augspace are skipped.
FAMILIES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "erasing": [
        ("Cutout", {"size": 0.3}),
        ("Cutout", {"size": 0.15, "holes": 4, "fill": "mean"}),
        ("RandomErasing", {"p": 1.0}),
    ],
    "geometry": [
        ("RandomHorizontalFlip", {"p": 0.5}),
        ("RandomVerticalFlip", {"p": 0.5}),
        ("RandomRescale", {"scale_factor": (0.6, 1.6)}),
    ],
    "dropout": [
        ("PixelDropout", {"p": 0.2}),
        ("Dropout", {"p": 0.2}),
        ("SpatialDropout", {"p": 0.2}),
        ("DropBlock", {"drop_prob": 0.15, "block_size": 0.15}),
    ],
    "mixing": [
        ("MixUp", {"alpha": 1.0, "num_classes": 4}),
        ("CutMix", {"alpha": 1.0, "num_classes": 4}),
    ],
}

#: Families whose transforms take a batch and its labels.
BATCH_FAMILIES = {"mixing"}


@dataclass
class Scene:
    """The photo, a batch made from it, and their ``LAYER`` feature maps."""

    image: Tensor
    batch: Tensor
    features: Tensor
    batch_features: Tensor


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/gallery"), help="folder for the PNG files")
    parser.add_argument("--samples", type=int, default=3, help="draws per transform (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws and of the model's weights (default: 0)")
    parser.add_argument("--tile-size", type=int, default=128, help="width of each tile in pixels (default: 128)")
    return parser.parse_args()


def make_scene(model: nn.Module) -> Scene:
    """Load the shipped photo, cut it into a batch of four enlarged quadrants, and capture their feature maps."""
    with PIL.Image.open(Path(A.__file__).parent / "data" / "astronaut.jpg") as photo:
        image = TF.pil_to_tensor(photo.convert("RGB"))
    height, width = image.shape[-2:]
    quadrants = [
        image[:, top : top + height // 2, left : left + width // 2]
        for top in (0, height // 2)
        for left in (0, width // 2)
    ]
    batch = torch.stack([TF.resize(quadrant, [height, width], antialias=True) for quadrant in quadrants])

    def normalise(x: Tensor) -> Tensor:
        return TF.normalize(TF.to_dtype(x, torch.float32, scale=True), list(viz.IMAGENET_MEAN), list(viz.IMAGENET_STD))

    features = viz.capture_features(model, LAYER, normalise(image.unsqueeze(0)))[0]
    batch_features = viz.capture_features(model, LAYER, normalise(batch))
    return Scene(image, batch, features, batch_features)


def available(family: str) -> list[tuple[str, nn.Module]]:
    """Build the family's transforms that this version of augspace has, each labelled by its call."""
    built = []
    for name, arguments in FAMILIES[family]:
        cls = getattr(A, name, None)
        if cls is None:
            continue
        label = f"{name}({', '.join(f'{key}={value!r}' for key, value in arguments.items())})"
        built.append((label, cls(**arguments)))
    return built


def draw_mixing(transform: Callable[..., Any], batch: Tensor, samples: int, seed: int) -> Tensor:
    """Draw a mixing transform ``samples`` times on a batch with labels 0..N-1, and keep the mixed first sample."""
    labels = torch.arange(batch.shape[0])
    draws = []
    for index in range(samples):
        torch.manual_seed(seed + index)
        mixed, _ = transform(batch, labels)
        draws.append(mixed[0])
    return torch.stack(draws)


def transform_row(
    label: str, transform: nn.Module, scene: Scene, batch_mode: bool, args: argparse.Namespace
) -> PIL.Image.Image:
    """Render one transform in both spaces, side by side."""
    if batch_mode:
        image, features = scene.batch[0], scene.batch_features[0]
        image_draws = draw_mixing(transform, scene.batch, args.samples, args.seed)
        feature_draws = draw_mixing(transform, scene.batch_features, args.samples, args.seed)
    else:
        image, features = scene.image, scene.features
        image_draws = viz.draw_samples(transform, image, samples=args.samples, seed=args.seed)
        feature_draws = viz.draw_samples(transform, features, samples=args.samples, seed=args.seed)

    input_space = viz.render_draws(image, image_draws, tile_size=args.tile_size, title=f"input space: {label}")
    feature_space = viz.render_feature_maps(
        features, feature_draws, tile_size=args.tile_size, title=f"feature space, {LAYER}: {label}", compact=True
    )
    return viz.stack([input_space, feature_space], direction="horizontal", rule=True)


def banner(text: str, width: int) -> PIL.Image.Image:
    """Draw one line of text on a white strip, to head a picture."""
    strip = PIL.Image.new("RGB", (width, 28), "white")
    PIL.ImageDraw.Draw(strip).text((8, 8), text, fill="black", font=PIL.ImageFont.load_default(size=14))
    return strip


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    model = torchvision.models.resnet18(weights=None).eval()
    scene = make_scene(model)

    families = [(family, available(family)) for family in FAMILIES]
    for family, transforms in tqdm([item for item in families if item[1]], desc="families", unit="picture"):
        rows = [transform_row(label, t, scene, family in BATCH_FAMILIES, args) for label, t in transforms]
        body = viz.stack(rows, rule=True)
        note = "the first of four photo quadrants, mixed with the others" if family in BATCH_FAMILIES else "one photo"
        heading = (
            f"{family}: {args.samples} draws (seed {args.seed}) on {note}; right, ResNet-18 {LAYER} with random "
            "weights: 3 channels and the mean"
        )
        viz.stack([banner(heading, body.width), body]).save(args.out / f"{family}.png")

    skipped = [family for family, transforms in families if not transforms]
    print(f"wrote {len(families) - len(skipped)} pictures to {args.out}" + (f"; skipped {skipped}" if skipped else ""))


if __name__ == "__main__":
    main()

"""The benchmark cases: one operation each, with augspace's transforms and the comparison libraries on one input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

import augspace

from .anchors import (
    PER_BATCH,
    PER_SAMPLE,
    Builder,
    Contender,
    Op,
    albumentations_loop,
    anchor,
    kornia_augmentation,
    timm_erasing,
    torchvision_v2,
)

IMAGES = (64, 3, 224, 224)
FEATURES = (128, 256, 28, 28)
QUICK_IMAGES = (8, 3, 32, 32)
QUICK_FEATURES = (8, 16, 8, 8)
LOOP = ", Python loop"


@dataclass(frozen=True)
class Case:
    """One operation timed on one input.

    Attributes:
        key: the name ``--only`` selects.
        title: what the case measures, as shown above its table.
        shape: input shape in the full run.
        quick_shape: input shape in ``--quick`` runs.
        dtype: input dtype.
        contenders: augspace first, then the comparison libraries.
        target: the ratio to ``x.clone()`` augspace should reach, as text, or ``""``.
    """

    key: str
    title: str
    shape: tuple[int, ...]
    quick_shape: tuple[int, ...]
    dtype: torch.dtype
    contenders: tuple[Contender, ...]
    target: str = ""

    def make_input(self, device: torch.device, quick: bool) -> Tensor:
        """Build the case's input from a fixed seed: uniform in [0, 1) for floats, 0..255 for uint8."""
        generator = torch.Generator().manual_seed(0)
        shape = self.quick_shape if quick else self.shape
        if self.dtype == torch.uint8:
            x = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
        else:
            x = torch.rand(shape, generator=generator).to(self.dtype)
        return x.to(device)


def ours(class_name: str, *, mixing: bool = False, **arguments: Any) -> Contender:
    """Describe an augspace transform on the whole batch, skipped with a note while augspace lacks the class.

    A mixing transform is called with integer labels next to the batch.
    """
    transform_class = getattr(augspace, class_name, None)
    if transform_class is None:
        return Contender(
            f"augspace {class_name}", PER_SAMPLE, None, f"augspace {augspace.__version__} has no {class_name}"
        )
    label = ", ".join(f"{key}={value!r}" for key, value in arguments.items())

    def build(x: Tensor) -> Op:
        transform = transform_class(**arguments).to(x.device)
        if mixing:
            labels = torch.arange(x.shape[0], device=x.device) % 10
            return lambda: transform(x, labels)
        return lambda: transform(x)

    return Contender(f"augspace {class_name}({label})", PER_SAMPLE, build)


def timm_mixup(**arguments: Any) -> Callable[[Any], Builder]:
    """timm's Mixup with ``mode="elem"``: a lambda per sample, mixed in place with the reversed batch."""

    def make(timm: Any) -> Builder:
        from timm.data import Mixup

        def build(x: Tensor) -> Op:
            mix = Mixup(mode="elem", num_classes=10, label_smoothing=0.0, **arguments)
            labels = torch.arange(x.shape[0], device=x.device) % 10
            return lambda: mix(x, labels)

        return build

    return make


def torchvision_mixing(class_name: str) -> Callable[[Any], Builder]:
    """torchvision's v2 MixUp or CutMix, which draws one lambda (and one box) for the whole batch."""

    def make(torchvision: Any) -> Builder:
        from torchvision.transforms import v2

        transform = getattr(v2, class_name)(num_classes=10)

        def build(x: Tensor) -> Op:
            labels = torch.arange(x.shape[0], device=x.device) % 10
            return lambda: transform(x, labels)

        return build

    return make


def module_on_batch(layer: torch.nn.Module) -> Builder:
    """Wrap a module from an optional library, in training mode, called on the whole batch."""
    layer.train()
    return lambda x: lambda: layer.to(x.device)(x)


def _constant_erasing(uint8: bool = False) -> tuple[Contender, ...]:
    contenders = (
        ours("RandomErasing", p=1.0),
        ours("Cutout", size=0.5),
        anchor(
            "torchvision",
            "torchvision v2 RandomErasing(p=1)",
            PER_SAMPLE + LOOP,
            torchvision_v2("RandomErasing", p=1.0, value=0),
        ),
        anchor(
            "timm",
            "timm RandomErasing(probability=1) on a clone",
            PER_SAMPLE + LOOP + ", in place",
            timm_erasing(out_of_place=True, probability=1.0, mode="const"),
        ),
        anchor(
            "albumentations",
            "albumentations Erasing(p=1)",
            PER_SAMPLE + LOOP + ", NumPy HWC",
            lambda album: albumentations_loop(album.Erasing(p=1.0)),
        ),
    )
    if uint8:
        return contenders
    kornia = anchor("kornia", "kornia RandomErasing(p=1)", PER_SAMPLE, kornia_augmentation("RandomErasing", p=1.0))
    return (*contenders[:2], kornia, *contenders[2:])


def _erasing_cases() -> list[Case]:
    return [
        Case(
            "erase",
            "erase a box per sample, constant fill, images float32",
            IMAGES,
            QUICK_IMAGES,
            torch.float32,
            _constant_erasing(),
            "1.3",
        ),
        Case(
            "erase-uint8",
            "erase a box per sample, constant fill, images uint8",
            IMAGES,
            QUICK_IMAGES,
            torch.uint8,
            _constant_erasing(uint8=True),
        ),
        Case(
            "erase-features",
            "erase a box per sample, constant fill, features float32",
            FEATURES,
            QUICK_FEATURES,
            torch.float32,
            _constant_erasing()[:4],
            "1.1",
        ),
        Case(
            "erase-features-bf16",
            "erase a box per sample, constant fill, features bfloat16",
            FEATURES,
            QUICK_FEATURES,
            torch.bfloat16,
            (ours("RandomErasing", p=1.0), ours("Cutout", size=0.5)),
        ),
        Case(
            "erase-inplace",
            "erase a box per sample in place, constant fill, images float32",
            IMAGES,
            QUICK_IMAGES,
            torch.float32,
            (
                ours("RandomErasing", p=1.0, inplace=True),
                ours("Cutout", size=0.5, inplace=True),
                anchor(
                    "timm",
                    "timm RandomErasing(probability=1)",
                    PER_SAMPLE + LOOP + ", in place",
                    timm_erasing(out_of_place=False, probability=1.0, mode="const"),
                ),
                anchor(
                    "torchvision",
                    "torchvision v2 RandomErasing(p=1, inplace=True)",
                    PER_SAMPLE + LOOP,
                    torchvision_v2("RandomErasing", in_place=True, p=1.0, value=0, inplace=True),
                ),
            ),
            "2x timm",
        ),
        Case(
            "erase-normal",
            "erase a box per sample, per-pixel normal fill, out of place, images float32",
            IMAGES,
            QUICK_IMAGES,
            torch.float32,
            (
                ours("RandomErasing", p=1.0, fill="normal"),
                anchor(
                    "timm",
                    "timm RandomErasing(mode='pixel') on a clone",
                    PER_SAMPLE + LOOP + ", in place",
                    timm_erasing(out_of_place=True, probability=1.0, mode="pixel"),
                ),
                anchor(
                    "torchvision",
                    "torchvision v2 RandomErasing(value='random')",
                    PER_SAMPLE + LOOP,
                    torchvision_v2("RandomErasing", p=1.0, value="random"),
                ),
            ),
            "2.0",
        ),
    ]


def _flip_cases() -> list[Case]:
    def contenders() -> tuple[Contender, ...]:
        return (
            ours("RandomHorizontalFlip", p=0.5),
            anchor(
                "torchvision",
                "torchvision v2 RandomHorizontalFlip(p=0.5)",
                PER_SAMPLE + LOOP,
                torchvision_v2("RandomHorizontalFlip", p=0.5),
            ),
            anchor(
                "kornia",
                "kornia RandomHorizontalFlip(p=0.5)",
                PER_SAMPLE,
                kornia_augmentation("RandomHorizontalFlip", p=0.5),
            ),
            anchor(
                "albumentations",
                "albumentations HorizontalFlip(p=0.5)",
                PER_SAMPLE + LOOP + ", NumPy HWC",
                lambda album: albumentations_loop(album.HorizontalFlip(p=0.5)),
            ),
        )

    return [
        Case(
            "hflip",
            "horizontal flip per sample, images float32",
            IMAGES,
            QUICK_IMAGES,
            torch.float32,
            contenders(),
            "1.4",
        ),
        Case(
            "hflip-uint8",
            "horizontal flip per sample, images uint8",
            IMAGES,
            QUICK_IMAGES,
            torch.uint8,
            (contenders()[0], contenders()[1], contenders()[3]),
        ),
        Case(
            "hflip-features",
            "horizontal flip per sample, features float32",
            FEATURES,
            QUICK_FEATURES,
            torch.float32,
            contenders()[:3],
        ),
    ]


def _rescale_cases() -> list[Case]:
    def contenders(dtype: torch.dtype) -> tuple[Contender, ...]:
        kornia = anchor(
            "kornia",
            "kornia RandomAffine(degrees=0, scale=(0.8, 1.25))",
            PER_SAMPLE,
            kornia_augmentation("RandomAffine", degrees=0.0, scale=(0.8, 1.25), p=1.0),
        )
        torchvision = anchor(
            "torchvision",
            "torchvision v2 RandomAffine(degrees=0, scale=(0.8, 1.25))",
            PER_SAMPLE + LOOP,
            torchvision_v2("RandomAffine", degrees=0.0, scale=(0.8, 1.25)),
        )
        return (ours("RandomRescale", scale_factor=(0.8, 1.25)), kornia, torchvision)

    return [
        Case(
            "rescale",
            "rescale per sample, same output size, bilinear, images float32",
            IMAGES,
            QUICK_IMAGES,
            torch.float32,
            contenders(torch.float32),
            "2.0",
        ),
        Case(
            "rescale-bf16",
            "rescale per sample, same output size, bilinear, images bfloat16",
            IMAGES,
            QUICK_IMAGES,
            torch.bfloat16,
            contenders(torch.bfloat16),
            "4.0",
        ),
        Case(
            "rescale-features",
            "rescale per sample, same output size, bilinear, features float32",
            FEATURES,
            QUICK_FEATURES,
            torch.float32,
            contenders(torch.float32)[:2],
        ),
    ]


def _timm_dropblock(couple_channels: bool) -> Callable[[Any], Builder]:
    def make(timm: Any) -> Builder:
        from timm.layers import DropBlock2d

        return module_on_batch(DropBlock2d(drop_prob=0.1, block_size=7, couple_channels=couple_channels))

    return make


def _torchvision_dropblock(torchvision: Any) -> Builder:
    from torchvision.ops import DropBlock2d

    return module_on_batch(DropBlock2d(p=0.1, block_size=7))


def _dropblock_cases() -> list[Case]:
    shared_mask = ", one mask for all channels"
    per_channel = (
        ours("DropBlock", drop_prob=0.1, block_size=7),
        anchor("timm", "timm DropBlock2d(couple_channels=False)", PER_SAMPLE, _timm_dropblock(False)),
        anchor("torchvision", "torchvision.ops.DropBlock2d", PER_SAMPLE, _torchvision_dropblock),
    )
    shared = (
        ours("DropBlock", drop_prob=0.1, block_size=7, per_channel=False),
        anchor(
            "dropblock",
            "dropblock DropBlock2D",
            PER_SAMPLE + shared_mask,
            lambda dropblock: module_on_batch(dropblock.DropBlock2D(drop_prob=0.1, block_size=7)),
        ),
        anchor("timm", "timm DropBlock2d(couple_channels=True)", PER_SAMPLE + shared_mask, _timm_dropblock(True)),
    )
    return [
        Case(
            "dropblock",
            "DropBlock per channel, block 7, features float32",
            FEATURES,
            QUICK_FEATURES,
            torch.float32,
            per_channel,
            "2.0",
        ),
        Case(
            "dropblock-shared",
            "DropBlock with one mask for all channels, block 7, features float32",
            FEATURES,
            QUICK_FEATURES,
            torch.float32,
            shared,
            "1.2",
        ),
    ]


def _mixing_cases() -> list[Case]:
    return [
        Case(
            "mixup",
            "MixUp per sample, images float32",
            IMAGES,
            QUICK_IMAGES,
            torch.float32,
            (
                ours("MixUp", mixing=True, alpha=1.0, num_classes=10, per_sample=True),
                anchor(
                    "timm",
                    "timm Mixup(mode='elem', mixup_alpha=1)",
                    PER_SAMPLE + ", in place",
                    timm_mixup(mixup_alpha=1.0, cutmix_alpha=0.0),
                ),
                anchor("torchvision", "torchvision v2 MixUp", PER_BATCH, torchvision_mixing("MixUp")),
            ),
            "1.5",
        ),
        Case(
            "cutmix",
            "CutMix per sample, images float32",
            IMAGES,
            QUICK_IMAGES,
            torch.float32,
            (
                ours("CutMix", mixing=True, alpha=1.0, num_classes=10, per_sample=True),
                anchor(
                    "timm",
                    "timm Mixup(mode='elem', cutmix_alpha=1)",
                    PER_SAMPLE + ", in place",
                    timm_mixup(mixup_alpha=0.0, cutmix_alpha=1.0),
                ),
                anchor("torchvision", "torchvision v2 CutMix", PER_BATCH, torchvision_mixing("CutMix")),
            ),
            "1.7",
        ),
    ]


def all_cases() -> list[Case]:
    """Return every case, in the order of the tables."""
    return [*_erasing_cases(), *_flip_cases(), *_rescale_cases(), *_dropblock_cases(), *_mixing_cases()]

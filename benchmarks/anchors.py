"""The comparison libraries, each optional: a missing one is reported as skipped, with the reason.

Every builder takes the input tensor and returns a closure that runs the op once. Libraries that transform one image
at a time get a Python loop over the batch, which is how their users apply them to a batch. Each contender records
whether it draws its randomness per sample or once per batch, so a table never compares unlike work.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

Op = Callable[[], object]
Builder = Callable[[Tensor], Op]

PER_SAMPLE = "per sample"
PER_BATCH = "per batch"


@dataclass(frozen=True)
class Contender:
    """One implementation of a case's operation.

    Attributes:
        name: library and class, as shown in the tables.
        draws: ``"per sample"`` or ``"per batch"``, with a note on how it runs, such as a Python loop.
        build: returns the op closed over its input, or ``None`` when the contender is unavailable.
        note: why the contender is skipped, or a remark shown next to its figure.
    """

    name: str
    draws: str
    build: Builder | None
    note: str = ""


def optional_module(name: str) -> ModuleType:
    """Import an optional library, silencing the warnings some of them print on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def anchor(module_name: str, name: str, draws: str, make: Callable[[ModuleType], Builder], note: str = "") -> Contender:
    """Describe a contender from an optional library, skipped with a note when the library is not installed.

    The library is imported only when the contender is built, so listing the cases stays fast.
    """
    if importlib.util.find_spec(module_name) is None:
        return Contender(name, draws, None, f"{module_name} is not installed")
    return Contender(name, draws, lambda x: make(optional_module(module_name))(x), note)


def loop_and_stack(transform: Callable[[Tensor], Tensor]) -> Builder:
    """Apply a one-image transform to each sample of a batch in a Python loop, then stack the results."""

    def build(x: Tensor) -> Op:
        return lambda: torch.stack([transform(sample) for sample in x])

    return build


def loop_in_place(transform: Callable[[Tensor], Any]) -> Builder:
    """Apply a one-image, in-place transform to each sample of a batch in a Python loop."""

    def build(x: Tensor) -> Op:
        def run() -> Tensor:
            for sample in x:
                transform(sample)
            return x

        return run

    return build


def albumentations_loop(transform: Callable[..., dict]) -> Builder:
    """Apply an albumentations transform to each sample, given as an ``(H, W, C)`` NumPy array prepared in advance."""

    def build(x: Tensor) -> Op:
        images = [sample.permute(1, 2, 0).contiguous().numpy() for sample in x.cpu()]
        return lambda: [transform(image=image)["image"] for image in images]

    return build


def timm_erasing(*, out_of_place: bool, **arguments: Any) -> Callable[[ModuleType], Builder]:
    """timm's RandomErasing, which loops over the batch in Python and writes only the boxes, in place.

    With ``out_of_place`` it runs on a fresh clone of the batch, which is what an out-of-place erase costs with it.
    """

    def make(timm: ModuleType) -> Builder:
        from timm.data.random_erasing import RandomErasing

        def build(x: Tensor) -> Op:
            erase = RandomErasing(device=str(x.device), **arguments)
            return (lambda: erase(x.clone())) if out_of_place else (lambda: erase(x))

        return build

    return make


def torchvision_v2(class_name: str, *, in_place: bool = False, **arguments: Any) -> Callable[[ModuleType], Builder]:
    """Wrap a torchvision v2 transform: applied to each sample in a loop, then stacked unless it works in place."""

    def make(module: ModuleType) -> Builder:
        from torchvision.transforms import v2

        transform = getattr(v2, class_name)(**arguments)
        return loop_in_place(transform) if in_place else loop_and_stack(transform)

    return make


def kornia_augmentation(class_name: str, **arguments: Any) -> Callable[[ModuleType], Builder]:
    """Wrap a kornia augmentation, applied to the whole batch; kornia draws per sample."""

    def make(kornia: ModuleType) -> Builder:
        import kornia.augmentation

        transform = getattr(kornia.augmentation, class_name)(**arguments)
        return lambda x: lambda: transform(x)

    return make

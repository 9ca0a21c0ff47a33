"""Tests of the public API: exports, docstrings and signatures."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

import augspace as A


def documented_arguments(docstring: str) -> list[str]:
    """Names listed in the ``Args:`` section of a Google-style docstring."""
    lines = inspect.cleandoc(docstring).splitlines()
    if "Args:" not in lines:
        return []
    names = []
    for line in lines[lines.index("Args:") + 1 :]:
        if line and not line.startswith(" "):
            break
        match = re.match(r"^    (\w+):", line)
        if match:
            names.append(match.group(1))
    return names


def public_classes() -> list[type]:
    return [getattr(A, name) for name in A.__all__ if inspect.isclass(getattr(A, name))]


def public_transforms() -> list[type]:
    return [cls for cls in public_classes() if issubclass(cls, A.RandomTransform) and cls is not A.RandomTransform]


def test_all_names_exist() -> None:
    for name in A.__all__:
        assert hasattr(A, name), name


def test_version_is_a_string() -> None:
    assert re.match(r"^\d+\.\d+\.\d+", A.__version__)


@pytest.mark.parametrize("cls", public_transforms(), ids=lambda cls: cls.__name__)
def test_docstring_args_match_signature(cls: type) -> None:
    parameters = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    assert documented_arguments(cls.__doc__ or "") == parameters


@pytest.mark.parametrize("cls", public_transforms(), ids=lambda cls: cls.__name__)
def test_transform_is_torchvision_v2_transform(cls: type) -> None:
    from torchvision.transforms.v2 import Transform

    assert issubclass(cls, Transform)
    assert issubclass(cls, torch.nn.Module)


@pytest.mark.parametrize("cls", public_transforms(), ids=lambda cls: cls.__name__)
def test_generator_is_keyword_only(cls: type) -> None:
    parameter = inspect.signature(cls.__init__).parameters["generator"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is None


SINGLE_INPUT_TRANSFORMS = [
    lambda: A.Cutout(size=3, holes=2, fill="normal"),
    lambda: A.RandomErasing(p=0.7, fill=(0.1, 0.2, 0.3)),
    lambda: A.RandomHorizontalFlip(),
    lambda: A.RandomRescale(),
    lambda: A.DropBlock(drop_prob=0.2, block_size=3),
    lambda: A.PixelDropout(p=0.3),
]


@pytest.mark.parametrize("make", SINGLE_INPUT_TRANSFORMS)
def test_plain_tensor_matches_image(make: object) -> None:
    # A plain tensor and an Image of the same pixels draw and apply alike, and each keeps its type.
    from torchvision import tv_tensors

    x = torch.rand(5, 3, 12, 14)
    torch.manual_seed(3)
    plain = make()(x)
    torch.manual_seed(3)
    image = make()(tv_tensors.Image(x))
    assert type(plain) is torch.Tensor
    assert isinstance(image, tv_tensors.Image)
    assert torch.equal(plain, image.as_subclass(torch.Tensor))

"""Reusable checks of the contract every augspace transform keeps."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import PIL.Image
import torch
from torch import nn
from torchvision import tv_tensors
from torchvision.transforms import v2

from augspace.transforms import RandomTransform


def select_sample(params: Any, index: int) -> Any:
    """Return the params of one sample of a batch of shape ``(N,)``."""
    changes = {}
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if isinstance(value, torch.Tensor):
            changes[field.name] = value[index]
    return dataclasses.replace(params, **changes)


def run_seeded(transform: nn.Module, image: Any, seed: int) -> Any:
    """Run ``transform`` on ``image`` after seeding torch's global generator."""
    torch.manual_seed(seed)
    return transform(image)


def check_no_mutation(transform: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Assert the transform neither writes into ``x`` nor changes its values, and keeps dtype, device and shape."""
    before = x.clone()
    version = x._version
    output = transform(x)
    assert x._version == version, "the input tensor was written to"
    assert torch.equal(x, before), "the input values changed"
    assert output.dtype == x.dtype
    assert output.device == x.device
    assert output.shape == x.shape
    return output


def check_memory_format(transform: nn.Module, x: torch.Tensor) -> None:
    """Assert a channels_last input gives a channels_last output."""
    channels_last = x.contiguous(memory_format=torch.channels_last)
    output = transform(channels_last)
    assert output.is_contiguous(memory_format=torch.channels_last)


def check_batched_equals_per_sample(transform: RandomTransform, x: torch.Tensor) -> None:
    """Assert that applying a batch's params equals applying each sample's params to that sample alone."""
    params = transform.make_params([x])
    batched = transform.transform(x, params)
    for index in range(x.shape[0]):
        single = transform.transform(x[index], select_sample(params, index))
        assert torch.equal(batched[index], single), f"sample {index} differs between batched and single application"


def check_pickle(transform: nn.Module, x: torch.Tensor) -> None:
    """Assert a pickled and restored transform gives the same output for the same seed."""
    restored = pickle.loads(pickle.dumps(transform))
    assert torch.equal(run_seeded(transform, x, 7), run_seeded(restored, x, 7))


def check_eval_identity(transform: nn.Module, x: torch.Tensor) -> None:
    """Assert that in eval mode the transform returns its input object itself."""
    transform.eval()
    try:
        assert transform(x) is x
    finally:
        transform.train()


def check_wrappers(transform: nn.Module, x: torch.Tensor) -> None:
    """Assert tv_tensors keep their type, PIL images their mode and size, and both Compose versions accept it."""
    image = tv_tensors.Image(x[0])
    assert isinstance(transform(image), tv_tensors.Image)
    video = tv_tensors.Video(x[:2].unsqueeze(0))
    assert isinstance(transform(video), tv_tensors.Video)

    pil = v2.functional.to_pil_image(x[0])
    pil_output = transform(pil)
    assert isinstance(pil_output, PIL.Image.Image)
    assert pil_output.mode == pil.mode
    assert pil_output.size == pil.size

    assert v2.Compose([transform])(x).shape == x.shape
    from torchvision.transforms import Compose

    assert Compose([transform])(x).shape == x.shape


def check_transform(transform: RandomTransform, x: torch.Tensor) -> None:
    """Run every contract check on a float batch ``x`` of shape ``(N, 3, H, W)`` with values in [0, 1]."""
    check_no_mutation(transform, x)
    check_memory_format(transform, x)
    check_batched_equals_per_sample(transform, x)
    check_pickle(transform, x)
    check_eval_identity(transform, x)
    check_wrappers(transform, x)
    for dtype in (torch.uint8, torch.float16, torch.bfloat16, torch.float64):
        cast = (x * 255).round().to(dtype) if dtype == torch.uint8 else x.to(dtype)
        check_no_mutation(transform, cast)
    empty = transform(x[:0])
    assert empty.shape == x[:0].shape

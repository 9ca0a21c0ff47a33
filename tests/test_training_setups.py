"""Tests of feature-space transforms inside real training setups: torch.compile and mixed precision."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._dynamo.testing import CompileCounter

import augspace as A


def feature_transforms() -> list[nn.Module]:
    """One instance of every feature-space transform, drawing from torch's global generator."""
    return [
        A.Cutout(size=0.5, fill="mean"),
        A.Cutout(size=2, holes=2, fill="normal"),
        A.RandomErasing(p=0.5, fill="uniform"),
        A.RandomHorizontalFlip(p=0.5),
        A.RandomVerticalFlip(p=0.5),
        A.RandomRescale(scale_factor=(0.8, 1.25)),
        A.DropBlock(drop_prob=0.1, block_size=3),
        A.DropBlock(drop_prob=A.LinearSchedule(0.0, 0.2, steps=4), block_size=0.5, per_channel=False),
        A.Dropout(p=0.2),
        A.SpatialDropout(p=0.2),
    ]


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.LazyLinear(4),
    )


@pytest.mark.parametrize("transform", feature_transforms(), ids=repr)
def test_compiled_training_steps_compile_once(transform: nn.Module) -> None:
    # Every test compiles nn.Sequential.forward, so earlier tests' cache entries would count towards the
    # recompilation limit; start from an empty cache.
    torch._dynamo.reset()
    model = small_net()
    model(torch.rand(2, 3, 8, 8))
    A.FeatureTransform(model, {"1": transform})
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter, fullgraph=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    for _ in range(4):
        loss = compiled(torch.rand(4, 3, 8, 8)).square().mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        A.step(transform)

    # One graph for all training steps: no graph break (fullgraph) and no recompilation per step.
    assert counter.frame_count == 1


@pytest.mark.parametrize("transform", feature_transforms(), ids=repr)
def test_cpu_autocast_keeps_bfloat16_and_gradients(transform: nn.Module) -> None:
    model = small_net()
    model(torch.rand(2, 3, 8, 8))
    seen: list[torch.dtype] = []
    A.FeatureTransform(model, {"0": transform})
    model[1].register_forward_hook(lambda module, args, output: seen.append(args[0].dtype))

    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(torch.rand(4, 3, 8, 8))
    output.float().sum().backward()

    assert seen == [torch.bfloat16]
    assert torch.isfinite(output.float()).all()
    assert model[0].weight.grad is not None
    assert torch.isfinite(model[0].weight.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("transform", feature_transforms(), ids=repr)
def test_cuda_autocast_keeps_dtype_and_gradients(transform: nn.Module, dtype: torch.dtype) -> None:
    model = small_net().cuda()
    model(torch.rand(2, 3, 8, 8, device="cuda"))
    seen: list[torch.dtype] = []
    A.FeatureTransform(model, {"0": transform})
    model[1].register_forward_hook(lambda module, args, output: seen.append(args[0].dtype))

    with torch.autocast("cuda", dtype=dtype):
        output = model(torch.rand(4, 3, 8, 8, device="cuda"))
    output.float().sum().backward()

    assert seen == [dtype]
    assert torch.isfinite(model[0].weight.grad).all()

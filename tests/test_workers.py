"""Tests of random streams across DataLoader workers."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import augspace as A


class ConstantImages(Dataset):
    """The same image at every index, so that outputs differ only by the transform's draws."""

    def __init__(self, transform: torch.nn.Module, length: int = 8) -> None:
        self.transform = transform
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(torch.ones(3, 16, 16))


def load_epoch(transform: torch.nn.Module, *, seed: int, context: str | None = None) -> torch.Tensor:
    """All samples of one epoch through two workers, in index order."""
    loader = DataLoader(
        ConstantImages(transform),
        batch_size=2,
        num_workers=2,
        generator=torch.Generator().manual_seed(seed),
        multiprocessing_context=context,
    )
    return torch.cat(list(loader))


def first_samples_of_each_worker(epoch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """With batch size 2 and two workers, worker 0 loads samples 0 and 1 and worker 1 loads samples 2 and 3."""
    return epoch[0], epoch[2]


@pytest.mark.parametrize("generator_seed", [None, 5], ids=["global", "own-generator"])
def test_workers_draw_distinct_streams(generator_seed: int | None) -> None:
    generator = None if generator_seed is None else torch.Generator().manual_seed(generator_seed)
    epoch = load_epoch(A.Cutout(size=6, generator=generator), seed=0)
    worker0, worker1 = first_samples_of_each_worker(epoch)
    assert not torch.equal(worker0, worker1)


@pytest.mark.parametrize("generator_seed", [None, 5], ids=["global", "own-generator"])
def test_epoch_reproducible_from_loader_seed(generator_seed: int | None) -> None:
    def epoch(seed: int) -> torch.Tensor:
        generator = None if generator_seed is None else torch.Generator().manual_seed(generator_seed)
        return load_epoch(A.RandomErasing(p=1.0, generator=generator), seed=seed)

    first = epoch(1)
    assert torch.equal(first, epoch(1))
    assert not torch.equal(first, epoch(2))


def test_main_process_keeps_given_stream() -> None:
    cutout = A.Cutout(size=6, generator=torch.Generator().manual_seed(3))
    reference = A.Cutout(size=6, generator=torch.Generator().manual_seed(3))
    x = torch.ones(4, 3, 16, 16)
    assert torch.equal(cutout(x), reference(x))


@pytest.mark.slow
def test_spawned_workers_unpickle_transforms() -> None:
    generator = torch.Generator().manual_seed(9)
    epoch = load_epoch(A.Cutout(size=6, generator=generator), seed=0, context="spawn")
    worker0, worker1 = first_samples_of_each_worker(epoch)
    assert epoch.shape == (8, 3, 16, 16)
    assert not torch.equal(worker0, worker1)

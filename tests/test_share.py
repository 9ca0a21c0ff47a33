"""Tests of replaying one draw at the input and on hidden layers of other strides."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import augspace as A
from augspace import functional as AF
from augspace.transforms import SharedDraw


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_replayed_box_lands_on_covered_cells(stride: int) -> None:
    shared = A.Cutout(size=12, holes=2, generator=seeded(stride)).share()
    model = nn.Sequential(nn.AvgPool2d(stride))
    images = shared(torch.ones(6, 3, 32, 32))
    with A.FeatureTransform(model, {"0": shared.replay()}):
        features = model(torch.ones(6, 5, 32, 32))

    size = 32 // stride
    expected = AF.box_mask(shared.params.boxes, size, size)
    assert torch.equal((features == 0).all(dim=1), expected)
    assert torch.equal((features == 0).any(dim=1), expected)
    assert torch.equal((images == 0).any(dim=1), AF.box_mask(shared.params.boxes, 32, 32))


def test_replay_at_stride_one_matches_input() -> None:
    shared = A.RandomErasing(p=1.0, generator=seeded(0)).share()
    images = shared(torch.ones(4, 3, 16, 16))
    features = shared.replay()(torch.ones(4, 7, 16, 16))
    assert torch.equal((images == 0).any(dim=1), (features == 0).any(dim=1))


def test_replay_of_flip_uses_same_decisions() -> None:
    shared = A.RandomHorizontalFlip(p=0.5, generator=seeded(1)).share()
    images = torch.arange(8.0).expand(16, 1, 2, 8)
    flipped = shared(images)
    features = shared.replay()(torch.arange(4.0).expand(16, 3, 2, 4))
    image_flipped = flipped[:, 0, 0, 0] == 7
    feature_flipped = features[:, 0, 0, 0] == 3
    assert torch.equal(image_flipped, feature_flipped)
    assert 0 < int(image_flipped.sum()) < 16


def test_replay_before_any_draw_is_identity() -> None:
    shared = A.Cutout(size=2).share()
    x = torch.ones(2, 3, 4, 4)
    assert shared.replay()(x) is x


def test_replay_in_eval_mode_is_identity() -> None:
    shared = A.Cutout(size=2).share()
    shared(torch.ones(2, 3, 4, 4))
    shared.eval()
    x = torch.ones(2, 3, 4, 4)
    assert shared.replay()(x) is x
    assert shared(x) is x


def test_share_rejects_per_pixel_noise() -> None:
    with pytest.raises(TypeError, match="cannot be replayed on another grid"):
        A.Cutout(size=2, fill="normal").share()


def test_shared_draw_rejects_other_modules() -> None:
    with pytest.raises(TypeError, match="SharedDraw: transform must be an augspace transform"):
        SharedDraw(nn.Dropout())

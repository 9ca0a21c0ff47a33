"""Tests of DropBlock, Dropout, SpatialDropout, PixelDropout and the dropout kernels."""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import tv_tensors

import augspace as A
from augspace import functional as AF
from augspace.transforms._dropout import seed_rate

from .checks import check_transform
from .strategies import generators, make_image

FEATURE_DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def planes_for(drop_prob: float, height: int, width: int, block_height: int, block_width: int) -> int:
    """Planes whose mean drop fraction has a standard error of at most a fortieth of ``drop_prob``.

    With the block clipped to ``bh x bw`` and seed rate ``g``, two units at offset ``(dy, dx)`` share
    ``(bh - |dy|)(bw - |dx|) = s`` seed positions, and the covariance of their drop indicators is
    ``(1 - p)^2 ((1 - g)^-s - 1)``, which depends on the offset alone. Summing it over the offsets of one unit bounds
    the variance of a plane's drop fraction, as does ``p (1 - p)``. A 10% relative tolerance is then four standard
    errors, so a correct implementation fails a case with probability below 1e-4.
    """
    block_height, block_width = min(block_height, height), min(block_width, width)
    rate = seed_rate(drop_prob, block_height * block_width)
    shared = torch.outer(
        block_height - torch.arange(1 - block_height, block_height).abs(),
        block_width - torch.arange(1 - block_width, block_width).abs(),
    ).double()
    covariance = (1 - drop_prob) ** 2 * ((1 - rate) ** -shared - 1).sum().item()
    variance = min(drop_prob * (1 - drop_prob), covariance / (height * width))
    return math.ceil(variance / (drop_prob / 40) ** 2)


def dropped_fraction(output: torch.Tensor) -> float:
    return (output == 0).count_nonzero().item() / output.numel()


def reference_mask(seeds: torch.Tensor, block_height: int, block_width: int) -> torch.Tensor:
    """Paint each seed's block with a Python loop: the seed at grid cell (i, j) drops rows i - bh + 1 .. i and
    columns j - bw + 1 .. j of the map, clipped."""
    dense = seeds.to_dense() if seeds.is_sparse else seeds
    height, width = dense.shape[-2] - block_height + 1, dense.shape[-1] - block_width + 1
    mask = torch.zeros((*dense.shape[:-2], height, width), dtype=torch.bool)
    for *plane, row, column in torch.nonzero(dense).tolist():
        top, left = max(row - block_height + 1, 0), max(column - block_width + 1, 0)
        mask[(*plane, slice(top, row + 1), slice(left, column + 1))] = True
    return mask


# Contract


@pytest.mark.parametrize(
    "transform",
    [
        A.DropBlock(drop_prob=0.2, block_size=3),
        A.DropBlock(drop_prob=0.3, block_size=(2, 5), per_channel=False),
        A.DropBlock(drop_prob=0.1, block_size=0.5, normalize="sample"),
        A.DropBlock(drop_prob=A.LinearSchedule(0.05, 0.2, steps=10), block_size=4),
        A.Dropout(0.3),
        A.SpatialDropout(0.5),
        A.PixelDropout(0.2),
        A.Dropout(A.CosineSchedule(0.5, 0.1, steps=3)),
    ],
    ids=repr,
)
def test_dropout_contract(transform: A.RandomTransform) -> None:
    check_transform(transform, make_image((6, 3, 16, 20)))


def test_drop_block_contract_on_dense_seed_path() -> None:
    # A seed rate of 0.6, above the sparse limit, makes the CPU draw one uniform number per grid cell, as on other
    # devices.
    transform = A.DropBlock(drop_prob=0.6, block_size=1)
    x = make_image((6, 3, 16, 20))
    assert not transform.make_params([x]).seeds.is_sparse
    check_transform(transform, x)


# DropBlock: the drop rate


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Run torch on one thread: hundreds of small calls spend more time waking a second thread than computing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread")
def test_drop_block_rate_on_grid() -> None:
    # Every map side up to 16, where clipped blocks weigh most, then larger sides up to 56. Each case draws one set
    # of seeds and measures the zeros of the output in every dtype.
    misses = []
    for side in [*range(1, 17), 20, 27, 28, 32, 41, 55, 56]:
        for block in range(1, 10):
            for drop_prob in (0.05, 0.1, 0.25, 0.5):
                planes = planes_for(drop_prob, side, side, block, block)
                drop = A.DropBlock(drop_prob=drop_prob, block_size=block, generator=seeded(side * 100 + block))
                params = drop.make_params([torch.ones(planes, 1, side, side)])
                for dtype in FEATURE_DTYPES:
                    measured = dropped_fraction(drop.transform(torch.ones(planes, 1, side, side, dtype=dtype), params))
                    if abs(measured - drop_prob) > 0.1 * drop_prob:
                        misses.append((side, block, drop_prob, dtype, measured))
    assert misses == []


@given(
    height=st.integers(1, 56),
    width=st.integers(1, 56),
    block=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    drop_prob=st.floats(0.05, 0.5),
    dtype=st.sampled_from(FEATURE_DTYPES),
    generator=generators(),
)
def test_drop_block_rate_within_tenth(
    height: int, width: int, block: tuple[int, int], drop_prob: float, dtype: torch.dtype, generator: torch.Generator
) -> None:
    planes = planes_for(drop_prob, height, width, *block)
    drop = A.DropBlock(drop_prob=drop_prob, block_size=block, generator=generator)
    measured = dropped_fraction(drop(torch.ones(planes, 1, height, width, dtype=dtype)))
    assert abs(measured - drop_prob) <= 0.1 * drop_prob


@pytest.mark.parametrize(("side", "block"), [(9, 5), (6, 4), (3, 9)])
def test_drop_block_rate_is_uniform_over_positions(side: int, block: int) -> None:
    # Every unit, at the border as in the middle, is dropped with probability drop_prob. Each unit's frequency over
    # 20,000 planes has a standard error of 0.0021; the bound is 4.5 of them.
    planes, drop_prob = 20_000, 0.1
    drop = A.DropBlock(drop_prob=drop_prob, block_size=block, generator=seeded(1))
    frequency = (drop(torch.ones(planes, 1, side, side)) == 0).double().mean(dim=(0, 1))
    tolerance = 4.5 * math.sqrt(drop_prob * (1 - drop_prob) / planes)
    assert (frequency - drop_prob).abs().max().item() <= tolerance


@pytest.mark.parametrize("per_channel", [True, False])
def test_drop_block_rate_per_channel_and_shared(per_channel: bool) -> None:
    # One sample per plane that planes_for requires, so a mask shared by the 4 channels is drawn often enough too.
    planes = planes_for(0.2, 14, 14, 5, 5)
    drop = A.DropBlock(drop_prob=0.2, block_size=5, per_channel=per_channel, generator=seeded(2))
    measured = dropped_fraction(drop(torch.ones(planes, 4, 14, 14)))
    assert abs(measured - 0.2) <= 0.02


def test_drop_block_dense_seeds_give_same_rate() -> None:
    # Seeds drawn one per grid cell, as on other devices and under torch.compile, follow the same distribution.
    planes, side, block, drop_prob = planes_for(0.1, 10, 10, 4, 4), 10, 4, 0.1
    grid = (planes, 1, side + block - 1, side + block - 1)
    seeds = torch.rand(grid, generator=seeded(3)) < seed_rate(drop_prob, block * block)
    measured = AF.drop_block_mask(seeds, block).double().mean().item()
    assert abs(measured - drop_prob) <= 0.1 * drop_prob


def test_seed_rate_formula() -> None:
    assert seed_rate(0.1, 49) == pytest.approx(1 - 0.9 ** (1 / 49), rel=1e-12)
    assert seed_rate(0.0, 9) == 0.0
    assert seed_rate(1.0, 9) == 1.0
    assert seed_rate(torch.tensor(0.1), 49).item() == pytest.approx(1 - 0.9 ** (1 / 49), rel=1e-5)


# DropBlock: the blocks


@given(
    size=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    block=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    per_channel=st.booleans(),
    generator=generators(),
)
def test_dropped_set_is_union_of_blocks(
    size: tuple[int, int], block: tuple[int, int], per_channel: bool, generator: torch.Generator
) -> None:
    x = torch.ones(3, 2, *size)
    drop = A.DropBlock(drop_prob=0.3, block_size=block, per_channel=per_channel, generator=generator)
    params = drop.make_params([x])
    block_cells = drop.block_cells(*size)
    expected = reference_mask(params.seeds, *block_cells)
    assert torch.equal(AF.drop_block_mask(params.seeds, block_cells), expected)
    assert torch.equal(drop.transform(x, params) == 0, expected.expand(3, 2, *size))


def check_sparse_matches_dense(drop: A.DropBlock, x: torch.Tensor) -> None:
    """Assert that the sparse seeds drawn on the CPU and their strided copy give the same mask, scale and output."""
    params = drop.make_params([x])
    block_cells = drop.block_cells(*x.shape[-2:])
    dense = params.seeds.to_dense()
    assert params.seeds.is_sparse
    assert torch.equal(AF.drop_block_mask(params.seeds, block_cells), AF.drop_block_mask(dense, block_cells))
    assert torch.equal(AF.drop_block_scale(dense, block_cells, drop.normalize), params.scale)
    assert torch.equal(AF.drop_block(x, dense, block_cells, params.scale), drop.transform(x, params))


@given(
    size=st.tuples(st.integers(1, 10), st.integers(1, 10)),
    block=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    per_channel=st.booleans(),
    normalize=st.sampled_from(["batch", "sample"]),
    generator=generators(),
)
def test_sparse_and_dense_seeds_give_same_output(
    size: tuple[int, int], block: tuple[int, int], per_channel: bool, normalize: str, generator: torch.Generator
) -> None:
    drop = A.DropBlock(0.25, block, per_channel=per_channel, normalize=normalize, generator=generator)
    check_sparse_matches_dense(drop, make_image((4, 3, *size), seed=4))


@pytest.mark.parametrize("per_channel", [True, False])
def test_sparse_and_dense_seeds_agree_with_many_seeds(per_channel: bool) -> None:
    # More seeds than grid cells per map takes the table lookup in the sparse path.
    drop = A.DropBlock(0.5, (3, 2), per_channel=per_channel, generator=seeded(4))
    check_sparse_matches_dense(drop, make_image((64, 8, 6, 5), seed=4))


@pytest.mark.parametrize("video", [True, False], ids=["video", "two-batch-dimensions"])
def test_sparse_and_dense_seeds_agree_on_five_dimensions(video: bool) -> None:
    x = make_image((2, 3, 4, 7, 7), seed=4)
    check_sparse_matches_dense(A.DropBlock(0.3, 3, generator=seeded(4)), tv_tensors.Video(x) if video else x)


def test_seed_placement_example() -> None:
    seeds = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    seeds[0, 0, 0, 0] = seeds[0, 0, 5, 5] = True
    mask = AF.drop_block_mask(seeds, 3)[0, 0]
    assert mask.sum().item() == 2
    assert mask[0, 0].item()
    assert mask[3, 3].item()
    seeds = torch.zeros(1, 1, 6, 6, dtype=torch.bool)
    seeds[0, 0, 2, 2] = True
    assert AF.drop_block_mask(seeds, 3)[0, 0, :3, :3].all().item()


@pytest.mark.parametrize(
    ("block_size", "size", "expected"),
    [
        (3, (8, 8), (3, 3)),
        (4, (8, 8), (4, 4)),
        ((2, 5), (8, 8), (2, 5)),
        (0.5, (8, 12), (4, 4)),
        (0.3, (7, 7), (2, 2)),
        (9, (3, 5), (3, 5)),
        ((1, 7), (4, 4), (1, 4)),
        (1.0, (6, 3), (3, 3)),
    ],
)
def test_block_cells(block_size: int | float | tuple, size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert A.DropBlock(drop_prob=0.1, block_size=block_size).block_cells(*size) == expected


def test_oversized_block_clipped_to_map() -> None:
    x = make_image((64, 2, 3, 5), seed=5)
    large = A.DropBlock(drop_prob=0.2, block_size=9, generator=seeded(5))(x)
    clipped = A.DropBlock(drop_prob=0.2, block_size=(3, 5), generator=seeded(5))(x)
    assert torch.equal(large, clipped)


def test_shared_mask_is_same_in_every_channel() -> None:
    output = A.DropBlock(drop_prob=0.3, block_size=3, per_channel=False, generator=seeded(6))(torch.ones(4, 8, 10, 10))
    dropped = output == 0
    assert dropped.any().item()
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))


def test_per_channel_masks_differ() -> None:
    output = A.DropBlock(drop_prob=0.3, block_size=3, generator=seeded(7))(torch.ones(4, 8, 10, 10))
    dropped = output == 0
    assert not torch.equal(dropped, dropped[:, :1].expand_as(dropped))


# DropBlock: rescaling


@pytest.mark.parametrize("dtype", FEATURE_DTYPES, ids=str)
def test_batch_normalize_keeps_batch_mean(dtype: torch.dtype) -> None:
    x = torch.ones(16, 8, 12, 12, dtype=dtype)
    output = A.DropBlock(drop_prob=0.3, block_size=3, generator=seeded(8))(x)
    tolerance = 1e-5 if dtype == torch.float32 else 4e-3
    assert output.dtype == dtype
    assert abs(output.double().mean().item() - 1.0) <= tolerance


def test_sample_normalize_keeps_each_sample_mean() -> None:
    x = torch.ones(16, 8, 12, 12)
    output = A.DropBlock(drop_prob=0.3, block_size=3, normalize="sample", generator=seeded(9))(x)
    means = output.double().mean(dim=(1, 2, 3))
    assert torch.allclose(means, torch.ones_like(means), atol=1e-5)


def test_kept_units_scaled_by_exact_count() -> None:
    x = make_image((8, 4, 9, 9), seed=10)
    output = A.DropBlock(drop_prob=0.2, block_size=2, generator=seeded(10))(x)
    kept_mask = output != 0
    factor = kept_mask.numel() / kept_mask.sum().item()
    assert torch.allclose(output[kept_mask], x[kept_mask] * factor, rtol=1e-6)


def test_mean_matches_input_mean_on_random_features() -> None:
    # E[output] = E[input] per unit. Over 200 seeds, the difference of the means of this input and its output had a
    # standard deviation of 0.0003, so the bound of 0.002 is over six of them.
    x = make_image((500, 4, 10, 10), seed=11)
    output = A.DropBlock(drop_prob=0.2, block_size=3, generator=seeded(11))(x)
    assert abs(output.double().mean().item() - x.double().mean().item()) <= 0.002


@pytest.mark.parametrize("normalize", ["batch", "sample"])
def test_everything_dropped_gives_zeros(normalize: str) -> None:
    output = A.DropBlock(drop_prob=1.0, block_size=2, normalize=normalize)(torch.ones(3, 4, 5, 5))
    assert torch.isfinite(output).all().item()
    assert (output == 0).all().item()


def test_fully_dropped_sample_gives_zeros_without_nan() -> None:
    # At drop_prob 0.5, a 2x2 block on a 2x2 map drops the whole of some of these 64 one-channel samples.
    output = A.DropBlock(drop_prob=0.5, block_size=2, normalize="sample", generator=seeded(12))(torch.ones(64, 1, 2, 2))
    fully_dropped = (output == 0).flatten(1).all(dim=1)
    assert fully_dropped.any().item()
    assert torch.isfinite(output).all().item()


def test_half_precision_large_batch_keeps_values() -> None:
    # 64x256x14x14 units: a keep count held in float16 would overflow. Kept units hold exactly the rounded factor.
    x = torch.ones(64, 256, 14, 14, dtype=torch.float16)
    params = A.DropBlock(drop_prob=0.1, block_size=3, generator=seeded(13)).make_params([x])
    output = AF.drop_block(x, params.seeds, 3, params.scale)
    kept_values = output[output != 0]
    assert 0.85 <= kept_values.numel() / x.numel() <= 0.95
    assert torch.all(kept_values == params.scale[0].to(torch.float16)).item()


def test_integer_input_rounds_and_clamps() -> None:
    x = torch.full((2, 3, 6, 6), 250, dtype=torch.uint8)
    output = A.DropBlock(drop_prob=0.3, block_size=2, generator=seeded(14))(x)
    assert output.dtype == torch.uint8
    assert set(output.unique().tolist()) <= {0, 255}


# DropBlock: modes and inputs


def test_eval_mode_returns_input() -> None:
    drop = A.DropBlock(drop_prob=0.5, block_size=3).eval()
    x = torch.ones(2, 3, 8, 8)
    assert drop(x) is x


def test_zero_drop_prob_returns_input() -> None:
    x = make_image((2, 3, 8, 8))
    assert A.DropBlock(drop_prob=0.0, block_size=3)(x) is x


def test_zero_scheduled_drop_prob_keeps_values() -> None:
    x = make_image((2, 3, 8, 8))
    output = A.DropBlock(drop_prob=A.LinearSchedule(0.0, 0.5, steps=10), block_size=3)(x)
    assert torch.equal(output, x)


def test_video_frames_share_seeds() -> None:
    video = tv_tensors.Video(torch.ones(2, 4, 3, 10, 10))
    output = A.DropBlock(drop_prob=0.3, block_size=3, generator=seeded(15))(video)
    dropped = output == 0
    assert isinstance(output, tv_tensors.Video)
    assert dropped.any().item()
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))


def test_channels_last_per_channel_path() -> None:
    x = make_image((4, 6, 9, 9), seed=16)
    params = A.DropBlock(drop_prob=0.3, block_size=3, generator=seeded(16)).make_params([x])
    contiguous = AF.drop_block(x, params.seeds, 3, params.scale)
    channels_last = AF.drop_block(x.contiguous(memory_format=torch.channels_last), params.seeds, 3, params.scale)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(channels_last, contiguous)


def test_gradient_is_scale_where_kept() -> None:
    x = make_image((4, 3, 8, 8), seed=17).requires_grad_()
    params = A.DropBlock(drop_prob=0.3, block_size=3, generator=seeded(17)).make_params([x])
    output = AF.drop_block(x, params.seeds, 3, params.scale)
    output.sum().backward()
    mask = AF.drop_block_mask(params.seeds, 3)
    expected = torch.where(mask, 0.0, params.scale[:, None, None, None]).expand_as(x)
    assert torch.allclose(x.grad, expected)


def test_same_generator_seed_same_output() -> None:
    x = make_image((4, 3, 12, 12))
    first = A.DropBlock(drop_prob=0.2, block_size=3, generator=seeded(18))(x)
    second = A.DropBlock(drop_prob=0.2, block_size=3, generator=seeded(18))(x)
    third = A.DropBlock(drop_prob=0.2, block_size=3, generator=seeded(19))(x)
    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def test_pickle_keeps_schedule_state() -> None:
    drop = A.DropBlock(drop_prob=A.LinearSchedule(0.0, 0.4, steps=4), block_size=3)
    A.step(drop)
    restored = pickle.loads(pickle.dumps(drop))
    assert restored.drop_prob.value.item() == pytest.approx(0.1)
    assert restored.drop_prob.step_count.item() == 1


def test_repr_lists_arguments() -> None:
    text = repr(A.DropBlock(drop_prob=0.1, block_size=(3, 5), per_channel=False))
    assert "drop_prob=0.1" in text
    assert "block_size=(3, 5)" in text
    assert "per_channel=False" in text


# Dropout, SpatialDropout, PixelDropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_rate_and_scale(p: float) -> None:
    # 160,000 independent units: four binomial standard deviations of the dropped share are below 0.005.
    output = A.Dropout(p, generator=seeded(20))(torch.ones(100, 16, 10, 10))
    assert abs(dropped_fraction(output) - p) <= 0.005
    assert torch.allclose(output[output != 0], torch.tensor(1 / (1 - p)))


def test_spatial_dropout_drops_whole_channels() -> None:
    output = A.SpatialDropout(0.4, generator=seeded(21))(torch.ones(200, 16, 5, 5))
    dropped = (output == 0).flatten(2)
    assert torch.equal(dropped.all(dim=2), dropped.any(dim=2))
    # 3,200 channels: four binomial standard deviations of the dropped share are 0.035.
    assert abs(dropped.all(dim=2).double().mean().item() - 0.4) <= 0.035
    assert torch.allclose(output[output != 0], torch.tensor(1 / 0.6))


def test_pixel_dropout_zeroes_whole_pixels() -> None:
    x = make_image((8, 3, 32, 32), torch.uint8, seed=22).clamp(min=1)
    output = A.PixelDropout(0.25, generator=seeded(22))(x)
    dropped = output == 0
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))
    assert torch.equal(output[~dropped], x[~dropped])
    # 8,192 pixels: four binomial standard deviations of the dropped share are 0.019.
    assert abs(dropped[:, 0].double().mean().item() - 0.25) <= 0.019


@pytest.mark.parametrize("transform_class", [A.Dropout, A.SpatialDropout])
def test_dropout_everything_gives_zeros(transform_class: type) -> None:
    output = transform_class(1.0)(torch.ones(2, 3, 4, 4))
    assert torch.isfinite(output).all().item()
    assert (output == 0).all().item()


@pytest.mark.parametrize("transform_class", [A.Dropout, A.SpatialDropout, A.PixelDropout])
def test_dropout_eval_and_zero_rate_return_input(transform_class: type) -> None:
    x = make_image((2, 3, 6, 6))
    assert transform_class(0.5).eval()(x) is x
    assert transform_class(0.0)(x) is x


def test_dropout_half_precision_rescales_in_float32() -> None:
    x = torch.full((4, 8, 6, 6), 0.3, dtype=torch.bfloat16)
    output = A.Dropout(0.3, generator=seeded(23))(x)
    expected = (x.float() / 0.7).to(torch.bfloat16)
    assert output.dtype == torch.bfloat16
    assert torch.equal(output[output != 0], expected[output != 0])


def test_dropout_kernel_matches_mask() -> None:
    x = make_image((2, 3, 4, 4), seed=24)
    mask = torch.zeros(2, 3, 1, 1, dtype=torch.bool)
    mask[0, 1] = True
    output = AF.dropout(x, mask, torch.tensor([2.0, 0.5]))
    assert (output[0, 1] == 0).all().item()
    assert torch.allclose(output[0, 0], x[0, 0] * 2)
    assert torch.allclose(output[1], x[1] * 0.5)


# Errors


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"drop_prob": 1.5}, ValueError, r"drop_prob must be in \[0, 1\]"),
        ({"drop_prob": -0.1}, ValueError, r"drop_prob must be in \[0, 1\]"),
        ({"drop_prob": True}, TypeError, "drop_prob must be a real number or a Schedule"),
        ({"drop_prob": "0.1"}, TypeError, "drop_prob must be a real number or a Schedule"),
        ({"drop_prob": torch.tensor(0.1)}, TypeError, "drop_prob must be a real number or a Schedule"),
        ({"drop_prob": A.LinearSchedule(0.0, 1.5, steps=3)}, ValueError, r"drop_prob must stay in \[0, 1\]"),
        ({"block_size": 0}, ValueError, "block_size in pixels must be at least 1"),
        ({"block_size": 1.5}, ValueError, r"block_size as a fraction of the shorter side must be in \(0, 1\]"),
        ({"block_size": True}, TypeError, "block_size must contain ints"),
        ({"block_size": (1, 2, 3)}, TypeError, r"block_size must be a number or a pair"),
        ({"per_channel": 1}, TypeError, "per_channel must be a bool"),
        ({"normalize": "channel"}, ValueError, "normalize must be one of"),
        ({"normalize": None}, TypeError, "normalize must be one of"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
    ],
)
def test_drop_block_rejects_bad_arguments(arguments: dict, error: type[Exception], match: str) -> None:
    arguments = {"drop_prob": 0.1, "block_size": 3, **arguments}
    with pytest.raises(error, match=f"DropBlock: .*{match}"):
        A.DropBlock(**arguments)


@pytest.mark.parametrize("transform_class", [A.Dropout, A.SpatialDropout, A.PixelDropout])
@pytest.mark.parametrize(
    ("p", "error", "match"),
    [(1.2, ValueError, r"p must be in \[0, 1\]"), (False, TypeError, "p must be a real number or a Schedule")],
)
def test_dropout_rejects_bad_rate(transform_class: type, p: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=f"{transform_class.__name__}: {match}"):
        transform_class(p)


def test_drop_block_kernel_rejects_mismatched_seeds() -> None:
    seeds = torch.zeros(2, 3, 10, 10, dtype=torch.bool)
    with pytest.raises(ValueError, match="drop_block: seeds must have shape"):
        AF.drop_block(torch.ones(2, 3, 8, 8), seeds, 2, torch.ones(2))


def test_drop_block_kernel_rejects_seeds_smaller_than_block() -> None:
    with pytest.raises(ValueError, match="smaller than one 5x5 block"):
        AF.drop_block_mask(torch.zeros(1, 1, 3, 3, dtype=torch.bool), 5)


def test_drop_block_scale_rejects_unknown_normalize() -> None:
    with pytest.raises(ValueError, match="normalize must be one of"):
        AF.drop_block_scale(torch.zeros(1, 1, 3, 3, dtype=torch.bool), 2, "channel")


def test_dropout_kernel_rejects_mismatched_mask() -> None:
    with pytest.raises(ValueError, match="dropout: mask channels must be 1 or 3"):
        AF.dropout(torch.ones(2, 3, 4, 4), torch.zeros(2, 2, 4, 4, dtype=torch.bool), torch.ones(2))

"""Tests of Cutout, RandomErasing and the erasing kernels."""

from __future__ import annotations

import math
import pickle

import numpy as np
import PIL.Image
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import tv_tensors

import augspace as A
from augspace import functional as AF
from augspace.transforms._base import layout_of
from augspace.transforms._erase import side_in_pixels

from .checks import check_transform
from .strategies import generators, hole_sizes, image_dtypes, image_sizes, make_image


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def erased_mask(x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Pixels changed in any channel, as an ``(N, H, W)`` bool mask."""
    return (output != x).any(dim=-3)


def pixel_boxes(params: A.EraseParams, height: int, width: int) -> torch.Tensor:
    """Boxes of ``params`` in whole pixels, ``(*B, K, 4)`` int64."""
    scale = torch.tensor([height, width, height, width], dtype=torch.float32)
    return torch.round(params.boxes * scale).to(torch.int64)


def covered_probability(length: int, hole: int) -> np.ndarray:
    """Probability that each of ``length`` positions is covered by one clipped hole with a uniform centre.

    A hole of ``hole`` pixels centred on ``c`` spans ``c - hole // 2`` to ``c - hole // 2 + hole - 1``, so position
    ``i`` is covered for centres ``i + hole // 2 - hole + 1 .. i + hole // 2``, of which those in ``0 .. length - 1``
    count.
    """
    positions = np.arange(length)
    lowest = np.maximum(positions + hole // 2 - hole + 1, 0)
    highest = np.minimum(positions + hole // 2, length - 1)
    return np.maximum(highest - lowest + 1, 0) / length


def expected_cutout_fraction(height: int, width: int, hole_height: int, hole_width: int, holes: int) -> float:
    """Closed-form mean erased fraction of ``holes`` independent clipped holes (DeVries & Taylor's placement)."""
    per_pixel = np.outer(covered_probability(height, hole_height), covered_probability(width, hole_width))
    return float(np.mean(1.0 - (1.0 - per_pixel) ** holes))


# Contract


@pytest.mark.parametrize(
    "transform",
    [
        A.Cutout(size=5),
        A.Cutout(size=0.4, holes=3, fill="mean"),
        A.Cutout(size=(3, 7), fill="uniform", inside=True),
        A.RandomErasing(p=0.5),
        A.RandomErasing(p=1.0, fill=(0.1, 0.2, 0.3)),
        A.RandomErasing(p=1.0, fill="normal"),
    ],
    ids=repr,
)
def test_erasing_contract(transform: A.RandomTransform) -> None:
    check_transform(transform, make_image((6, 3, 16, 20)))


# Geometry of the holes


@given(size=image_sizes(), hole=hole_sizes(), holes=st.integers(1, 3), inside=st.booleans(), generator=generators())
def test_cutout_erases_union_of_param_boxes(
    size: tuple[int, int], hole: int | float, holes: int, inside: bool, generator: torch.Generator
) -> None:
    height, width = size
    x = torch.ones(5, 2, height, width)
    cutout = A.Cutout(size=hole, holes=holes, inside=inside, generator=generator)
    params = cutout.make_params([x])
    output = cutout.transform(x, params)

    expected = torch.zeros(5, height, width, dtype=torch.bool)
    for sample, sample_boxes in enumerate(pixel_boxes(params, height, width)):
        for top, left, bottom, right in sample_boxes.tolist():
            expected[sample, max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = True
    assert torch.equal(erased_mask(x, output), expected)


@given(size=image_sizes(), hole=hole_sizes(), generator=generators())
def test_cutout_box_has_requested_size(size: tuple[int, int], hole: int | float, generator: torch.Generator) -> None:
    height, width = size
    x = torch.ones(4, 1, height, width)
    params = A.Cutout(size=hole, generator=generator).make_params([x])
    boxes = pixel_boxes(params, height, width)
    side = side_in_pixels(hole, min(height, width))
    assert torch.all(boxes[..., 2] - boxes[..., 0] == side)
    assert torch.all(boxes[..., 3] - boxes[..., 1] == side)


@given(size=image_sizes(min_side=5), generator=generators())
def test_cutout_inside_erases_whole_hole(size: tuple[int, int], generator: torch.Generator) -> None:
    x = torch.ones(8, 1, *size)
    output = A.Cutout(size=5, inside=True, generator=generator)(x)
    assert torch.all(erased_mask(x, output).sum(dim=(-2, -1)) == 25)


def test_cutout_odd_size_is_exact() -> None:
    x = torch.ones(1, 1, 9, 9)
    params = A.EraseParams(boxes=torch.tensor([[[2 / 9, 2 / 9, 7 / 9, 7 / 9]]]), apply=torch.tensor([True]))
    mask = erased_mask(x, AF.erase(x, params.boxes, params.apply))
    assert mask.sum() == 25
    assert mask[0, 2:7, 2:7].all()


def test_cutout_fraction_size_rounds_half_up() -> None:
    assert side_in_pixels(0.5, 8) == 4
    assert side_in_pixels(0.5, 7) == 4
    assert side_in_pixels(0.01, 7) == 1
    assert side_in_pixels(1.0, 7) == 7
    assert side_in_pixels(3, 7) == 3


def test_cutout_float_size_means_fraction_of_shorter_side() -> None:
    x = torch.ones(3, 1, 20, 40)
    output = A.Cutout(size=0.5, inside=True, generator=seeded(0))(x)
    assert torch.all(erased_mask(x, output).sum(dim=(-2, -1)) == 100)


@pytest.mark.parametrize(
    ("height", "width", "hole", "holes"), [(16, 16, 8, 1), (12, 20, 5, 1), (10, 10, 4, 3), (7, 9, 9, 2)]
)
def test_cutout_mean_fraction_matches_closed_form(height: int, width: int, hole: int, holes: int) -> None:
    samples = 4000
    x = torch.ones(samples, 1, height, width)
    output = A.Cutout(size=hole, holes=holes, generator=seeded(1))(x)
    fractions = erased_mask(x, output).float().mean(dim=(-2, -1))
    expected = expected_cutout_fraction(height, width, hole, hole, holes)
    # Four standard errors of the mean of per-sample fractions: a false failure has probability below 1e-4.
    tolerance = 4 * fractions.std().item() / math.sqrt(samples)
    assert abs(fractions.mean().item() - expected) <= tolerance


def test_cutout_boxes_are_distinct_per_sample() -> None:
    x = torch.ones(64, 3, 32, 32)
    params = A.Cutout(size=8, generator=seeded(2)).make_params([x])
    distinct = {tuple(box.tolist()) for box in params.boxes.reshape(64, 4)}
    # 64 centres drawn from 1,024 positions per axis pair collide in a few pairs at most, never most of the batch.
    assert len(distinct) >= 60


@given(size=image_sizes(min_side=4), generator=generators())
def test_random_erasing_box_inside_image(size: tuple[int, int], generator: torch.Generator) -> None:
    height, width = size
    x = torch.ones(16, 1, height, width)
    params = A.RandomErasing(p=1.0, generator=generator).make_params([x])
    boxes = pixel_boxes(params, height, width)
    assert torch.all(boxes[..., 0] >= 0)
    assert torch.all(boxes[..., 1] >= 0)
    assert torch.all(boxes[..., 2] <= height)
    assert torch.all(boxes[..., 3] <= width)
    assert torch.all(boxes[..., 2] > boxes[..., 0])
    assert torch.all(boxes[..., 3] > boxes[..., 1])


@given(
    scale=st.tuples(st.floats(0.02, 0.2), st.floats(0.0, 0.2)).map(lambda pair: (pair[0], pair[0] + pair[1])),
    ratio=st.tuples(st.floats(0.3, 1.0), st.floats(1.0, 3.0)),
    generator=generators(),
)
def test_random_erasing_area_and_aspect_in_range(
    scale: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator
) -> None:
    height = width = 100
    x = torch.ones(64, 1, height, width)
    params = A.RandomErasing(p=1.0, scale=scale, ratio=ratio, generator=generator).make_params([x])
    boxes = pixel_boxes(params, height, width)[..., 0, :].double()
    box_height = boxes[:, 2] - boxes[:, 0]
    box_width = boxes[:, 3] - boxes[:, 1]

    # Rounding each side to whole pixels moves it by at most half a pixel, which bounds the area and the aspect.
    area = box_height * box_width / (height * width)
    low_area = (box_height - 0.5) * (box_width - 0.5) / (height * width)
    high_area = (box_height + 0.5) * (box_width + 0.5) / (height * width)
    assert torch.all(high_area >= scale[0]), area
    assert torch.all(low_area <= scale[1]), area
    assert torch.all((box_height + 0.5) / (box_width - 0.5) >= ratio[0])
    assert torch.all((box_height - 0.5) / (box_width + 0.5) <= ratio[1])


def test_random_erasing_area_is_uniform_in_scale() -> None:
    x = torch.ones(1, 1, 1, 1).expand(5000, 1, 200, 200)
    params = A.RandomErasing(p=1.0, scale=(0.1, 0.3), ratio=(0.5, 2.0), generator=seeded(3)).make_params([x])
    boxes = pixel_boxes(params, 200, 200)[..., 0, :].double()
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / 200**2
    # U(0.1, 0.3) has mean 0.2 and standard deviation 0.0577; four standard errors over 5000 samples is 0.0033,
    # and rounding sides to whole pixels shifts an area by under 0.0016 at this size.
    assert abs(area.mean().item() - 0.2) <= 0.0033 + 0.0016


def test_random_erasing_aspect_is_log_uniform() -> None:
    x = torch.ones(1, 1, 1, 1).expand(5000, 1, 400, 400)
    params = A.RandomErasing(p=1.0, scale=(0.05, 0.05), ratio=(0.25, 4.0), generator=seeded(4)).make_params([x])
    boxes = pixel_boxes(params, 400, 400)[..., 0, :].double()
    log_aspect = torch.log((boxes[:, 2] - boxes[:, 0]) / (boxes[:, 3] - boxes[:, 1]))
    # log U(log 0.25, log 4) is symmetric about 0 with standard deviation 0.80; four standard errors are 0.045.
    assert abs(log_aspect.mean().item()) <= 0.045


def test_random_erasing_shrinks_box_that_cannot_fit() -> None:
    x = torch.ones(10, 1, 12, 12)
    params = A.RandomErasing(p=1.0, scale=(1.0, 1.0), ratio=(4.0, 4.0), generator=seeded(5)).make_params([x])
    boxes = pixel_boxes(params, 12, 12)[..., 0, :]
    assert torch.all(boxes[:, 2] - boxes[:, 0] == 12)
    assert torch.all(boxes[:, 3] - boxes[:, 1] == 3)


def test_random_erasing_never_skips_a_chosen_sample() -> None:
    x = torch.ones(50, 1, 3, 3)
    output = A.RandomErasing(p=1.0, scale=(0.9, 1.0), ratio=(0.1, 10.0), generator=seeded(6))(x)
    assert torch.all(erased_mask(x, output).any(dim=(-2, -1)))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("transform_class", [A.Cutout, A.RandomErasing])
def test_erased_sample_fraction_matches_p(transform_class: type, p: float) -> None:
    samples = 4000
    x = torch.ones(samples, 1, 8, 8)
    transform = A.Cutout(size=2, p=p, generator=seeded(7)) if transform_class is A.Cutout else None
    transform = transform or A.RandomErasing(p=p, generator=seeded(7))
    erased = erased_mask(x, transform(x)).any(dim=(-2, -1)).float()
    # Four binomial standard deviations of the mean.
    tolerance = 4 * math.sqrt(p * (1 - p) / samples)
    assert abs(erased.mean().item() - p) <= tolerance


def test_random_erasing_decides_each_sample_alone() -> None:
    x = torch.ones(64, 1, 8, 8)
    erased = erased_mask(x, A.RandomErasing(p=0.5, generator=seeded(8))(x)).any(dim=(-2, -1))
    assert 0 < erased.sum() < 64


# Fills


def test_fill_number_on_float() -> None:
    x = torch.ones(2, 3, 8, 8)
    output = A.Cutout(size=8, fill=0.25, inside=True)(x)
    assert torch.all(output == 0.25)


def test_fill_per_channel() -> None:
    x = torch.ones(2, 3, 8, 8)
    output = A.Cutout(size=8, fill=(0.1, 0.2, 0.3), inside=True)(x)
    assert torch.allclose(output[:, :, 4, 4], torch.tensor([0.1, 0.2, 0.3]).expand(2, 3))


def test_fill_per_channel_wrong_length_raises() -> None:
    with pytest.raises(ValueError, match="fill must have 1 or 3 values"):
        A.Cutout(size=2, fill=(0.1, 0.2))(torch.ones(1, 3, 8, 8))


@pytest.mark.parametrize(("fill", "expected"), [(300.0, 255), (-5.0, 0), (12.6, 13), ((400.0, -1.0, 7.4), (255, 0, 7))])
def test_fill_uint8_clamps_without_wrap(fill: float | tuple[float, ...], expected: int | tuple[int, ...]) -> None:
    x = torch.full((1, 3, 4, 4), 100, dtype=torch.uint8)
    output = A.Cutout(size=4, fill=fill, inside=True)(x)
    assert output.dtype == torch.uint8
    assert torch.equal(output[0, :, 0, 0], torch.tensor(expected, dtype=torch.uint8).expand(3))


@pytest.mark.parametrize("fill", ["normal", "uniform"])
def test_random_fill_uint8_stays_in_range(fill: str) -> None:
    x = torch.full((4, 3, 32, 32), 100, dtype=torch.uint8)
    output = A.Cutout(size=32, fill=fill, inside=True, generator=seeded(9))(x).float()
    # Both fills spread over the byte range: their means lie near the middle and they reach both halves.
    assert 100 <= output.mean().item() <= 155
    assert output.min().item() < 64
    assert output.max().item() > 191


def test_fill_normal_on_float_is_standard_normal() -> None:
    x = torch.zeros(8, 3, 64, 64)
    output = A.Cutout(size=64, fill="normal", inside=True, generator=seeded(10))(x)
    # 98,304 draws: four standard errors of the mean are 0.013 and of the standard deviation about 0.009.
    assert abs(output.mean().item()) <= 0.013
    assert abs(output.std().item() - 1.0) <= 0.01


def test_fill_uniform_on_float_is_unit_uniform() -> None:
    x = torch.full((8, 3, 64, 64), 5.0)
    output = A.Cutout(size=64, fill="uniform", inside=True, generator=seeded(11))(x)
    assert output.min().item() >= 0.0
    assert output.max().item() < 1.0
    assert abs(output.mean().item() - 0.5) <= 0.004


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.uint8])
def test_fill_mean_is_per_sample_channel_mean(dtype: torch.dtype) -> None:
    x = make_image((3, 2, 10, 10), dtype, seed=12)
    output = A.Cutout(size=3, fill="mean", inside=True, generator=seeded(12))(x)
    mean = x.float().mean(dim=(-2, -1))
    changed = erased_mask(x, output)
    for sample in range(3):
        rows, columns = torch.nonzero(changed[sample], as_tuple=True)
        for channel in range(2):
            values = output[sample, channel, rows, columns].float()
            expected = mean[sample, channel].round() if dtype == torch.uint8 else mean[sample, channel]
            tolerance = 0.01 if dtype == torch.bfloat16 else 1e-6
            assert torch.allclose(values, expected.expand_as(values), atol=tolerance)


def test_fill_value_random_without_noise_raises() -> None:
    with pytest.raises(ValueError, match="needs the per-pixel noise"):
        AF.fill_value(torch.ones(1, 3, 4, 4), "normal")


# Inputs and outputs


@given(dtype=image_dtypes(), generator=generators())
def test_erasing_keeps_dtype(dtype: torch.dtype, generator: torch.Generator) -> None:
    x = make_image((3, 3, 12, 12), dtype)
    output = A.RandomErasing(p=1.0, fill="normal", generator=generator)(x)
    assert output.dtype == dtype
    assert torch.isfinite(output.float()).all()


def test_erasing_inplace_writes_input() -> None:
    x = torch.ones(2, 3, 8, 8)
    output = A.RandomErasing(p=1.0, inplace=True, generator=seeded(13))(x)
    assert output is x
    assert (x == 0).any()


def test_cutout_inplace_writes_input() -> None:
    x = torch.ones(2, 3, 8, 8)
    output = A.Cutout(size=4, inplace=True)(x)
    assert output is x
    assert (x == 0).any()


def test_video_frames_share_a_box() -> None:
    video = tv_tensors.Video(torch.ones(2, 5, 3, 16, 16))
    output = A.Cutout(size=6, generator=seeded(14))(video)
    assert isinstance(output, tv_tensors.Video)
    changed = (output != 1).any(dim=-3)
    for frame in range(1, 5):
        assert torch.equal(changed[:, frame], changed[:, 0])
    assert not torch.equal(changed[0, 0], changed[1, 0])


def test_mask_and_boxes_pass_through() -> None:
    image = tv_tensors.Image(torch.ones(3, 16, 16))
    mask = tv_tensors.Mask(torch.ones(16, 16, dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[1, 2, 8, 9]]), format="XYXY", canvas_size=(16, 16))
    output_image, output_mask, output_boxes = A.Cutout(size=8)(image, mask, boxes)
    assert (output_image == 0).any()
    assert output_mask is mask
    assert output_boxes is boxes


def test_only_first_plain_tensor_is_erased() -> None:
    x = torch.ones(2, 3, 8, 8)
    labels = torch.tensor([3, 4])
    output, output_labels = A.Cutout(size=4)(x, labels)
    assert (output == 0).any()
    assert output_labels is labels


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_pil_keeps_mode_and_matches_tensor(mode: str) -> None:
    pixels = np.random.default_rng(15).integers(0, 256, (12, 20, len(mode)), dtype=np.uint8)
    image = PIL.Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels, mode=mode)
    output = A.Cutout(size=5, fill=7, generator=seeded(16))(image)
    assert output.mode == mode
    assert output.size == image.size
    expected = A.Cutout(size=5, fill=7, generator=seeded(16))(torch.from_numpy(pixels).permute(2, 0, 1))
    assert np.array_equal(np.asarray(output).reshape(12, 20, -1), expected.permute(1, 2, 0).numpy())


def test_pil_unsupported_mode_raises() -> None:
    with pytest.raises(TypeError, match="mode 'P'"):
        A.Cutout(size=2)(PIL.Image.new("P", (8, 8)))


def test_empty_batch() -> None:
    x = torch.ones(0, 3, 8, 8)
    assert A.Cutout(size=3, fill="normal")(x).shape == (0, 3, 8, 8)
    assert A.RandomErasing(p=0.5, fill="mean")(x).shape == (0, 3, 8, 8)


def test_one_pixel_image() -> None:
    x = torch.ones(4, 3, 1, 1)
    assert torch.all(A.Cutout(size=1.0)(x) == 0)
    assert torch.all(A.RandomErasing(p=1.0)(x) == 0)


def test_replay_on_coarser_grid_selects_covered_centres() -> None:
    boxes = torch.tensor([[[0.25, 0.5, 0.5, 1.0]]])
    apply = torch.tensor([True])
    image_mask = AF.box_mask(boxes, 32, 32)
    assert image_mask[0, 8:16, 16:32].all()
    assert image_mask.sum() == 8 * 16
    feature_mask = AF.box_mask(boxes, 4, 4)
    expected = torch.zeros(1, 4, 4, dtype=torch.bool)
    expected[0, 1, 2:4] = True
    assert torch.equal(feature_mask, expected)
    assert torch.equal(AF.erase(torch.ones(1, 2, 4, 4), boxes, apply) == 0, expected.unsqueeze(1).expand(1, 2, 4, 4))


# Reproducibility


@pytest.mark.parametrize("transform_class", [A.Cutout, A.RandomErasing])
def test_same_generator_seed_same_output(transform_class: type) -> None:
    x = make_image((8, 3, 16, 16))
    arguments = {"size": 5} if transform_class is A.Cutout else {"p": 0.5}
    first = transform_class(**arguments, generator=seeded(17))(x)
    second = transform_class(**arguments, generator=seeded(17))(x)
    third = transform_class(**arguments, generator=seeded(18))(x)
    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def test_manual_seed_reproduces_global_draws() -> None:
    x = make_image((8, 3, 16, 16))
    cutout = A.Cutout(size=5, fill="normal")
    torch.manual_seed(19)
    first = cutout(x)
    torch.manual_seed(19)
    second = cutout(x)
    assert torch.equal(first, second)


def test_pickle_keeps_generator_state() -> None:
    cutout = A.Cutout(size=5, generator=seeded(20))
    restored = pickle.loads(pickle.dumps(cutout))
    x = make_image((4, 3, 16, 16))
    assert torch.equal(cutout(x), restored(x))


# Errors


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"size": 0}, ValueError, "size in pixels must be at least 1"),
        ({"size": 1.5}, ValueError, r"size as a fraction of the shorter side must be in \(0, 1\]"),
        ({"size": 0.0}, ValueError, r"must be in \(0, 1\]"),
        ({"size": True}, TypeError, "size must contain ints"),
        ({"size": "3"}, TypeError, "size must contain ints"),
        ({"size": (1, 2, 3)}, TypeError, r"number or a pair \(height, width\)"),
        ({"size": 3, "holes": 0}, ValueError, "holes must be at least 1"),
        ({"size": 3, "holes": 1.0}, TypeError, "holes must be an int"),
        ({"size": 3, "p": 1.5}, ValueError, r"p must be in \[0, 1\]"),
        ({"size": 3, "p": True}, TypeError, "p must be a real number"),
        ({"size": 3, "fill": "zeros"}, ValueError, "fill must be a number"),
        ({"size": 3, "fill": None}, TypeError, "fill must be a number"),
        ({"size": 3, "fill": []}, TypeError, "non-empty sequence"),
        ({"size": 3, "inside": 1}, TypeError, "inside must be a bool"),
        ({"size": 3, "generator": 0}, TypeError, "generator must be a torch.Generator"),
    ],
)
def test_cutout_rejects_bad_arguments(arguments: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=f"Cutout: .*{match}"):
        A.Cutout(**arguments)


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"p": -0.1}, ValueError, r"p must be in \[0, 1\]"),
        ({"scale": (0.3, 0.1)}, ValueError, "scale must satisfy low <= high"),
        ({"scale": (0.0, 0.1)}, ValueError, r"scale must lie in \(0.0, 1.0\]"),
        ({"scale": (0.1, 1.2)}, ValueError, r"scale must lie in \(0.0, 1.0\]"),
        ({"scale": 0.1}, TypeError, r"scale must be a pair"),
        ({"ratio": (0.0, 2.0)}, ValueError, "ratio must lie in"),
        ({"ratio": (2.0, 0.5)}, ValueError, "ratio must satisfy low <= high"),
        ({"ratio": (0.5, float("inf"))}, ValueError, "ratio.1. must be finite"),
        ({"inplace": "yes"}, TypeError, "inplace must be a bool"),
    ],
)
def test_random_erasing_rejects_bad_arguments(arguments: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=f"RandomErasing: .*{match}"):
        A.RandomErasing(**arguments)


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (torch.ones(8, 8), ValueError, r"expected a tensor of shape \(..., C, H, W\), got shape \(8, 8\)"),
        (torch.ones(1, 3, 8, 8, dtype=torch.bool), TypeError, "got dtype torch.bool"),
    ],
)
def test_bad_input_raises_at_call(image: torch.Tensor, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=f"Cutout: .*{match}"):
        A.Cutout(size=2)(image)


def test_no_image_among_inputs_raises() -> None:
    mask = tv_tensors.Mask(torch.ones(8, 8))
    with pytest.raises(TypeError, match="expected an image"):
        A.Cutout(size=2)(mask)


def test_erase_rejects_mismatched_batch() -> None:
    with pytest.raises(ValueError, match="leading dimensions must match"):
        AF.erase(torch.ones(3, 1, 4, 4), torch.zeros(2, 1, 4), torch.ones(2, dtype=torch.bool))


def test_layout_of_video_shares_frames() -> None:
    layout = layout_of("Cutout", tv_tensors.Video(torch.ones(2, 5, 3, 8, 6)))
    assert layout.batch_shape == (2,)
    assert layout.inner_shape == (5, 3)
    assert (layout.height, layout.width) == (8, 6)

"""Tests of the flips, RandomRescale and the geometry kernels."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import PIL.Image
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

import augspace as A
from augspace import functional as AF

from .checks import check_transform
from .strategies import generators, image_dtypes, image_sizes, make_image


@dataclass(frozen=True)
class FlipCase:
    """A flip transform with its kernel, torchvision's box flip and the tensor dimension it mirrors."""

    transform: type[A.RandomTransform]
    kernel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    flip_boxes: Callable[[torch.Tensor], torch.Tensor]
    dim: int


FLIPS = [
    pytest.param(FlipCase(A.RandomHorizontalFlip, AF.horizontal_flip, TF.horizontal_flip, -1), id="horizontal"),
    pytest.param(FlipCase(A.RandomVerticalFlip, AF.vertical_flip, TF.vertical_flip, -2), id="vertical"),
]
INTERPOLATIONS = ["nearest", "bilinear", "bicubic"]
PIL_FILTERS = {"bilinear": PIL.Image.Resampling.BILINEAR, "bicubic": PIL.Image.Resampling.BICUBIC}


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rescale_by(x: torch.Tensor, factor: float, **kwargs: object) -> torch.Tensor:
    """Rescale every sample of ``x`` (batch shape ``(N,)``) by the same ``factor`` through the functional."""
    count = x.shape[0]
    factors = torch.full((count,), factor)
    return AF.rescale(x, factors, torch.ones(count, dtype=torch.bool), **kwargs)


def centred_square(side: int, square: int) -> torch.Tensor:
    """A ``(1, 1, side, side)`` float image of zeros with a centred ``square`` x ``square`` block of ones."""
    image = torch.zeros(1, 1, side, side)
    start = (side - square) // 2
    image[..., start : start + square, start : start + square] = 1.0
    return image


def extent(line: torch.Tensor) -> int:
    """Number of entries above one half along a 1-d line through the square."""
    return int((line > 0.5).sum())


# Contract


@pytest.mark.parametrize(
    "transform",
    [
        A.RandomHorizontalFlip(),
        A.RandomVerticalFlip(),
        A.RandomRescale(),
        A.RandomRescale(scale_factor=(0.5, 2.0), interpolation="bicubic", fill=(0.1, 0.5, 0.9)),
        A.RandomRescale(scale_factor=(0.3, 3.0), p=0.5, interpolation=InterpolationMode.NEAREST),
    ],
    ids=["hflip", "vflip", "rescale", "rescale-bicubic", "rescale-nearest"],
)
def test_transform_contract(transform: A.RandomTransform) -> None:
    check_transform(transform, make_image((4, 3, 12, 10)))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("make_transform", [A.RandomHorizontalFlip, A.RandomRescale], ids=["flip", "rescale"])
def test_channels_last_same_values(make_transform: Callable[..., A.RandomTransform], dtype: torch.dtype) -> None:
    x = make_image((3, 3, 9, 11), dtype)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    transform = make_transform(generator=seeded(5))
    expected = transform(x)
    transform.generator.manual_seed(5)
    output = transform(channels_last)
    assert output.is_contiguous(memory_format=torch.channels_last)
    assert output.dtype == dtype
    assert torch.equal(output, expected)


@pytest.mark.parametrize("make_transform", [A.RandomVerticalFlip, A.RandomRescale], ids=["flip", "rescale"])
def test_no_input_mutation(make_transform: Callable[..., A.RandomTransform]) -> None:
    x = make_image((5, 3, 8, 8))
    before = x.clone()
    version = x._version
    make_transform(p=1.0)(x)
    assert x._version == version
    assert torch.equal(x, before)


@pytest.mark.parametrize("make_transform", [A.RandomHorizontalFlip, A.RandomRescale], ids=["flip", "rescale"])
def test_empty_batch(make_transform: Callable[..., A.RandomTransform]) -> None:
    x = torch.rand(0, 3, 8, 8)
    output = make_transform(p=1.0)(x)
    assert output.shape == (0, 3, 8, 8)


@pytest.mark.parametrize(
    "make_transform", [A.RandomHorizontalFlip, A.RandomVerticalFlip, A.RandomRescale], ids=["h", "v", "rescale"]
)
def test_same_seed_same_output(make_transform: Callable[..., A.RandomTransform]) -> None:
    x = make_image((16, 3, 8, 8))
    first = make_transform(generator=seeded(11))(x)
    second = make_transform(generator=seeded(11))(x)
    assert torch.equal(first, second)

    torch.manual_seed(3)
    global_first = make_transform()(x)
    torch.manual_seed(3)
    global_second = make_transform()(x)
    assert torch.equal(global_first, global_second)


@pytest.mark.parametrize(
    "make_transform", [A.RandomHorizontalFlip, A.RandomVerticalFlip, A.RandomRescale], ids=["h", "v", "rescale"]
)
def test_eval_returns_same_objects(make_transform: Callable[..., A.RandomTransform]) -> None:
    transform = make_transform(p=1.0).eval()
    image = tv_tensors.Image(torch.rand(3, 8, 8))
    mask = tv_tensors.Mask(torch.zeros(8, 8, dtype=torch.uint8))
    output_image, output_mask = transform(image, mask)
    assert output_image is image
    assert output_mask is mask


@pytest.mark.parametrize(
    "transform",
    [A.RandomHorizontalFlip(generator=seeded(1)), A.RandomRescale(interpolation="bicubic", generator=seeded(1))],
    ids=["flip", "rescale"],
)
def test_pickle_keeps_generator_state(transform: A.RandomTransform) -> None:
    restored = pickle.loads(pickle.dumps(transform))
    x = make_image((6, 3, 8, 8))
    assert torch.equal(transform(x), restored(x))
    assert restored.p == transform.p


# Flips


@pytest.mark.parametrize("case", FLIPS)
@given(size=image_sizes(max_side=12), batch=st.integers(0, 6), generator=generators(), dtype=image_dtypes())
def test_flip_is_involution(
    case: FlipCase,
    size: tuple[int, int],
    batch: int,
    generator: torch.Generator,
    dtype: torch.dtype,
) -> None:
    transform = case.transform(p=0.5, generator=generator)
    x = make_image((batch, 2, *size), dtype)
    params = transform.make_params([x])
    twice = transform.transform(transform.transform(x, params), params)
    assert torch.equal(twice, x)


@pytest.mark.parametrize("case", FLIPS)
def test_flip_decided_per_sample(case: FlipCase) -> None:
    x = make_image((200, 3, 5, 5), seed=1)
    output = case.transform(p=0.5, generator=seeded(0))(x)
    flipped = (output == x.flip(case.dim)).flatten(1).all(dim=1)
    untouched = (output == x).flatten(1).all(dim=1)
    assert bool((flipped ^ untouched).all()), "every sample is either flipped or untouched"

    # Binomial(200, 0.5) has mean 100 and standard deviation sqrt(200 * 0.25) ~ 7.07, so three deviations is ~21.2.
    count = int(flipped.sum())
    assert abs(count - 100) <= 3 * math.sqrt(200 * 0.25)


@pytest.mark.parametrize("case", FLIPS)
def test_flip_functional_matches_tensor_flip(case: FlipCase) -> None:
    x = make_image((6, 3, 4, 7))
    apply = torch.tensor([True, False, True, True, False, False])
    output = case.kernel(x, apply)
    assert torch.equal(output[apply], x[apply].flip(case.dim))
    assert torch.equal(output[~apply], x[~apply])


@pytest.mark.parametrize("case", FLIPS)
def test_flip_video_frames_share_decision(case: FlipCase) -> None:
    frame = make_image((1, 1, 3, 6, 6))
    video = tv_tensors.Video(frame.expand(8, 4, 3, 6, 6).clone())
    output = case.transform(p=0.5, generator=seeded(2))(video)
    assert isinstance(output, tv_tensors.Video)
    assert torch.equal(output, output[:, :1].expand_as(output))


def single_image_with_targets() -> tuple[tv_tensors.Image, tv_tensors.Mask, tv_tensors.BoundingBoxes]:
    """An unbatched 8x12 image with a label mask and two boxes on its canvas."""
    image = tv_tensors.Image(make_image((3, 8, 12)))
    mask = tv_tensors.Mask(torch.randint(0, 5, (8, 12), generator=seeded(0)))
    boxes = tv_tensors.BoundingBoxes([[1, 2, 5, 6], [0, 0, 12, 3]], format="XYXY", canvas_size=(8, 12))
    return image, mask, boxes


@pytest.mark.parametrize("case", FLIPS)
def test_flip_moves_mask_and_boxes(case: FlipCase) -> None:
    image, mask, boxes = single_image_with_targets()
    output_image, output_mask, output_boxes = case.transform(p=1.0)(image, mask, boxes)
    assert torch.equal(output_image, image.flip(case.dim))
    assert torch.equal(output_mask, mask.flip(case.dim))
    assert isinstance(output_mask, tv_tensors.Mask)
    assert isinstance(output_boxes, tv_tensors.BoundingBoxes)
    assert torch.equal(output_boxes, case.flip_boxes(boxes))
    assert output_boxes.canvas_size == (8, 12)


@pytest.mark.parametrize("case", FLIPS)
def test_flip_not_chosen_keeps_targets(case: FlipCase) -> None:
    image, mask, boxes = single_image_with_targets()
    output_image, output_mask, output_boxes = case.transform(p=0.0)(image, mask, boxes)
    assert torch.equal(output_image, image)
    assert torch.equal(output_mask, mask)
    assert torch.equal(output_boxes, boxes)


@pytest.mark.parametrize("case", FLIPS)
def test_flip_batched_mask_follows_image(case: FlipCase) -> None:
    labels = torch.randint(0, 255, (16, 6, 6), generator=seeded(4), dtype=torch.uint8)
    image = tv_tensors.Image(labels.unsqueeze(1).expand(16, 3, 6, 6).clone())
    output_image, output_mask = case.transform(p=0.5, generator=seeded(4))(image, tv_tensors.Mask(labels))
    assert torch.equal(output_mask, output_image[:, 0])
    assert not torch.equal(output_mask, labels), "the seed flips at least one sample"


@pytest.mark.parametrize("case", FLIPS)
def test_flip_batched_image_with_boxes_raises(case: FlipCase) -> None:
    images = tv_tensors.Image(torch.rand(4, 3, 8, 8))
    boxes = tv_tensors.BoundingBoxes([[1, 2, 5, 6]], format="XYXY", canvas_size=(8, 8))
    with pytest.raises(ValueError, match="BoundingBoxes belong to a single image"):
        case.transform(p=1.0)(images, boxes)


@pytest.mark.parametrize("case", FLIPS)
def test_flip_mask_without_batch_raises(case: FlipCase) -> None:
    images = tv_tensors.Image(torch.rand(4, 3, 8, 8))
    mask = tv_tensors.Mask(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="leading dimensions must match"):
        case.transform(p=1.0)(images, mask)


@pytest.mark.parametrize("case", FLIPS)
@pytest.mark.parametrize("mode", ["1", "L", "P", "I;16", "I", "F", "RGB", "RGBA", "CMYK"])
def test_flip_pil_any_mode(case: FlipCase, mode: str) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    image = PIL.Image.fromarray(pixels, mode="RGB").convert(mode)
    output = case.transform(p=1.0)(image)
    assert output.mode == mode
    assert output.size == image.size
    axis = 1 if case.dim == -1 else 0
    assert np.array_equal(np.asarray(output), np.flip(np.asarray(image), axis=axis))


@pytest.mark.parametrize("case", FLIPS)
def test_flip_pil_matches_tensor(case: FlipCase) -> None:
    tensor = make_image((3, 7, 9), torch.uint8)
    image = TF.to_pil_image(tensor)
    output = TF.pil_to_tensor(case.transform(p=1.0)(image))
    assert torch.equal(output, case.transform(p=1.0)(tensor))


def test_flip_pil_with_batched_params_raises() -> None:
    transform = A.RandomHorizontalFlip()
    params = A.FlipParams(apply=torch.ones(2, dtype=torch.bool))
    image = PIL.Image.new("RGB", (4, 4))
    with pytest.raises(ValueError, match="PIL images belong to a single image"):
        transform.transform(image, params)


# Rescale: resampling


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8, torch.float16, torch.bfloat16, torch.float64])
def test_rescale_factor_one_is_identity(interpolation: str, dtype: torch.dtype) -> None:
    x = make_image((4, 3, 13, 10), dtype)
    output = A.RandomRescale(scale_factor=(1, 1), interpolation=interpolation)(x)
    assert torch.equal(output, x)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_rescale_zoom_in_keeps_constant_image(interpolation: str) -> None:
    transform = A.RandomRescale(scale_factor=(1.1, 3.0), interpolation=interpolation, generator=seeded(0))
    x = torch.full((6, 3, 15, 12), 0.37)
    assert torch.allclose(transform(x), x, atol=1e-6)
    uint8 = torch.full((6, 3, 15, 12), 200, dtype=torch.uint8)
    assert torch.equal(transform(uint8), uint8)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_rescale_zoom_out_pads_with_fill(interpolation: str) -> None:
    x = torch.ones(2, 3, 16, 16)
    output = A.RandomRescale(scale_factor=(0.5, 0.5), interpolation=interpolation, fill=0.25)(x)
    border = torch.ones(16, 16, dtype=torch.bool)
    border[4:12, 4:12] = False
    assert bool((output[..., border] == 0.25).all())
    assert torch.allclose(output[..., 4:12, 4:12], torch.ones(2, 3, 8, 8), atol=1e-6)


def test_rescale_uint8_fill_rounded_and_clamped() -> None:
    x = torch.full((1, 3, 8, 8), 100, dtype=torch.uint8)
    output = A.RandomRescale(scale_factor=(0.5, 0.5), fill=(300.0, -5.0, 7.6))(x)
    assert output[0, :, 0, 0].tolist() == [255, 0, 8]


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("factor", [2.0, 1.5, 0.75, 0.5])
def test_rescale_square_scales_by_factor(interpolation: str, factor: float) -> None:
    output = rescale_by(centred_square(64, 16), factor, interpolation=interpolation)
    # One pixel of tolerance, because the square's edges fall between pixel centres at non-integer sizes.
    assert abs(extent(output[0, 0, 32]) - 16 * factor) <= 1
    assert abs(extent(output[0, 0, :, 32]) - 16 * factor) <= 1


def pil_resize(x: torch.Tensor, size: int, interpolation: str) -> torch.Tensor:
    """Resize a 2-d float tensor to ``size`` x ``size`` with PIL in mode F."""
    pil = PIL.Image.fromarray(x.numpy(), mode="F").resize((size, size), PIL_FILTERS[interpolation])
    return torch.from_numpy(np.asarray(pil).copy())


# Zooming a 16x16 image by a factor that gives a whole-pixel size equals PIL's resize to that size, centre cropped
# when zooming in, or centred on a padded canvas when zooming out.
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize(("factor", "resized"), [(2.0, 32), (1.5, 24)])
def test_rescale_zoom_in_matches_pil(interpolation: str, factor: float, resized: int) -> None:
    x = torch.rand(1, 1, 16, 16, generator=seeded(9))
    crop = slice((resized - 16) // 2, (resized - 16) // 2 + 16)
    reference = pil_resize(x[0, 0], resized, interpolation)[crop, crop]
    output = rescale_by(x, factor, interpolation=interpolation)[0, 0]
    assert torch.allclose(output, reference, atol=1e-5)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize(("factor", "resized"), [(0.75, 12), (0.5, 8)])
def test_rescale_zoom_out_matches_pil(interpolation: str, factor: float, resized: int) -> None:
    x = torch.rand(1, 1, 16, 16, generator=seeded(9))
    inner = slice((16 - resized) // 2, (16 - resized) // 2 + resized)
    output = rescale_by(x, factor, interpolation=interpolation, fill=-1.0)[0, 0]
    assert torch.allclose(output[inner, inner], pil_resize(x[0, 0], resized, interpolation), atol=1e-5)
    assert bool((output[: inner.start] == -1.0).all())
    assert bool((output[inner.stop :] == -1.0).all())


@given(size=image_sizes(max_side=16), batch=st.integers(1, 4), generator=generators(), dtype=image_dtypes())
def test_rescale_bilinear_stays_in_range(
    size: tuple[int, int], batch: int, generator: torch.Generator, dtype: torch.dtype
) -> None:
    x = make_image((batch, 2, *size), dtype)
    output = A.RandomRescale(scale_factor=(0.3, 3.0), fill=0.0, generator=generator)(x).to(torch.float32)
    # Bilinear weights are non-negative and sum to 1, so every pixel is a convex combination of inputs or the fill.
    low = min(float(x.min()), 0.0)
    high = max(float(x.max()), 0.0)
    assert float(output.min()) >= low - 1e-6
    assert float(output.max()) <= high + 1e-6


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_rescale_functional_bound_from_factors(interpolation: str) -> None:
    x = make_image((3, 3, 10, 10))
    factor = torch.tensor([0.4, 1.0, 2.5])
    apply = torch.ones(3, dtype=torch.bool)
    computed = AF.rescale(x, factor, apply, interpolation=interpolation)
    given_bound = AF.rescale(x, factor, apply, interpolation=interpolation, min_factor=0.4)
    assert torch.equal(computed, given_bound)


def test_rescale_samples_not_chosen_untouched() -> None:
    x = make_image((200, 3, 6, 6), seed=2)
    transform = A.RandomRescale(scale_factor=(1.5, 2.0), p=0.5, generator=seeded(2))
    params = transform.make_params([x])
    output = transform.transform(x, params)
    assert torch.equal(output[~params.apply], x[~params.apply])
    assert bool((output[params.apply] != x[params.apply]).flatten(1).any(dim=1).all())

    # Binomial(200, 0.5): three standard deviations, sqrt(200 * 0.25) ~ 7.07 each, is ~21.2 around 100.
    assert abs(int(params.apply.sum()) - 100) <= 3 * math.sqrt(200 * 0.25)


def test_rescale_factor_log_uniform() -> None:
    transform = A.RandomRescale(scale_factor=(0.5, 2.0), generator=seeded(6))
    factor = transform.make_params([torch.zeros(4000, 1, 2, 2)]).factor
    assert float(factor.min()) >= 0.5
    assert float(factor.max()) <= 2.0
    # Log-uniform on [0.5, 2]: P(factor < 1) = 1/2. Standard deviation of the fraction sqrt(0.25 / 4000) ~ 0.0079,
    # and the assert allows three of them.
    assert abs(float((factor < 1.0).float().mean()) - 0.5) <= 3 * math.sqrt(0.25 / 4000)


def test_rescale_video_frames_share_factor() -> None:
    frame = make_image((1, 1, 3, 12, 12))
    video = tv_tensors.Video(frame.expand(4, 5, 3, 12, 12).clone())
    output = A.RandomRescale(scale_factor=(0.5, 2.0), generator=seeded(8))(video)
    assert isinstance(output, tv_tensors.Video)
    assert torch.equal(output, output[:, :1].expand_as(output))


def test_rescale_gradient_flows() -> None:
    x = torch.rand(2, 4, 8, 8, requires_grad=True)
    A.RandomRescale(scale_factor=(0.5, 2.0), interpolation="bicubic").forward_tensor(x).sum().backward()
    assert x.grad is not None
    assert bool(torch.isfinite(x.grad).all())
    assert bool((x.grad != 0).any())


# Rescale: PIL, masks and boxes


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_rescale_pil_matches_tensor(mode: str, interpolation: str) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (11, 14, 3), dtype=np.uint8)
    image = PIL.Image.fromarray(pixels, mode="RGB").convert(mode)
    pil_output = A.RandomRescale(scale_factor=(0.5, 2.0), interpolation=interpolation, generator=seeded(3))(image)
    tensor_output = A.RandomRescale(scale_factor=(0.5, 2.0), interpolation=interpolation, generator=seeded(3))(
        TF.pil_to_tensor(image)
    )
    assert pil_output.mode == mode
    assert torch.equal(TF.pil_to_tensor(pil_output), tensor_output)


def test_rescale_pil_unsupported_mode_raises() -> None:
    with pytest.raises(TypeError, match="expected a PIL image in one of the modes"):
        A.RandomRescale()(PIL.Image.new("P", (4, 4)))


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_rescale_mask_uses_nearest(interpolation: str) -> None:
    labels = torch.randint(1, 6, (8, 10, 10), generator=seeded(5), dtype=torch.uint8)
    image = tv_tensors.Image(labels.unsqueeze(1))
    transform = A.RandomRescale(scale_factor=(0.5, 2.0), interpolation=interpolation, generator=seeded(5))
    params = transform.make_params([image])
    output_mask = transform.transform(tv_tensors.Mask(labels), params)
    nearest = AF.rescale(labels.unsqueeze(1), params.factor, params.apply, interpolation="nearest", fill=0)
    assert isinstance(output_mask, tv_tensors.Mask)
    assert torch.equal(output_mask, nearest[:, 0])
    assert set(output_mask.unique().tolist()) <= set(range(6))


def test_rescale_bool_mask_kept() -> None:
    image = tv_tensors.Image(torch.rand(3, 16, 16))
    mask = tv_tensors.Mask(torch.ones(16, 16, dtype=torch.bool))
    _, output = A.RandomRescale(scale_factor=(0.5, 0.5))(image, mask)
    assert output.dtype == torch.bool
    assert int(output.sum()) == 64


@pytest.mark.parametrize("box_format", ["XYXY", "XYWH", "CXCYWH"])
def test_rescale_boxes_scaled_about_centre(box_format: str) -> None:
    image = tv_tensors.Image(torch.rand(3, 64, 64))
    xyxy = torch.tensor([[24.0, 24.0, 40.0, 40.0], [8.0, 8.0, 24.0, 24.0], [20.0, 28.0, 36.0, 32.0]])
    boxes = tv_tensors.BoundingBoxes(
        TF.convert_bounding_box_format(xyxy, old_format="XYXY", new_format=box_format),
        format=box_format,
        canvas_size=(64, 64),
    )
    _, output = A.RandomRescale(scale_factor=(2, 2))(image, boxes)
    # (x - 32) * 2 + 32, then clamped to the 64x64 canvas.
    expected = torch.tensor([[16.0, 16.0, 48.0, 48.0], [0.0, 0.0, 16.0, 16.0], [8.0, 24.0, 40.0, 32.0]])
    assert isinstance(output, tv_tensors.BoundingBoxes)
    assert output.format == boxes.format
    assert torch.allclose(TF.convert_bounding_box_format(output, new_format="XYXY").as_subclass(torch.Tensor), expected)


def test_rescale_boxes_without_clamping_mode() -> None:
    image = tv_tensors.Image(torch.rand(3, 64, 64))
    boxes = tv_tensors.BoundingBoxes([[8, 8, 24, 24]], format="XYXY", canvas_size=(64, 64), clamping_mode=None)
    _, output = A.RandomRescale(scale_factor=(2, 2))(image, boxes)
    assert output.dtype == torch.int64
    assert output.tolist() == [[-16, -16, 16, 16]]


def test_rescale_boxes_not_chosen_unchanged() -> None:
    image = tv_tensors.Image(torch.rand(3, 32, 32))
    boxes = tv_tensors.BoundingBoxes([[1.0, 2.0, 5.0, 6.0]], format="XYXY", canvas_size=(32, 32))
    _, output = A.RandomRescale(scale_factor=(2, 2), p=0.0)(image, boxes)
    assert torch.equal(output, boxes)


def test_rescale_batched_image_with_boxes_raises() -> None:
    images = tv_tensors.Image(torch.rand(2, 3, 8, 8))
    boxes = tv_tensors.BoundingBoxes([[1, 2, 5, 6]], format="XYXY", canvas_size=(8, 8))
    with pytest.raises(ValueError, match="BoundingBoxes belong to a single image"):
        A.RandomRescale()(images, boxes)


# Errors


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: A.RandomHorizontalFlip(p=1.5), ValueError, r"RandomHorizontalFlip: p must be in \[0, 1\]"),
        (lambda: A.RandomVerticalFlip(p=True), TypeError, "RandomVerticalFlip: p must be a real number"),
        (lambda: A.RandomHorizontalFlip(generator=0), TypeError, "generator must be a torch.Generator"),
        (lambda: A.RandomRescale(p=-0.1), ValueError, r"p must be in \[0, 1\]"),
        (
            lambda: A.RandomRescale(scale_factor=(2, 1)),
            ValueError,
            r"scale_factor must satisfy low <= high, got \(2, 1\)",
        ),
        (lambda: A.RandomRescale(scale_factor=(0, 1)), ValueError, r"scale_factor must lie in \(0.0, inf\]"),
        (lambda: A.RandomRescale(scale_factor=(-1, 1)), ValueError, "scale_factor must lie in"),
        (lambda: A.RandomRescale(scale_factor=(1, math.inf)), ValueError, r"scale_factor\[1\] must be finite"),
        (lambda: A.RandomRescale(scale_factor=(True, 2)), TypeError, r"scale_factor\[0\] must be a real number"),
        (lambda: A.RandomRescale(scale_factor=1.5), TypeError, "scale_factor must be a pair"),
        (lambda: A.RandomRescale(interpolation="lanczos"), ValueError, "interpolation must be one of"),
        (lambda: A.RandomRescale(interpolation=InterpolationMode.NEAREST_EXACT), ValueError, "interpolation must be"),
        (lambda: A.RandomRescale(interpolation=2), TypeError, "interpolation must be an InterpolationMode"),
        (lambda: A.RandomRescale(fill="mean"), TypeError, "fill must be a number or a non-empty sequence"),
        (lambda: A.RandomRescale(fill=True), TypeError, "fill must be a number"),
        (lambda: A.RandomRescale(fill=()), TypeError, "fill must be a number"),
        (lambda: A.RandomRescale(fill=(math.nan,)), ValueError, "fill must be finite"),
        (lambda: A.RandomRescale(generator="seed"), TypeError, "generator must be a torch.Generator"),
    ],
)
def test_invalid_arguments_raise(make: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_rescale_fill_channel_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="fill must have 1 or 3 values"):
        A.RandomRescale(fill=(0.1, 0.2))(torch.rand(2, 3, 8, 8))


@pytest.mark.parametrize("make_transform", [A.RandomHorizontalFlip, A.RandomRescale], ids=["flip", "rescale"])
def test_image_without_channels_raises(make_transform: Callable[..., A.RandomTransform]) -> None:
    with pytest.raises(ValueError, match=r"expected a tensor of shape \(\.\.\., C, H, W\)"):
        make_transform()(torch.rand(8, 8))


def test_rescale_functional_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="factor and apply must have the same shape"):
        AF.rescale(torch.rand(2, 3, 8, 8), torch.ones(3), torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="leading dimensions must match"):
        AF.rescale(torch.rand(2, 3, 8, 8), torch.ones(4), torch.ones(4, dtype=torch.bool))


@pytest.mark.parametrize("min_factor", [0.0, -1.0, math.inf, math.nan])
def test_rescale_functional_invalid_min_factor_raises(min_factor: float) -> None:
    with pytest.raises(ValueError, match="min_factor must be a positive finite number"):
        AF.rescale(torch.rand(2, 3, 8, 8), torch.ones(2), torch.ones(2, dtype=torch.bool), min_factor=min_factor)


def test_flip_functional_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="horizontal_flip: the input's leading dimensions must match"):
        AF.horizontal_flip(torch.rand(2, 3, 8, 8), torch.ones(3, dtype=torch.bool))

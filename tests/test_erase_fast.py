"""Tests of the CPU paths of the erasing and geometry kernels, and of Cutout's rescale option.

The CPU paths write only the boxes (erasing), select into the flipped batch itself (flips) and resample with
``embedding_bag`` (rescale). Each must give what the generic form gives, which these tests force by patching the
switch between the two.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import augspace as A
import augspace.functional._erase as erase_module
import augspace.functional._geometry as geometry_module
from augspace import functional as AF
from augspace.functional._boxes import paint_boxes, pixel_ranges
from augspace.functional._erase import noise_in_boxes

from .strategies import generators, image_sizes, make_image


@pytest.fixture(autouse=True)
def boxes_on_host_at_any_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the erasing CPU path for boxes of any width, so the small images here exercise it."""
    monkeypatch.setattr(erase_module, "_MIN_ROW_LENGTH", 0)


@contextmanager
def generic_path() -> Iterator[None]:
    """Make the kernels take their generic form, the one used on other devices and under ``torch.compile``."""
    saved = (erase_module.use_host_path, geometry_module.use_host_path)
    erase_module.use_host_path = lambda x, **options: False
    geometry_module.use_host_path = lambda x, **options: False
    try:
        yield
    finally:
        erase_module.use_host_path, geometry_module.use_host_path = saved


def both_paths(kernel: Callable[..., torch.Tensor], *args: object, **kwargs: object) -> tuple[torch.Tensor, ...]:
    """Return the kernel's output on the CPU path and on the generic path."""
    host = kernel(*args, **kwargs)
    with generic_path():
        generic = kernel(*args, **kwargs)
    return host, generic


def make_boxes(batch: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``(batch, count, 4)`` boxes with edges in [-0.3, 1.3], so some reach past the border or miss the image."""
    corners = torch.rand(batch, count, 2, 2, generator=generator) * 1.6 - 0.3
    low, high = corners.min(dim=-1).values, corners.max(dim=-1).values
    return torch.stack([low[..., 0], low[..., 1], high[..., 0], high[..., 1]], dim=-1)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


FILLS = [0.0, 0.7, (0.1, 0.2, 0.3), "mean", "normal", "uniform"]


# Erasing: CPU path against the generic form


@pytest.mark.parametrize("fill", FILLS, ids=str)
@given(size=image_sizes(max_side=24), count=st.integers(1, 3), data=st.data(), channels_last=st.booleans())
def test_erase_host_path_matches_generic(
    fill: float | tuple | str, size: tuple[int, int], count: int, data: st.DataObject, channels_last: bool
) -> None:
    x = make_image((5, 3, *size))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    boxes = make_boxes(5, count, data.draw(generators()))
    apply = torch.tensor([True, False, True, True, True])
    noise = torch.randn(x.shape, generator=data.draw(generators())) if isinstance(fill, str) else None
    host, generic = both_paths(AF.erase, x, boxes, apply, fill, noise=noise)
    assert torch.equal(host, generic)
    assert host.stride() == generic.stride()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bfloat16, torch.float16, torch.float64])
def test_erase_host_path_matches_generic_dtypes(dtype: torch.dtype) -> None:
    x = make_image((6, 3, 17, 13), dtype)
    boxes = make_boxes(6, 2, seeded(0))
    apply = torch.ones(6, dtype=torch.bool)
    for fill in (0.0, (300.0, -2.0, 7.6), "mean"):
        host, generic = both_paths(AF.erase, x, boxes, apply, fill)
        assert torch.equal(host, generic), fill


def test_erase_host_path_inplace_writes_only_boxes() -> None:
    x = make_image((4, 3, 20, 20))
    boxes = make_boxes(4, 2, seeded(1))
    expected = AF.erase(x, boxes, torch.ones(4, dtype=torch.bool))
    target = x.clone()
    output = AF.erase(target, boxes, torch.ones(4, dtype=torch.bool), inplace=True)
    assert output is target
    assert torch.equal(target, expected)


def test_erase_host_path_video_frames_share_box() -> None:
    video = make_image((2, 4, 3, 10, 12))
    boxes = torch.tensor([[[0.1, 0.2, 0.6, 0.7]], [[0.5, 0.0, 1.0, 0.4]]])
    host, generic = both_paths(AF.erase, video, boxes, torch.ones(2, dtype=torch.bool), (0.1, 0.2, 0.3))
    assert torch.equal(host, generic)


def test_erase_with_gradient_takes_generic_path() -> None:
    x = make_image((3, 2, 8, 8)).requires_grad_()
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5]]]).expand(3, 1, 4)
    AF.erase(x, boxes, torch.ones(3, dtype=torch.bool)).sum().backward()
    assert torch.equal(x.grad[:, :, :4, :4], torch.zeros(3, 2, 4, 4))
    assert torch.equal(x.grad[:, :, 4:, :], torch.ones(3, 2, 4, 8))


def test_narrow_boxes_take_generic_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erase_module, "_MIN_ROW_LENGTH", 32)
    calls = []
    monkeypatch.setattr(erase_module, "_erase_on_host", lambda *args, **kwargs: calls.append(args))
    x = make_image((2, 8, 28, 28))
    wide = torch.tensor([[[0.0, 0.0, 0.5, 1.0]], [[0.2, 0.0, 0.6, 1.0]]])
    narrow = torch.tensor([[[0.0, 0.0, 0.5, 0.5]], [[0.2, 0.1, 0.6, 0.6]]])
    apply = torch.ones(2, dtype=torch.bool)
    output = AF.erase(x, narrow, apply)
    assert calls == []
    assert torch.equal(output[0, :, :14, :14], torch.zeros(8, 14, 14))
    AF.erase(make_image((2, 8, 28, 64)), wide, apply)
    assert len(calls) == 1


# Box painting


@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=12), generator=generators())
def test_paint_boxes_covers_exactly_the_boxes(lengths: list[int], generator: torch.Generator) -> None:
    # Boxes of many sizes share a few window sizes; the painted pixels must still be exactly the boxes.
    count = len(lengths)
    planes = torch.zeros(count, 2, 48, 48)
    heights = torch.tensor(lengths)
    widths = torch.tensor(lengths[::-1])
    top = (torch.rand(count, generator=generator) * (48 - heights + 1)).long()
    left = (torch.rand(count, generator=generator) * (48 - widths + 1)).long()
    paint_boxes(planes, torch.arange(count), (top, top + heights), (left, left + widths), value=torch.tensor(1.0))

    expected = torch.zeros_like(planes)
    for index in range(count):
        expected[index, :, top[index] : top[index] + heights[index], left[index] : left[index] + widths[index]] = 1.0
    assert torch.equal(planes, expected)


def test_erase_numpy_fill_on_both_paths() -> None:
    # A NumPy array is a per-channel sequence, not a fill name, so it must never be compared with the names.
    np = pytest.importorskip("numpy")
    x = make_image((4, 3, 40, 48))
    boxes = make_boxes(4, 2, seeded(8))
    apply = torch.tensor([True, False, True, True])
    host, generic = both_paths(AF.erase, x, boxes, apply, np.array([0.1, 0.2, 0.3]))
    expected = AF.erase(x, boxes, apply, (0.1, 0.2, 0.3))
    assert torch.equal(host, expected)
    assert torch.equal(generic, expected)


# Noise drawn only inside the boxes


@given(data=st.data(), generator=generators())
def test_noise_in_boxes_covers_every_box(data: st.DataObject, generator: torch.Generator) -> None:
    # Draws are a marker value new to each example, because unwritten pixels may hold memory of an earlier one.
    height, width = data.draw(image_sizes(max_side=48))
    holes = data.draw(st.integers(1, 4))
    boxes = make_boxes(5, holes, generator)
    apply = torch.rand(5, generator=generator) < 0.7
    marker = 10.0 + torch.rand((), generator=generator).item()
    drawn: list[int] = []

    def draw(shape: tuple[int, ...]) -> torch.Tensor:
        drawn.append(math.prod(shape))
        return torch.full(shape, marker)

    # Five samples: a batch of 5 with 2 channels, or a (5, 1) batch of videos of 2 frames of 2 channels.
    batch_shape, inner_shape = data.draw(st.sampled_from([((5,), (2,)), ((5, 1), (2, 2))]))
    shape = (*batch_shape, *inner_shape, height, width)
    planes = math.prod(inner_shape)
    noise = noise_in_boxes(shape, boxes.view(*batch_shape, holes, 4), apply.view(batch_shape), draw)
    mask = AF.box_mask(boxes, height, width) & apply[:, None, None]
    assert noise.shape == shape
    assert noise.dtype == torch.float32
    assert torch.all(noise.reshape(5, planes, height, width).permute(1, 0, 2, 3)[:, mask] == marker)

    # Windows are at most sqrt(2) times a box's side in each direction, so at most twice its pixels are drawn.
    rows = pixel_ranges(boxes[..., 0::2], height)
    columns = pixel_ranges(boxes[..., 1::2], width)
    pixels = ((rows[1] - rows[0]).clamp(min=0) * (columns[1] - columns[0]).clamp(min=0))[apply]
    assert sum(drawn) <= 2 * planes * int(pixels.sum())


@pytest.mark.parametrize("fill", ["normal", "uniform"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8, torch.bfloat16], ids=str)
def test_noise_in_boxes_params_on_both_paths(fill: str, dtype: torch.dtype) -> None:
    # Params drawn on the CPU are valid only inside the boxes; the generic form must read nothing else.
    x = make_image((16, 3, 40, 48), dtype)
    cutout = A.Cutout(size=0.4, holes=3, p=0.7, fill=fill, generator=seeded(4))
    params = cutout.make_params([x])
    host, generic = both_paths(AF.erase, x, params.boxes, params.apply, fill, noise=params.noise)
    assert torch.equal(host, generic)
    assert torch.equal(cutout.apply_image(x, params), host)


def test_noise_in_boxes_same_seed_same_output() -> None:
    # Overlapping holes are drawn by separate writes, so two threads cannot race on a pixel.
    x = torch.zeros(32, 3, 96, 96)
    first = A.Cutout(size=0.5, holes=6, fill="normal", generator=seeded(5))(x)
    second = A.Cutout(size=0.5, holes=6, fill="normal", generator=seeded(5))(x)
    assert torch.equal(first, second)


def test_noise_in_boxes_is_standard_normal_inside_boxes() -> None:
    x = torch.zeros(64, 3, 64, 64)
    erasing = A.RandomErasing(p=1.0, fill="normal", generator=seeded(6))
    params = erasing.make_params([x])
    output = erasing.apply_image(x, params)
    mask = AF.box_mask(params.boxes, 64, 64).unsqueeze(1).expand_as(x)
    values = output[mask]
    # Bounds of four standard errors of the mean and of the standard deviation of the count's draws.
    count = values.numel()
    assert count > 100_000
    assert abs(values.mean().item()) <= 4 / math.sqrt(count)
    assert abs(values.std().item() - 1.0) <= 4 / math.sqrt(2 * count)
    assert torch.equal(output[~mask], torch.zeros(int((~mask).sum())))


def test_pixel_ranges_match_box_mask() -> None:
    boxes = make_boxes(64, 1, seeded(2))
    rows = pixel_ranges(boxes[..., 0::2], 13)
    columns = pixel_ranges(boxes[..., 1::2], 7)
    mask = AF.box_mask(boxes, 13, 7)
    for sample in range(64):
        expected = torch.zeros(13, 7, dtype=torch.bool)
        expected[rows[0][sample, 0] : rows[1][sample, 0], columns[0][sample, 0] : columns[1][sample, 0]] = True
        assert torch.equal(mask[sample], expected), sample


# Cutout with rescale


@pytest.mark.parametrize("path", ["host", "generic"])
def test_rescale_keeps_sample_sums(path: str) -> None:
    x = torch.ones(64, 4, 12, 12)
    cutout = A.Cutout(size=5, holes=2, rescale=True, generator=torch.Generator().manual_seed(0))
    params = cutout.make_params([x])
    if path == "generic":
        with generic_path():
            output = cutout.transform(x, params)
    else:
        output = cutout.transform(x, params)
    # On a constant map, dividing what is kept by the kept fraction restores the sum exactly up to rounding.
    assert torch.allclose(output.sum(dim=(-3, -2, -1)), torch.full((64,), 4 * 144.0), rtol=1e-5)


def test_rescale_divides_by_kept_fraction() -> None:
    x = make_image((2, 3, 10, 10))
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5]], [[0.0, 0.0, 0.5, 0.5]]])
    apply = torch.tensor([True, False])
    for output in both_paths(AF.erase, x, boxes, apply, rescale=True):
        assert torch.equal(output[0, :, :5, :5], torch.zeros(3, 5, 5))
        assert torch.allclose(output[0, :, 5:], x[0, :, 5:] / 0.75)
        assert torch.equal(output[1], x[1])


def test_rescale_whole_map_erased_gives_zeros() -> None:
    x = make_image((3, 2, 6, 6))
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]]).expand(3, 1, 4)
    for output in both_paths(AF.erase, x, boxes, torch.ones(3, dtype=torch.bool), rescale=True):
        assert bool(torch.isfinite(output).all())
        assert torch.equal(output, torch.zeros_like(x))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bfloat16, torch.float16])
def test_rescale_counts_in_float32(dtype: torch.dtype) -> None:
    x = make_image((2, 3, 8, 8), dtype)
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 1.0]]]).expand(2, 1, 4)
    expected = (x[:, :, 4:].float() * 2.0).round().clamp(0, 255) if dtype == torch.uint8 else x[:, :, 4:].float() * 2
    for output in both_paths(AF.erase, x, boxes, torch.ones(2, dtype=torch.bool), rescale=True):
        assert output.dtype == dtype
        assert torch.equal(output[:, :, 4:], expected.to(dtype))


def test_rescale_gradient_is_reciprocal_kept_fraction() -> None:
    x = make_image((1, 2, 4, 4)).requires_grad_()
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5]]])
    AF.erase(x, boxes, torch.ones(1, dtype=torch.bool), rescale=True).sum().backward()
    assert torch.equal(x.grad[0, :, :2, :2], torch.zeros(2, 2, 2))
    assert torch.allclose(x.grad[0, :, 2:, :], torch.full((2, 2, 4), 1 / 0.75))


@pytest.mark.parametrize("fill", [0.5, (0.0, 1.0), "mean", "normal"], ids=str)
def test_rescale_with_nonzero_fill_raises(fill: float | tuple | str) -> None:
    with pytest.raises(ValueError, match="rescale=True keeps the expected activation only with fill=0"):
        A.Cutout(size=3, fill=fill, rescale=True)
    with pytest.raises(ValueError, match="rescale=True keeps the expected activation only with fill=0"):
        AF.erase(torch.ones(1, 2, 4, 4), torch.zeros(1, 1, 4), torch.ones(1, dtype=torch.bool), fill, rescale=True)


def test_rescale_rejects_non_bool() -> None:
    with pytest.raises(TypeError, match="Cutout: rescale must be a bool"):
        A.Cutout(size=3, rescale=1)


def test_rescale_accepts_zero_per_channel_fill() -> None:
    output = A.Cutout(size=2, fill=(0, 0, 0), rescale=True)(torch.ones(2, 3, 4, 4))
    assert torch.allclose(output.sum(dim=(-3, -2, -1)), torch.full((2,), 48.0))


# Flips and rescale: CPU path against the generic form


@pytest.mark.parametrize("flip", [AF.horizontal_flip, AF.vertical_flip])
@pytest.mark.parametrize("pattern", [[True] * 4, [False] * 4, [True, False, False, True]], ids=["all", "none", "some"])
def test_flip_host_path_matches_generic(flip: Callable, pattern: list[bool]) -> None:
    apply = torch.tensor(pattern)
    for x in (make_image((4, 3, 5, 7)), make_image((4, 3, 5, 7)).contiguous(memory_format=torch.channels_last)):
        host, generic = both_paths(flip, x, apply)
        assert torch.equal(host, generic)
        assert host.stride() == generic.stride()
        assert host.data_ptr() != x.data_ptr()


def test_flip_gradient_flows() -> None:
    x = make_image((2, 1, 1, 3)).requires_grad_()
    weight = torch.tensor([1.0, 2.0, 3.0])
    (AF.horizontal_flip(x, torch.tensor([True, False])) * weight).sum().backward()
    assert x.grad.flatten().tolist() == [3.0, 2.0, 1.0, 1.0, 2.0, 3.0]


@pytest.fixture(params=["dense", "bags"])
def rescale_host_form(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the CPU path's dense matrices (small maps) and again with its ``embedding_bag`` form."""
    if request.param == "bags":
        monkeypatch.setattr(geometry_module, "_DENSE_MAX_SIDE", 0)
    return request.param


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.uint8])
@pytest.mark.parametrize("fill", [0.0, (0.2, 0.4, 0.6)], ids=str)
def test_rescale_host_path_matches_generic(
    interpolation: str, dtype: torch.dtype, fill: float | tuple, rescale_host_form: str
) -> None:
    x = make_image((6, 3, 19, 23), dtype)
    factor = torch.tensor([0.3, 0.8, 1.0, 1.7, 2.5, 0.5])
    apply = torch.tensor([True, True, True, True, False, True])
    host, generic = both_paths(AF.rescale, x, factor, apply, interpolation=interpolation, fill=fill)
    # Summing taps in another order changes the last bit of float results; uint8 can round the other way at .5.
    tolerance = {torch.float32: 1e-6, torch.float64: 1e-12, torch.bfloat16: 2**-7, torch.uint8: 1.0}[dtype]
    assert torch.allclose(host.double(), generic.double(), atol=tolerance, rtol=0)
    assert torch.equal(host[4], x[4])


def test_rescale_host_path_keeps_samples_not_chosen_exactly(rescale_host_form: str) -> None:
    x = make_image((3, 2, 9, 9))
    x[1, 0, 4, 4] = math.inf
    x[1, 1, 2, 2] = math.nan
    output = AF.rescale(x, torch.tensor([0.7, 1.4, 1.2]), torch.tensor([True, False, True]))
    assert torch.equal(output[1].nan_to_num(), x[1].nan_to_num())
    assert bool(output[1, 1, 2, 2].isnan())


def test_rescale_host_path_gradient_matches_generic(rescale_host_form: str) -> None:
    x = make_image((2, 2, 9, 11))
    factor, apply = torch.tensor([0.6, 1.5]), torch.ones(2, dtype=torch.bool)
    weight = make_image((2, 2, 9, 11), seed=1)
    gradients = []
    for use_generic in (False, True):
        leaf = x.clone().requires_grad_()
        if use_generic:
            with generic_path():
                output = AF.rescale(leaf, factor, apply, interpolation="bicubic")
        else:
            output = AF.rescale(leaf, factor, apply, interpolation="bicubic")
        (output * weight).sum().backward()
        gradients.append(leaf.grad)
    assert torch.allclose(gradients[0], gradients[1], atol=1e-6)


def test_rescale_dense_form_spreads_no_nan() -> None:
    # A dense product would multiply the inf by weights of 0; the bags skip those taps, so no NaN appears.
    x = make_image((2, 2, 16, 16))
    x[0, 0, 5, 7] = math.inf
    output = AF.rescale(x, torch.tensor([1.3, 0.8]), torch.tensor([True, True]))
    assert not bool(output.isnan().any())
    assert bool(output[0, 0].isinf().any())


@pytest.mark.parametrize("shape", [(4, 3, 64, 64), (4, 3, 65, 20), (4, 3, 60, 20)], ids=str)
def test_rescale_dense_matches_bags(shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    # Maps at the size limit, past it, and much taller than wide.
    x = make_image(shape)
    factor, apply = torch.tensor([0.55, 0.9, 1.0, 2.2]), torch.tensor([True, True, True, False])
    either = AF.rescale(x, factor, apply)
    monkeypatch.setattr(geometry_module, "_DENSE_MAX_SIDE", 0)
    bags = AF.rescale(x, factor, apply)
    assert torch.allclose(either, bags, atol=1e-6, rtol=0)
    assert torch.equal(either[3], x[3])


@pytest.mark.parametrize("form", ["dense", "bags"])
@pytest.mark.parametrize("chunk_samples", [1, 1.5], ids=["one sample", "a sample and a half"])
def test_rescale_chunks_match_generic(form: str, chunk_samples: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # Several chunks, the last one partial, in both CPU forms: output and gradient as on the generic path.
    x = make_image((5, 3, 12, 15))
    factor = torch.tensor([0.6, 1.3, 1.0, 2.1, 0.9])
    apply = torch.tensor([True, True, False, True, True])
    monkeypatch.setattr(geometry_module, "_CHUNK_BYTES", int(chunk_samples * 3 * 12 * 15 * 4))
    if form == "bags":
        monkeypatch.setattr(geometry_module, "_DENSE_MAX_SIDE", 0)
    weight = make_image((5, 3, 12, 15), seed=2)
    results = []
    for use_generic in (False, True):
        leaf = x.clone().requires_grad_()
        with generic_path() if use_generic else contextlib.nullcontext():
            output = AF.rescale(leaf, factor, apply, interpolation="bicubic")
        (output * weight).sum().backward()
        results.append((output.detach(), leaf.grad))
    (host, host_grad), (generic, generic_grad) = results
    assert torch.allclose(host, generic, atol=1e-6, rtol=0)
    assert torch.allclose(host_grad, generic_grad, atol=1e-6, rtol=0)
    with torch.no_grad():
        assert torch.allclose(AF.rescale(x, factor, apply, interpolation="bicubic"), generic, atol=1e-6, rtol=0)

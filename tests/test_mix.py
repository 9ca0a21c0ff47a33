"""Tests of MixUp, CutMix and the mixing kernels."""

from __future__ import annotations

import math
import pickle

import PIL.Image
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision import tv_tensors

import augspace as A
from augspace import functional as AF
from augspace.transforms._mix import draw_beta

from .strategies import generators, image_dtypes, image_sizes, make_image


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def labels_for(batch: int, num_classes: int = 5, *, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, num_classes, (batch,), generator=seeded(seed))


def expected_mixup(x: torch.Tensor, params: A.MixUpParams) -> torch.Tensor:
    """``lam * x + (1 - lam) * x[permutation]`` in float64."""
    weight = params.lam.double().view(-1, *([1] * (x.ndim - 1)))
    return weight * x.double() + (1.0 - weight) * x[params.permutation].double()


def expected_cutmix(x: torch.Tensor, params: A.CutMixParams) -> torch.Tensor:
    """The partner's pixels inside each box, computed from the boxes in whole pixels with integer slicing."""
    height, width = x.shape[-2:]
    scale = torch.tensor([height, width, height, width], dtype=torch.float64)
    pixel_boxes = torch.round(params.boxes.double() * scale).to(torch.int64).tolist()
    expected = x.clone()
    for sample, (top, left, bottom, right) in enumerate(pixel_boxes):
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(max(bottom, 0), height), min(max(right, 0), width)
        partner = int(params.permutation[sample])
        expected[sample, ..., top:bottom, left:right] = x[partner, ..., top:bottom, left:right]
    return expected


def pasted_pixels(params: A.CutMixParams, height: int, width: int) -> list[int]:
    """Pixels inside each box after clipping, counted with integer arithmetic on the pixel edges."""
    scale = torch.tensor([height, width, height, width], dtype=torch.float64)
    counts = []
    for top, left, bottom, right in torch.round(params.boxes.double() * scale).to(torch.int64).tolist():
        rows = max(min(bottom, height) - max(top, 0), 0)
        columns = max(min(right, width) - max(left, 0), 0)
        counts.append(rows * columns)
    return counts


# MixUp: images and params


@given(
    batch=st.integers(0, 9),
    size=image_sizes(max_side=12),
    per_sample=st.booleans(),
    alpha=st.floats(0.1, 5.0),
    generator=generators(),
)
def test_mixup_output_matches_params(
    batch: int, size: tuple[int, int], per_sample: bool, alpha: float, generator: torch.Generator
) -> None:
    x = make_image((batch, 3, *size))
    mixup = A.MixUp(alpha, num_classes=4, per_sample=per_sample, generator=generator)
    output, _ = mixup(x, labels_for(batch, 4))
    params = mixup.last_params
    assert torch.allclose(output.double(), expected_mixup(x, params), atol=1e-6)
    assert output.dtype == torch.float32


@given(batch=st.integers(1, 9), generator=generators())
def test_mixup_draws_a_permutation(batch: int, generator: torch.Generator) -> None:
    params = A.MixUp(generator=generator).make_params([torch.zeros(batch, 1, 2, 2)])
    assert torch.equal(params.permutation.sort().values, torch.arange(batch))
    assert params.permutation.dtype == torch.int64
    assert torch.all((params.lam >= 0) & (params.lam <= 1))


def test_mixup_batch_lam_shared_sample_lam_distinct() -> None:
    x = torch.zeros(16, 1, 2, 2)
    batch_params = A.MixUp(generator=seeded(0)).make_params([x])
    sample_params = A.MixUp(per_sample=True, generator=seeded(0)).make_params([x])
    assert torch.all(batch_params.lam == batch_params.lam[0])
    assert len(set(sample_params.lam.tolist())) == 16


def test_permutation_is_uniform_not_a_roll() -> None:
    draws, batch = 4000, 5
    mixup = A.MixUp(generator=seeded(1))
    partners = torch.stack([mixup.make_params([torch.zeros(batch, 1, 1, 1)]).permutation for _ in range(draws)])
    frequency = (partners[:, 0].unsqueeze(1) == torch.arange(batch)).double().mean(dim=0)
    # Each partner of sample 0 has probability 1/5, and four binomial standard deviations of the frequency are 0.025.
    tolerance = 4 * math.sqrt(0.2 * 0.8 / draws)
    assert torch.all((frequency - 0.2).abs() <= tolerance), frequency


@pytest.mark.parametrize("alpha", [0.2, 0.4, 1.0, 2.0, 8.0])
def test_lambda_matches_beta_moments(alpha: float) -> None:
    draws = 20000
    lam = draw_beta(A.MixUp(generator=seeded(2)), alpha, (draws,), torch.device("cpu")).double()
    variance = 1.0 / (4.0 * (2.0 * alpha + 1.0))
    # Beta(a, a) has mean 1/2, variance 1 / (4 (2a + 1)) and excess kurtosis -6 / (2a + 3), which give the standard
    # errors of the sample mean and variance. Each check allows four of them (a false failure below 1e-4).
    mean_error = math.sqrt(variance / draws)
    variance_error = variance * math.sqrt((2.0 - 6.0 / (2.0 * alpha + 3.0)) / draws)
    assert abs(lam.mean().item() - 0.5) <= 4 * mean_error
    assert abs(lam.var().item() - variance) <= 4 * variance_error


def test_lambda_mean_over_transform_calls() -> None:
    calls = 3000
    mixup = A.MixUp(alpha=0.5, num_classes=2, generator=seeded(3))
    x, labels = torch.zeros(2, 1, 2, 2), torch.tensor([0, 1])
    lam = torch.stack([mixup.make_params([x]).lam[0] for _ in range(calls)]).double()
    # Beta(0.5, 0.5) has mean 1/2 and standard deviation sqrt(1/8). The check allows four standard errors of the mean.
    assert abs(lam.mean().item() - 0.5) <= 4 * math.sqrt(1 / 8 / calls)
    assert mixup(x, labels)[1].shape == (2, 2)


def test_lambda_tiny_alpha_is_finite() -> None:
    lam = draw_beta(A.MixUp(generator=seeded(4)), 0.01, (5000,), torch.device("cpu"))
    assert torch.isfinite(lam).all()
    assert torch.all((lam >= 0) & (lam <= 1))


# Targets


@given(batch=st.integers(0, 9), num_classes=st.integers(1, 6), per_sample=st.booleans(), generator=generators())
def test_mixup_target_rows_sum_to_one(
    batch: int, num_classes: int, per_sample: bool, generator: torch.Generator
) -> None:
    mixup = A.MixUp(num_classes=num_classes, per_sample=per_sample, generator=generator)
    labels = labels_for(batch, num_classes)
    _, targets = mixup(torch.rand(batch, 2, 3, 3), labels)
    params = mixup.last_params
    one_hot = torch.nn.functional.one_hot(labels, num_classes).double()
    weight = params.lam.double().unsqueeze(1)
    assert targets.dtype == torch.float32
    assert targets.shape == (batch, num_classes)
    assert torch.allclose(targets.sum(dim=1), torch.ones(batch), atol=1e-6)
    assert torch.allclose(targets.double(), weight * one_hot + (1 - weight) * one_hot[params.permutation], atol=1e-6)


def test_soft_labels_infer_classes() -> None:
    soft = torch.softmax(torch.randn(6, 4, generator=seeded(5)), dim=1)
    mixup = A.MixUp(generator=seeded(5))
    _, targets = mixup(torch.rand(6, 3, 4, 4), soft)
    params = mixup.last_params
    weight = params.lam.unsqueeze(1)
    assert targets.shape == (6, 4)
    assert torch.allclose(targets, weight * soft + (1 - weight) * soft[params.permutation], atol=1e-6)
    assert torch.allclose(targets.sum(dim=1), torch.ones(6), atol=1e-6)


def test_soft_labels_float16_become_float32() -> None:
    soft = torch.full((3, 2), 0.5, dtype=torch.float16)
    _, targets = A.CutMix()(torch.rand(3, 1, 4, 4), soft)
    assert targets.dtype == torch.float32


def test_mix_targets_kernel() -> None:
    targets = AF.mix_targets(torch.tensor([0, 2]), torch.tensor([0.25, 1.0]), torch.tensor([1, 0]), num_classes=3)
    assert torch.equal(targets, torch.tensor([[0.25, 0.0, 0.75], [0.0, 0.0, 1.0]]))


# CutMix: boxes, pasted fraction and masks


@given(
    batch=st.integers(0, 7),
    size=image_sizes(max_side=24),
    per_sample=st.booleans(),
    alpha=st.floats(0.1, 5.0),
    generator=generators(),
)
def test_cutmix_lam_is_exact_pasted_fraction(
    batch: int, size: tuple[int, int], per_sample: bool, alpha: float, generator: torch.Generator
) -> None:
    height, width = size
    x = make_image((batch, 2, height, width))
    cutmix = A.CutMix(alpha, num_classes=3, per_sample=per_sample, generator=generator)
    output, targets = cutmix(x, labels_for(batch, 3))
    params = cutmix.last_params
    expected_lam = [1.0 - count / (height * width) for count in pasted_pixels(params, height, width)]
    assert params.lam.tolist() == pytest.approx(expected_lam, abs=1e-7)
    assert torch.equal(output, expected_cutmix(x, params))
    assert torch.allclose(targets.sum(dim=1), torch.ones(batch), atol=1e-6)


def test_cutmix_lam_is_float32_exact() -> None:
    x = torch.zeros(32, 1, 13, 7)
    params = A.CutMix(per_sample=True, generator=seeded(6)).make_params([x])
    counts = torch.tensor(pasted_pixels(params, 13, 7), dtype=torch.float32)
    assert torch.equal(params.lam, 1.0 - counts / (13 * 7))


@given(batch=st.integers(1, 7), size=image_sizes(max_side=20), generator=generators())
def test_cutmix_targets_weight_actual_area(batch: int, size: tuple[int, int], generator: torch.Generator) -> None:
    cutmix = A.CutMix(num_classes=4, per_sample=True, generator=generator)
    labels = labels_for(batch, 4)
    _, targets = cutmix(torch.rand(batch, 1, *size), labels)
    params = cutmix.last_params
    expected = AF.mix_targets(labels, params.lam, params.permutation, num_classes=4)
    assert torch.equal(targets, expected)


def test_cutmix_batch_box_shared() -> None:
    params = A.CutMix(generator=seeded(7)).make_params([torch.zeros(8, 3, 16, 16)])
    assert torch.all(params.boxes == params.boxes[0])
    assert torch.all(params.lam == params.lam[0])


def test_cutmix_box_side_follows_lambda() -> None:
    # With alpha large, lam is close to 1/2, so unclipped sides are close to sqrt(1/2) * 100 = 71 pixels.
    params = A.CutMix(alpha=1000.0, per_sample=True, generator=seeded(8)).make_params([torch.zeros(64, 1, 100, 100)])
    sides = torch.round((params.boxes[:, 2] - params.boxes[:, 0]) * 100)
    assert torch.all((sides >= 69) & (sides <= 73)), sides


def test_cutmix_mask_follows_boxes() -> None:
    images = tv_tensors.Image(make_image((5, 3, 12, 10)))
    mask = tv_tensors.Mask(torch.randint(0, 4, (5, 12, 10), generator=seeded(9)))
    cutmix = A.CutMix(num_classes=5, per_sample=True, generator=seeded(9))
    output_images, _, output_mask = cutmix(images, labels_for(5), mask)
    params = cutmix.last_params
    assert isinstance(output_images, tv_tensors.Image)
    assert isinstance(output_mask, tv_tensors.Mask)
    assert torch.equal(output_mask, expected_cutmix(mask.as_subclass(torch.Tensor), params))
    assert torch.equal(output_images, expected_cutmix(images.as_subclass(torch.Tensor), params))


def test_cutmix_mask_with_channel_dimension() -> None:
    mask = tv_tensors.Mask(torch.randint(0, 4, (3, 1, 6, 6), generator=seeded(10)))
    cutmix = A.CutMix(num_classes=5, generator=seeded(10))
    output = cutmix({"image": tv_tensors.Image(torch.rand(3, 3, 6, 6)), "mask": mask, "labels": labels_for(3)})
    assert torch.equal(output["mask"], expected_cutmix(mask.as_subclass(torch.Tensor), cutmix.last_params))


def test_mixup_mask_raises() -> None:
    mask = tv_tensors.Mask(torch.zeros(2, 4, 4, dtype=torch.uint8))
    with pytest.raises(TypeError, match="MixUp: cannot mix a segmentation Mask, because a blend"):
        A.MixUp(num_classes=2)(tv_tensors.Image(torch.rand(2, 3, 4, 4)), torch.tensor([0, 1]), mask)


# Kernels: paths, dtypes and layouts


@given(size=image_sizes(max_side=16), dtype=image_dtypes(), generator=generators())
def test_cutmix_kernel_equals_box_mask_where(
    size: tuple[int, int], dtype: torch.dtype, generator: torch.Generator
) -> None:
    x = make_image((6, 3, *size), dtype)
    params = A.CutMix(per_sample=True, generator=generator).make_params([x])
    inside = AF.box_mask(params.boxes.unsqueeze(1), *size).unsqueeze(1)
    expected = torch.where(inside, x[params.permutation], x)
    assert torch.equal(AF.cutmix(x, params.boxes, params.permutation), expected)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(AF.cutmix(channels_last, params.boxes, params.permutation), expected)


@given(dtype=image_dtypes(), generator=generators())
def test_mixup_kernel_dtypes(dtype: torch.dtype, generator: torch.Generator) -> None:
    x = make_image((5, 3, 6, 7), dtype)
    params = A.MixUp(per_sample=True, generator=generator).make_params([x])
    output = AF.mixup(x, params.lam, params.permutation)
    expected = expected_mixup(x, params)
    assert output.dtype == dtype
    assert torch.allclose(output.double(), expected.round() if dtype == torch.uint8 else expected, atol=0.01, rtol=0.01)


def test_mixup_uint8_rounds_half_to_even() -> None:
    x = torch.tensor([1, 2, 2, 3], dtype=torch.uint8).view(4, 1, 1, 1)
    output = AF.mixup(x, torch.full((4,), 0.5), torch.tensor([1, 0, 3, 2]))
    assert output.flatten().tolist() == [2, 2, 2, 2]


def test_mixup_uint8_stays_in_range() -> None:
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 4, 4).contiguous()
    output = AF.mixup(x, torch.tensor([0.999, 0.999]), torch.tensor([1, 0]))
    assert output.dtype == torch.uint8
    assert output[0].unique().tolist() == [0]
    assert output[1].unique().tolist() == [255]


def test_mixup_fast_and_general_paths_agree() -> None:
    x = make_image((7, 3, 9, 11))
    params = A.MixUp(per_sample=True, generator=seeded(11)).make_params([x])
    fast = AF.mixup(x, params.lam, params.permutation)
    general = AF.mixup(x.contiguous(memory_format=torch.channels_last), params.lam, params.permutation)
    assert torch.allclose(fast, general, atol=1e-6)


@pytest.mark.parametrize("kernel", ["mixup", "cutmix"])
def test_kernels_keep_channels_last(kernel: str) -> None:
    x = make_image((4, 3, 8, 8)).contiguous(memory_format=torch.channels_last)
    permutation = torch.tensor([1, 2, 3, 0])
    if kernel == "mixup":
        output = AF.mixup(x, torch.full((4,), 0.3), permutation)
    else:
        output = AF.cutmix(x, torch.tensor([[0.25, 0.25, 0.75, 0.75]]).expand(4, 4), permutation)
    assert output.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("kernel", ["mixup", "cutmix"])
def test_kernels_pass_gradients(kernel: str) -> None:
    x = make_image((4, 2, 6, 6)).requires_grad_()
    permutation = torch.tensor([1, 0, 3, 2])
    if kernel == "mixup":
        output = AF.mixup(x, torch.full((4,), 0.25), permutation)
    else:
        output = AF.cutmix(x, torch.tensor([[0.0, 0.0, 0.5, 1.0]]).expand(4, 4), permutation)
    output.sum().backward()
    # Every sample's value ends up once in its own output and once in its partner's, with weights summing to 1.
    assert torch.allclose(x.grad, torch.ones_like(x))


@pytest.mark.parametrize("kernel", ["mixup", "cutmix"])
def test_kernels_compile_without_graph_breaks(kernel: str) -> None:
    x = make_image((4, 3, 8, 8))
    permutation = torch.tensor([2, 0, 3, 1])
    if kernel == "mixup":
        explanation = torch._dynamo.explain(AF.mixup)(x, torch.full((4,), 0.3), permutation)
    else:
        explanation = torch._dynamo.explain(AF.cutmix)(x, torch.rand(4, 4, generator=seeded(12)), permutation)
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1


def test_box_fraction_counts_cells() -> None:
    boxes = torch.tensor([[0.25, 0.5, 0.5, 1.0], [-0.5, -0.5, 0.5, 0.5], [0.1, 0.1, 0.1, 0.1]])
    assert AF.box_fraction(boxes, 32, 32).tolist() == [8 * 16 / 1024, 0.25, 0.0]
    assert AF.box_fraction(boxes, 4, 4).tolist() == [2 / 16, 0.25, 0.0]
    assert AF.box_fraction(boxes, 0, 4).tolist() == [0.0, 0.0, 0.0]


def test_kernels_reject_mismatched_params() -> None:
    with pytest.raises(ValueError, match=r"mixup: permutation must have shape \(N,\) = \(3,\)"):
        AF.mixup(torch.zeros(3, 1, 2, 2), torch.ones(3), torch.arange(2))
    with pytest.raises(ValueError, match=r"mixup: lam must have shape \(N,\) = \(3,\)"):
        AF.mixup(torch.zeros(3, 1, 2, 2), torch.ones(2), torch.arange(3))
    with pytest.raises(ValueError, match=r"cutmix: boxes must have shape \(N, 4\) = \(3, 4\)"):
        AF.cutmix(torch.zeros(3, 1, 2, 2), torch.ones(1, 4), torch.arange(3))
    with pytest.raises(ValueError, match=r"cutmix: expected an input of shape \(N, ..., H, W\)"):
        AF.cutmix(torch.zeros(3, 2), torch.ones(3, 4), torch.arange(3))


# Inputs and outputs


@pytest.mark.parametrize(
    "transform", [A.MixUp(num_classes=3, per_sample=True), A.CutMix(num_classes=3, per_sample=True)]
)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_input_never_modified(transform: A.MixUp, dtype: torch.dtype) -> None:
    x = make_image((5, 3, 8, 8), dtype)
    labels = labels_for(5, 3)
    before, labels_before = x.clone(), labels.clone()
    versions = (x._version, labels._version)
    output, targets = transform(x, labels)
    assert (x._version, labels._version) == versions
    assert torch.equal(x, before)
    assert torch.equal(labels, labels_before)
    assert output.dtype == dtype
    assert output.shape == x.shape
    assert targets.dtype == torch.float32


@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
def test_batch_of_one_is_unchanged(transform_class: type) -> None:
    x = make_image((1, 3, 8, 8))
    output, targets = transform_class(num_classes=4, generator=seeded(13))(x, torch.tensor([2]))
    assert torch.allclose(output, x)
    assert torch.allclose(targets, torch.tensor([[0.0, 0.0, 1.0, 0.0]]))


@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
@pytest.mark.parametrize("per_sample", [False, True])
def test_empty_batch(transform_class: type, per_sample: bool) -> None:
    output, targets = transform_class(num_classes=4, per_sample=per_sample)(
        torch.zeros(0, 3, 8, 8), torch.zeros(0, dtype=torch.int64)
    )
    assert output.shape == (0, 3, 8, 8)
    assert targets.shape == (0, 4)


@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
def test_eval_returns_images_and_one_hot(transform_class: type) -> None:
    x = make_image((3, 3, 8, 8))
    transform = transform_class(num_classes=3).eval()
    output, targets = transform(x, torch.tensor([2, 0, 1]))
    assert output is x
    assert torch.equal(targets, torch.eye(3)[[2, 0, 1]])


@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
def test_replay_params(transform_class: type) -> None:
    x, labels = make_image((6, 3, 8, 8)), labels_for(6)
    transform = transform_class(num_classes=5, per_sample=True, generator=seeded(14))
    output, targets = transform(x, labels)
    replayed, replayed_targets = transform(x, labels, params=transform.last_params)
    assert torch.equal(output, replayed)
    assert torch.equal(targets, replayed_targets)


def test_cutmix_replay_on_other_size_recomputes_lam() -> None:
    cutmix = A.CutMix(num_classes=5, per_sample=True, generator=seeded(15))
    params = cutmix.make_params([torch.zeros(6, 3, 32, 32)])
    _, targets = cutmix(torch.rand(6, 3, 8, 8), labels_for(6), params=params)
    expected_lam = 1.0 - AF.box_fraction(params.boxes, 8, 8)
    assert torch.equal(cutmix.last_params.lam, expected_lam)
    assert torch.equal(targets, AF.mix_targets(labels_for(6), expected_lam, params.permutation, num_classes=5))


def test_video_frames_share_params() -> None:
    video = tv_tensors.Video(make_image((4, 3, 2, 8, 8)))
    cutmix = A.CutMix(num_classes=5, per_sample=True, generator=seeded(16))
    output, _ = cutmix(video, labels_for(4))
    assert isinstance(output, tv_tensors.Video)
    for frame in range(3):
        single = AF.cutmix(
            video[:, frame].as_subclass(torch.Tensor), cutmix.last_params.boxes, cutmix.last_params.permutation
        )
        assert torch.equal(output[:, frame], single)


def test_every_image_mixed_alike_other_tensors_pass() -> None:
    first, second = tv_tensors.Image(make_image((4, 3, 6, 6))), tv_tensors.Image(make_image((4, 1, 6, 6), seed=1))
    extra = torch.arange(4)
    mixup = A.MixUp(num_classes=5, generator=seeded(17))
    output_first, targets, output_second, output_extra = mixup(first, labels_for(4), second, extra)
    params = mixup.last_params
    assert torch.allclose(output_second.double(), expected_mixup(second.as_subclass(torch.Tensor), params), atol=1e-6)
    assert torch.allclose(output_first.double(), expected_mixup(first.as_subclass(torch.Tensor), params), atol=1e-6)
    assert output_extra is extra
    assert targets.shape == (4, 5)


def test_dict_input() -> None:
    sample = {"image": make_image((4, 3, 6, 6)), "labels": labels_for(4), "name": "batch"}
    output = A.MixUp(num_classes=5)(sample)
    assert output["image"].shape == (4, 3, 6, 6)
    assert output["labels"].shape == (4, 5)
    assert output["name"] == "batch"


# Reproducibility


@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
def test_generator_reproduces(transform_class: type) -> None:
    x, labels = make_image((8, 3, 8, 8)), labels_for(8)
    first = transform_class(num_classes=5, per_sample=True, generator=seeded(18))(x, labels)
    second = transform_class(num_classes=5, per_sample=True, generator=seeded(18))(x, labels)
    third = transform_class(num_classes=5, per_sample=True, generator=seeded(19))(x, labels)
    assert torch.equal(first[0], second[0])
    assert torch.equal(first[1], second[1])
    assert not torch.equal(first[1], third[1])


@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
def test_manual_seed_reproduces(transform_class: type) -> None:
    x, labels = make_image((8, 3, 8, 8)), labels_for(8)
    transform = transform_class(num_classes=5, per_sample=True)
    torch.manual_seed(20)
    first = transform(x, labels)
    torch.manual_seed(20)
    second = transform(x, labels)
    assert torch.equal(first[0], second[0])
    assert torch.equal(first[1], second[1])


@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
def test_pickle_keeps_generator_state(transform_class: type) -> None:
    transform = transform_class(num_classes=5, generator=seeded(21))
    restored = pickle.loads(pickle.dumps(transform))
    x, labels = make_image((4, 3, 8, 8)), labels_for(4)
    assert torch.equal(transform(x, labels)[1], restored(x, labels)[1])


def test_not_usable_on_a_layer() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1))
    with A.FeatureTransform(model, {"0": A.MixUp(num_classes=2)}):
        with pytest.raises(TypeError, match="MixUp: mixing needs the labels as well.*ManifoldMixup"):
            model(torch.rand(2, 3, 4, 4))


# Errors


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"alpha": 0.0}, ValueError, "alpha must be above 0"),
        ({"alpha": -1.0}, ValueError, "alpha must be above 0"),
        ({"alpha": float("nan")}, ValueError, "alpha must be finite"),
        ({"alpha": True}, TypeError, "alpha must be a real number"),
        ({"alpha": "1"}, TypeError, "alpha must be a real number"),
        ({"num_classes": 0}, ValueError, "num_classes must be at least 1"),
        ({"num_classes": 2.0}, TypeError, "num_classes must be an int"),
        ({"num_classes": True}, TypeError, "num_classes must be an int"),
        ({"per_sample": 1}, TypeError, "per_sample must be a bool"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
    ],
)
@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
def test_rejects_bad_arguments(transform_class: type, arguments: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=f"{transform_class.__name__}: .*{match}"):
        transform_class(**arguments)


@pytest.mark.parametrize(
    ("inputs", "error", "match"),
    [
        ((torch.rand(2, 3, 4, 4),), TypeError, "expected the labels as a plain tensor"),
        ((torch.rand(2, 3, 4, 4), [0, 1]), TypeError, "expected the labels as a plain tensor.*got list"),
        ((torch.rand(2, 3, 4, 4), torch.tensor([0, 1])), ValueError, "num_classes is required"),
        ((torch.rand(2, 3, 4, 4), torch.rand(2, 3, 1)), ValueError, r"labels must be class indices of shape \(N,\)"),
        ((torch.rand(3, 4, 4), torch.rand(3, 2)), ValueError, r"expected images of shape \(N, C, H, W\) with N = 3"),
        (
            (torch.rand(2, 3, 4, 4), torch.rand(3, 2)),
            ValueError,
            r"with N = 3 as in the labels, got shape \(2, 3, 4, 4\)",
        ),
        ((PIL.Image.new("RGB", (4, 4)), torch.rand(1, 2)), TypeError, "expects tensors of shape .* got a PIL image"),
        ((torch.rand(2, 3, 4, 4, dtype=torch.float64).bool(), torch.rand(2, 2)), TypeError, "got dtype torch.bool"),
    ],
)
@pytest.mark.parametrize("transform_class", [A.MixUp, A.CutMix])
def test_rejects_bad_inputs(transform_class: type, inputs: tuple, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=f"{transform_class.__name__}: .*{match}"):
        transform_class()(*inputs)


def test_rejects_soft_labels_of_other_class_count() -> None:
    with pytest.raises(ValueError, match="soft labels must have num_classes=3 columns"):
        A.MixUp(num_classes=3)(torch.rand(2, 3, 4, 4), torch.rand(2, 4))


def test_rejects_class_index_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"class indices must be in \[0, num_classes=3\), got 3"):
        A.MixUp(num_classes=3)(torch.rand(2, 3, 4, 4), torch.tensor([0, 3]))


def test_rejects_float_class_indices() -> None:
    with pytest.raises(TypeError, match="class indices of shape .N,. must be integers"):
        A.MixUp(num_classes=3)(torch.rand(2, 3, 4, 4), torch.tensor([0.0, 1.0]))


def test_rejects_bounding_boxes() -> None:
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[0, 0, 2, 2]]), format="XYXY", canvas_size=(4, 4))
    with pytest.raises(TypeError, match="CutMix: cannot mix BoundingBoxes"):
        A.CutMix(num_classes=2)(tv_tensors.Image(torch.rand(1, 3, 4, 4)), torch.tensor([0]), boxes)


def test_cutmix_rejects_mixed_sizes() -> None:
    mask = tv_tensors.Mask(torch.zeros(2, 5, 5))
    with pytest.raises(ValueError, match="CutMix: all images and masks in a call must share height and width"):
        A.CutMix(num_classes=2)(tv_tensors.Image(torch.rand(2, 3, 4, 4)), torch.tensor([0, 1]), mask)


def test_cutmix_rejects_bad_mask_shape() -> None:
    mask = tv_tensors.Mask(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"CutMix: expected a Mask of shape \(N, H, W\) or \(N, 1, H, W\)"):
        A.CutMix(num_classes=2)(tv_tensors.Image(torch.rand(2, 3, 4, 4)), torch.tensor([0, 1]), mask)


def test_make_params_rejects_unbatched_input() -> None:
    with pytest.raises(ValueError, match=r"MixUp: expected a batch of shape \(N, C, H, W\)"):
        A.MixUp().make_params([torch.zeros(3, 4, 4)])

"""Tests of WeightTransform and the weight parametrizations: selection, statistics, removal, copying and compile."""

from __future__ import annotations

import copy
import inspect
import io
import logging
import math
import pickle

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torchvision.models import resnet18

import augspace as A
from augspace.weight import WeightParametrization

from .test_api import documented_arguments


class SmallNet(nn.Module):
    """A conv-bn-relu-conv network with a pooled linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.conv2(self.relu(self.bn(self.conv1(x)))))


class Doubling(nn.Module):
    """A parametrization of torch's own kind, with a right inverse."""

    def forward(self, weight: Tensor) -> Tensor:
        return weight * 2

    def right_inverse(self, weight: Tensor) -> Tensor:
        return weight / 2


class Scaling(nn.Module):
    """A parametrization without a right inverse, registered by hand in some tests."""

    def forward(self, weight: Tensor) -> Tensor:
        return weight * 3


def small_net() -> SmallNet:
    torch.manual_seed(0)
    return SmallNet()


def images(batch: int = 2, size: int = 8) -> Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def model_state(model: nn.Module) -> dict[str, object]:
    """Snapshot classes, attribute names, parameter objects and state_dict of every module."""
    return {
        "classes": [type(module) for module in model.modules()],
        "attributes": {name: sorted(vars(module)) for name, module in model.named_modules()},
        "parameters": [(name, id(parameter)) for name, parameter in model.named_parameters()],
        "state_keys": list(model.state_dict()),
    }


def same_state_values(before: dict[str, Tensor], after: dict[str, Tensor]) -> bool:
    return list(before) == list(after) and all(torch.equal(before[key], after[key]) for key in before)


def reference_standardization(weight: Tensor, eps: float) -> Tensor:
    """Weight Standardization computed in float64 from the formula."""
    flat = weight.double().flatten(1)
    mean = flat.mean(dim=1, keepdim=True)
    variance = ((flat - mean) ** 2).mean(dim=1, keepdim=True)
    return ((flat - mean) / torch.sqrt(variance + eps)).reshape(weight.shape)


# Selection


def test_select_exact_name() -> None:
    standardization = A.WeightStandardization()
    wt = A.WeightTransform(small_net(), {"conv2": standardization})
    assert wt.layers == {"conv2": standardization}


def test_select_glob_skips_layers_without_weight() -> None:
    wt = A.WeightTransform(small_net(), {"**": A.WeightNoise(0.1)})
    assert list(wt.layers) == ["conv1", "bn", "conv2", "head.2"]


def test_select_glob_star_stays_in_component() -> None:
    wt = A.WeightTransform(small_net(), {"conv*": A.WeightStandardization()})
    assert list(wt.layers) == ["conv1", "conv2"]


def test_select_double_star_on_resnet() -> None:
    model = resnet18(num_classes=10)
    wt = A.WeightTransform(model, {"layer1.**.conv*": A.WeightStandardization()})
    expected = [f"layer1.{block}.conv{index}" for block in range(2) for index in (1, 2)]
    assert list(wt.layers) == expected


def test_select_module_class() -> None:
    wt = A.WeightTransform(small_net(), {nn.Linear: A.DropConnect(0.5)})
    assert list(wt.layers) == ["head.2"]


def test_select_predicate() -> None:
    wt = A.WeightTransform(small_net(), {lambda name, module: name.endswith("2"): A.WeightStandardization()})
    assert list(wt.layers) == ["conv2", "head.2"]


def test_select_under_data_parallel_prefix() -> None:
    model = nn.DataParallel(small_net())
    wt = A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    assert list(wt.layers) == ["module.conv1"]
    assert parametrize.is_parametrized(model.module.conv1, "weight")


def test_one_parametrization_shared_by_selectors() -> None:
    model = small_net()
    noise = A.WeightNoise(0.1)
    wt = A.WeightTransform(model, {"conv1": noise, "head.2": noise})
    assert wt.layers == {"conv1": noise, "head.2": noise}
    assert model.conv1.parametrizations.weight[0] is noise
    assert model.head[2].parametrizations.weight[0] is noise


def test_other_tensor_name() -> None:
    model = nn.MultiheadAttention(8, 2)
    wt = A.WeightTransform(model, {"": A.DropConnect(0.5)}, tensor_name="in_proj_weight")
    assert list(wt.layers) == [""]
    assert parametrize.is_parametrized(model, "in_proj_weight")
    query = torch.rand(3, 1, 8)
    assert model(query, query, query)[0].shape == (3, 1, 8)


def test_bias_as_tensor_name() -> None:
    model = small_net()
    wt = A.WeightTransform(model, {"conv*": A.WeightNoise(0.1)}, tensor_name="bias")
    assert list(wt.layers) == ["conv1"]
    assert parametrize.is_parametrized(model.conv1, "bias")


# Construction errors


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(ValueError, match=r"^WeightTransform: no layer named 'conv3' in SmallNet\. Close ") as error:
        A.WeightTransform(small_net(), {"conv3": A.WeightStandardization()})
    assert "'conv1'" in str(error.value)
    assert "'conv2'" in str(error.value)


def test_unknown_name_without_close_matches() -> None:
    with pytest.raises(ValueError, match=r"^WeightTransform: no layer named 'backbone' in SmallNet\. See "):
        A.WeightTransform(small_net(), {"backbone": A.WeightStandardization()})


def test_exact_name_without_weight_raises() -> None:
    with pytest.raises(ValueError, match=r"layer 'head' \(Sequential\) has no parameter 'weight', its own parameters"):
        A.WeightTransform(small_net(), {"head": A.WeightStandardization()})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (nn.LSTM, r"^WeightTransform: the class LSTM matches no layer of SmallNet$"),
        (lambda name, module: False, r"^WeightTransform: the predicate .* matches no layer of SmallNet$"),
        (
            "rel*",
            r"^WeightTransform: the pattern 'rel\*' matches no layer of SmallNet with its own parameter 'weight', ",
        ),
        (nn.ReLU, r"^WeightTransform: the class ReLU matches no layer of SmallNet with its own parameter 'weight', "),
    ],
    ids=["class", "predicate", "pattern-without-weight", "class-without-weight"],
)
def test_selector_picking_nothing_raises(selector: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        A.WeightTransform(small_net(), {selector: A.WeightStandardization()})


def test_selector_without_weight_lists_matches() -> None:
    with pytest.raises(ValueError, match=r"with its own parameter 'weight', only \['relu'\]$"):
        A.WeightTransform(small_net(), {"rel*": A.WeightStandardization()})

    def is_relu(name: str, module: nn.Module) -> bool:
        return isinstance(module, nn.ReLU)

    model = nn.Sequential(*[nn.ReLU() for _ in range(7)])
    with pytest.raises(ValueError, match=r"only \['0', '1', '2', '3', '4'\] and 2 more$"):
        A.WeightTransform(model, {is_relu: A.WeightStandardization()})


def test_layer_selected_twice_raises() -> None:
    with pytest.raises(ValueError, match=r"layer 'conv1' is selected twice \(also as 'conv1'\)"):
        A.WeightTransform(small_net(), {"conv1": A.WeightStandardization(), nn.Conv2d: A.DropConnect(0.1)})


@pytest.mark.parametrize("selector", [3, int, ("conv1",)], ids=["int", "non-module-class", "tuple"])
def test_selector_of_wrong_type_raises(selector: object) -> None:
    with pytest.raises(TypeError, match="^WeightTransform: a layer selector must be"):
        A.WeightTransform(small_net(), {selector: A.WeightStandardization()})


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ((lambda x: x, {"conv1": A.DropConnect(0.1)}), TypeError, "model must be an nn.Module, got function"),
        ((nn.Linear(2, 2), [("", A.DropConnect(0.1))]), TypeError, "layers must be a mapping"),
        ((nn.Linear(2, 2), {}), ValueError, "layers must select at least one layer, got an empty mapping"),
        ((nn.Linear(2, 2), {"": "dropconnect"}), TypeError, r"the parametrization for '' must be an nn.Module"),
        ((nn.Linear(2, 2), {"": Doubling()}), TypeError, r"the parametrization for '' defines right_inverse"),
    ],
    ids=["model", "layers-type", "layers-empty", "not-module", "right-inverse"],
)
def test_bad_arguments_raise(arguments: tuple, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=f"^WeightTransform: {message}"):
        A.WeightTransform(*arguments)


@pytest.mark.parametrize(
    ("tensor_name", "error"), [(1, TypeError), ("", ValueError), ("0.weight", ValueError)], ids=["int", "empty", "dot"]
)
def test_tensor_name_invalid_raises(tensor_name: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"^WeightTransform: tensor_name must be"):
        A.WeightTransform(small_net(), {"conv1": A.DropConnect(0.1)}, tensor_name=tensor_name)


def test_standardization_on_norm_layer_raises_naming_layer() -> None:
    with pytest.raises(ValueError, match=r"at least 2 dimensions .* got shape \(8,\) \(layer 'bn'\)"):
        A.WeightTransform(small_net(), {"bn": A.WeightStandardization()})


def test_standardization_on_fan_in_one_raises() -> None:
    with pytest.raises(ValueError, match=r"at least 2 elements per output channel, got shape \(4, 1\) \(layer ''\)"):
        A.WeightTransform(nn.Linear(1, 4), {"": A.WeightStandardization()})


def test_standardization_on_transposed_conv_raises() -> None:
    model = nn.Sequential(nn.ConvTranspose2d(3, 4, 3))
    with pytest.raises(ValueError, match=r"^WeightStandardization: layer '0' is a ConvTranspose2d, whose weight"):
        A.WeightTransform(model, {"0": A.WeightStandardization()})


def test_check_layer_runs_inside_sequential() -> None:
    with pytest.raises(ValueError, match=r"\(layer 'bn'\)"):
        A.WeightTransform(small_net(), {"bn": nn.Sequential(A.DropConnect(0.1), A.WeightStandardization())})


def test_shape_changing_parametrization_raises_naming_layer() -> None:
    with pytest.raises(ValueError, match=r"^WeightTransform: cannot parametrize 'weight' of layer 'conv2': "):
        A.WeightTransform(small_net(), {"conv1": A.WeightNoise(0.1), "conv2": nn.Flatten()})


@pytest.mark.parametrize(
    "layers",
    [
        {"conv1": A.WeightStandardization(), "missing": A.WeightStandardization()},
        {"conv1": A.WeightStandardization(), "bn": A.WeightStandardization()},
        {"conv1": A.WeightNoise(0.1), "conv2": nn.Flatten()},
    ],
    ids=["unknown-name", "check-layer", "registration"],
)
def test_failed_construction_leaves_model_unchanged(layers: dict) -> None:
    model = small_net()
    before = model_state(model)
    with pytest.raises(ValueError, match="WeightTransform|WeightStandardization"):
        A.WeightTransform(model, layers)
    assert model_state(model) == before


# Bad arguments of the parametrizations


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: A.WeightStandardization(eps=True), TypeError, "eps must be a real number, got True"),
        (lambda: A.WeightStandardization(eps="1e-5"), TypeError, "eps must be a real number, got '1e-5'"),
        (lambda: A.WeightStandardization(eps=-1e-5), ValueError, "eps must be at least 0, got -1e-05"),
        (lambda: A.WeightStandardization(eps=math.nan), ValueError, "eps must be finite, got nan"),
        (lambda: A.DropConnect(True), TypeError, "p must be a real number, got True"),
        (lambda: A.DropConnect(1.5), ValueError, r"p must be in \[0, 1\], got 1.5"),
        (lambda: A.DropConnect(-0.1), ValueError, r"p must be in \[0, 1\], got -0.1"),
        (lambda: A.DropConnect(0.1, generator=0), TypeError, "generator must be a torch.Generator or None, got 0"),
        (lambda: A.WeightNoise(False), TypeError, "std must be a real number, got False"),
        (lambda: A.WeightNoise(-0.1), ValueError, "std must be at least 0, got -0.1"),
        (lambda: A.WeightNoise(math.inf), ValueError, "std must be finite, got inf"),
        (lambda: A.WeightNoise(0.1, generator="seed"), TypeError, "generator must be a torch.Generator or None"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_parametrization_bad_argument_raises(build: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as raised:
        build()
    assert str(raised.value).split(":")[0] in ("WeightStandardization", "DropConnect", "WeightNoise")


def test_standardization_rejects_one_dimensional_weight() -> None:
    with pytest.raises(
        ValueError, match=r"^WeightStandardization: expected a weight of shape \(out_channels, \.\.\.\)"
    ):
        A.WeightStandardization()(torch.ones(5))


@pytest.mark.parametrize(
    ("parametrization", "text"),
    [
        (A.WeightStandardization(eps=1e-5), "eps=1e-05"),
        (A.DropConnect(0.25), "p=0.25"),
        (A.WeightNoise(0.5), "std=0.5"),
    ],
    ids=["standardization", "dropconnect", "noise"],
)
def test_parametrization_repr(parametrization: nn.Module, text: str) -> None:
    assert repr(parametrization) == f"{type(parametrization).__name__}({text})"


@pytest.mark.parametrize(
    "cls", [A.WeightTransform, A.WeightStandardization, A.DropConnect, A.WeightNoise], ids=lambda cls: cls.__name__
)
def test_docstring_args_match_signature(cls: type) -> None:
    parameters = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    assert documented_arguments(cls.__doc__ or "") == parameters


def test_parametrizations_share_base_class() -> None:
    for cls in (A.WeightStandardization, A.DropConnect, A.WeightNoise):
        assert issubclass(cls, WeightParametrization)


# Weight Standardization


@given(
    out_channels=st.integers(min_value=1, max_value=6),
    inner_shape=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3),
    scale=st.floats(min_value=1e-2, max_value=10.0),
    offset=st.floats(min_value=-10.0, max_value=10.0),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_standardization_zero_mean_unit_variance(
    out_channels: int, inner_shape: list[int], scale: float, offset: float, seed: int
) -> None:
    shape = (out_channels, *inner_shape)
    weight = offset * scale + scale * torch.randn(shape, generator=seeded(seed))
    if weight[0].numel() < 2:
        weight = torch.cat([weight, weight + scale], dim=1)
    eps = 1e-6
    output = A.WeightStandardization(eps=eps)(weight)
    dims = tuple(range(1, weight.ndim))
    variance = weight.double().var(dim=dims, correction=0)

    # float32 statistics of values up to about 10 standard deviations from zero: errors stay near 1e-6.
    assert output.shape == weight.shape
    assert output.dtype == weight.dtype
    assert float(output.double().mean(dim=dims).abs().max()) < 1e-4
    expected_variance = variance / (variance + eps)
    assert float((output.double().var(dim=dims, correction=0) - expected_variance).abs().max()) < 1e-4


@pytest.mark.parametrize(
    "shape", [(8, 3, 3, 3), (8, 5), (4, 2, 3), (4, 2, 2, 2, 2)], ids=["conv2d", "linear", "1d", "3d"]
)
def test_standardization_matches_formula(shape: tuple[int, ...]) -> None:
    weight = torch.randn(shape, generator=seeded(0)) * 0.05 + 0.01
    expected = reference_standardization(weight, eps=1e-6)
    assert torch.allclose(A.WeightStandardization()(weight).double(), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2), (torch.float64, 1e-12)]
)
def test_standardization_keeps_dtype(dtype: torch.dtype, tolerance: float) -> None:
    weight = (torch.randn(6, 4, 3, 3, generator=seeded(0)) * 0.02).to(dtype)
    output = A.WeightStandardization()(weight)
    expected = reference_standardization(weight, eps=1e-6)
    assert output.dtype == dtype
    # The tolerance is 4 units of roundoff of the dtype (2**-11 for float16, 2**-8 for bfloat16), relative to the max.
    assert float((output.double() - expected).abs().max() / expected.abs().max()) < tolerance


def test_standardization_channels_last_weight() -> None:
    weight = torch.randn(6, 4, 3, 3, generator=seeded(0)).contiguous(memory_format=torch.channels_last)
    output = A.WeightStandardization()(weight)
    assert torch.allclose(output, A.WeightStandardization()(weight.contiguous()), atol=1e-6)


def test_standardization_constant_channel_is_zero() -> None:
    weight = torch.full((2, 3, 3, 3), 0.25)
    assert torch.equal(A.WeightStandardization()(weight), torch.zeros_like(weight))


def test_standardization_same_in_train_and_eval() -> None:
    standardization = A.WeightStandardization()
    weight = torch.randn(4, 3, 3, 3, generator=seeded(0))
    training_output = standardization(weight)
    assert torch.equal(standardization.eval()(weight), training_output)


def test_standardized_model_matches_functional_conv() -> None:
    model = small_net().eval()
    A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    x = images()
    original = model.conv1.parametrizations.weight.original
    expected = nn.functional.conv2d(x, reference_standardization(original, 1e-6).float(), model.conv1.bias, padding=1)
    assert torch.allclose(model.conv1(x), expected, atol=1e-5)


def test_standardization_gradient_matches_reference() -> None:
    model = small_net()
    A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    original = model.conv1.parametrizations.weight.original
    upstream = torch.randn(original.shape, generator=seeded(2))
    (model.conv1.weight * upstream).sum().backward()

    reference = original.detach().double().requires_grad_(True)
    (reference_standardization(reference, 1e-6) * upstream.double()).sum().backward()
    assert original.grad is not None
    assert torch.allclose(original.grad.double(), reference.grad, atol=1e-4)


# DropConnect


def test_dropconnect_drop_fraction_within_binomial_bounds() -> None:
    # 200,000 independent Bernoulli(0.3) drops: one standard deviation of the dropped fraction is about 0.001, and
    # the tolerance is 4 of them.
    p, count = 0.3, 200_000
    tolerance = 4 * math.sqrt(p * (1 - p) / count)
    output = A.DropConnect(p, generator=seeded(3))(torch.ones(count))
    assert abs(float((output == 0).double().mean()) - p) < tolerance


@given(p=st.floats(min_value=0.0, max_value=0.99), seed=st.integers(min_value=0, max_value=2**16))
def test_dropconnect_values_zero_or_rescaled(p: float, seed: int) -> None:
    weight = torch.rand(16, 9, generator=seeded(seed)) + 0.5
    output = A.DropConnect(p, generator=seeded(seed + 1))(weight)
    kept = output != 0
    assert torch.allclose(output[kept], weight[kept] / (1 - p))
    assert output.dtype == weight.dtype


def test_dropconnect_fresh_mask_each_forward() -> None:
    model = nn.Linear(32, 32)
    A.WeightTransform(model, {"": A.DropConnect(0.5)})
    first = model.weight == 0
    second = model.weight == 0
    assert not torch.equal(first, second)


def test_dropconnect_seeded_generator_reproduces() -> None:
    weight = torch.randn(8, 8, generator=seeded(0))
    first = A.DropConnect(0.5, generator=seeded(4))(weight)
    second = A.DropConnect(0.5, generator=seeded(4))(weight)
    assert torch.equal(first, second)


def test_dropconnect_global_seed_reproduces() -> None:
    weight = torch.randn(8, 8, generator=seeded(0))
    dropconnect = A.DropConnect(0.5)
    torch.manual_seed(5)
    first = dropconnect(weight)
    torch.manual_seed(5)
    assert torch.equal(dropconnect(weight), first)


def test_dropconnect_eval_returns_weight() -> None:
    weight = torch.randn(4, 4)
    assert A.DropConnect(0.5).eval()(weight) is weight


@pytest.mark.parametrize(("p", "expected"), [(0.0, "weight"), (1.0, "zeros")])
def test_dropconnect_extreme_probabilities(p: float, expected: str) -> None:
    weight = torch.randn(4, 4, generator=seeded(0))
    output = A.DropConnect(p)(weight)
    assert torch.equal(output, weight if expected == "weight" else torch.zeros_like(weight))


def test_dropconnect_gradient_is_rescaled_mask() -> None:
    weight = torch.randn(16, 16, generator=seeded(0)).requires_grad_(True)
    output = A.DropConnect(0.25, generator=seeded(6))(weight)
    output.sum().backward()
    assert torch.allclose(weight.grad, (output != 0).float() / 0.75)


def test_dropconnect_model_eval_identity() -> None:
    model = small_net()
    reference = copy.deepcopy(model).eval()
    A.WeightTransform(model, {nn.Conv2d: A.DropConnect(0.5), "head.2": A.DropConnect(0.5)})
    model.eval()
    assert not model.conv1.parametrizations.weight[0].training
    assert torch.equal(model(images()), reference(images()))
    model.train()
    assert model.conv1.parametrizations.weight[0].training
    assert not torch.allclose(model(images()), reference.train()(images()))


# Weight noise


def test_weight_noise_statistics() -> None:
    # 100,000 normal draws: the standard error of the mean is 0.1 / 316, and that of the standard deviation about
    # 0.1 / 447; the tolerances are 4 of each.
    count, std = 100_000, 0.1
    weight = torch.full((count,), 2.0)
    noise = A.WeightNoise(std, generator=seeded(7))(weight) - weight
    assert abs(float(noise.mean())) < 4 * std / math.sqrt(count)
    assert abs(float(noise.std()) - std) < 4 * std / math.sqrt(2 * count)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_weight_noise_keeps_dtype(dtype: torch.dtype) -> None:
    weight = torch.zeros(64, dtype=dtype)
    output = A.WeightNoise(0.1, generator=seeded(0))(weight)
    assert output.dtype == dtype
    assert bool((output != 0).any())


def test_weight_noise_eval_and_zero_std_return_weight() -> None:
    weight = torch.randn(4, 4)
    assert A.WeightNoise(0.1).eval()(weight) is weight
    assert A.WeightNoise(0.0)(weight) is weight


# Gradients and optimisers


def test_gradients_reach_original_parameters() -> None:
    model = small_net()
    A.WeightTransform(
        model, {"conv1": A.WeightStandardization(), "conv2": A.DropConnect(0.3), "head.2": A.WeightNoise(0.1)}
    )
    model(images()).sum().backward()
    for name in ("conv1", "conv2", "head.2"):
        original = model.get_submodule(name).parametrizations.weight.original
        assert original.grad is not None, name
        assert bool(original.grad.abs().sum() > 0), name
        assert bool(torch.isfinite(original.grad).all()), name


def test_optimizer_built_before_attaching_keeps_working() -> None:
    model = small_net()
    weight = model.conv1.weight
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    assert model.conv1.parametrizations.weight.original is weight

    before = weight.detach().clone()
    model(images()).sum().backward()
    optimizer.step()
    assert not torch.equal(weight.detach(), before)


# Training mode and randomness at registration


def test_parametrization_starts_in_layer_mode() -> None:
    model = small_net().eval()
    dropconnect = A.DropConnect(0.5)
    A.WeightTransform(model, {"conv1": dropconnect})
    assert not dropconnect.training


def test_registration_draws_nothing() -> None:
    model = small_net()
    torch.manual_seed(8)
    state = torch.get_rng_state()
    generator = seeded(9)
    generator_state = generator.get_state()
    A.WeightTransform(model, {"conv1": A.DropConnect(0.5), "conv2": A.WeightNoise(0.1, generator=generator)})
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(generator.get_state(), generator_state)


# Removal


def test_remove_restores_model_exactly() -> None:
    model = small_net()
    bare_output = model(images())
    before = model_state(model)
    state_before = copy.deepcopy(model.state_dict())

    wt = A.WeightTransform(model, {nn.Conv2d: A.WeightStandardization(), nn.Linear: A.DropConnect(0.5)})
    assert model_state(model) != before
    wt.remove()

    assert model_state(model) == before
    assert same_state_values(state_before, model.state_dict())
    assert all(not parametrize.is_parametrized(module) for module in model.modules())
    assert torch.equal(model(images()), bare_output)


def test_remove_twice_is_harmless() -> None:
    model = small_net()
    before = model_state(model)
    wt = A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    wt.remove()
    wt.remove()
    assert model_state(model) == before


def test_context_manager_removes_on_exit() -> None:
    model = small_net()
    with A.WeightTransform(model, {"conv1": A.WeightStandardization()}) as wt:
        assert isinstance(wt, A.WeightTransform)
        assert parametrize.is_parametrized(model.conv1, "weight")
    assert not parametrize.is_parametrized(model.conv1)


def test_context_manager_removes_on_error() -> None:
    model = small_net()
    with pytest.raises(RuntimeError, match="stop"), A.WeightTransform(model, {"conv1": A.DropConnect(0.1)}):
        raise RuntimeError("stop")
    assert not parametrize.is_parametrized(model.conv1)


@pytest.mark.parametrize("first_removed", [0, 1], ids=["first-registered", "last-registered"])
def test_stacked_transforms_remove_independently(first_removed: int) -> None:
    model = small_net()
    before = model_state(model)
    parametrizations = [A.WeightStandardization(), A.DropConnect(0.5)]
    transforms = [A.WeightTransform(model, {"conv1": parametrization}) for parametrization in parametrizations]
    assert list(model.conv1.parametrizations.weight) == parametrizations

    transforms[first_removed].remove()
    assert list(model.conv1.parametrizations.weight) == [parametrizations[1 - first_removed]]
    transforms[1 - first_removed].remove()
    assert model_state(model) == before


def test_remove_keeps_parametrization_registered_by_hand() -> None:
    model = small_net()
    scaling = Scaling()
    parametrize.register_parametrization(model.conv1, "weight", scaling)
    wt = A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    wt.remove()
    assert list(model.conv1.parametrizations.weight) == [scaling]


def test_remove_after_manual_removal_does_nothing() -> None:
    model = small_net()
    wt = A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    parametrize.remove_parametrizations(model.conv1, "weight", leave_parametrized=False)
    wt.remove()
    assert not parametrize.is_parametrized(model.conv1)


# state_dict


def test_state_dict_keys_while_attached() -> None:
    model = small_net()
    with A.WeightTransform(model, {"conv1": A.WeightStandardization()}):
        keys = list(model.state_dict())
    assert "conv1.parametrizations.weight.original" in keys
    assert "conv1.weight" not in keys


def test_state_dict_loads_into_model_with_same_transform() -> None:
    model = small_net().eval()
    A.WeightTransform(model, {"conv1": A.WeightStandardization(), "head.2": A.DropConnect(0.5)})
    checkpoint = model.state_dict()

    torch.manual_seed(10)
    fresh = SmallNet().eval()
    A.WeightTransform(fresh, {"conv1": A.WeightStandardization(), "head.2": A.DropConnect(0.5)})
    fresh.load_state_dict(checkpoint)
    assert torch.equal(fresh(images()), model(images()))


def test_plain_state_dict_loads_after_remove() -> None:
    model = small_net()
    wt = A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    wt.remove()
    fresh = SmallNet()
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.conv1.weight, model.conv1.weight)


# Copying and pickling


def test_deepcopy_gets_its_own_class() -> None:
    model = small_net().eval()
    wt = A.WeightTransform(model, {"conv1": A.WeightStandardization(), "head.2": A.DropConnect(0.5)})
    replica = copy.deepcopy(model)
    expected = model(images())
    assert type(replica.conv1) is not type(model.conv1)
    assert torch.equal(replica(images()), expected)

    wt.remove()
    assert parametrize.is_parametrized(replica.conv1, "weight")
    assert torch.equal(replica(images()), expected)


def test_deepcopy_with_transform_removes_from_copy() -> None:
    model = small_net()
    wt = A.WeightTransform(model, {"conv1": A.WeightStandardization()})
    replica, replica_wt = copy.deepcopy((model, wt))
    replica_wt.remove()
    assert not parametrize.is_parametrized(replica.conv1)
    assert parametrize.is_parametrized(model.conv1, "weight")


def test_pickle_round_trip() -> None:
    model = small_net().eval()
    A.WeightTransform(model, {"conv1": A.WeightStandardization(), "head.2": A.DropConnect(0.5, generator=seeded(0))})
    restored = pickle.loads(pickle.dumps(model))
    assert type(restored.conv1).__name__ == "ParametrizedConv2d"
    assert torch.equal(restored(images()), model(images()))
    assert isinstance(restored.head[2].parametrizations.weight[0].generator, torch.Generator)


def test_pickled_model_trains_like_original() -> None:
    model = small_net()
    A.WeightTransform(model, {"conv2": A.DropConnect(0.5)})
    restored = pickle.loads(pickle.dumps(model))
    torch.manual_seed(11)
    expected = model(images())
    torch.manual_seed(11)
    assert torch.equal(restored(images()), expected)


def test_torch_save_whole_model() -> None:
    model = small_net().eval()
    wt = A.WeightTransform(model, {nn.Conv2d: A.WeightStandardization()})
    buffer = io.BytesIO()
    torch.save(model, buffer)
    wt.remove()
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=False)
    assert parametrize.is_parametrized(restored.conv1, "weight")
    assert type(restored.conv1) is not type(model.conv1)


# torch.compile


@pytest.fixture
def fresh_dynamo() -> None:
    torch._dynamo.reset()


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_dynamo")
def test_compiled_eval_matches_eager() -> None:
    model = small_net().eval()
    A.WeightTransform(model, {nn.Conv2d: A.WeightStandardization(), "head.2": A.DropConnect(0.5)})
    explanation = torch._dynamo.explain(model)(images())
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert torch.allclose(torch.compile(model)(images()), model(images()), atol=1e-5)


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_dynamo")
def test_compiled_training_drops_weights() -> None:
    # A 1x1 convolution with all-one weights and inputs sums its 256 input channels, so each output counts the
    # kept weights of its row times 2. The tolerance is 4 binomial standard deviations of the kept share.
    channels, p = 256, 0.5
    model = nn.Conv2d(channels, channels, 1, bias=False)
    nn.init.ones_(model.weight)
    A.WeightTransform(model, {"": A.DropConnect(p)})
    x = torch.ones(1, channels, 1, 1)
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    torch._dynamo.reset()
    with torch.no_grad():
        output = torch.compile(model)(x).flatten()
    kept_share = float(output.double().mean()) * (1 - p) / channels
    assert abs(kept_share - (1 - p)) < 4 * math.sqrt(p * (1 - p) / channels**2)
    assert output.std() > 0


# A real network, logging and repr


def test_resnet18_all_convolutions() -> None:
    torch.manual_seed(0)
    model = resnet18(num_classes=10)
    keys_before = list(model.state_dict())
    parameters_before = list(model.parameters())
    wt = A.WeightTransform(model, {"**.conv*": A.WeightStandardization(), "fc": A.DropConnect(0.2)})
    assert len(wt.layers) == 18
    output = model(torch.rand(2, 3, 16, 16))
    output.sum().backward()
    assert output.shape == (2, 10)
    assert bool(torch.isfinite(output).all())
    assert model.conv1.parametrizations.weight.original.grad is not None
    wt.remove()
    assert list(model.state_dict()) == keys_before
    assert all(after is before for after, before in zip(model.parameters(), parameters_before, strict=True))


def test_logs_only_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="augspace"):
        A.WeightTransform(small_net(), {"conv1": A.WeightStandardization()}).remove()
    assert [record.levelno for record in caplog.records] == [logging.DEBUG, logging.DEBUG]
    assert "parametrized the layers ['conv1'] of SmallNet" in caplog.records[0].getMessage()


def test_repr_names_layers() -> None:
    wt = A.WeightTransform(small_net(), {"conv*": A.WeightStandardization()})
    assert repr(wt) == "WeightTransform(layers=['conv1', 'conv2'], tensor_name='weight')"


def test_layers_returns_copy() -> None:
    wt = A.WeightTransform(small_net(), {"conv1": A.WeightStandardization()})
    wt.layers.clear()
    assert list(wt.layers) == ["conv1"]

"""Tests of FeatureTransform: layer selection, when hooks act, removal, autograd and torch.compile."""

from __future__ import annotations

import collections
import copy
import logging
import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torchvision.models import resnet18
from torchvision.transforms import v2

import augspace as A
from augspace.feature import select_layers


class SmallNet(nn.Module):
    """A conv-relu-conv-relu network with a pooled linear head, deterministic in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        return self.head(x)


class PairOutput(nn.Module):
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x, x + 1


class NetWithPair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pair = PairOutput()

    def forward(self, x: Tensor) -> Tensor:
        first, second = self.pair(self.conv(x))
        return first + second


SMALL_NET_LAYERS = ["conv1", "relu1", "conv2", "relu2", "head", "head.0", "head.1", "head.2"]


def small_net() -> SmallNet:
    torch.manual_seed(0)
    return SmallNet()


def images(batch: int = 2, size: int = 8) -> Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


def hook_state(model: nn.Module) -> dict[str, tuple]:
    """Snapshot every module's forward hook dicts."""
    return {
        name: (
            dict(module._forward_hooks),
            dict(module._forward_pre_hooks),
            dict(module._forward_hooks_with_kwargs),
            dict(module._forward_hooks_always_called),
        )
        for name, module in model.named_modules()
    }


def attribute_state(model: nn.Module) -> dict[str, list[str]]:
    """Snapshot the attribute names of every module."""
    return {name: sorted(vars(module)) for name, module in model.named_modules()}


def feature_probe() -> nn.Sequential:
    """Build a model that returns its layer "1" output, ``x + 1``, never zero for ``x >= 0`` unless transformed."""
    conv = nn.Conv2d(1, 1, 1)
    nn.init.ones_(conv.weight)
    nn.init.ones_(conv.bias)
    return nn.Sequential(conv, nn.Identity()).requires_grad_(False)


def clipped_cover(side: int, hole: int) -> list[int]:
    """Rows a Cutout hole of ``hole`` rows covers on ``side`` rows, for each centre row, clipped at the border."""
    return [min(side, centre - hole // 2 + hole) - max(0, centre - hole // 2) for centre in range(side)]


# Selection


def test_select_exact_name() -> None:
    cutout = A.Cutout(size=0.5)
    ft = A.FeatureTransform(small_net(), {"conv2": cutout})
    assert ft.layers == {"conv2": cutout}


def test_select_glob_pattern() -> None:
    ft = A.FeatureTransform(small_net(), {"conv*": A.Cutout(size=0.5)})
    assert list(ft.layers) == ["conv1", "conv2"]


def test_select_glob_star_stays_in_component() -> None:
    ft = A.FeatureTransform(small_net(), {"head.*": nn.Identity()})
    assert list(ft.layers) == ["head.0", "head.1", "head.2"]


def test_select_glob_on_nested_names() -> None:
    model = resnet18(num_classes=10)
    assert [name for name, _ in select_layers(model, "layer3.*")] == ["layer3.0", "layer3.1"]
    below = [name for name, _ in select_layers(model, "layer3.**")]
    assert below == [name for name, _ in model.named_modules() if name.startswith("layer3.")]
    convs = [name for name, _ in select_layers(model, "**.conv1")]
    assert convs == ["conv1"] + [f"layer{stage}.{block}.conv1" for stage in range(1, 5) for block in range(2)]
    assert [name for name, _ in select_layers(model, "layer[2-3].?")] == [
        "layer2.0",
        "layer2.1",
        "layer3.0",
        "layer3.1",
    ]


def test_select_module_type() -> None:
    ft = A.FeatureTransform(small_net(), {nn.ReLU: A.Cutout(size=0.5)})
    assert list(ft.layers) == ["relu1", "relu2"]


def test_select_predicate() -> None:
    ft = A.FeatureTransform(small_net(), {lambda name, module: name.endswith("2"): nn.Identity()})
    assert list(ft.layers) == ["conv2", "relu2", "head.2"]


def test_select_never_picks_root() -> None:
    model = nn.Sequential(nn.Sequential(nn.ReLU()))
    assert [name for name, _ in select_layers(model, nn.Sequential)] == ["0"]


def test_select_inside_data_parallel() -> None:
    model = nn.DataParallel(small_net())
    ft = A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5), "head.*": nn.Identity()})
    assert list(ft.layers) == ["conv1", "head.0", "head.1", "head.2"]
    assert len(model.module.conv1._forward_hooks) == 1


def test_compiled_model_names_and_warning() -> None:
    model = small_net()
    compiled = torch.compile(model)
    with pytest.warns(UserWarning, match="Attach FeatureTransform first, then call torch.compile"):
        ft = A.FeatureTransform(compiled, {"conv1": A.Cutout(size=0.5)})
    assert list(ft.layers) == ["conv1"]
    ft.remove()


class TupleOutput(nn.Module):
    """A layer returning a named tuple of a feature map and a tensor that is not one."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return Pair(x, x.mean(dim=(-2, -1)))


Pair = collections.namedtuple("Pair", ["features", "summary"])


class TupleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.split = TupleOutput()

    def forward(self, x: Tensor) -> Pair:
        return self.split(x)


@pytest.mark.parametrize("element", [None, 0, "features"])
def test_tuple_output_transforms_chosen_element(element: int | str | None) -> None:
    model = TupleNet()
    with A.FeatureTransform(model, {"split": A.Cutout(size=1.0, inside=True)}, element=element):
        output = model(torch.ones(2, 3, 4, 4))
    assert isinstance(output, Pair)
    assert torch.equal(output.features, torch.zeros(2, 3, 4, 4))
    assert torch.equal(output.summary, torch.ones(2, 3))


def test_tuple_output_from_lstm() -> None:
    model = nn.Sequential(nn.LSTM(4, 6, batch_first=True))
    with A.FeatureTransform(model, {"0": nn.Dropout(p=1.0)}):
        output, (hidden, cell) = model(torch.ones(2, 5, 4))
    assert torch.equal(output, torch.zeros(2, 5, 6))
    assert hidden.abs().sum() > 0


@pytest.mark.parametrize(
    ("element", "error", "match"),
    [
        (5, ValueError, "element 5 is out of range"),
        ("other", ValueError, "'other' is not a field"),
        (1.0, TypeError, "element must be"),
    ],
)
def test_tuple_output_bad_element(element: object, error: type[Exception], match: str) -> None:
    model = TupleNet()
    with pytest.raises(error, match=match):
        with A.FeatureTransform(model, {"split": A.Cutout(size=0.5)}, element=element):
            model(torch.ones(2, 3, 4, 4))


def test_layer_that_never_runs_warns_once() -> None:
    model = small_net()
    model.unused = nn.Conv2d(3, 3, 1)
    ft = A.FeatureTransform(model, {"unused": A.Cutout(size=0.5)})
    with pytest.warns(UserWarning, match="layer 'unused' did not run"):
        model(torch.rand(2, 3, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(torch.rand(2, 3, 8, 8))
    ft.remove()


def test_same_transform_twice_on_layer_rejected() -> None:
    model = small_net()
    cutout = A.Cutout(size=0.5)
    first = A.FeatureTransform(model, {"conv1": cutout})
    with pytest.raises(ValueError, match="already attached to layer 'conv1'"):
        A.FeatureTransform(model, {"conv1": cutout})
    first.remove()
    second = A.FeatureTransform(model, {"conv1": cutout})
    assert list(second.layers) == ["conv1"]
    second.remove()


def test_one_transform_shared_by_selectors() -> None:
    cutout = A.Cutout(size=0.5)
    ft = A.FeatureTransform(small_net(), {"conv1": cutout, "relu2": cutout})
    assert ft.layers == {"conv1": cutout, "relu2": cutout}


@given(chosen=st.sets(st.sampled_from(SMALL_NET_LAYERS), min_size=1))
@settings(max_examples=30, deadline=None)
def test_predicate_picks_chosen_then_remove_restores(chosen: set[str]) -> None:
    model = small_net()
    before = hook_state(model)
    ft = A.FeatureTransform(model, {lambda name, module: name in chosen: nn.Identity()})
    assert list(ft.layers) == [name for name in SMALL_NET_LAYERS if name in chosen]
    assert all(len(model.get_submodule(name)._forward_hooks) == 1 for name in chosen)
    ft.remove()
    assert hook_state(model) == before


# Construction errors


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(ValueError, match=r"no layer named 'conv3' in SmallNet\. Close matches: ") as error:
        A.FeatureTransform(small_net(), {"conv3": A.Cutout(size=0.5)})
    assert "'conv1'" in str(error.value)
    assert "'conv2'" in str(error.value)


def test_unknown_name_without_close_matches() -> None:
    with pytest.raises(ValueError, match=r"no layer named 'backbone' in SmallNet\. See model\.named_modules\(\)"):
        A.FeatureTransform(small_net(), {"backbone": A.Cutout(size=0.5)})


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("conv9*", r"the pattern 'conv9\*' matches no layer of SmallNet"),
        (nn.LSTM, r"the class LSTM matches no layer of SmallNet"),
        (lambda name, module: False, r"the predicate .* matches no layer of SmallNet"),
    ],
    ids=["pattern", "class", "predicate"],
)
def test_selector_matching_nothing_raises(selector: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        A.FeatureTransform(small_net(), {selector: A.Cutout(size=0.5)})


def test_layer_selected_twice_raises() -> None:
    with pytest.raises(ValueError, match=r"layer 'conv1' is selected twice"):
        A.FeatureTransform(small_net(), {"conv1": A.Cutout(size=0.5), nn.Conv2d: A.RandomErasing()})


def test_aliased_layer_selected_twice_raises() -> None:
    model = nn.Sequential()
    model.first = nn.Conv2d(3, 4, 3)
    model.alias = model.first
    with pytest.raises(ValueError, match=r"layer 'alias' is selected twice \(also as 'first'\)"):
        A.FeatureTransform(model, {"first": A.Cutout(size=0.5), "alias": A.Cutout(size=0.5)})


def test_failed_construction_leaves_no_hook() -> None:
    model = small_net()
    before = hook_state(model)
    with pytest.raises(ValueError, match="no layer named 'missing'"):
        A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5), "missing": A.Cutout(size=0.5)})
    assert hook_state(model) == before


@pytest.mark.parametrize("transform", [lambda x: x, "cutout", None], ids=["function", "string", "none"])
def test_transform_not_module_raises(transform: object) -> None:
    with pytest.raises(TypeError, match=r"the transform for 'conv1' must be an nn.Module"):
        A.FeatureTransform(small_net(), {"conv1": transform})


@pytest.mark.parametrize("selector", [3, int, ("conv1",)], ids=["int", "non-module-class", "tuple"])
def test_selector_of_wrong_type_raises(selector: object) -> None:
    with pytest.raises(TypeError, match="a layer selector must be"):
        A.FeatureTransform(small_net(), {selector: A.Cutout(size=0.5)})


def test_module_instance_selector_raises() -> None:
    model = small_net()
    with pytest.raises(TypeError, match=r"a module instance cannot be a layer selector, got ReLU\(\)"):
        A.FeatureTransform(model, {model.relu1: A.Cutout(size=0.5)})


def test_model_not_module_raises() -> None:
    with pytest.raises(TypeError, match="model must be an nn.Module, got function"):
        A.FeatureTransform(lambda x: x, {"conv1": A.Cutout(size=0.5)})


def test_layers_not_mapping_raises() -> None:
    with pytest.raises(TypeError, match="layers must be a mapping"):
        A.FeatureTransform(small_net(), [("conv1", A.Cutout(size=0.5))])


def test_empty_layers_raises() -> None:
    with pytest.raises(ValueError, match="at least one layer"):
        A.FeatureTransform(small_net(), {})


@pytest.mark.parametrize(("active", "error"), [("eval", ValueError), (True, TypeError)], ids=["string", "bool"])
def test_active_invalid_raises(active: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"active must be one of \('train', 'always'\)"):
        A.FeatureTransform(small_net(), {"conv1": A.Cutout(size=0.5)}, active=active)


# Call-time errors


class DictOutput(nn.Module):
    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"features": x}


def test_non_tensor_output_raises_naming_layer() -> None:
    model = nn.Sequential(DictOutput())
    A.FeatureTransform(model, {"0": A.Cutout(size=0.5)})
    with pytest.raises(TypeError, match=r"layer '0' returned a dict"):
        model(images())


def test_tuple_output_transforms_first_tensor() -> None:
    model = NetWithPair()
    reference = copy.deepcopy(model)
    with A.FeatureTransform(model, {"pair": A.Cutout(size=1.0, inside=True)}):
        output = model(images())
    first, second = reference.pair(reference.conv(images()))
    assert torch.equal(output, second)


def test_output_without_channels_raises_naming_layer() -> None:
    model = small_net()
    A.FeatureTransform(model, {"head.2": A.Cutout(size=0.5)})
    with pytest.raises(ValueError, match=r"layer 'head.2' returned a tensor of shape \(2, 4\), but Cutout expects"):
        model(images())


# When hooks act


def test_acts_in_training_mode() -> None:
    model = small_net()
    reference = copy.deepcopy(model)
    A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5)})
    assert not torch.allclose(model(images()), reference(images()))


def test_eval_model_output_identical() -> None:
    model = small_net()
    reference = copy.deepcopy(model).eval()
    A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5), "conv2": A.RandomErasing(p=1.0)})
    assert torch.equal(model.eval()(images()), reference(images()))


def test_active_always_acts_in_eval_mode() -> None:
    model = small_net().eval()
    reference = copy.deepcopy(model)
    A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5)}, active="always")
    assert not torch.allclose(model(images()), reference(images()))


def test_feature_transform_eval_disables() -> None:
    model = small_net()
    reference = copy.deepcopy(model)
    ft = A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5)})
    ft.eval()
    assert torch.equal(model(images()), reference(images()))
    assert model.training
    ft.train()
    assert not torch.allclose(model(images()), reference(images()))


def test_transform_eval_disables_its_layers() -> None:
    model = small_net()
    reference = copy.deepcopy(model)
    cutout = A.Cutout(size=0.5)
    ft = A.FeatureTransform(model, {"conv1": cutout})
    cutout.eval()
    assert ft.training
    assert torch.equal(model(images()), reference(images()))


def test_torchvision_and_torch_modules_as_transforms() -> None:
    model = nn.Sequential(feature_probe(), nn.Identity(), nn.Identity())
    A.FeatureTransform(model, {"1": nn.Dropout2d(p=1.0), "2": v2.RandomErasing(p=1.0, value=5.0)})
    output = model(torch.rand(2, 1, 8, 8))
    assert bool(((output == 0) | (output == 5)).all())
    assert bool((output == 5).any())


def test_state_dict_covers_transforms_not_model() -> None:
    model = small_net()
    model_keys = list(model.state_dict())
    ft = A.FeatureTransform(model, {"conv1": nn.BatchNorm2d(8)})
    assert "transforms.0.running_mean" in ft.state_dict()
    assert list(model.state_dict()) == model_keys


def test_repr_names_layers() -> None:
    ft = A.FeatureTransform(small_net(), {"conv*": A.Cutout(size=0.5)})
    assert "layers=['conv1', 'conv2'], active='train'" in repr(ft)


def test_layers_returns_copy() -> None:
    ft = A.FeatureTransform(small_net(), {"conv1": A.Cutout(size=0.5)})
    ft.layers.clear()
    assert list(ft.layers) == ["conv1"]


def test_logs_only_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="augspace"):
        A.FeatureTransform(small_net(), {"conv1": A.Cutout(size=0.5)}).remove()
    assert [record.levelno for record in caplog.records] == [logging.DEBUG, logging.DEBUG]
    assert "hooked the layers ['conv1'] of SmallNet" in caplog.records[0].getMessage()


# Removal


def test_remove_restores_model_exactly() -> None:
    model = small_net()
    bare_output = model(images())
    hooks_before = hook_state(model)
    attributes_before = attribute_state(model)
    state_before = model.state_dict()

    ft = A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5), nn.ReLU: A.RandomErasing(p=1.0)})
    assert list(model.state_dict()) == list(state_before)
    ft.remove()

    assert hook_state(model) == hooks_before
    assert attribute_state(model) == attributes_before
    assert all(not module._forward_hooks for module in model.modules())
    state_after = model.state_dict()
    assert list(state_after) == list(state_before)
    assert all(torch.equal(state_after[key], state_before[key]) for key in state_before)
    assert torch.equal(model(images()), bare_output)


def test_remove_twice_is_harmless() -> None:
    model = small_net()
    bare_output = model(images())
    ft = A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5)})
    ft.remove()
    ft.remove()
    ft.eval().train()
    assert not model.conv1._forward_hooks
    assert torch.equal(model(images()), bare_output)


def test_context_manager_removes_on_exit() -> None:
    model = small_net()
    with A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5)}) as ft:
        assert isinstance(ft, A.FeatureTransform)
        assert len(model.conv1._forward_hooks) == 1
    assert not model.conv1._forward_hooks


def test_context_manager_removes_on_error() -> None:
    model = small_net()
    with pytest.raises(RuntimeError, match="stop"), A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5)}):
        raise RuntimeError("stop")
    assert not model.conv1._forward_hooks


# Autograd


def test_gradients_flow_through_cutout() -> None:
    model = small_net()
    A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5, fill="mean")})
    model(images()).sum().backward()
    gradients = {name: parameter.grad for name, parameter in model.named_parameters()}
    assert all(gradient is not None for gradient in gradients.values())
    assert bool(gradients["conv1.weight"].abs().sum() > 0)
    assert all(bool(torch.isfinite(gradient).all()) for gradient in gradients.values())


# torch.compile


@pytest.fixture
def fresh_dynamo() -> None:
    torch._dynamo.reset()


@pytest.mark.usefixtures("fresh_dynamo")
@pytest.mark.parametrize(
    "transform", [A.Cutout(size=0.5, fill="mean"), A.RandomErasing(p=0.5)], ids=["cutout", "random-erasing"]
)
def test_compile_no_graph_break(transform: nn.Module) -> None:
    model = small_net()
    bare_op_count = torch._dynamo.explain(model)(images()).op_count
    torch._dynamo.reset()
    A.FeatureTransform(model, {"conv1": transform})
    explanation = torch._dynamo.explain(model)(images())
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1
    assert explanation.op_count > bare_op_count


@pytest.mark.usefixtures("fresh_dynamo")
@pytest.mark.xfail(
    strict=True, reason="Dynamo cannot trace the torch.Generator argument of torch.rand, so each draw breaks the graph"
)
def test_compile_no_graph_break_with_generator() -> None:
    model = small_net()
    A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5, generator=torch.Generator().manual_seed(0))})
    assert torch._dynamo.explain(model)(images()).graph_break_count == 0


@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_cutout_erased_fraction_matches_eager() -> None:
    # A 4x4 hole on an 8x8 map, centre uniform and clipped at the border, covers R rows and C columns, independent
    # and each distributed as clipped_cover lists. The tolerance is 4 standard errors of the mean of R * C / 64.
    samples, side, hole = 4096, 8, 4
    rows = torch.tensor(clipped_cover(side, hole), dtype=torch.float64)
    expected = (rows.mean() / side) ** 2
    variance = (rows.pow(2).mean() / side**2) ** 2 - expected**2
    tolerance = 4 * math.sqrt(variance / samples)

    model = feature_probe()
    A.FeatureTransform(model, {"1": A.Cutout(size=0.5, fill=0.0)})
    x = torch.rand(samples, 1, side, side)
    torch.manual_seed(2)
    eager = (model(x) == 0).double().mean()
    torch.manual_seed(3)
    compiled = (torch.compile(model)(x) == 0).double().mean()

    assert abs(eager - expected) < tolerance
    assert abs(compiled - expected) < tolerance


@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_random_erasing_rate_matches_eager() -> None:
    # Each sample is erased with probability 0.5, so 4 binomial standard deviations of the erased share are 0.031.
    samples, side = 4096, 8
    tolerance = 4 * math.sqrt(0.25 / samples)
    model = feature_probe()
    A.FeatureTransform(model, {"1": A.RandomErasing(p=0.5)})
    x = torch.rand(samples, 1, side, side)
    torch.manual_seed(4)
    eager = (model(x) == 0).flatten(1).any(dim=1).double().mean()
    torch.manual_seed(5)
    compiled = (torch.compile(model)(x) == 0).flatten(1).any(dim=1).double().mean()

    assert abs(eager - 0.5) < tolerance
    assert abs(compiled - 0.5) < tolerance


@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_follows_train_eval_toggles() -> None:
    model = small_net()
    reference = copy.deepcopy(model)
    ft = A.FeatureTransform(model, {"conv1": A.Cutout(size=0.5)})
    hooks = hook_state(model)
    compiled = torch.compile(model)
    x = images()

    assert not torch.allclose(compiled(x), reference(x), atol=1e-5)
    model.eval()
    assert torch.allclose(compiled(x), reference.eval()(x), atol=1e-5)
    model.train()
    reference.train()
    assert not torch.allclose(compiled(x), reference(x), atol=1e-5)
    ft.eval()
    assert torch.allclose(compiled(x), reference(x), atol=1e-5)
    ft.train()
    assert not torch.allclose(compiled(x), reference(x), atol=1e-5)
    assert hook_state(model) == hooks


# A real network


def test_resnet18_layer_and_pattern() -> None:
    torch.manual_seed(0)
    model = resnet18(num_classes=10)
    reference = copy.deepcopy(model).eval()
    ft = A.FeatureTransform(model, {"layer2": A.Cutout(size=0.5, fill="mean"), "layer3.*": A.RandomErasing(p=0.5)})
    x = torch.rand(2, 3, 64, 64)
    assert list(ft.layers) == ["layer2", "layer3.0", "layer3.1"]
    assert torch.equal(model.eval()(x), reference(x))

    output = model.train()(x)
    output.sum().backward()
    assert output.shape == (2, 10)
    assert bool(torch.isfinite(output).all())
    assert model.conv1.weight.grad is not None
    ft.remove()
    assert all(not module._forward_hooks for module in model.modules())

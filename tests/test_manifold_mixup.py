"""Tests of ManifoldMixup: the chosen layer, the targets, the hooks' lifetime and compiled models."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch._dynamo.testing import CompileCounter, CompileCounterWithBackend

import augspace as A
from augspace import functional as AF

LAYERS = ["stem", "block1", "block2", "head"]


class TinyNet(nn.Module):
    """Three convolutional stages and a linear head: maps of 8x8, 8x8 and 4x4, then a 2-D output."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block1 = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.block2(self.block1(self.stem(x)))).flatten(1))


class TupleLayer(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny_net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet()


def deep_net(depth: int) -> nn.Sequential:
    """``depth`` convolutions named ``"0"`` to ``str(depth - 1)``, then a pooled linear head."""
    torch.manual_seed(0)
    convolutions = [nn.Conv2d(3 if index == 0 else 4, 4, 3, padding=1) for index in range(depth)]
    return nn.Sequential(*convolutions, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))


def batch(size: int = 6, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = seeded(seed)
    return torch.rand(size, 3, 8, 8, generator=generator), torch.randint(0, 5, (size,), generator=generator)


def capture_outputs(model: nn.Module, names: list[str]) -> tuple[dict, dict]:
    """Record each layer's output before the mixer's hook (``before``) and after it (``after``)."""
    before: dict[str, torch.Tensor] = {}
    after: dict[str, torch.Tensor] = {}
    for name in names:
        module = model.get_submodule(name)
        module.register_forward_hook(
            lambda _m, _a, out, name=name: before.__setitem__(name, out.detach()), prepend=True
        )
        module.register_forward_hook(lambda _m, _a, out, name=name: after.__setitem__(name, out.detach()))
    return before, after


def capture_input(model: nn.Module) -> list[torch.Tensor]:
    inputs: list[torch.Tensor] = []
    model.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach()))
    return inputs


def all_hooks(model: nn.Module) -> list:
    return [hook for module in model.modules() for hook in module._forward_hooks.values()]


# The chosen layer


@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_only_chosen_layer_is_mixed(mode: str) -> None:
    model = tiny_net()
    names = LAYERS[:3] if mode == "cutmix" else LAYERS
    mixer = A.ManifoldMixup(model, names, num_classes=5, mode=mode, include_input=False, generator=seeded(1))
    before, after = capture_outputs(model, names)
    chosen_names = set()
    for seed in range(16):
        x, labels = batch(seed=seed)
        mixer(x, labels)
        params = mixer.last_params
        chosen = mixer.candidates[int(params.layer)]
        chosen_names.add(chosen)
        for name in names:
            if name != chosen:
                assert torch.equal(after[name], before[name]), (seed, name)
        if mode == "mixup":
            expected = AF.mixup(before[chosen], params.lam, params.permutation)
        else:
            expected = AF.cutmix(before[chosen], params.boxes.expand(6, 4), params.permutation)
        assert torch.allclose(after[chosen], expected, atol=1e-6), (seed, chosen)
        assert not torch.equal(after[chosen], before[chosen]), (seed, chosen)
    assert chosen_names == set(names)


def test_input_is_mixed_when_chosen() -> None:
    model = tiny_net()
    mixer = A.ManifoldMixup(model, ["block1"], num_classes=5, generator=seeded(2))
    inputs = capture_input(model)
    chosen_input = 0
    for seed in range(10):
        x, labels = batch(seed=seed)
        mixer(x, labels)
        params = mixer.last_params
        expected = AF.mixup(x, params.lam, params.permutation) if int(params.layer) == 0 else x
        chosen_input += int(params.layer) == 0
        assert torch.allclose(inputs[-1], expected, atol=1e-6)
    assert mixer.candidates == (None, "block1")
    assert 0 < chosen_input < 10


def test_cutmix_lam_is_kept_fraction_of_chosen_grid() -> None:
    model = tiny_net()
    mixer = A.ManifoldMixup(model, ["block1", "block2"], num_classes=5, mode="cutmix", generator=seeded(3))
    before, _ = capture_outputs(model, ["block1", "block2"])
    sizes = {None: (8, 8), "block1": (8, 8), "block2": (4, 4)}
    for seed in range(12):
        x, labels = batch(seed=seed)
        _, targets = mixer(x, labels)
        params = mixer.last_params
        chosen = mixer.candidates[int(params.layer)]
        height, width = sizes[chosen]
        inside = AF.box_mask(params.boxes.unsqueeze(1), height, width)
        assert params.lam.item() == pytest.approx(1.0 - inside.float().mean().item(), abs=1e-7)
        assert torch.allclose(targets, AF.mix_targets(labels, params.lam, params.permutation, num_classes=5))
        assert before["block2"].shape[-2:] == (4, 4)


def test_layer_choice_is_uniform() -> None:
    draws = 3000
    mixer = A.ManifoldMixup(tiny_net(), LAYERS, num_classes=5, generator=seeded(4))
    x, _ = batch()
    layers = torch.stack([mixer.make_params(x).layer for _ in range(draws)])
    frequency = (layers.unsqueeze(1) == torch.arange(5)).double().mean(dim=0)
    # Five candidates, each with probability 1/5. The check allows four binomial standard deviations of each frequency.
    tolerance = 4 * math.sqrt(0.2 * 0.8 / draws)
    assert torch.all((frequency - 0.2).abs() <= tolerance), frequency


def test_lambda_mean_matches_beta() -> None:
    draws = 3000
    mixer = A.ManifoldMixup(tiny_net(), LAYERS, alpha=0.4, num_classes=5, generator=seeded(5))
    x, _ = batch()
    lam = torch.stack([mixer.make_params(x).lam for _ in range(draws)]).double()
    # Beta(0.4, 0.4) has mean 1/2 and variance 1 / (4 * 1.8). The check allows four standard errors of the mean.
    assert abs(lam.mean().item() - 0.5) <= 4 * math.sqrt(1 / 7.2 / draws)


def test_selectors_pick_layers_by_pattern_and_class() -> None:
    model = tiny_net()
    mixer = A.ManifoldMixup(model, ["block*", nn.Linear], num_classes=5, include_input=False)
    assert mixer.candidates == ("block1", "block2", "head")


# Targets


@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_targets_follow_params(mode: str) -> None:
    mixer = A.ManifoldMixup(tiny_net(), LAYERS[:3], num_classes=5, mode=mode, generator=seeded(6))
    for seed in range(6):
        x, labels = batch(seed=seed)
        _, targets = mixer(x, labels)
        params = mixer.last_params
        assert targets.dtype == torch.float32
        assert torch.allclose(targets.sum(dim=1), torch.ones(6), atol=1e-6)
        assert torch.allclose(targets, AF.mix_targets(labels, params.lam, params.permutation, num_classes=5))


def test_soft_labels() -> None:
    soft = torch.softmax(torch.randn(6, 5, generator=seeded(7)), dim=1)
    mixer = A.ManifoldMixup(tiny_net(), LAYERS, generator=seeded(7))
    _, targets = mixer(batch()[0], soft)
    assert torch.allclose(targets.sum(dim=1), torch.ones(6), atol=1e-6)


def test_odd_and_single_batches() -> None:
    mixer = A.ManifoldMixup(tiny_net(), LAYERS, num_classes=5, generator=seeded(8))
    for size in (1, 3, 0):
        x, labels = batch(size)
        logits, targets = mixer(x, labels)
        assert logits.shape == (size, 5)
        assert targets.shape == (size, 5)
    x, labels = batch(1)
    _, targets = mixer(x, labels)
    assert torch.equal(targets, F.one_hot(labels, 5).float())


# Modes, hooks and the model


@pytest.mark.parametrize("switch_off", ["mixer", "model"])
def test_eval_is_plain_forward(switch_off: str) -> None:
    model = tiny_net()
    reference = copy.deepcopy(model)
    mixer = A.ManifoldMixup(model, LAYERS, num_classes=5, generator=seeded(9))
    (mixer if switch_off == "mixer" else model).eval()
    reference.train(model.training)
    x, labels = batch()
    logits, targets = mixer(x, labels)
    assert torch.equal(logits, reference(x))
    assert torch.equal(targets, F.one_hot(labels, 5).float())
    assert mixer.last_params is None


def test_direct_model_call_is_unchanged() -> None:
    model = tiny_net()
    reference = copy.deepcopy(model)
    mixer = A.ManifoldMixup(model, LAYERS, num_classes=5, generator=seeded(10))
    x, labels = batch()
    mixer(x, labels)
    assert torch.equal(model(x), reference(x))


def test_remove_restores_model() -> None:
    model = tiny_net()
    attributes = set(vars(model))
    keys = list(model.state_dict())
    modules = [name for name, _ in model.named_modules()]
    mixer = A.ManifoldMixup(model, LAYERS, num_classes=5)
    assert len(all_hooks(model)) == 4
    assert set(vars(model)) == attributes
    assert [name for name, _ in model.named_modules()] == modules
    mixer.remove()
    mixer.remove()
    assert all_hooks(model) == []
    assert list(model.state_dict()) == keys
    assert set(vars(model)) == attributes


def test_context_manager_removes_hooks() -> None:
    model = tiny_net()
    with A.ManifoldMixup(model, LAYERS, num_classes=5) as mixer:
        mixer(*batch())
        assert len(all_hooks(model)) == 4
    assert all_hooks(model) == []
    with pytest.raises(RuntimeError, match="ManifoldMixup: the hooks were removed"):
        mixer(*batch())


def test_mixer_holds_no_model_state() -> None:
    model = tiny_net()
    mixer = A.ManifoldMixup(model, LAYERS, num_classes=5)
    assert list(mixer.state_dict()) == []
    mixer.eval()
    assert model.training


def test_gradients_reach_every_parameter() -> None:
    model = tiny_net()
    mixer = A.ManifoldMixup(model, LAYERS, num_classes=5, generator=seeded(11))
    logits, targets = mixer(*batch())
    F.cross_entropy(logits, targets).backward()
    assert all(parameter.grad is not None for parameter in model.parameters())


def test_inputs_never_modified() -> None:
    mixer = A.ManifoldMixup(tiny_net(), LAYERS[:3], num_classes=5, mode="cutmix", generator=seeded(12))
    x, labels = batch()
    x_before, labels_before = x.clone(), labels.clone()
    versions = (x._version, labels._version)
    for _ in range(4):
        mixer(x, labels)
    assert (x._version, labels._version) == versions
    assert torch.equal(x, x_before)
    assert torch.equal(labels, labels_before)


def test_generator_and_manual_seed_reproduce() -> None:
    x, labels = batch()
    first = A.ManifoldMixup(tiny_net(), LAYERS, num_classes=5, generator=seeded(13))(x, labels)
    second = A.ManifoldMixup(tiny_net(), LAYERS, num_classes=5, generator=seeded(13))(x, labels)
    assert torch.equal(first[0], second[0])
    assert torch.equal(first[1], second[1])

    mixer = A.ManifoldMixup(tiny_net(), LAYERS, num_classes=5)
    torch.manual_seed(14)
    third = mixer(x, labels)
    torch.manual_seed(14)
    fourth = mixer(x, labels)
    assert torch.equal(third[0], fourth[0])
    assert torch.equal(third[1], fourth[1])


# Errors


@pytest.mark.parametrize(
    ("layers", "arguments", "error", "match"),
    [
        (["stem"], {"alpha": 0.0}, ValueError, "alpha must be above 0"),
        (["stem"], {"alpha": True}, TypeError, "alpha must be a real number"),
        (["stem"], {"num_classes": 0}, ValueError, "num_classes must be at least 1"),
        (["stem"], {"mode": "cutout"}, ValueError, "mode must be one of"),
        (["stem"], {"mode": None}, TypeError, "mode must be one of"),
        (["stem"], {"include_input": 1}, TypeError, "include_input must be a bool"),
        (["stem"], {"generator": 1}, TypeError, "generator must be a torch.Generator"),
        ([], {}, ValueError, "layers must select at least one layer"),
        (["stme"], {}, ValueError, "no layer named 'stme' in TinyNet. Close matches: 'stem'"),
        (["block*", "block1"], {}, ValueError, "layer 'block1' is selected twice"),
        ([""], {}, ValueError, "the model itself cannot be a candidate layer"),
        ([nn.GRU], {}, ValueError, "the class GRU matches no layer"),
    ],
)
def test_rejects_bad_arguments(layers: list, arguments: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=f"ManifoldMixup: .*{match}"):
        A.ManifoldMixup(tiny_net(), layers, **arguments)


def test_rejects_non_module_model() -> None:
    with pytest.raises(TypeError, match="ManifoldMixup: model must be an nn.Module, got function"):
        A.ManifoldMixup(lambda x: x, ["stem"])


def test_failed_construction_leaves_no_hook() -> None:
    model = tiny_net()
    with pytest.raises(ValueError, match="no layer named"):
        A.ManifoldMixup(model, ["stem", "missing"])
    assert all_hooks(model) == []


def test_rejects_non_tensor_output() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), TupleLayer())
    mixer = A.ManifoldMixup(model, ["1"], num_classes=5)
    with pytest.raises(TypeError, match="ManifoldMixup: layer '1' returned a tuple"):
        mixer(*batch())


def test_cutmix_rejects_flat_output() -> None:
    mixer = A.ManifoldMixup(tiny_net(), ["head"], num_classes=5, mode="cutmix")
    with pytest.raises(
        ValueError, match=r"mode='cutmix' needs the output of layer 'head' to have shape \(N, ..., H, W\)"
    ):
        mixer(*batch())


def test_rejects_index_labels_without_classes() -> None:
    mixer = A.ManifoldMixup(tiny_net(), LAYERS)
    with pytest.raises(ValueError, match="ManifoldMixup: num_classes is required"):
        mixer(*batch())


# Compiled models


@pytest.fixture
def fresh_compiler() -> None:
    """Drop code compiled by earlier tests: compiled code is cached per class, and its guards skip module hooks."""
    torch._dynamo.reset()


@pytest.mark.usefixtures("fresh_compiler")
def test_stale_compiled_code_raises() -> None:
    first = tiny_net()
    torch.compile(first, backend="eager")(batch()[0])
    compiled = torch.compile(tiny_net(), backend="eager")
    mixer = A.ManifoldMixup(compiled, LAYERS, num_classes=5)
    with pytest.raises(RuntimeError, match="ManifoldMixup: none of the hooked layers .* ran in the forward pass"):
        mixer(*batch())


@pytest.mark.usefixtures("fresh_compiler")
@pytest.mark.slow
def test_compiled_model_one_graph_for_sixteen_layers() -> None:
    model = deep_net(16)
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter)
    mixer = A.ManifoldMixup(compiled, [str(index) for index in range(16)], num_classes=5, generator=seeded(15))
    chosen = set()
    for seed in range(40):
        mixer(*batch(seed=seed))
        chosen.add(int(mixer.last_params.layer))
    assert len(chosen) >= 12
    assert counter.frame_count == 1
    compiled(batch()[0])
    assert counter.frame_count == 2


@pytest.mark.usefixtures("fresh_compiler")
def test_compiled_mixing_has_no_graph_break() -> None:
    model = tiny_net()
    mixer = A.ManifoldMixup(model, LAYERS, num_classes=5)
    explanation = torch._dynamo.explain(mixer)(*batch())
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1


@pytest.mark.usefixtures("fresh_compiler")
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_compiled_matches_eager(mode: str) -> None:
    eager_model, compiled_model = tiny_net(), tiny_net()
    compiled = torch.compile(compiled_model, backend="aot_eager")
    names = LAYERS[:3] if mode == "cutmix" else LAYERS
    eager_mixer = A.ManifoldMixup(eager_model, names, num_classes=5, mode=mode, generator=seeded(16))
    compiled_mixer = A.ManifoldMixup(compiled, names, num_classes=5, mode=mode, generator=seeded(16))
    for seed in range(6):
        x, labels = batch(seed=seed)
        eager_logits, eager_targets = eager_mixer(x, labels)
        compiled_logits, compiled_targets = compiled_mixer(x, labels)
        assert torch.allclose(compiled_logits, eager_logits, atol=1e-5)
        assert torch.allclose(compiled_targets, eager_targets)
    compiled_mixer.remove()
    x, _ = batch()
    assert torch.allclose(compiled(x), eager_model(x), atol=1e-5)


@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_resnet18_eager_by_layer_names(mode: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    x, labels = torch.rand(4, 3, 32, 32), torch.tensor([1, 3, 5, 7])
    layers = ["layer1", "layer2", "layer3", "layer4"]
    with A.ManifoldMixup(model, layers, num_classes=10, mode=mode, generator=seeded(17)) as mixer:
        logits, targets = mixer(x, labels)
        F.cross_entropy(logits, targets).backward()
    assert logits.shape == (4, 10)
    assert torch.allclose(targets.sum(dim=1), torch.ones(4))
    assert all_hooks(model) == []


@pytest.mark.usefixtures("fresh_compiler")
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["mixup", "cutmix"])
def test_resnet18_compiled_by_layer_names(mode: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model, backend=counter)
    x, labels = torch.rand(4, 3, 32, 32), torch.tensor([1, 3, 5, 7])
    layers = ["layer1", "layer2", "layer3", "layer4"]
    with A.ManifoldMixup(compiled, layers, num_classes=10, mode=mode, generator=seeded(18)) as mixer:
        for _ in range(2):
            logits, targets = mixer(x, labels)
            F.cross_entropy(logits, targets).backward()
    assert counter.frame_count == 1
    assert logits.shape == (4, 10)
    assert all_hooks(model) == []

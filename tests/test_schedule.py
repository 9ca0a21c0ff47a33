"""Tests of the schedules, of stepping them, of saving them and of compiling models that use them."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch import nn
from torch._dynamo.testing import CompileCounter
from torchvision.transforms import v2

import augspace as A


def feature_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))


# Values


@pytest.mark.parametrize(("steps_taken", "expected"), [(0, 0.0), (1, 0.025), (2, 0.05), (4, 0.1), (9, 0.1)])
def test_linear_values(steps_taken: int, expected: float) -> None:
    schedule = A.LinearSchedule(0.0, 0.1, steps=4)
    for _ in range(steps_taken):
        schedule.step()
    assert schedule.value.item() == pytest.approx(expected, abs=1e-7)
    assert schedule.step_count.item() == steps_taken


@pytest.mark.parametrize("steps_taken", [0, 1, 3, 5, 8, 12])
def test_cosine_values(steps_taken: int) -> None:
    schedule = A.CosineSchedule(0.4, 0.1, steps=8)
    for _ in range(steps_taken):
        schedule.step()
    progress = min(steps_taken / 8, 1.0)
    expected = 0.1 + 0.3 * (1 + math.cos(math.pi * progress)) / 2
    assert schedule.value.item() == pytest.approx(expected, abs=1e-6)


def test_decreasing_linear_schedule() -> None:
    schedule = A.LinearSchedule(0.5, 0.1, steps=2)
    schedule.step()
    assert schedule.value.item() == pytest.approx(0.3)
    assert schedule.low == 0.1
    assert schedule.high == 0.5


def test_forward_returns_value_buffer() -> None:
    schedule = A.LinearSchedule(0.2, 0.4, steps=2)
    assert schedule() is schedule.value


def test_buffers_are_in_state_dict() -> None:
    state = A.LinearSchedule(0.0, 1.0, steps=3).state_dict()
    assert list(state) == ["step_count", "value"]
    assert state["step_count"].dtype == torch.int64
    assert state["value"].dtype == torch.float32


def test_pickle_keeps_progress() -> None:
    schedule = A.CosineSchedule(0.0, 1.0, steps=4)
    schedule.step()
    restored = pickle.loads(pickle.dumps(schedule))
    assert restored.step_count.item() == 1
    assert restored.value.item() == schedule.value.item()


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"steps": 0}, ValueError, "steps must be at least 1"),
        ({"steps": 2.0}, TypeError, "steps must be an int"),
        ({"steps": True}, TypeError, "steps must be an int"),
        ({"start": float("nan")}, ValueError, "start must be finite"),
        ({"end": True}, TypeError, "end must be a real number"),
        ({"end": "0.1"}, TypeError, "end must be a real number"),
    ],
)
def test_rejects_bad_arguments(arguments: dict, error: type[Exception], match: str) -> None:
    arguments = {"start": 0.0, "end": 0.1, "steps": 10, **arguments}
    with pytest.raises(error, match=f"LinearSchedule: {match}"):
        A.LinearSchedule(**arguments)


# Stepping


def test_step_advances_each_schedule_once() -> None:
    shared = A.LinearSchedule(0.0, 0.2, steps=2)
    first = A.DropBlock(drop_prob=shared, block_size=3)
    second = A.Dropout(shared)
    other = A.SpatialDropout(A.LinearSchedule(0.0, 0.4, steps=4))
    assert A.step(nn.ModuleList([first, second]), other, first) == 2
    assert shared.step_count.item() == 1
    assert other.p.step_count.item() == 1


def test_step_finds_schedules_in_torchvision_containers() -> None:
    schedule = A.LinearSchedule(0.0, 0.2, steps=2)
    pipeline = v2.Compose([v2.RandomChoice([A.PixelDropout(schedule), v2.Identity()])])
    assert A.step(pipeline) == 1
    assert schedule.step_count.item() == 1


def test_step_without_schedules_returns_zero() -> None:
    assert A.step(feature_model(), A.DropBlock(drop_prob=0.1, block_size=3)) == 0


def test_step_rejects_non_modules() -> None:
    with pytest.raises(TypeError, match="step: expected nn.Module arguments, got list"):
        A.step([A.LinearSchedule(0.0, 0.1, steps=2)])


def test_feature_transform_step() -> None:
    model = feature_model()
    drop = A.DropBlock(drop_prob=A.LinearSchedule(0.0, 0.3, steps=3), block_size=3)
    ft = A.FeatureTransform(model, {"1": drop})
    assert ft.step() == 1
    assert drop.drop_prob.value.item() == pytest.approx(0.1)


def test_schedule_drives_drop_rate() -> None:
    drop = A.DropBlock(drop_prob=A.LinearSchedule(0.0, 0.4, steps=2), block_size=3, generator=torch.Generator())
    x = torch.ones(256, 4, 10, 10)
    assert (drop(x) == 0).sum().item() == 0
    A.step(drop)
    # 1,024 maps of 10x10 at drop_prob 0.2 in 3x3 blocks: the standard error of the measured share is at most 0.004
    # (the bound of planes_for in test_dropout), so 0.02 is five of them.
    assert abs((drop(x) == 0).double().mean().item() - 0.2) <= 0.02


# Saving and resuming


def test_state_dict_resumes_ramp() -> None:
    model = feature_model()
    ft = A.FeatureTransform(model, {"1": A.DropBlock(drop_prob=A.LinearSchedule(0.0, 0.1, steps=10), block_size=3)})
    for _ in range(4):
        ft.step()
    state = ft.state_dict()
    ft.remove()

    resumed_model = feature_model()
    resumed = A.FeatureTransform(
        resumed_model, {"1": A.DropBlock(drop_prob=A.LinearSchedule(0.0, 0.1, steps=10), block_size=3)}
    )
    resumed.load_state_dict(state)
    schedule = resumed.layers["1"].drop_prob
    assert schedule.step_count.item() == 4
    assert schedule.value.item() == pytest.approx(0.04)
    resumed.step()
    assert schedule.value.item() == pytest.approx(0.05)


def test_state_dict_keys_name_the_schedule() -> None:
    ft = A.FeatureTransform(feature_model(), {"1": A.DropBlock(A.CosineSchedule(0.0, 0.1, steps=5), block_size=3)})
    assert set(ft.state_dict()) == {"transforms.0.drop_prob.step_count", "transforms.0.drop_prob.value"}


# torch.compile


@pytest.fixture
def fresh_dynamo() -> None:
    torch._dynamo.reset()


@pytest.mark.usefixtures("fresh_dynamo")
def test_compiled_steps_do_not_recompile() -> None:
    model = feature_model()
    ft = A.FeatureTransform(model, {"2": A.DropBlock(A.LinearSchedule(0.0, 0.3, steps=3), block_size=3)})
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter)
    x = torch.rand(16, 3, 8, 8)

    dropped = []
    for _ in range(4):
        dropped.append((compiled(x) == 0).double().mean().item())
        ft.step()
    assert counter.frame_count == 1
    assert dropped[-1] > dropped[0]


@pytest.mark.usefixtures("fresh_dynamo")
@pytest.mark.parametrize("per_channel", [True, False])
def test_drop_block_compiles_without_graph_break(per_channel: bool) -> None:
    model = feature_model()
    A.FeatureTransform(model, {"1": A.DropBlock(A.LinearSchedule(0.1, 0.3, steps=3), 3, per_channel=per_channel)})
    explanation = torch._dynamo.explain(model)(torch.rand(2, 3, 8, 8))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_dynamo")
def test_compiled_drop_block_rate() -> None:
    # Compiled code draws one uniform number per grid cell, and the rate is the eager one. The input is 1,024 maps of
    # 16x16 at drop_prob 0.2 in 3x3 blocks, whose share of zeros has a standard error of at most 0.0023 (the bound of
    # planes_for in test_dropout), so 0.01 is over four of them.
    model = nn.Sequential(nn.Identity())
    A.FeatureTransform(model, {"0": A.DropBlock(drop_prob=0.2, block_size=3)}, active="always")
    torch.manual_seed(0)
    output = torch.compile(model)(torch.ones(64, 16, 16, 16))
    assert abs((output == 0).double().mean().item() - 0.2) <= 0.01
    assert abs(output.double().mean().item() - 1.0) <= 1e-5

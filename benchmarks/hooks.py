"""Cost of FeatureTransform's forward hooks on a torchvision ResNet-18 forward pass.

Three comparisons, each timed interleaved with the bare forward of an identical model without hooks:

- eval mode: hooks registered but switched off, which should cost nothing measurable, so the hook calls are also
  timed on their own, many times over, against the bare forward;
- training mode: Cutout on ``layer2`` and ``layer3``, whose extra time should be no more than the two Cutout calls
  cost on their own plus 5% of the bare forward;
- the two Cutout calls alone, on tensors of the hooked layers' output shapes.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import augspace

from .timing import Clock

HOOKED_LAYERS = ("layer2", "layer3")


@dataclass(frozen=True)
class HookTiming:
    """Median times of one hooked configuration and of the bare forward it is compared with.

    Attributes:
        name: the configuration.
        bare_ms: median time of the bare forward, in milliseconds.
        hooked_ms: median time of the forward with hooks, in milliseconds.
        ratio: median over rounds of hooked time / bare time.
        low: first quartile of the per-round ratios.
        high: third quartile of the per-round ratios.
    """

    name: str
    bare_ms: float
    hooked_ms: float
    ratio: float
    low: float
    high: float


def _interleave(
    name: str, bare: Callable[[], object], hooked: Callable[[], object], clock: Clock, rounds: int, warmup: int
) -> HookTiming:
    for _ in range(warmup):
        bare()
        hooked()
    bare_times, hooked_times, ratios = [], [], []
    for _ in range(rounds):
        bare_time = clock.time(bare)
        hooked_time = clock.time(hooked)
        bare_times.append(bare_time)
        hooked_times.append(hooked_time)
        ratios.append(hooked_time / bare_time)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else (min(ratios), 0.0, max(ratios))
    return HookTiming(
        name,
        statistics.median(bare_times) * 1e3,
        statistics.median(hooked_times) * 1e3,
        statistics.median(ratios),
        quartiles[0],
        quartiles[-1],
    )


def _layer_outputs(model: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ``model`` once and return the outputs of the hooked layers, detached."""
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda module, args, output, name=name: outputs.__setitem__(name, output.detach())
        )
        for name in HOOKED_LAYERS
    ]
    with torch.no_grad():
        model(images)
    for handle in handles:
        handle.remove()
    return outputs


def _eval_hook_calls(
    feature_transform: augspace.FeatureTransform,
    model: torch.nn.Module,
    outputs: dict[str, torch.Tensor],
    *,
    bare_ms: float,
    repeats: int = 1000,
) -> HookTiming:
    """Time the hooks of one eval-mode forward pass on their own, averaged over ``repeats`` calls of each."""
    layers = feature_transform.layers
    begin = time.perf_counter()
    for _ in range(repeats):
        for name, output in outputs.items():
            feature_transform._transform_output(name, layers[name], model.get_submodule(name), (), output)
    per_forward_ms = (time.perf_counter() - begin) / repeats * 1e3
    ratio = 1.0 + per_forward_ms / bare_ms
    return HookTiming("eval mode, the two hook calls alone", bare_ms, bare_ms + per_forward_ms, ratio, ratio, ratio)


def measure_hooks(device: torch.device, *, quick: bool, rounds: int, warmup: int) -> list[HookTiming]:
    """Time a ResNet-18 forward with and without FeatureTransform hooks; return one row per configuration."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    batch, side = (2, 64) if quick else (16, 224)
    images = torch.rand(batch, 3, side, side, device=device)
    bare = resnet18().to(device)
    hooked = copy.deepcopy(bare)
    clock = Clock(device)
    transforms = {name: augspace.Cutout(size=0.5) for name in HOOKED_LAYERS}
    rows = []

    outputs = _layer_outputs(bare, images)
    with augspace.FeatureTransform(hooked, transforms) as feature_transform:
        bare.eval()
        hooked.eval()
        with torch.no_grad():
            rows.append(
                _interleave("eval mode, hooks off", lambda: bare(images), lambda: hooked(images), clock, rounds, warmup)
            )
            rows.append(_eval_hook_calls(feature_transform, hooked, outputs, bare_ms=rows[0].bare_ms))

        bare.train()
        hooked.train()
        rows.append(
            _interleave(
                "training mode, Cutout on layer2 and layer3",
                lambda: bare(images),
                lambda: hooked(images),
                clock,
                rounds,
                warmup,
            )
        )

    features = {name: output.clone().requires_grad_() for name, output in outputs.items()}

    def cutouts() -> None:
        for name, feature in features.items():
            transforms[name].forward_tensor(feature)

    rows.append(_interleave("the two Cutout calls alone", lambda: bare(images), cutouts, clock, rounds, warmup))
    return rows

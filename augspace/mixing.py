"""Manifold Mixup: MixUp or CutMix at a hidden layer drawn at random on each call, through forward hooks."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from . import functional as AF
from ._validation import check_bool, check_generator, check_int
from .feature import Selector, select_layers
from .params import ManifoldMixupParams
from .transforms._base import RandomTransform
from .transforms._mix import check_alpha, check_labels, draw_beta, draw_permutation

logger = logging.getLogger(__name__)

#: Values of ``mode``: blend the hidden states, or paste a box of the partner's feature maps.
MODES = ("mixup", "cutmix")


class _Draws(RandomTransform):
    """The random source of :class:`ManifoldMixup`: the draws of :class:`RandomTransform` with their generator."""

    def __init__(self, generator: torch.Generator | None) -> None:
        super().__init__(p=1.0, generator=generator)


class _HookState:
    """Shared state that the hooks read during one call.

    ``armed`` is a plain bool, so compiled code guards on it and keeps one graph with mixing and one without. The
    tensors are replaced on every call and enter compiled code as graph inputs, which is how the layer is chosen
    without a Python branch. ``own_weight`` is written in place by the chosen layer's hook.
    """

    def __init__(self) -> None:
        self.armed = False
        self.ran = False
        self.mode = "mixup"
        self.chosen = torch.zeros((), dtype=torch.int64)
        self.lam = torch.ones(())
        self.permutation = torch.zeros(0, dtype=torch.int64)
        self.boxes = torch.zeros(1, 4)
        self.own_weight = torch.ones(())


def _mix_hidden(state: _HookState, index: int, name: str, module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook: mix the layer's output when it is the chosen candidate, else return it unchanged."""
    if not state.armed:
        return None
    state.ran = True
    if not isinstance(output, Tensor):
        raise TypeError(
            f"ManifoldMixup: layer {name!r} returned a {type(output).__name__}, but mixing acts on tensors. Select a "
            "layer whose output is a tensor."
        )
    mixed, own_weight = _mix_tensor(state, output, f"the output of layer {name!r}")
    chosen = state.chosen == index
    state.own_weight.copy_(torch.where(chosen, own_weight, state.own_weight))
    return torch.where(chosen, mixed, output)


def _mix_tensor(state: _HookState, x: Tensor, description: str) -> tuple[Tensor, Tensor]:
    """Return ``x`` mixed with the call's params and the weight each sample keeps for its own label."""
    batch = state.permutation.shape[0]
    if x.ndim < 1 or x.shape[0] != batch:
        raise ValueError(
            f"ManifoldMixup: expected {description} to have the batch size {batch} as its first dimension, got shape "
            f"{tuple(x.shape)}"
        )
    if state.mode == "mixup":
        return AF.mixup(x, state.lam, state.permutation), state.lam

    if x.ndim < 3:
        raise ValueError(
            f"ManifoldMixup: mode='cutmix' needs {description} to have shape (N, ..., H, W), got shape {tuple(x.shape)}"
        )
    mixed = AF.cutmix(x, state.boxes.expand(batch, 4), state.permutation)
    own_weight = 1.0 - AF.box_fraction(state.boxes, x.shape[-2], x.shape[-1])[0]
    return mixed, own_weight


class ManifoldMixup(nn.Module):
    """Mix hidden states and labels at a layer drawn at random on each call, as in Verma et al. (2019), "Manifold
    Mixup: Better Representations by Interpolating Hidden States".

    Called as ``logits, targets = mixer(x, labels)`` in place of ``logits = model(x)``. Each call draws one layer
    uniformly among the candidates (the hooked layers, and the input itself when ``include_input=True``), one
    weight ``lam`` from Beta(alpha, alpha) and one uniformly random permutation of the batch. The chosen layer's
    output ``h`` becomes ``lam * h + (1 - lam) * h[permutation]``, and the targets are mixed with the same weight
    and the same permutation, as :func:`augspace.functional.mix_targets` does. With ``mode="cutmix"`` the chosen
    layer's maps receive a box of the partner's maps instead, as in CutMix (Yun et al., 2019). The box is drawn in
    normalised coordinates, with sides ``sqrt(1 - lam)`` of the height and width and a uniform centre. The targets
    then weight each sample's own label by the fraction of that layer's grid outside the box, counted in whole cells.

    The hooks are registered once, here, and act only inside a call of this object, so calling ``model`` directly
    (for validation, say) runs it unchanged. Every candidate's hook computes the mix and keeps it only when its
    layer is the chosen one, through ``torch.where`` on the drawn index. The choice is therefore a tensor, not a
    Python branch, and a compiled model (``torch.compile(model)``) runs one graph whichever layer is chosen, with
    the mixing inside it. Layer names then refer to the original model. Mixing acts only while both this object
    and the model are in training mode. Otherwise a call is a plain forward pass with one-hot targets.

    :meth:`remove` detaches every hook and leaves the model as it was, and the object is also a context manager that
    removes them on exit. The model is not a submodule of this object, so ``mixer.eval()`` leaves its mode alone.

    Limitations: a layer that runs several times in one forward pass is mixed at every run, so select layers that
    run once. ``torch.compile`` does not guard on module hooks by default (the setting
    ``torch._dynamo.config.skip_nnmodule_hook_guards`` in torch 2.14), so a compiled model keeps running code traced
    before the hooks were registered, even code traced for another instance of the same class. A call detects that
    no hook ran and raises. Build the mixer before the first compiled call, or call ``torch._dynamo.reset()`` before
    building it.

    Args:
        model: the model, or a compiled model from ``torch.compile``. It gains no submodules, parameters, buffers
            or attributes.
        layers: a layer selector or a sequence of them, as :func:`augspace.feature.select_layers` resolves: exact
            dotted names, glob patterns, module classes or predicates on ``(name, module)``.
        alpha: both shape parameters of the Beta distribution of ``lam``.
        num_classes: number of classes, required when labels are class indices.
        mode: ``"mixup"`` to blend the chosen layer's output, ``"cutmix"`` to paste a box into its maps.
        include_input: count the input as one more candidate, mixed before the model runs.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type, or at call time if a hooked layer returns a non-tensor.
        ValueError: if ``alpha``, ``num_classes`` or ``mode`` is invalid, ``layers`` selects nothing, the model
            itself, or one layer twice, or at call time for labels of the wrong shape or a mixed tensor without the
            batch as its first dimension (or without ``(H, W)`` in ``"cutmix"`` mode).
        RuntimeError: at call time, after :meth:`remove`, or when none of the hooked layers ran (see Limitations).

    Example:
        >>> import torch, augspace as A
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> with A.ManifoldMixup(model, ["1", "2"], num_classes=3, generator=torch.Generator().manual_seed(0)) as mixer:
        ...     logits, targets = mixer(torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 1]))
        >>> mixer.candidates, logits.shape, torch.allclose(targets.sum(dim=1), torch.ones(4))
        ((None, '1', '2'), torch.Size([4, 3]), True)
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Selector | Sequence[Selector],
        *,
        alpha: float = 2.0,
        num_classes: int | None = None,
        mode: str = "mixup",
        include_input: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"ManifoldMixup: model must be an nn.Module, got {type(model).__name__}")
        self.alpha = check_alpha("ManifoldMixup", alpha)
        self.num_classes = (
            None if num_classes is None else check_int("ManifoldMixup", "num_classes", num_classes, minimum=1)
        )
        self.mode = _check_mode(mode)
        self.include_input = check_bool("ManifoldMixup", "include_input", include_input)
        self._draws = _Draws(check_generator("ManifoldMixup", generator))
        self.last_params: ManifoldMixupParams | None = None

        # The model is kept out of nn.Module's registry, so it is not a submodule and .train(), .to() and
        # state_dict() of this object leave it alone.
        object.__setattr__(self, "model", model)
        original = _original_module(model)
        names = _resolve_layers(original, layers)
        self.candidates: tuple[str | None, ...] = ((None,) if self.include_input else ()) + tuple(names)

        self._state = _HookState()
        self._state.mode = self.mode
        self._handles: list[RemovableHandle] = []
        self._removed = False
        for index, name in enumerate(self.candidates):
            if name is not None:
                hook = functools.partial(_mix_hidden, self._state, index, name)
                self._handles.append(original.get_submodule(name).register_forward_hook(hook))
        logger.debug("ManifoldMixup hooked the layers %s of %s", names, type(original).__name__)

    def forward(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Run the model on ``x`` with one candidate mixed, and return its output and the mixed float32 targets.

        Args:
            x: the model's input, with the batch as its first dimension.
            labels: ``(N,)`` class indices or ``(N, K)`` soft labels.

        Returns:
            The model's output and ``(N, K)`` float32 targets, mixed with the weight and permutation of the mixed
            layer and stored with the layer index in :attr:`last_params`.
        """
        if self._removed:
            raise RuntimeError("ManifoldMixup: the hooks were removed, so this object can no longer mix")
        check_labels("ManifoldMixup", labels, self.num_classes)
        if not (self.training and _original_module(self.model).training):
            return self.model(x), AF.soft_targets(labels, self.num_classes)

        state = self._state
        params = self.make_params(x)
        state.chosen, state.lam, state.permutation = params.layer, params.lam, params.permutation
        state.boxes = params.boxes if params.boxes is not None else state.boxes.to(x.device)
        state.own_weight = torch.ones((), device=x.device)
        if self.include_input:
            mixed, own_weight = _mix_tensor(state, x, "the input")
            x = torch.where(params.layer == 0, mixed, x)
            state.own_weight = torch.where(params.layer == 0, own_weight, state.own_weight)

        state.armed, state.ran = True, False
        try:
            output = self.model(x)
        finally:
            state.armed = False
        if not state.ran:
            raise RuntimeError(
                f"ManifoldMixup: none of the hooked layers {[name for name in self.candidates if name]} ran in the "
                "forward pass. A compiled model reuses code traced before the hooks existed, also code traced for "
                "another instance of its class, because torch.compile does not guard on module hooks by default. "
                "Build the mixer before the first compiled call, or call torch._dynamo.reset() first."
            )

        self.last_params = dataclasses.replace(params, lam=state.own_weight)
        return output, AF.mix_targets(labels, state.own_weight, params.permutation, self.num_classes)

    def make_params(self, x: Tensor) -> ManifoldMixupParams:
        """Draw the layer, the weight, the permutation and (in ``"cutmix"`` mode) the box for the batch ``x``."""
        device = x.device
        count = len(self.candidates)
        layer = torch.floor(self._draws.draw_uniform((), device) * count).clamp(max=count - 1).to(torch.int64)
        lam = draw_beta(self._draws, self.alpha, (1,), device)[0]
        permutation = draw_permutation(self._draws, x.shape[0] if x.ndim > 0 else 0, device)
        boxes = None
        if self.mode == "cutmix":
            side = torch.sqrt(1.0 - lam)
            centre = self._draws.draw_uniform((2,), device)
            boxes = torch.stack([centre - side / 2, centre + side / 2]).reshape(1, 4)
        return ManifoldMixupParams(layer=layer, lam=lam, permutation=permutation, boxes=boxes)

    def remove(self) -> None:
        """Remove every hook from the model, leaving it as it was before. Calling it again does nothing."""
        if self._handles:
            logger.debug("ManifoldMixup removed its hooks from the layers %s", [n for n in self.candidates if n])
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._removed = True
        self._state.armed = False

    def __enter__(self) -> ManifoldMixup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def extra_repr(self) -> str:
        return (
            f"candidates={list(self.candidates)}, alpha={self.alpha}, num_classes={self.num_classes}, "
            f"mode={self.mode!r}"
        )


def _original_module(model: nn.Module) -> nn.Module:
    """Return the module that ``torch.compile`` wrapped, or ``model`` itself when it is not compiled."""
    original = getattr(model, "_orig_mod", None)
    return original if isinstance(original, nn.Module) else model


def _check_mode(mode: Any) -> str:
    if not isinstance(mode, str):
        raise TypeError(f"ManifoldMixup: mode must be one of {MODES}, got {mode!r}")
    if mode not in MODES:
        raise ValueError(f"ManifoldMixup: mode must be one of {MODES}, got {mode!r}")
    return mode


def _resolve_layers(model: nn.Module, layers: Any) -> list[str]:
    """Resolve the selectors to distinct layer names, in the order given."""
    selectors = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if not selectors:
        raise ValueError("ManifoldMixup: layers must select at least one layer, got an empty sequence")

    names: list[str] = []
    picked_by: dict[int, str] = {}
    for selector in selectors:
        for name, module in select_layers(model, selector, owner="ManifoldMixup"):
            if not name:
                raise ValueError(
                    "ManifoldMixup: the model itself cannot be a candidate layer. Its input is one with "
                    "include_input=True."
                )
            if id(module) in picked_by:
                raise ValueError(
                    f"ManifoldMixup: layer {name!r} is selected twice (also as {picked_by[id(module)]!r}). Select "
                    "each layer once."
                )
            picked_by[id(module)] = name
            names.append(name)
    return names

"""Feature-space augmentation: transforms applied to chosen layers' outputs through forward hooks.

Layers are chosen by selectors: an exact dotted name, a glob pattern over the names of ``model.named_modules()``, a
module class, or a predicate on ``(name, module)``. :func:`select_layers` resolves one selector, and
:class:`FeatureTransform` hooks a transform onto every layer its selectors pick.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ._hooks import ATTACHED, is_compiled, output_element, replace_element, unwrap_model
from .schedule import step as step_schedules
from .transforms import RandomTransform

logger = logging.getLogger(__name__)

#: Layer selector: an exact name or glob pattern, a module class, or a predicate on ``(name, module)``.
Selector = str | type[nn.Module] | Callable[[str, nn.Module], bool]

#: Values of ``active``: follow the hooked layer's training flag, or ignore it.
ACTIVE_MODES = ("train", "always")

# Characters that make a string selector a glob pattern rather than an exact name.
_PATTERN_CHARACTERS = frozenset("*?[")

# Prefix that nn.DataParallel and DistributedDataParallel put before the names of the wrapped model's modules.
_WRAPPER_PREFIX = "module."


def select_layers(
    model: nn.Module, selector: Selector, *, owner: str = "FeatureTransform"
) -> list[tuple[str, nn.Module]]:
    """Resolve one selector to the ``(name, module)`` pairs it picks from ``model``.

    A string without ``*``, ``?`` or ``[`` is an exact dotted name, looked up with ``model.get_submodule``. When it
    is missing but ``"module." + name`` exists, as in a model wrapped by ``nn.DataParallel``, that layer is taken.
    Any other string is a glob pattern matched against every name of ``model.named_modules()``, with the dot as
    the separator, as in file paths: ``*`` and ``?`` match within one name component and ``**`` matches across
    components. So ``"layer3.*"`` picks the direct children of ``layer3`` (a ResNet's blocks), ``"layer3.**"`` every
    module below it, and ``"**.conv*"`` every convolution named ``conv...`` at any depth. ``[...]`` is a character
    class. A class picks its instances, subclasses included, and a predicate picks the modules for which
    ``predicate(name, module)`` is true. Patterns, classes and predicates never pick the root module itself, whose
    name is ``""``.

    Args:
        model: the model to search.
        selector: an exact name, a glob pattern, an ``nn.Module`` subclass, or a predicate.
        owner: the class name that starts error messages.

    Returns:
        The picked layers in the order of ``model.named_modules()`` (one pair for an exact name).

    Raises:
        TypeError: if ``selector`` is neither a string, an ``nn.Module`` subclass nor a callable, or if it is a module
            instance (select a layer by its name instead).
        ValueError: if an exact name is not found (the message lists close matches), or if a pattern, class or
            predicate picks no layer.

    Example:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
        >>> [name for name, _ in select_layers(model, nn.Conv2d)]
        ['0', '2']
    """
    if isinstance(selector, str) and _PATTERN_CHARACTERS.isdisjoint(selector):
        return [_select_by_name(model, selector, owner=owner)]

    layers = [(name, module) for name, module in model.named_modules() if name]
    if isinstance(selector, str):
        pattern = _glob_to_regex(selector)
        picked = [(name, module) for name, module in layers if pattern.fullmatch(name)]
        description = f"the pattern {selector!r}"
    elif isinstance(selector, type) and issubclass(selector, nn.Module):
        picked = [(name, module) for name, module in layers if isinstance(module, selector)]
        description = f"the class {selector.__name__}"
    elif isinstance(selector, nn.Module):
        raise TypeError(
            f"{owner}: a module instance cannot be a layer selector, got {selector!r}. Select it by its name."
        )
    elif callable(selector) and not isinstance(selector, type):
        picked = [(name, module) for name, module in layers if selector(name, module)]
        description = f"the predicate {selector!r}"
    else:
        raise TypeError(
            f"{owner}: a layer selector must be a name, a glob pattern, an nn.Module subclass or a predicate "
            f"(name, module) -> bool, got {selector!r}"
        )

    if not picked:
        raise ValueError(f"{owner}: {description} matches no layer of {type(model).__name__}")
    return picked


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob over dotted module names into a regular expression (``*`` stops at dots, ``**`` does not)."""
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**.", index):
            parts.append(r"(?:.*\.)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append(r"[^.]*")
            index += 1
        elif pattern[index] == "?":
            parts.append(r"[^.]")
            index += 1
        elif pattern[index] == "[" and "]" in pattern[index + 2 :]:
            end = pattern.index("]", index + 2)
            body = pattern[index + 1 : end].replace("\\", "\\\\")
            parts.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            index = end + 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


def _select_by_name(model: nn.Module, name: str, *, owner: str = "FeatureTransform") -> tuple[str, nn.Module]:
    """Look up one exact dotted name, falling back to the name under a data-parallel wrapper's ``module.``."""
    for candidate in (name, _WRAPPER_PREFIX + name):
        try:
            return candidate, model.get_submodule(candidate)
        except AttributeError:
            continue

    names = [module_name for module_name, _ in model.named_modules() if module_name]
    close = difflib.get_close_matches(name, names, n=5)
    hint = f"Close matches: {', '.join(map(repr, close))}" if close else "See model.named_modules() for the names."
    raise ValueError(f"{owner}: no layer named {name!r} in {type(model).__name__}. {hint}")


class FeatureTransform(nn.Module):
    """Apply transforms to the outputs of chosen layers of a model, through forward hooks.

    Each entry of ``layers`` maps a selector (see :func:`select_layers`) to a transform, which is applied to the
    output of every layer the selector picks. An augspace :class:`~augspace.RandomTransform` is called through its
    ``forward_tensor``, which skips torchvision's input dispatch so that it traces under ``torch.compile``. Any other
    ``nn.Module`` that takes a tensor, such as a torchvision v2 transform or ``nn.Dropout2d``, is called directly.
    Gradients flow through the transforms to the model's parameters.

    One forward hook per layer is registered here, once, and is never added or removed while training, because
    compiled code does not run a hook added after ``torch.compile`` traced the model (seen with torch 2.14). A hook
    transforms the layer's output only while this object and that transform are in training mode and, when
    ``active="train"``, the hooked layer is too. These are module training flags, which compiled code guards on,
    so ``model.eval()``, ``ft.eval()`` and ``transform.eval()`` each switch augmentation off, compiled or not.
    ``ft.eval()`` leaves the model's own mode alone. A layer called several times in one forward pass, such as a
    shared ``nn.ReLU``, is transformed at every call.

    The transforms are submodules of this object, so ``ft.state_dict()`` and ``ft.to(...)`` cover them, and the
    model's ``state_dict`` does not change. :meth:`remove` detaches every hook and leaves the model as it was. The
    object is also a context manager that removes its hooks on exit.

    Selectors are resolved inside ``nn.DataParallel``, ``DistributedDataParallel`` and ``torch.compile`` wrappers,
    so layer names are the same before and after wrapping. Attach before compiling: a model that is already
    compiled gets a warning, because graphs compiled before the hooks were added do not run them. A layer that
    returns a tuple or a named tuple, such as ``nn.LSTM`` or ``nn.MultiheadAttention``, has one tensor transformed
    (``element``) and keeps the rest of its structure. A hooked layer that does not run during a training forward
    pass of ``model`` gets one warning naming it, because its transform then silently does nothing. One transform
    object cannot be hooked twice onto the same layer, even by two ``FeatureTransform`` objects.

    Limitation: a transform built with its own ``torch.Generator`` breaks the graph under ``torch.compile`` at each
    draw (in torch 2.14, Dynamo cannot trace a ``Generator`` argument), so its draws run eagerly. Transforms with
    ``generator=None`` draw from torch's global generator and compile without graph breaks.

    Args:
        model: the model whose layers are hooked. It gains no submodules, parameters, buffers or attributes.
        layers: a mapping from selector to transform. The same transform object may serve several selectors.
        active: ``"train"`` transforms a layer's output only while that layer is in training mode, and ``"always"``
            ignores the layer's mode.
        element: for layers that return a tuple, the index or named-tuple field of the tensor to transform. ``None``
            takes the first tensor of a tuple, or the output itself when it is a tensor.

    Raises:
        TypeError: if ``model`` is not an ``nn.Module``, ``layers`` is not a mapping, a selector has an unsupported
            type, a transform is not an ``nn.Module`` (wrap a plain function in a module), or ``element`` is neither
            an int, a str nor ``None``. At call time, if a hooked layer returns neither a tensor nor a tuple, or the
            chosen element is not a tensor.
        ValueError: if ``active`` is invalid, ``layers`` is empty, a selector picks nothing, two selectors pick the
            same layer, or the transform is already hooked onto that layer. At call time, if ``element`` is not in
            the output, or a layer's output has fewer than 3 dimensions for an augspace transform.

    Example:
        >>> import torch, augspace as A
        >>> from torch import nn
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> images = torch.rand(2, 3, 8, 8)
        >>> with A.FeatureTransform(model, {"0": A.Cutout(size=1.0, inside=True)}) as ft:
        ...     list(ft.layers), bool((model(images) == 0).all()), bool((model.eval()(images) == 0).all())
        (['0'], True, False)
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Mapping[Selector, nn.Module],
        *,
        active: Literal["train", "always"] = "train",
        element: int | str | None = None,
    ) -> None:
        super().__init__()
        _check_arguments(model, layers, active, element)
        if is_compiled(model):
            warnings.warn(
                "FeatureTransform: model is already compiled, and graphs compiled before the hooks were added do not "
                "run them. Attach FeatureTransform first, then call torch.compile.",
                UserWarning,
                stacklevel=2,
            )
        self.active = active
        self.element = element
        self.transforms = nn.ModuleList()
        self._layers: dict[str, nn.Module] = {}
        self._modules_by_name: dict[str, nn.Module] = {}
        self._handles: list[RemovableHandle] = []
        self._ran: set[str] = set()
        self._warned: set[str] = set()
        self._resolve(unwrap_model(model), layers)

        # Hooks are registered only after every selector resolved, so a failed construction leaves no hook behind.
        for name, transform in self._layers.items():
            module = self._modules_by_name[name]
            hook = functools.partial(self._transform_output, name, transform)
            self._handles.append(module.register_forward_hook(hook))
            ATTACHED.setdefault(module, set()).add(id(transform))
        self._handles.append(model.register_forward_pre_hook(self._start_forward))
        self._handles.append(model.register_forward_hook(self._finish_forward))
        logger.debug("FeatureTransform hooked the layers %s of %s", list(self._layers), type(model).__name__)

    def _resolve(self, model: nn.Module, layers: Mapping[Selector, nn.Module]) -> None:
        """Resolve every selector, rejecting a layer picked twice or already carrying the same transform."""
        picked_by: dict[int, str] = {}
        for selector, transform in layers.items():
            self.transforms.append(transform)
            for name, module in select_layers(model, selector):
                if id(module) in picked_by:
                    raise ValueError(
                        f"FeatureTransform: layer {name!r} is selected twice (also as {picked_by[id(module)]!r}). "
                        "Give each layer one transform."
                    )
                if id(transform) in ATTACHED.get(module, set()):
                    raise ValueError(
                        f"FeatureTransform: {type(transform).__name__} is already attached to layer {name!r} by "
                        "another FeatureTransform. Remove that one first, or attach a second transform object."
                    )
                picked_by[id(module)] = name
                self._layers[name] = transform
                self._modules_by_name[name] = module

    @property
    def layers(self) -> dict[str, nn.Module]:
        """Hooked layer names, in hook order, mapped to their transforms (a new dict on each access)."""
        return dict(self._layers)

    def step(self) -> int:
        """Advance every schedule inside the transforms by one step, and return how many were advanced.

        Call it once per optimiser step. The schedules are buffers of the transforms, so ``ft.state_dict()`` saves
        their progress and ``ft.load_state_dict(...)`` resumes it.
        """
        return step_schedules(self)

    def remove(self) -> None:
        """Remove every hook from the model, leaving it as it was before. Calling it again does nothing."""
        if self._handles:
            logger.debug("FeatureTransform removed its hooks from the layers %s", list(self._layers))
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for name, transform in self._layers.items():
            ATTACHED.get(self._modules_by_name[name], set()).discard(id(transform))

    def __enter__(self) -> FeatureTransform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def extra_repr(self) -> str:
        return f"layers={list(self._layers)}, active={self.active!r}"

    def _start_forward(self, module: nn.Module, args: Any) -> None:
        """Forward pre-hook of the model: forget which hooked layers ran in the previous forward pass."""
        if not torch.compiler.is_compiling():
            self._ran.clear()

    def _finish_forward(self, module: nn.Module, args: Any, output: Any) -> None:
        """Forward hook of the model: warn once about each hooked layer that did not run while augmenting."""
        if torch.compiler.is_compiling() or not (self.training and module.training):
            return
        silent = [name for name in self._layers if name not in self._ran and name not in self._warned]
        for name in silent:
            warnings.warn(
                f"FeatureTransform: layer {name!r} did not run during the forward pass, so its transform had no effect",
                UserWarning,
                stacklevel=2,
            )
        self._warned.update(silent)

    def _transform_output(self, name: str, transform: nn.Module, module: nn.Module, args: Any, output: Any) -> Any:
        """Forward hook: return the transformed output, or ``None`` to keep the output while switched off."""
        if not torch.compiler.is_compiling():
            self._ran.add(name)
        index = output_element(name, output, self.element)
        if not (self.training and transform.training and (module.training or self.active == "always")):
            return None

        features = output if index is None else output[index]
        if isinstance(transform, RandomTransform):
            if features.ndim < 3:
                raise ValueError(
                    f"FeatureTransform: layer {name!r} returned a tensor of shape {tuple(features.shape)}, but "
                    f"{type(transform).__name__} expects shape (..., C, H, W)"
                )
            transformed = transform.forward_tensor(features)
        else:
            transformed = transform(features)
        return transformed if index is None else replace_element(output, index, transformed)


def _check_arguments(model: Any, layers: Any, active: Any, element: Any) -> None:
    """Raise ``TypeError`` or ``ValueError`` for a constructor argument of the wrong type or value."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"FeatureTransform: model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(layers, Mapping):
        raise TypeError(f"FeatureTransform: layers must be a mapping from selector to transform, got {layers!r}")
    if not layers:
        raise ValueError("FeatureTransform: layers must select at least one layer, got an empty mapping")
    if not isinstance(active, str):
        raise TypeError(f"FeatureTransform: active must be one of {ACTIVE_MODES}, got {active!r}")
    if active not in ACTIVE_MODES:
        raise ValueError(f"FeatureTransform: active must be one of {ACTIVE_MODES}, got {active!r}")
    if element is not None and (isinstance(element, bool) or not isinstance(element, (int, str))):
        raise TypeError(f"FeatureTransform: element must be an int index, a field name or None, got {element!r}")

    for selector, transform in layers.items():
        if not isinstance(transform, nn.Module):
            raise TypeError(
                f"FeatureTransform: the transform for {selector!r} must be an nn.Module taking a tensor (an augspace "
                f"or torchvision v2 transform, or a layer such as nn.Dropout2d), got {transform!r}"
            )

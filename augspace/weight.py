"""Weight-space augmentation: parametrizations registered on chosen layers' weights.

:class:`WeightTransform` picks layers with the selectors of :func:`~augspace.feature.select_layers` and registers a
parametrization on each picked layer's weight through ``torch.nn.utils.parametrize``. The parametrizations are
:class:`WeightStandardization`, :class:`DropConnect` and :class:`WeightNoise`, or any ``nn.Module`` that maps a
tensor to a tensor of the same shape and dtype.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ._weight_params import DropConnect, WeightNoise, WeightParametrization, WeightStandardization
from .feature import _PATTERN_CHARACTERS, Selector, select_layers

__all__ = ["DropConnect", "WeightNoise", "WeightParametrization", "WeightStandardization", "WeightTransform"]

logger = logging.getLogger(__name__)


# Attribute of a ParametrizationList that records the layer's parameter names in their order before the first
# parametrization. It lives and dies with that list, so it travels with copies and leaves nothing after removal.
_ORDER_ATTRIBUTE = "_augspace_parameter_order"


@dataclass(frozen=True)
class _Attachment:
    """One registered parametrization."""

    name: str
    layer: nn.Module
    parametrization: nn.Module


class WeightTransform:
    """Register parametrizations on the weights of chosen layers of a model.

    Each entry of ``layers`` maps a selector to a parametrization, which is registered with
    ``torch.nn.utils.parametrize.register_parametrization`` on the tensor ``tensor_name`` of every layer the
    selector picks. The selector rules are those of :func:`~augspace.feature.select_layers`: an exact dotted name, a
    glob pattern (``*`` stays within one name component and ``**`` crosses components), an ``nn.Module`` subclass,
    or a predicate on ``(name, module)``. An exact name must be a layer that owns the parameter. A pattern, class or
    predicate picks, among its matches, the layers that own it, so ``"layer1.**"`` skips containers and
    activations. A layer whose tensor is already parametrized (by torch or by another ``WeightTransform``) gets this
    parametrization appended after the existing ones. To combine two parametrizations on one layer, pass them as
    ``nn.Sequential(A.WeightStandardization(), A.DropConnect(0.1))``.

    The layer then computes its weight from the stored one at every access, which is once per forward pass for
    torch's conv and linear layers. The stored weight stays the same ``nn.Parameter`` object, now at
    ``layer.parametrizations.weight.original``, so gradients reach it and an optimiser built before this object keeps
    updating it. The parametrizations become submodules of their layers: ``model.train()`` and ``model.eval()``
    reach them, and each one starts in its layer's mode. Nothing random is drawn while registering.

    While attached, the model's ``state_dict`` stores the weight as ``"<layer>.parametrizations.weight.original"``
    instead of ``"<layer>.weight"``. So a checkpoint saved while attached loads into a model with the same
    ``WeightTransform`` attached, and a plain checkpoint loads into the model before attaching or after
    :meth:`remove`. :meth:`remove` restores the stored weights as they are, not their transformed values: a model
    trained with Weight Standardization needs it attached (or baked in with ``remove_parametrizations(layer,
    "weight", leave_parametrized=True)`` from ``torch.nn.utils.parametrize``) to compute the same function.

    ``copy.deepcopy`` and ``pickle`` (so ``torch.save`` of a whole model) work on a model with this transform
    attached, and each copy of a parametrized layer gets a parametrized class of its own. torch 2.14 by itself
    refuses to pickle a parametrized module, and its deep copies share the original's class, so that removing a
    parametrization from one breaks the other. Calling :meth:`remove` on this object changes only the original model.

    Limitation: a parametrization with its own ``torch.Generator`` breaks the graph under ``torch.compile`` at each
    draw (in torch 2.14, Dynamo cannot trace a ``Generator`` argument). Without one, compiled code draws inside the
    graph.

    Args:
        model: the model whose layers are parametrized.
        layers: a mapping from selector to parametrization. The same parametrization may serve several selectors.
        tensor_name: the name of the parameter to parametrize on each layer, such as ``"weight"`` or
            ``"in_proj_weight"`` for ``nn.MultiheadAttention``.

    Raises:
        TypeError: if ``model`` is not an ``nn.Module``, ``layers`` is not a mapping, a selector has an unsupported
            type, a parametrization is not an ``nn.Module`` or defines ``right_inverse`` (which would change the
            stored weight), or ``tensor_name`` is not a string.
        ValueError: if ``layers`` is empty, ``tensor_name`` is empty or dotted, a selector picks no layer owning the
            parameter, or two selectors pick the same layer. Also if a parametrization does not suit a layer, because
            it changes the shape or dtype or :meth:`WeightParametrization.check_layer` rejects the layer. The model
            is unchanged then.

    Example:
        >>> import torch, augspace as A
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
        >>> keys = list(model.state_dict())
        >>> with A.WeightTransform(model, {nn.Conv2d: A.WeightStandardization()}) as wt:
        ...     list(wt.layers), round(model[0].weight[0].var(correction=0).item(), 3)
        ...     "0.parametrizations.weight.original" in model.state_dict()
        (['0', '2'], 1.0)
        True
        >>> list(model.state_dict()) == keys
        True
    """

    def __init__(self, model: nn.Module, layers: Mapping[Selector, nn.Module], *, tensor_name: str = "weight") -> None:
        _check_arguments(model, layers, tensor_name)
        self.tensor_name = tensor_name
        self._attachments: list[_Attachment] = []
        targets = _resolve_targets(model, layers, tensor_name)
        self._layers = {name: parametrization for name, _, parametrization in targets}

        for name, layer, parametrization in targets:
            weight = _current_tensor(layer, tensor_name)
            for part in parametrization.modules():
                if isinstance(part, WeightParametrization):
                    part.check_layer(name, layer, weight)

        # Registration starts only after every check passed, and a failure partway removes what was registered.
        try:
            for name, layer, parametrization in targets:
                self._attachments.append(_attach(name, layer, parametrization, tensor_name))
        except BaseException:
            self.remove()
            raise
        logger.debug("WeightTransform parametrized the layers %s of %s", list(self._layers), type(model).__name__)

    @property
    def layers(self) -> dict[str, nn.Module]:
        """Parametrized layer names, in registration order, mapped to their parametrizations (a new dict each time)."""
        return dict(self._layers)

    def remove(self) -> None:
        """Remove the parametrizations, restoring each stored weight as it is. Calling it again does nothing.

        Parametrizations registered by others on the same tensors stay. Where none remains, the layer gets back its
        ``nn.Parameter`` object under its name, and, if a ``WeightTransform`` registered the first parametrization,
        in its old place among the layer's parameters, so ``state_dict`` keys and their order are as before.
        """
        if self._attachments:
            logger.debug("WeightTransform removed its parametrizations from the layers %s", list(self._layers))
        for attachment in reversed(self._attachments):
            _detach(attachment, self.tensor_name)
        self._attachments.clear()

    def __enter__(self) -> WeightTransform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layers={list(self._layers)}, tensor_name={self.tensor_name!r})"


def _check_arguments(model: Any, layers: Any, tensor_name: Any) -> None:
    """Raise ``TypeError`` or ``ValueError`` for a constructor argument of the wrong type or value."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"WeightTransform: model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(layers, Mapping):
        raise TypeError(f"WeightTransform: layers must be a mapping from selector to parametrization, got {layers!r}")
    if not layers:
        raise ValueError("WeightTransform: layers must select at least one layer, got an empty mapping")
    if not isinstance(tensor_name, str):
        raise TypeError(f"WeightTransform: tensor_name must be a string, got {tensor_name!r}")
    if not tensor_name or "." in tensor_name:
        raise ValueError(f"WeightTransform: tensor_name must be a parameter name without dots, got {tensor_name!r}")

    for selector, parametrization in layers.items():
        if not isinstance(parametrization, nn.Module):
            raise TypeError(
                f"WeightTransform: the parametrization for {selector!r} must be an nn.Module mapping a tensor to a "
                f"tensor of the same shape and dtype (such as WeightStandardization()), got {parametrization!r}"
            )
        if hasattr(parametrization, "right_inverse"):
            raise TypeError(
                f"WeightTransform: the parametrization for {selector!r} defines right_inverse, which would change the "
                f"stored weight, so remove() could not restore it. Register {type(parametrization).__name__} with "
                "torch.nn.utils.parametrize.register_parametrization instead."
            )


def _resolve_targets(
    model: nn.Module, layers: Mapping[Selector, nn.Module], tensor_name: str
) -> list[tuple[str, nn.Module, nn.Module]]:
    """Return ``(name, layer, parametrization)`` for every picked layer that owns ``tensor_name``."""
    targets = []
    picked_by: dict[int, str] = {}
    for selector, parametrization in layers.items():
        candidates = select_layers(model, selector, owner="WeightTransform")
        owners = [(name, layer) for name, layer in candidates if _owns(layer, tensor_name)]
        if not owners:
            raise ValueError(_missing_parameter_message(model, selector, candidates, tensor_name))

        for name, layer in owners:
            if id(layer) in picked_by:
                raise ValueError(
                    f"WeightTransform: layer {name!r} is selected twice (also as {picked_by[id(layer)]!r}). Give "
                    "each layer one parametrization, or combine several in an nn.Sequential."
                )
            picked_by[id(layer)] = name
            targets.append((name, layer, parametrization))
    return targets


def _owns(layer: nn.Module, tensor_name: str) -> bool:
    """Return whether ``layer`` has ``tensor_name`` as its own parameter, parametrized or not."""
    return parametrize.is_parametrized(layer, tensor_name) or isinstance(
        layer._parameters.get(tensor_name), nn.Parameter
    )


def _missing_parameter_message(
    model: nn.Module, selector: Selector, candidates: list[tuple[str, nn.Module]], tensor_name: str
) -> str:
    """Describe a selector whose layers lack the parameter ``tensor_name``."""
    if isinstance(selector, str) and _PATTERN_CHARACTERS.isdisjoint(selector):
        name, layer = candidates[0]
        own = [parameter_name for parameter_name, _ in layer.named_parameters(recurse=False)]
        return (
            f"WeightTransform: layer {name!r} ({type(layer).__name__}) has no parameter {tensor_name!r}, its own "
            f"parameters are {own}. Select the layers below it that own one."
        )
    if isinstance(selector, str):
        description = f"the pattern {selector!r}"
    elif isinstance(selector, type):
        description = f"the class {selector.__name__}"
    else:
        description = f"the predicate {selector!r}"
    names = [name for name, _ in candidates]
    listed = f"{names[:5]} and {len(names) - 5} more" if len(names) > 5 else f"{names}"
    return (
        f"WeightTransform: {description} matches no layer of {type(model).__name__} with its own parameter "
        f"{tensor_name!r}, only {listed}"
    )


@contextlib.contextmanager
def _eval_mode(modules: Iterable[nn.Module]) -> Iterator[None]:
    """Clear the training flag of each of ``modules`` (not of their children) for the block, then restore it."""
    flags = [(module, module.training) for module in modules]
    for module, _ in flags:
        module.training = False
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


def _existing_chain(layer: nn.Module, tensor_name: str) -> list[nn.Module]:
    """Return every module of the layer's parametrizations of ``tensor_name``, or an empty list."""
    if parametrize.is_parametrized(layer, tensor_name):
        return list(layer.parametrizations[tensor_name].modules())
    return []


def _current_tensor(layer: nn.Module, tensor_name: str) -> Tensor:
    """Return the layer's tensor as its forward pass reads it in eval mode, without drawing or recording gradients."""
    with torch.no_grad(), _eval_mode(_existing_chain(layer, tensor_name)):
        return getattr(layer, tensor_name)


def _attach(name: str, layer: nn.Module, parametrization: nn.Module, tensor_name: str) -> _Attachment:
    """Register ``parametrization`` on the layer's tensor and give the layer's class copy and pickle support."""
    order = tuple(layer._parameters)
    first = not parametrize.is_parametrized(layer, tensor_name)

    # torch sets the parametrization to the layer's mode, then evaluates the chain once to check its shape and dtype.
    # Eval mode for the layer and every parametrization keeps that check from drawing randomness.
    with _eval_mode([layer, *_existing_chain(layer, tensor_name), *parametrization.modules()]):
        try:
            parametrize.register_parametrization(layer, tensor_name, parametrization)
        except ValueError as error:
            raise ValueError(
                f"WeightTransform: cannot parametrize {tensor_name!r} of layer {name!r}: {error}"
            ) from error

    if first:
        setattr(layer.parametrizations[tensor_name], _ORDER_ATTRIBUTE, order)
    parametrization.train(layer.training)
    _add_copy_support(type(layer))
    return _Attachment(name, layer, parametrization)


def _detach(attachment: _Attachment, tensor_name: str) -> None:
    """Remove one registered parametrization, leaving any others on the same tensor in place."""
    layer = attachment.layer
    if not parametrize.is_parametrized(layer, tensor_name):
        return
    chain = layer.parametrizations[tensor_name]
    index = next((i for i, module in enumerate(chain) if module is attachment.parametrization), None)
    if index is None:
        return

    if len(chain) > 1:
        # Without a right_inverse, a parametrization never changed the stored tensor, so the rest of the chain fits.
        del chain[index]
        return
    order = getattr(chain, _ORDER_ATTRIBUTE, ())
    parametrize.remove_parametrizations(layer, tensor_name, leave_parametrized=False)

    # torch puts the restored parameter last, which would reorder state_dict keys and parameters().
    parameters = layer._parameters
    rank = {key: position for position, key in enumerate(order)}
    ordered = sorted(parameters.items(), key=lambda item: rank.get(item[0], len(rank)))
    parameters.clear()
    parameters.update(ordered)


# Copy and pickle support. torch gives each parametrized module a class of its own, created at run time. That class's
# __getstate__ raises, and its default __deepcopy__ shares the class with the copy. Removing a parametrization from
# one of them then deletes the class property that the other reads its weight through. The functions below rebuild a
# parametrized module with a fresh class of its own, both when it is deep-copied and when it is unpickled.
# NOTE: they rely on torch's private parametrize._inject_new_class and _inject_property, as found in torch 2.14. The
# copy and pickle tests fail if those change.


def _add_copy_support(cls: type) -> None:
    """Give a parametrized class ``__reduce_ex__`` and ``__deepcopy__``, unless its base class defines its own."""
    base = cls.__bases__[0]
    if base.__reduce_ex__ is object.__reduce_ex__ and base.__reduce__ is object.__reduce__:
        cls.__reduce_ex__ = _reduce_parametrized
    if getattr(base, "__deepcopy__", None) is None:
        cls.__deepcopy__ = _deepcopy_parametrized


def _new_parametrized(base: type, tensor_names: tuple[str, ...]) -> nn.Module:
    """Create an empty instance of ``base`` with a parametrized class of its own for ``tensor_names``."""
    module = base.__new__(base)
    parametrize._inject_new_class(module)
    for tensor_name in tensor_names:
        parametrize._inject_property(module, tensor_name)
    _add_copy_support(type(module))
    return module


def _reduce_parametrized(self: nn.Module, protocol: int) -> tuple[Any, ...]:
    base = type(self).__bases__[0]
    return _new_parametrized, (base, tuple(self.parametrizations)), base.__getstate__(self)


def _deepcopy_parametrized(self: nn.Module, memo: dict[int, Any]) -> nn.Module:
    base = type(self).__bases__[0]
    replica = _new_parametrized(base, tuple(self.parametrizations))
    memo[id(self)] = replica
    replica.__setstate__(copy.deepcopy(base.__getstate__(self), memo))
    return replica

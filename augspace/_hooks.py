"""Helpers of FeatureTransform's hooks: unwrapping models, picking tensors out of structured outputs."""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import Tensor, nn

#: Transforms attached to each layer by any FeatureTransform, so one transform is not hooked twice onto a layer.
ATTACHED: weakref.WeakKeyDictionary[nn.Module, set[int]] = weakref.WeakKeyDictionary()


def is_compiled(model: nn.Module) -> bool:
    """Return whether ``model`` is the wrapper that ``torch.compile`` returns for a module."""
    return isinstance(model, torch._dynamo.eval_frame.OptimizedModule)


def unwrap_model(model: nn.Module) -> nn.Module:
    """Return the module inside ``nn.DataParallel``, ``DistributedDataParallel`` and ``torch.compile`` wrappers.

    Layer names are then the same whether a selector is resolved before or after wrapping, without the wrappers'
    ``module.`` or ``_orig_mod.`` prefixes.
    """
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif is_compiled(model):
            model = model._orig_mod
        else:
            return model


def output_element(name: str, output: Any, element: int | str | None) -> int | None:
    """Return the position of the tensor to transform in a layer's output, or ``None`` when the output is a tensor.

    A tuple (a named tuple included, as an LSTM or ``nn.MultiheadAttention`` returns) has its first tensor
    transformed, or the element at index ``element``, or the named-tuple field ``element``.

    Raises:
        TypeError: if the output is neither a tensor nor a tuple, or the chosen element is not a tensor.
        ValueError: if ``element`` does not name an element of the output.
    """
    if isinstance(output, Tensor) and element is None:
        return None
    if not isinstance(output, tuple):
        raise TypeError(
            f"FeatureTransform: layer {name!r} returned a {type(output).__name__}, but transforms act on a tensor or "
            "on one tensor of a tuple. Select a layer whose output is a tensor or a tuple."
        )
    if element is None:
        index = next((i for i, item in enumerate(output) if isinstance(item, Tensor)), None)
        if index is None:
            raise TypeError(f"FeatureTransform: layer {name!r} returned a tuple with no tensor in it")
        return index
    index = _element_index(name, output, element)
    if not isinstance(output[index], Tensor):
        raise TypeError(
            f"FeatureTransform: element {element!r} of layer {name!r}'s output is a {type(output[index]).__name__}, "
            "not a tensor"
        )
    return index


def _element_index(name: str, output: tuple, element: int | str) -> int:
    """Return the index of ``element`` (an index or a named-tuple field) in ``output``."""
    fields = getattr(type(output), "_fields", None)
    if isinstance(element, str):
        if fields is None or element not in fields:
            raise ValueError(
                f"FeatureTransform: element {element!r} is not a field of layer {name!r}'s output, whose fields "
                f"are {fields!r}"
            )
        return fields.index(element)
    if not -len(output) <= element < len(output):
        raise ValueError(
            f"FeatureTransform: element {element} is out of range for layer {name!r}'s output of {len(output)} items"
        )
    return element % len(output)


def replace_element(output: tuple, index: int, value: Tensor) -> tuple:
    """Return ``output`` with item ``index`` replaced, keeping a named tuple's type."""
    items = list(output)
    items[index] = value
    if hasattr(type(output), "_fields"):
        return type(output)(*items)
    return type(output)(items) if type(output) is not tuple else tuple(items)

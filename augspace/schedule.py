"""Schedules: values that follow the training step and are saved with the model's state.

A schedule takes the place of a number in a transform's arguments, as in
``DropBlock(drop_prob=LinearSchedule(0.0, 0.1, steps=5000), block_size=7)``. The training loop advances it once per
optimiser step with :func:`step` (or ``FeatureTransform.step()``). Its step count and current value are buffers, so
``state_dict()`` saves them and a resumed run continues where it stopped. Compiled code reads the value as a tensor
input, so a new value does not trigger a recompile.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from ._validation import check_int, check_real


class Schedule(nn.Module):
    """Base of the schedules: a value that moves from ``start`` to ``end`` over ``steps`` steps, then stays at ``end``.

    Subclasses implement :meth:`value_at`. The buffers ``step_count`` (int64) and ``value`` (float32) are 0-dimensional
    tensors. :meth:`step` updates both in place with tensor operations and reads nothing back to the host, so it does
    not wait for the device.

    Args:
        start: the value at step 0.
        end: the value from step ``steps`` on.
        steps: the number of steps the change takes, at least 1.

    Raises:
        TypeError: if ``start`` or ``end`` is not a real number or ``steps`` is not an int.
        ValueError: if ``start`` or ``end`` is not finite, or ``steps`` is below 1.
    """

    step_count: Tensor
    value: Tensor

    def __init__(self, start: float, end: float, steps: int) -> None:
        super().__init__()
        name = type(self).__name__
        self.start = check_real(name, "start", start)
        self.end = check_real(name, "end", end)
        self.steps = check_int(name, "steps", steps, minimum=1)
        self.register_buffer("step_count", torch.zeros((), dtype=torch.int64))
        self.register_buffer("value", torch.zeros((), dtype=torch.float32))
        self.value.copy_(self.value_at(self.step_count))

    @property
    def low(self) -> float:
        """The smallest value the schedule takes."""
        return min(self.start, self.end)

    @property
    def high(self) -> float:
        """The largest value the schedule takes."""
        return max(self.start, self.end)

    def value_at(self, step: Tensor) -> Tensor:
        """Return the float32 value at ``step``, a 0-dimensional int64 tensor."""
        raise NotImplementedError

    def progress(self, step: Tensor) -> Tensor:
        """Return the float32 fraction of the change done at ``step``: ``step / steps``, at most 1."""
        return (step.to(torch.float32) / self.steps).clamp(0.0, 1.0)

    @torch.no_grad()
    def step(self) -> None:
        """Advance the schedule by one step; call it once per optimiser step."""
        self.step_count.add_(1)
        self.value.copy_(self.value_at(self.step_count))

    def forward(self) -> Tensor:
        """Return the current value, the ``value`` buffer itself."""
        return self.value

    def extra_repr(self) -> str:
        return f"start={self.start}, end={self.end}, steps={self.steps}"


class LinearSchedule(Schedule):
    """A value that changes linearly from ``start`` to ``end`` over ``steps`` steps, then stays at ``end``.

    Ghiasi et al. (2018), "DropBlock: A regularization method for convolutional networks", raise DropBlock's drop rate
    linearly from 0 to its final value in this way.

    Args:
        start: the value at step 0.
        end: the value from step ``steps`` on.
        steps: the number of steps the ramp takes, at least 1.

    Raises:
        TypeError: if ``start`` or ``end`` is not a real number or ``steps`` is not an int.
        ValueError: if ``start`` or ``end`` is not finite, or ``steps`` is below 1.

    Example:
        >>> from augspace import LinearSchedule
        >>> schedule = LinearSchedule(0.0, 0.1, steps=4)
        >>> for _ in range(2):
        ...     schedule.step()
        >>> round(float(schedule.value), 4), int(schedule.step_count)
        (0.05, 2)
    """

    def value_at(self, step: Tensor) -> Tensor:
        return self.start + (self.end - self.start) * self.progress(step)


class CosineSchedule(Schedule):
    """A value that follows half a cosine from ``start`` to ``end`` over ``steps`` steps, then stays at ``end``.

    The value at step ``t`` is ``end + (start - end) * (1 + cos(pi * t / steps)) / 2``: it changes slowly at both ends
    of the ramp and fastest in the middle, as the cosine learning-rate schedule of Loshchilov & Hutter (2017), "SGDR:
    Stochastic Gradient Descent with Warm Restarts", without restarts.

    Args:
        start: the value at step 0.
        end: the value from step ``steps`` on.
        steps: the number of steps the ramp takes, at least 1.

    Raises:
        TypeError: if ``start`` or ``end`` is not a real number or ``steps`` is not an int.
        ValueError: if ``start`` or ``end`` is not finite, or ``steps`` is below 1.

    Example:
        >>> from augspace import CosineSchedule
        >>> schedule = CosineSchedule(0.0, 0.2, steps=10)
        >>> for _ in range(5):
        ...     schedule.step()
        >>> round(float(schedule.value), 4)
        0.1
    """

    def value_at(self, step: Tensor) -> Tensor:
        return self.end + (self.start - self.end) * (1.0 + torch.cos(math.pi * self.progress(step))) / 2.0


def step(*modules: nn.Module) -> int:
    """Advance every schedule found in the given modules by one step, and return how many were advanced.

    Call it once per optimiser step. Each module is searched with ``modules()``, together with the transforms that
    torchvision's containers keep in a plain list (``v2.Compose``, ``v2.RandomChoice``, ``v2.RandomOrder``), which
    ``modules()`` does not visit. A schedule reached along several paths is advanced once.

    Args:
        modules: the modules to search: a model, a ``FeatureTransform``, a transform or a pipeline. A model does
            not own the transforms a ``FeatureTransform`` hooks into it, so pass the ``FeatureTransform`` for those.

    Raises:
        TypeError: if an argument is not an ``nn.Module``.

    Example:
        >>> import augspace as A
        >>> drop = A.DropBlock(drop_prob=A.LinearSchedule(0.0, 0.1, steps=10), block_size=3)
        >>> A.step(drop), round(float(drop.drop_prob.value), 4)
        (1, 0.01)
    """
    for module in modules:
        if not isinstance(module, nn.Module):
            raise TypeError(f"step: expected nn.Module arguments, got {type(module).__name__}")

    schedules = {id(schedule): schedule for schedule in _find_schedules(modules)}
    for schedule in schedules.values():
        schedule.step()
    return len(schedules)


def _find_schedules(roots: tuple[nn.Module, ...]) -> Iterator[Schedule]:
    """Yield the schedules below ``roots``, descending into lists of transforms as well as submodules."""
    pending = list(roots)
    visited: set[int] = set()
    while pending:
        root = pending.pop()
        for module in root.modules():
            if id(module) in visited:
                continue
            visited.add(id(module))
            if isinstance(module, Schedule):
                yield module
            contained = getattr(module, "transforms", None)
            if isinstance(contained, (list, tuple)):
                pending.extend(item for item in contained if isinstance(item, nn.Module))

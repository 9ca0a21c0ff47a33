"""Mixing kernels: blend each sample with a partner (MixUp) or paste a partner's box into it (CutMix), and mix the
targets with the same weights.

Pairs come from a permutation: sample ``i`` is mixed with sample ``permutation[i]``. The first dimension of the input
is the batch, and every dimension between it and ``(H, W)`` (channels, or frames and channels) shares its sample's
weight and box.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ._batch import expand_to_input
from ._erase import box_mask

# Dtypes whose MixUp takes the CPU fast path through F.embedding_bag, which has no integer support.
_EMBEDDING_DTYPES = (torch.float32, torch.float64)


def mixup(x: Tensor, lam: Tensor, permutation: Tensor) -> Tensor:
    """Blend each sample with its partner: ``lam[i] * x[i] + (1 - lam[i]) * x[permutation[i]]``.

    Floating point inputs are mixed in their own dtype, except float16 and bfloat16, which are mixed in float32 and
    cast back. Integer inputs, such as uint8 images, are mixed in float32 (float64 for 32- and 64-bit integers) and
    rounded to the nearest integer, ties to even, as :func:`torch.round` does. A convex combination of two values
    in range stays in range, so nothing is clamped. Contiguous float32 and float64 CPU tensors outside autograd and
    ``torch.compile`` take a faster path whose result can differ from ``torch.lerp`` in the last bit.

    Args:
        x: input of shape ``(N, ...)``.
        lam: ``(N,)`` or a single-element weight of each sample's own value, in [0, 1].
        permutation: ``(N,)`` integer index of each sample's partner.

    Returns:
        A new tensor of ``x``'s shape, dtype, device and memory format. Autograd flows through it.

    Raises:
        ValueError: if ``lam`` or ``permutation`` does not match the batch size of ``x``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 1.0]]).view(2, 2, 1, 1)
        >>> mixup(x, torch.tensor([0.75, 0.5]), torch.tensor([1, 0])).flatten(1)
        tensor([[0.2500, 0.2500],
                [0.5000, 0.5000]])
    """
    lam = _check_pairs("mixup", x, permutation, lam=lam)
    if _takes_row_path(x) and x.dtype in _EMBEDDING_DTYPES:
        return _mixup_rows(x, lam, permutation)

    compute_dtype = _mixing_dtype(x.dtype)
    own = x.to(compute_dtype)
    weight = expand_to_input(lam.to(compute_dtype), own, 1)
    mixed = torch.lerp(own[permutation], own, weight)
    if not x.dtype.is_floating_point:
        mixed = mixed.round_()
    return _keep_memory_format(mixed.to(x.dtype), x)


def cutmix(x: Tensor, boxes: Tensor, permutation: Tensor) -> Tensor:
    """Paste into each sample the pixels of its partner that lie inside its box.

    A pixel belongs to a box when its centre lies in the half-open box, as :func:`box_mask` decides, so a box that
    reaches past the border is clipped there. The pixels are copied exactly, in any dtype.

    Args:
        x: input of shape ``(N, ..., H, W)``.
        boxes: ``(N, 4)`` boxes ``(top, left, bottom, right)`` in normalised coordinates, one per sample.
        permutation: ``(N,)`` integer index of each sample's partner.

    Returns:
        A new tensor of ``x``'s shape, dtype, device and memory format. Autograd flows through it.

    Raises:
        ValueError: if ``x`` has fewer than 3 dimensions, or ``boxes`` or ``permutation`` does not match its batch.

    Example:
        >>> import torch
        >>> x = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
        >>> boxes = torch.tensor([[0.0, 0.0, 0.5, 1.0], [0.0, 0.0, 0.0, 0.0]])
        >>> cutmix(x, boxes, torch.tensor([1, 0]))[0, 0]
        tensor([[1., 1.],
                [0., 0.]])
    """
    _check_pairs("cutmix", x, permutation, boxes=boxes)
    height, width = x.shape[-2:]
    if _takes_row_path(x):
        rows, columns = _box_rows_and_columns(boxes, height, width)
        return _cutmix_rows(x, rows, columns, permutation)

    inside = expand_to_input(box_mask(boxes.unsqueeze(-2), height, width), x, 1)
    return _keep_memory_format(torch.where(inside, x[permutation], x), x)


def _box_rows_and_columns(boxes: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Return the ``(N, height)`` rows and ``(N, width)`` columns that each of the ``(N, 4)`` boxes covers.

    A box covers exactly the pixels in both its rows and its columns, because the rule of :func:`box_mask` (the
    pixel centre lies in the half-open box) decides rows and columns separately.
    """
    full_span = torch.tensor([0.0, 1.0], dtype=boxes.dtype, device=boxes.device).expand(boxes.shape[0], 2)
    row_boxes = torch.stack([boxes[:, 0], full_span[:, 0], boxes[:, 2], full_span[:, 1]], dim=-1)
    column_boxes = torch.stack([full_span[:, 0], boxes[:, 1], full_span[:, 1], boxes[:, 3]], dim=-1)
    rows = box_mask(row_boxes.unsqueeze(-2), height, 1)[..., 0]
    columns = box_mask(column_boxes.unsqueeze(-2), 1, width)[..., 0, :]
    return rows, columns


def box_fraction(boxes: Tensor, height: int, width: int) -> Tensor:
    """Return the fraction of a ``height`` x ``width`` grid that each box covers, counted in whole pixels.

    The count follows :func:`box_mask`, so it is exact: ``covered_rows * covered_columns / (height * width)`` in
    float32, after the box is clipped at the border. An empty grid gives 0.

    Args:
        boxes: ``(N, 4)`` boxes ``(top, left, bottom, right)`` in normalised coordinates.
        height: number of rows of the grid.
        width: number of columns of the grid.

    Returns:
        ``(N,)`` float32 fractions in [0, 1].

    Example:
        >>> import torch
        >>> box_fraction(torch.tensor([[0.5, 0.5, 2.0, 2.0]]), 4, 4)
        tensor([0.2500])
    """
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"box_fraction: boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    rows, columns = _box_rows_and_columns(boxes, height, width)
    covered = rows.sum(dim=-1, dtype=torch.float32) * columns.sum(dim=-1, dtype=torch.float32)
    return covered / max(height * width, 1)


def soft_targets(labels: Tensor, num_classes: int | None = None) -> Tensor:
    """Return labels as float32 targets of shape ``(N, K)``: one-hot rows for class indices, soft labels as given.

    Class indices are checked against ``num_classes`` on the CPU. On other devices the check would wait for the
    device, so it is skipped there, and an index out of range fails inside the scatter instead.

    Args:
        labels: ``(N,)`` integer class indices or ``(N, K)`` floating point soft labels.
        num_classes: number of classes ``K``. Class indices require it, and soft labels are checked against it.

    Raises:
        TypeError: if class indices are not integers or soft labels are not floating point.
        ValueError: if the shape is not ``(N,)`` or ``(N, K)``, ``num_classes`` is missing for class indices or
            differs from ``K``, or a class index is out of range.

    Example:
        >>> import torch
        >>> soft_targets(torch.tensor([2, 0]), num_classes=3)
        tensor([[0., 0., 1.],
                [1., 0., 0.]])
    """
    if labels.ndim == 2:
        if not labels.dtype.is_floating_point:
            raise TypeError(f"soft_targets: soft labels of shape (N, K) must be floating point, got {labels.dtype}")
        if num_classes is not None and labels.shape[1] != num_classes:
            raise ValueError(
                f"soft_targets: soft labels must have num_classes={num_classes} columns, got shape "
                f"{tuple(labels.shape)}"
            )
        return labels.to(torch.float32)

    if labels.ndim != 1:
        raise ValueError(
            f"soft_targets: labels must be class indices of shape (N,) or soft labels of shape (N, K), got shape "
            f"{tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"soft_targets: class indices of shape (N,) must be integers, got {labels.dtype}")
    if num_classes is None:
        raise ValueError("soft_targets: num_classes is required for class indices of shape (N,), got None")
    _check_class_range(labels, num_classes)

    one_hot = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32, device=labels.device)
    return one_hot.scatter_(1, labels.to(torch.int64).unsqueeze(1), 1.0)


def mix_targets(labels: Tensor, lam: Tensor, permutation: Tensor, num_classes: int | None = None) -> Tensor:
    """Mix targets with the weights of the images: ``lam[i] * y[i] + (1 - lam[i]) * y[permutation[i]]``.

    ``y`` is ``labels`` as float32 targets (see :func:`soft_targets`), so each row sums to 1 when the rows of ``y``
    do, which one-hot rows always do.

    Args:
        labels: ``(N,)`` integer class indices or ``(N, K)`` soft labels.
        lam: ``(N,)`` or a single-element weight of each sample's own target.
        permutation: ``(N,)`` integer index of each sample's partner.
        num_classes: number of classes, required for class indices.

    Returns:
        ``(N, K)`` float32 targets on the device of ``labels``.

    Example:
        >>> import torch
        >>> mix_targets(torch.tensor([0, 1]), torch.tensor([0.75, 0.75]), torch.tensor([1, 0]), num_classes=2)
        tensor([[0.7500, 0.2500],
                [0.2500, 0.7500]])
    """
    targets = soft_targets(labels, num_classes)
    permutation = permutation.to(targets.device)
    lam = _check_pairs("mix_targets", targets, permutation, lam=lam.to(targets.device))
    return torch.lerp(targets[permutation], targets, lam.to(torch.float32).unsqueeze(1))


def _check_pairs(
    owner: str, x: Tensor, permutation: Tensor, *, lam: Tensor | None = None, boxes: Tensor | None = None
) -> Tensor | None:
    """Check the pairing arguments against the batch of ``x``, and return ``lam`` broadcast to ``(N,)``."""
    batch = x.shape[0] if x.ndim > 0 else 0
    if x.ndim < 1 or permutation.shape != (batch,):
        raise ValueError(
            f"{owner}: permutation must have shape (N,) = ({batch},) for an input of shape {tuple(x.shape)}, got "
            f"{tuple(permutation.shape)}"
        )
    if boxes is not None:
        if x.ndim < 3:
            raise ValueError(f"{owner}: expected an input of shape (N, ..., H, W), got shape {tuple(x.shape)}")
        if boxes.shape != (batch, 4):
            raise ValueError(f"{owner}: boxes must have shape (N, 4) = ({batch}, 4), got {tuple(boxes.shape)}")
    if lam is None:
        return None
    if lam.numel() == 1:
        return lam.reshape(()).expand(batch)
    if lam.shape != (batch,):
        raise ValueError(f"{owner}: lam must have shape (N,) = ({batch},) or one element, got {tuple(lam.shape)}")
    return lam


def _check_class_range(labels: Tensor, num_classes: int) -> None:
    """Raise ``ValueError`` for a class index outside ``[0, num_classes)``, on the CPU only (no device wait)."""
    if labels.device.type != "cpu" or labels.numel() == 0 or torch.compiler.is_compiling():
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(f"soft_targets: class indices must be in [0, num_classes={num_classes}), got {bad}")


def _mixing_dtype(dtype: torch.dtype) -> torch.dtype:
    """Return the dtype that values of ``dtype`` are mixed in."""
    if dtype in (torch.float32, torch.float64):
        return dtype
    if dtype in (torch.int32, torch.int64):
        return torch.float64
    return torch.float32


def _takes_row_path(x: Tensor) -> bool:
    """Return whether the CPU fast path applies: a contiguous, non-empty CPU tensor outside autograd and tracing."""
    return (
        x.device.type == "cpu"
        and x.is_contiguous()
        and x.numel() > 0
        and not (x.requires_grad and torch.is_grad_enabled())
        and not torch.compiler.is_compiling()
    )


def _mixup_rows(x: Tensor, lam: Tensor, permutation: Tensor) -> Tensor:
    """MixUp on the CPU in one pass: each output row is the weighted sum of two rows of the ``(N, C*H*W)`` matrix.

    ``F.embedding_bag`` in sum mode gathers and weights both rows in the same loop, so it neither materialises
    ``x[permutation]`` nor writes the output twice. On a 64x3x224x224 float32 batch with 2 threads (torch 2.14, a
    shared 2-core VM) it took about 1.2 times as long as ``x.clone()``, against 1.4 to 1.5 times for
    ``x[permutation].lerp_(x, weight)``.
    """
    batch = x.shape[0]
    pairs = torch.stack([torch.arange(batch, device=x.device), permutation.to(torch.int64)], dim=1)
    weights = torch.stack([lam, 1.0 - lam], dim=1).to(x.dtype)
    mixed = F.embedding_bag(pairs, x.view(batch, -1), per_sample_weights=weights, mode="sum")
    return mixed.view(x.shape)


def _cutmix_rows(x: Tensor, rows: Tensor, columns: Tensor, permutation: Tensor) -> Tensor:
    """CutMix on the CPU in two passes, with no full copy of ``x[permutation]``.

    The first pass gathers whole image rows: the partner's row where the box covers that row, the sample's own row
    elsewhere. ``torch.gather`` with an index expanded along the row copies whole rows (torch 2.14 has a fast path
    for it), which is faster than indexing. The second pass restores the sample's own pixels in the columns outside
    the box, in place, which leaves rows outside the box unchanged because they already hold the sample's own pixels.
    """
    batch, height = rows.shape
    width = x.shape[-1]
    planes = x.numel() // (batch * height * width)

    # The row index (one entry per image row, 43,008 for 64x3x224x224) is built with NumPy, which runs on the calling
    # thread. torch would wake its thread pool for an op of that size, which costs more than the work itself when
    # other processes hold the cores.
    own = np.arange(batch, dtype=np.int64)[:, None]
    source = np.where(rows.numpy(), permutation.to(torch.int64).numpy()[:, None], own)
    first_rows = source * (planes * height) + np.arange(height, dtype=np.int64)
    row_index = first_rows[:, None, :] + (np.arange(planes, dtype=np.int64) * height)[None, :, None]
    row_index = torch.from_numpy(row_index.reshape(-1, 1)).expand(-1, width)

    # Row r of the (N * planes * H, W) matrix is row r % H of plane (r // H) % planes of sample r // (planes * H).
    output = torch.gather(x.view(-1, width), 0, row_index).view(x.shape)
    in_columns = expand_to_input(columns.unsqueeze(1), x, 1)
    return torch.where(in_columns, output, x, out=output)


def _keep_memory_format(output: Tensor, x: Tensor) -> Tensor:
    """Return ``output`` in channels_last when ``x`` is channels_last and not also contiguous."""
    if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return output.contiguous(memory_format=torch.channels_last)
    return output

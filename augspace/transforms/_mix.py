"""Mixing transforms: MixUp and CutMix on a batch of images and its labels."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import PIL.Image
import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_unflatten
from torchvision import tv_tensors

from .. import functional as AF
from .._validation import check_bool, check_int, check_real
from ..params import CutMixParams, MixUpParams
from ._base import Layout, RandomTransform, layout_of
from ._erase import _normalised_boxes, _uniform_integer

# Candidates per Gamma draw in Marsaglia and Tsang's rejection sampler. For the shapes sampled here (at least 1)
# each candidate is accepted with probability above 0.95 (0.952 at shape 1, measured), so all of them are rejected
# with probability below 0.05**8 = 4e-11. That rare draw takes v = 1, the centre of the candidates.
_GAMMA_CANDIDATES = 8


def check_alpha(owner: str, alpha: Any) -> float:
    """Return ``alpha`` as a finite float above 0, or raise naming ``owner``."""
    alpha = check_real(owner, "alpha", alpha)
    if alpha <= 0.0:
        raise ValueError(f"{owner}: alpha must be above 0, got {alpha!r}")
    return alpha


def check_labels(owner: str, labels: Tensor, num_classes: int | None) -> None:
    """Raise unless ``labels`` are class indices ``(N,)`` with ``num_classes`` given, or soft labels ``(N, K)``."""
    if labels.ndim not in (1, 2):
        raise ValueError(
            f"{owner}: labels must be class indices of shape (N,) or soft labels of shape (N, K), got shape "
            f"{tuple(labels.shape)}"
        )
    if labels.ndim == 1 and num_classes is None:
        raise ValueError(
            f"{owner}: num_classes is required for labels given as class indices of shape (N,), got None. "
            "Pass num_classes, or soft labels of shape (N, K)."
        )


def draw_beta(source: RandomTransform, alpha: float, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Draw float32 numbers from Beta(alpha, alpha) with the draws of ``source``, so its generator is honoured.

    A Beta(a, a) draw is ``G1 / (G1 + G2)`` for independent Gamma(a) draws, computed as
    ``sigmoid(log G1 - log G2)``, which stays finite for tiny ``alpha``. ``torch.distributions.Gamma`` takes no
    generator, so the Gamma draws use Marsaglia and Tsang's method (2000, "A Simple Method for Generating Gamma
    Variables") on normal and uniform draws, with a fixed number of candidates per draw so that nothing waits for
    the device. Shape ``a`` is sampled as Gamma(a + 1) times ``U ** (1 / a)``, which is exact for any ``a > 0``.
    """
    log_gamma = _draw_log_gamma(source, alpha, (2, *shape), device)
    return torch.sigmoid(log_gamma[0] - log_gamma[1])


def _draw_log_gamma(source: RandomTransform, alpha: float, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Draw the logarithm of Gamma(alpha) numbers of the given shape."""
    d = alpha + 1.0 - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    normal = source.draw_normal((*shape, _GAMMA_CANDIDATES), device)
    uniform = source.draw_uniform((*shape, _GAMMA_CANDIDATES + 1), device)

    # Candidate d * v is accepted when v > 0 and log(U) < z**2 / 2 + d - d * v + d * log(v). log(v) is taken as
    # 3 * log1p(c * z), which is NaN or -inf where v <= 0, so the comparison rejects those candidates. 1 - U lies in
    # (0, 1], so its logarithm is finite.
    v = (1.0 + c * normal) ** 3
    log_v = 3.0 * torch.log1p(c * normal)
    log_u = torch.log1p(-uniform)
    accepted = log_u[..., :-1] < 0.5 * normal**2 + d - d * v + d * log_v
    first = accepted.to(torch.uint8).argmax(dim=-1, keepdim=True)
    log_v = torch.where(accepted.any(dim=-1), log_v.gather(-1, first).squeeze(-1), 0.0)
    return math.log(d) + log_v + log_u[..., -1] / alpha


def draw_permutation(source: RandomTransform, size: int, device: torch.device) -> Tensor:
    """Draw a uniformly random permutation of ``range(size)`` as int64, by sorting uniform draws of ``source``."""
    return torch.argsort(source.draw_uniform((size,), device), stable=True)


class _MixTransform(RandomTransform):
    """Shared parts of MixUp and CutMix: argument checks, finding images and labels, and the eval-mode targets."""

    def __init__(
        self,
        alpha: float = 1.0,
        num_classes: int | None = None,
        *,
        per_sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p=1.0, generator=generator)
        name = type(self).__name__
        self.alpha = check_alpha(name, alpha)
        self.num_classes = None if num_classes is None else check_int(name, "num_classes", num_classes, minimum=1)
        self.per_sample = check_bool(name, "per_sample", per_sample)
        self.last_params: Any = None

    def forward(self, *inputs: Any, params: Any = None) -> Any:
        """Mix the images and labels in training mode. In eval mode, return the images and one-hot targets.

        Args:
            inputs: the images and the labels, as ``(images, labels)``, a tuple or list of them, or a dict with the
                key ``"labels"``.
            params: parameters to replay, as returned by :meth:`make_params` or stored in :attr:`last_params`.
                ``None`` draws new ones.
        """
        structure = inputs if len(inputs) > 1 else inputs[0]
        flat, spec = tree_flatten(structure)
        labels = self._find_labels(structure)
        label_index = next(index for index, item in enumerate(flat) if item is labels)
        images, masks = self._find_images(flat, label_index)
        self._check_inputs(flat, labels, images, masks)

        outputs = list(flat)
        if not self.training:
            outputs[label_index] = AF.soft_targets(labels, self.num_classes)
            return tree_unflatten(outputs, spec)

        if params is None:
            params = self.make_params([flat[index] for index in images])
        else:
            params = self._settle_params(params, flat[images[0]])
        self.last_params = params
        for index in images + masks:
            outputs[index] = self.transform(flat[index], params)
        outputs[label_index] = AF.mix_targets(labels, params.lam, params.permutation, self.num_classes)
        return tree_unflatten(outputs, spec)

    def forward_tensor(self, x: Tensor) -> Tensor:
        raise TypeError(
            f"{type(self).__name__}: mixing needs the labels as well, so it cannot transform a layer's output alone. "
            "Use augspace.ManifoldMixup to mix hidden layers."
        )

    def make_params(self, flat_inputs: list[Any]) -> Any:
        """Draw parameters for the first image among ``flat_inputs``, a batch of shape ``(N, C, H, W)``."""
        for item in flat_inputs:
            if isinstance(item, Tensor) and not isinstance(item, tv_tensors.Mask):
                layout = layout_of(type(self).__name__, item)
                if len(layout.batch_shape) != 1:
                    raise ValueError(
                        f"{type(self).__name__}: expected a batch of shape (N, C, H, W) or a Video of shape "
                        f"(N, T, C, H, W), got shape {tuple(item.shape)}"
                    )
                return self.sample(layout)
        raise TypeError(
            f"{type(self).__name__}: expected a batch of images among the inputs, got "
            f"{[type(item).__name__ for item in flat_inputs]}"
        )

    def _settle_params(self, params: Any, image: Tensor) -> Any:
        """Return the replayed ``params`` as the call applies them to ``image``, the first image of the call."""
        return params

    def transform(self, inpt: Any, params: Any) -> Any:
        """Mix one image, video or mask tensor. A tv_tensor keeps its type."""
        output = self.apply_image(inpt.as_subclass(Tensor), params)
        if isinstance(inpt, tv_tensors.TVTensor):
            return tv_tensors.wrap(output, like=inpt)
        return output

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, num_classes={self.num_classes}, per_sample={self.per_sample}"

    def _find_labels(self, structure: Any) -> Tensor:
        """Return the labels: the second input, or the value under the key ``"labels"``."""
        candidate = structure if isinstance(structure, Mapping) else None
        if isinstance(structure, (tuple, list)) and len(structure) >= 2:
            candidate = structure[1]
        if isinstance(candidate, Mapping):
            candidate = candidate.get("labels")
        if isinstance(candidate, Tensor) and not isinstance(candidate, tv_tensors.TVTensor):
            return candidate
        raise TypeError(
            f"{type(self).__name__}: expected the labels as a plain tensor, either as the second input (images, "
            f"labels) or under the key 'labels' of a dict, got {type(candidate).__name__}"
        )

    def _find_images(self, flat: list[Any], label_index: int) -> tuple[list[int], list[int]]:
        """Return the positions of the images (every Image and Video, else the first plain tensor) and the masks."""
        name = type(self).__name__
        explicit = any(isinstance(item, (tv_tensors.Image, tv_tensors.Video)) for item in flat)
        images, masks = [], []
        for index, item in enumerate(flat):
            if index == label_index:
                continue
            if isinstance(item, PIL.Image.Image):
                raise TypeError(f"{name}: mixes a batch, so it expects tensors of shape (N, C, H, W), got a PIL image")
            if isinstance(item, tv_tensors.Mask):
                masks.append(index)
            elif isinstance(item, (tv_tensors.Image, tv_tensors.Video)):
                images.append(index)
            elif isinstance(item, tv_tensors.TVTensor):
                raise TypeError(f"{name}: cannot mix {type(item).__name__}, only images, videos and masks")
            elif isinstance(item, Tensor) and not explicit and not images:
                images.append(index)
        if not images:
            raise TypeError(f"{name}: expected a batch of images among the inputs, got none besides the labels")
        return images, masks

    def _check_inputs(self, flat: list[Any], labels: Tensor, images: list[int], masks: list[int]) -> None:
        """Raise for labels that do not fit ``num_classes`` and for images or masks that do not fit the labels."""
        name = type(self).__name__
        check_labels(name, labels, self.num_classes)
        batch = labels.shape[0]
        for index in images:
            image = flat[index]
            expected = 5 if isinstance(image, tv_tensors.Video) else 4
            if image.ndim != expected or image.shape[0] != batch:
                layout = "(N, T, C, H, W)" if expected == 5 else "(N, C, H, W)"
                raise ValueError(
                    f"{name}: expected images of shape {layout} with N = {batch} as in the labels, got shape "
                    f"{tuple(image.shape)}"
                )
            layout_of(name, image)
        for index in masks:
            self._check_mask(flat[index], batch)

    def _check_mask(self, mask: Tensor, batch: int) -> None:
        """Raise if a segmentation mask in the call cannot follow the mixing."""
        raise NotImplementedError


class MixUp(_MixTransform):
    """Blend each image with a partner and mix their labels with the same weights, as in Zhang et al. (2018),
    "mixup: Beyond Empirical Risk Minimization".

    Called as ``images, targets = mixup(images, labels)``. Sample ``i`` becomes
    ``lam * x[i] + (1 - lam) * x[permutation[i]]`` and its target ``lam * y[i] + (1 - lam) * y[permutation[i]]``,
    with ``lam`` drawn from Beta(alpha, alpha) and the partners from a uniformly random permutation of the batch, so
    the batch need not be shuffled. A sample paired with itself, which happens with probability 1 / N and always in
    a batch of 1, is unchanged. An empty batch returns empty outputs.

    The weight is drawn once for the batch, as in the paper, or once per sample with ``per_sample=True``. Beta draws
    use Marsaglia and Tsang's Gamma sampler on the transform's own normal and uniform draws, so ``generator`` and
    ``torch.manual_seed`` both reproduce them.

    Labels are class indices ``(N,)`` or soft labels ``(N, K)``. Targets are float32 ``(N, K)`` rows that sum to 1
    (when soft labels do). uint8 images are mixed in float32 and rounded to the nearest integer, ties to even;
    float16 and bfloat16 images are mixed in float32 and keep their dtype. A segmentation ``Mask`` raises, because a
    blend of two label maps is not a label map (use :class:`CutMix`). The labels are the second input, as in
    ``mixup(images, labels, ...)``, or the value under the key ``"labels"`` of a dict. Every ``Image`` and ``Video``
    among the inputs is mixed with the same params, or, when there is none, the first plain tensor other than the
    labels. Other values pass through.

    The params of the latest training call are in :attr:`last_params` (a :class:`~augspace.MixUpParams`), and
    ``mixup(images, labels, params=params)`` replays them. In eval mode the images are returned unchanged (the same
    objects) with one-hot targets, or the soft labels as float32.

    Args:
        alpha: both shape parameters of the Beta distribution of ``lam``. Small values keep most samples close to
            one of the pair, and 1 is uniform.
        num_classes: number of classes, required when labels are class indices.
        per_sample: draw one ``lam`` per sample instead of one for the batch.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type, or at call time for missing labels, PIL images, masks or
            bounding boxes.
        ValueError: if ``alpha`` is not above 0 or ``num_classes`` below 1, or at call time for labels or images of the
            wrong shape, or class indices without ``num_classes``.

    Example:
        >>> import torch, augspace as A
        >>> mixup = A.MixUp(alpha=1.0, num_classes=3, generator=torch.Generator().manual_seed(0))
        >>> images, targets = mixup(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> images.shape, targets.shape, torch.allclose(targets.sum(dim=1), torch.ones(4))
        (torch.Size([4, 3, 8, 8]), torch.Size([4, 3]), True)
    """

    def sample(self, layout: Layout) -> MixUpParams:
        batch = layout.batch_shape[0]
        lam = draw_beta(self, self.alpha, (batch if self.per_sample else 1,), layout.device)
        permutation = draw_permutation(self, batch, layout.device)
        return MixUpParams(lam=lam.expand(batch).contiguous(), permutation=permutation)

    def apply_image(self, x: Tensor, params: MixUpParams) -> Tensor:
        return AF.mixup(x, params.lam, params.permutation)

    def _check_mask(self, mask: Tensor, batch: int) -> None:
        raise TypeError(
            "MixUp: cannot mix a segmentation Mask, because a blend of two label maps is not a label map. "
            "Use CutMix, whose pasted boxes carry the mask along."
        )


class CutMix(_MixTransform):
    """Paste a box from a partner image into each image and mix the labels by area, as in Yun et al. (2019),
    "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features".

    Called as ``images, targets = cutmix(images, labels)``. A drawn ``lam`` from Beta(alpha, alpha) sets the box's
    sides to ``round(sqrt(1 - lam) * H)`` by ``round(sqrt(1 - lam) * W)`` pixels (rounded half up). Its centre is
    uniform over all pixels, and a box of ``h`` rows around centre row ``c`` spans rows ``c - h // 2`` to
    ``c - h // 2 + h - 1`` (columns alike), clipped at the border. Sample ``i`` receives the pixels of sample
    ``permutation[i]`` inside its box, the partners coming from a uniformly random permutation of the batch.

    Targets are weighted by the area actually pasted, after clipping and rounding: sample ``i`` keeps the weight
    ``1 - pasted_pixels / (H * W)`` for its own label, counted exactly on the pixel grid, which is
    :attr:`CutMixParams.lam`. A sample paired with itself is unchanged and keeps its one-hot target.

    One box is drawn for the batch, as in the paper, or one per sample with ``per_sample=True``. A segmentation
    ``Mask`` of shape ``(N, H, W)`` or ``(N, 1, H, W)`` in the same call, as in
    ``images, targets, masks = cutmix(images, labels, masks)``, receives the same boxes from the same partners. All
    images and masks in a call must share their height and width. Pixels are copied exactly in any dtype. Labels,
    params, replay and eval mode work as in :class:`MixUp`.

    Args:
        alpha: both shape parameters of the Beta distribution that sets the box area.
        num_classes: number of classes, required when labels are class indices.
        per_sample: draw one box per sample instead of one for the batch.
        generator: the source of randomness; ``None`` uses torch's global generator.

    Raises:
        TypeError: if an argument has the wrong type, or at call time for missing labels, PIL images or bounding
            boxes.
        ValueError: if ``alpha`` is not above 0 or ``num_classes`` below 1, or at call time for labels, images or
            masks of the wrong shape, or class indices without ``num_classes``.

    Example:
        >>> import torch, augspace as A
        >>> cutmix = A.CutMix(num_classes=2, per_sample=True, generator=torch.Generator().manual_seed(0))
        >>> images, targets = cutmix(torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 1, 0]))
        >>> params = cutmix.last_params
        >>> params.boxes.shape, params.lam.shape, torch.allclose(targets.sum(dim=1), torch.ones(4))
        (torch.Size([4, 4]), torch.Size([4]), True)
    """

    def sample(self, layout: Layout) -> CutMixParams:
        batch, height, width, device = layout.batch_shape[0], layout.height, layout.width, layout.device
        draws = batch if self.per_sample else 1
        side = torch.sqrt(1.0 - draw_beta(self, self.alpha, (draws,), device))
        box_height = torch.floor(side * height + 0.5)
        box_width = torch.floor(side * width + 0.5)

        centre = self.draw_uniform((draws, 2), device)
        top = _uniform_integer(centre[:, 0], height) - torch.floor(box_height / 2)
        left = _uniform_integer(centre[:, 1], width) - torch.floor(box_width / 2)
        boxes = _normalised_boxes(top, left, top + box_height, left + box_width, height, width)
        boxes = boxes.expand(batch, 4).contiguous()

        permutation = draw_permutation(self, batch, device)
        return CutMixParams(boxes=boxes, permutation=permutation, lam=1.0 - AF.box_fraction(boxes, height, width))

    def _settle_params(self, params: CutMixParams, image: Tensor) -> CutMixParams:
        """Recompute the kept fraction on ``image``'s grid, in case replayed params were drawn for another size."""
        return dataclasses.replace(params, lam=1.0 - AF.box_fraction(params.boxes, image.shape[-2], image.shape[-1]))

    def apply_image(self, x: Tensor, params: CutMixParams) -> Tensor:
        return AF.cutmix(x, params.boxes, params.permutation)

    def _check_mask(self, mask: Tensor, batch: int) -> None:
        if mask.ndim not in (3, 4) or mask.shape[0] != batch or (mask.ndim == 4 and mask.shape[1] != 1):
            raise ValueError(
                f"CutMix: expected a Mask of shape (N, H, W) or (N, 1, H, W) with N = {batch} as in the labels, got "
                f"shape {tuple(mask.shape)}"
            )

    def _check_inputs(self, flat: list[Any], labels: Tensor, images: list[int], masks: list[int]) -> None:
        super()._check_inputs(flat, labels, images, masks)
        sizes = {tuple(flat[index].shape[-2:]) for index in images + masks}
        if len(sizes) > 1:
            raise ValueError(f"CutMix: all images and masks in a call must share height and width, got {sorted(sizes)}")

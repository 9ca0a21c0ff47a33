"""Compare augmentations applied to input images, to a CNN's hidden layer and to its weights.

The script trains a small CNN on scikit-learn's bundled handwritten digits (1,797 real 8x8 images of 10 classes,
upsampled to 32x32 so that the deeper layers keep some spatial extent). It trains on a small fixed subset so that
the baseline overfits and regularisation has something to do, and it measures accuracy on the held-out rest. Each
configuration trains once per seed: a baseline without augmentation; Cutout, RandomErasing, RandomRescale,
RandomHorizontalFlip, MixUp and CutMix, each applied either to the input batch (``x = transform(x)`` on the device)
or to the output of the layer ``block2`` (through :class:`augspace.FeatureTransform`, or
:class:`augspace.ManifoldMixup` for the mixing transforms); DropBlock on ``block2``; Manifold Mixup at a layer drawn
on each step; and Weight Standardization and DropConnect in weight space (through :class:`augspace.WeightTransform`).
Sizes are fractions of the side, so one setting means the same in both spaces: ``Cutout(size=0.5)`` erases a 16x16
patch of a 32x32 image and a 4x4 patch of ``block2``'s 8x8 feature maps.

Outputs, written to ``--out``: ``results.md`` and ``results.json`` (test accuracy as mean and standard deviation over
seeds, and training time, per configuration) and ``transforms.png`` (the input-space transforms on sample digits and
the feature-space transforms on a few channels of ``block2``).

Run it from the repository root, after ``pip install -e .[examples]``::

    python examples/compare_spaces.py                  # full comparison: 17 configurations x 3 seeds
    python examples/compare_spaces.py --quick          # smoke run: 1 seed, fewer epochs and images
    python examples/compare_spaces.py --device cuda --seeds 5 --epochs 80
    python examples/compare_spaces.py --data path/to/image_folder   # your own ImageFolder data set

On 2 otherwise idle CPU cores (torch with 2 threads), one training run took about 9 s in the full comparison and
2.5 s in the quick one. The full comparison therefore takes about 8 minutes and the quick one about 50 s. Runs
slow down several-fold when other processes compete for the cores.

Runs on the CPU are deterministic for a fixed seed and number of torch threads. Seed ``s`` of every configuration
starts from the same weights and the same batch order, so the configurations are compared pairwise.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torchvision.datasets import ImageFolder  # noqa: E402
from torchvision.transforms import v2  # noqa: E402
from tqdm import tqdm  # noqa: E402

import augspace as A  # noqa: E402

#: Side, in pixels, that every image is resized to.
IMAGE_SIZE = 32

#: The hidden layer that the feature-space transforms act on: 8x8 feature maps for 32x32 inputs.
HIDDEN_LAYER = "block2"

#: Seed of the train/test split, fixed so that every run uses the same images.
SPLIT_SEED = 0

#: The training forward pass: images and class indices in, logits and targets (indices or float rows) out.
TrainingForward = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Budget:
    """How much work one invocation does.

    ``train_size`` and ``test_size`` are numbers of images. For the digits, ``None`` as the test size means every
    image not used for training. For an image folder, ``None`` sizes mean a stratified 75 / 25 split.
    """

    epochs: int
    seeds: int
    train_size: int | None
    test_size: int | None
    batch_size: int = 32
    learning_rate: float = 0.05


DEFAULT_BUDGET = Budget(epochs=60, seeds=3, train_size=200, test_size=None)
QUICK_BUDGET = Budget(epochs=15, seeds=1, train_size=200, test_size=400)


@dataclass(frozen=True)
class HiddenMixing:
    """Recipe for the :class:`augspace.ManifoldMixup` that each training run builds around its fresh model.

    The mixer needs the model, so the configuration stores its settings and :meth:`build` makes one per run.
    """

    layers: tuple[str, ...]
    alpha: float
    mode: str = "mixup"
    include_input: bool = False

    def build(self, model: nn.Module, num_classes: int) -> A.ManifoldMixup:
        """Hook a ``ManifoldMixup`` with these settings into ``model``."""
        return A.ManifoldMixup(
            model,
            list(self.layers),
            alpha=self.alpha,
            num_classes=num_classes,
            mode=self.mode,
            include_input=self.include_input,
        )

    @property
    def places(self) -> str:
        """Where the mixing may happen, for example ``"input, block1, block2"``."""
        return ", ".join((["input"] if self.include_input else []) + list(self.layers))


@dataclass
class Configuration:
    """One row of the comparison: a transform and where it acts.

    ``layer`` is ``None`` for input space (the transform runs on each batch of images) and a layer selector for
    feature space (the transform runs on that module's output through a forward hook) or weight space (the transform
    parametrizes the weights of the selected layers, and ``weights`` is true). A :class:`HiddenMixing` recipe mixes
    hidden states and labels, at one layer or at a layer drawn on each step.
    """

    name: str
    transform: nn.Module | HiddenMixing | None = None
    layer: str | None = None
    weights: bool = False

    @property
    def space(self) -> str:
        """``"none"``, ``"input"``, ``"feature"`` or ``"weight"``."""
        if self.transform is None:
            return "none"
        if self.weights:
            return "weight"
        if isinstance(self.transform, HiddenMixing):
            return "feature"
        return "input" if self.layer is None else "feature"

    @property
    def where(self) -> str:
        """The table's "applied to" entry: ``"-"``, ``"input"``, a layer selector or the mixing places."""
        if isinstance(self.transform, HiddenMixing):
            return self.transform.places
        return {"none": "-", "input": "input"}.get(self.space, self.layer)

    @property
    def label(self) -> str:
        """Short unique label, for example ``"Cutout @ block2"``."""
        if self.transform is None:
            return self.name
        return f"{self.name} @ {self.where}"

    @property
    def mixes_labels(self) -> bool:
        """Whether training mixes the labels, so that the loss takes soft targets."""
        return isinstance(self.transform, (HiddenMixing, A.MixUp, A.CutMix))


def make_configurations(num_classes: int = 10, layer: str = HIDDEN_LAYER) -> list[Configuration]:
    """Build the baseline, then each transform in input space, on the output of ``layer`` and in weight space.

    Activations are not zero-centred (these ones are non-negative after ReLU and max pooling), so the erasing
    transforms fill feature maps with each sample's per-channel mean rather than with 0. Input images have a zero
    background, so 0 is the natural fill there. RandomRescale takes only numeric fills and pads with 0 in both spaces,
    which on feature maps matches the zero padding of the next convolution.

    DropBlock, Cutout's twin on every feature map, has no input-space row: Cutout at the input is its counterpart.
    Its 3x3 blocks cover about a third of a side of ``block2``'s 8x8 maps.

    The horizontal flip in input space is a contrast row that is expected to hurt. Digits are not mirror-symmetric,
    so a mirrored 2, 3, 4, 5, 7 or 9 is no longer a valid image of its class, and the test set has no mirrored digits.

    MixUp and CutMix use alpha = 1, the CIFAR setting of Zhang et al. (2018) and Yun et al. (2019), in both spaces:
    on ``layer`` they are :class:`augspace.ManifoldMixup` with that layer as the only candidate. The ManifoldMixup
    row follows Verma et al. (2019) on CIFAR: alpha = 2 and a layer drawn on each step among the input and the first
    two blocks' outputs. Weight Standardization acts on every convolution, as in Qiao et al. (2019). DropConnect
    drops half of the classifier's weights, the rate and the layer of Wan et al. (2013).
    """
    return [
        Configuration("baseline"),
        Configuration("Cutout", A.Cutout(size=0.5)),
        Configuration("Cutout", A.Cutout(size=0.5, fill="mean"), layer),
        Configuration("RandomErasing", A.RandomErasing()),
        Configuration("RandomErasing", A.RandomErasing(fill="mean"), layer),
        Configuration("RandomRescale", A.RandomRescale()),
        Configuration("RandomRescale", A.RandomRescale(), layer),
        Configuration("RandomHorizontalFlip", A.RandomHorizontalFlip()),
        Configuration("RandomHorizontalFlip", A.RandomHorizontalFlip(), layer),
        Configuration("DropBlock", A.DropBlock(drop_prob=0.1, block_size=3), layer),
        Configuration("MixUp", A.MixUp(alpha=1.0, num_classes=num_classes)),
        Configuration("MixUp", HiddenMixing((layer,), alpha=1.0)),
        Configuration("CutMix", A.CutMix(alpha=1.0, num_classes=num_classes)),
        Configuration("CutMix", HiddenMixing((layer,), alpha=1.0, mode="cutmix")),
        Configuration("ManifoldMixup", HiddenMixing(("block1", "block2"), alpha=2.0, include_input=True)),
        # Each block's convolution is its submodule "0": the pattern selects block1.0, block2.0 and block3.0.
        Configuration("WeightStandardization", A.WeightStandardization(), "block*.0", weights=True),
        Configuration("DropConnect", A.DropConnect(p=0.5), "head.2", weights=True),
    ]


class SmallCNN(nn.Module):
    """Three named convolution blocks, each halving the resolution, then global average pooling and a linear head.

    For 32x32 inputs the outputs of ``block1``, ``block2`` and ``block3`` are 16x16, 8x8 and 4x4 feature maps.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.block1 = conv_block(in_channels, width)
        self.block2 = conv_block(width, 2 * width)
        self.block3 = conv_block(2 * width, 4 * width)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.block3(self.block2(self.block1(x))))


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Build a 3x3 convolution, batch norm, ReLU and 2x2 max pooling."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


@dataclass
class DataSplit:
    """Train and test tensors on the target device. Images are float32 in [0, 1], shaped ``(N, C, H, W)``."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    class_names: list[str]
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


def load_digit_images(image_size: int) -> tuple[Tensor, Tensor, list[str]]:
    """Load scikit-learn's digits as ``(1797, 1, image_size, image_size)`` floats in [0, 1], bilinearly upsampled."""
    digits = load_digits()
    # The 8x8 images hold integer ink counts from 0 to 16.
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    return images.clamp_(0.0, 1.0), labels, [str(name) for name in digits.target_names]


def load_folder_images(root: Path, image_size: int) -> tuple[Tensor, Tensor, list[str]]:
    """Load an ``ImageFolder`` tree as RGB floats in [0, 1], every image resized to ``image_size`` x ``image_size``.

    Raises:
        FileNotFoundError: if ``root`` has no class folder or a class folder has no image file.
    """
    pipeline = v2.Compose(
        [
            v2.ToImage(),
            v2.Resize((image_size, image_size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    folder = ImageFolder(str(root), transform=pipeline)
    samples = [folder[index] for index in tqdm(range(len(folder)), desc="loading images", unit="image")]
    images = torch.stack([image.as_subclass(Tensor) for image, _ in samples])
    labels = torch.as_tensor([label for _, label in samples], dtype=torch.long)
    return images, labels, list(folder.classes)


def split_dataset(
    images: Tensor, labels: Tensor, class_names: list[str], budget: Budget, source: str, device: torch.device
) -> DataSplit:
    """Split the images into stratified train and test sets with a fixed seed and move them to ``device``.

    Raises:
        ValueError: if a class has too few images for a stratified split of the requested sizes.
    """
    # The budget's number of training images when it sets one and the data has enough, else three quarters of them.
    train_size: int | float = 0.75
    if budget.train_size is not None and budget.train_size <= 0.75 * len(labels):
        train_size = budget.train_size
    indices = list(range(len(labels)))
    train_indices, test_indices = train_test_split(
        indices, train_size=train_size, stratify=labels.numpy(), random_state=SPLIT_SEED
    )
    if budget.test_size is not None and budget.test_size < len(test_indices):
        test_labels = labels[test_indices].numpy()
        test_indices, _ = train_test_split(
            test_indices, train_size=budget.test_size, stratify=test_labels, random_state=SPLIT_SEED
        )

    train_indices = torch.as_tensor(train_indices)
    test_indices = torch.as_tensor(test_indices)
    return DataSplit(
        images[train_indices].to(device),
        labels[train_indices].to(device),
        images[test_indices].to(device),
        labels[test_indices].to(device),
        class_names,
        source,
    )


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: DataSplit,
    batch_size: int,
    forward: TrainingForward,
    order_generator: torch.Generator,
) -> Tensor:
    """Train for one epoch over shuffled mini-batches and return the mean training loss as a 0-d device tensor.

    ``forward`` maps a batch of images and labels to logits and targets (see :func:`attach`). The loss is the cross
    entropy, which takes class indices as well as the float rows of mixed targets. The batch order comes from
    ``order_generator``, so the transforms' draws from the global generator do not change it. Nothing here reads a
    value back to the host, so on a GPU the steps queue up without synchronising.
    """
    model.train()
    count = len(data.train_labels)
    order = torch.randperm(count, device=data.train_labels.device, generator=order_generator)
    total_loss = torch.zeros((), device=data.train_labels.device)

    for start in range(0, count, batch_size):
        batch = order[start : start + batch_size]
        logits, targets = forward(data.train_images[batch], data.train_labels[batch])
        loss = F.cross_entropy(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach() * len(batch)

    return total_loss / count


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 512) -> float:
    """Return the accuracy of ``model`` in eval mode on ``images``, a fraction in [0, 1]."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=labels.device)
    for start in range(0, len(labels), batch_size):
        logits = model(images[start : start + batch_size])
        correct += (logits.argmax(dim=1) == labels[start : start + batch_size]).sum()
    return correct.item() / len(labels)


@dataclass
class RunResult:
    """Outcome of training one configuration with one seed."""

    seed: int
    test_accuracy: float
    train_accuracy: float
    final_loss: float
    train_seconds: float


def train_run(
    config: Configuration, data: DataSplit, budget: Budget, seed: int, progress: tqdm
) -> tuple[RunResult, nn.Module]:
    """Train a fresh model for one configuration and seed, then evaluate it on the train and test sets.

    Feature-space hooks and weight parametrizations stay attached for the evaluation, which runs in eval mode: the
    feature transforms, DropConnect and the mixing then do nothing, while Weight Standardization is part of the
    function the network learned and must stay. The returned model has them removed again, so after Weight
    Standardization it no longer computes the function that was evaluated.
    """
    torch.manual_seed(seed)
    device = data.train_images.device
    model = SmallCNN(data.train_images.shape[1], data.num_classes).to(device)
    order_generator = torch.Generator(device).manual_seed(seed)
    with attach(config, model, data.num_classes) as forward:
        optimizer = torch.optim.SGD(model.parameters(), lr=budget.learning_rate, momentum=0.9, weight_decay=5e-4)
        steps = budget.epochs * -(-len(data.train_labels) // budget.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=budget.learning_rate, total_steps=steps)

        synchronize(device)
        start = time.perf_counter()
        for _ in range(budget.epochs):
            loss = train_epoch(model, optimizer, scheduler, data, budget.batch_size, forward, order_generator)
            # One read-back per epoch, for the progress bar.
            progress.set_postfix(loss=f"{loss.item():.3f}")
            progress.update(1)
        synchronize(device)
        seconds = time.perf_counter() - start

        test_accuracy = evaluate(model, data.test_images, data.test_labels)
        train_accuracy = evaluate(model, data.train_images, data.train_labels)
    return RunResult(seed, test_accuracy, train_accuracy, loss.item(), seconds), model


@contextmanager
def attach(config: Configuration, model: nn.Module, num_classes: int) -> Iterator[TrainingForward]:
    """Attach the configuration's transform to ``model`` and yield the training forward pass; detach on exit.

    The forward pass maps images and class indices to logits and targets: the labels themselves, or float rows of
    mixed targets for the mixing transforms. Input-space transforms run on each batch on the device.
    """
    transform = config.transform
    if isinstance(transform, HiddenMixing):
        # logits, targets = mixer(x, y) replaces logits = model(x).
        with transform.build(model, num_classes) as mixer:
            yield mixer
    elif config.space == "weight":
        with A.WeightTransform(model, {config.layer: transform}):
            yield lambda x, y: (model(x), y)
    elif config.space == "feature":
        # Keys are names from model.named_modules(), such as "block2", or glob patterns: "block*" hooks all three.
        with A.FeatureTransform(model, {config.layer: transform}):
            yield lambda x, y: (model(x), y)
    elif config.mixes_labels:
        yield lambda x, y: mix_then_forward(model, transform, x, y)
    elif config.space == "input":
        yield lambda x, y: (model(transform(x)), y)
    else:
        yield lambda x, y: (model(x), y)


def mix_then_forward(model: nn.Module, mix: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Mix a batch and its labels in input space, then run the model on the mixed images."""
    mixed, targets = mix(x, y)
    return model(mixed), targets


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock timings cover it. On the CPU it does nothing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summarise(config: Configuration, runs: Sequence[RunResult]) -> dict[str, object]:
    """Aggregate one configuration's runs into a JSON-ready record.

    The standard deviation is the sample standard deviation over seeds, ``None`` with a single seed.
    """
    test = [run.test_accuracy for run in runs]
    train = [run.train_accuracy for run in runs]
    return {
        "name": config.name,
        "space": config.space,
        "layer": config.layer,
        "applied_to": config.where,
        "transform": repr(config.transform) if config.transform is not None else None,
        "test_accuracy_mean": statistics.fmean(test),
        "test_accuracy_std": statistics.stdev(test) if len(test) > 1 else None,
        "train_accuracy_mean": statistics.fmean(train),
        "train_seconds_mean": statistics.fmean(run.train_seconds for run in runs),
        "runs": [asdict(run) for run in runs],
    }


def format_table(records: Sequence[dict[str, object]]) -> str:
    """Format the records as a Markdown table, accuracies in percent and times in seconds per run."""
    lines = [
        "| transform | applied to | test accuracy (%) | train accuracy (%) | train time per run (s) |",
        "|---|---|---:|---:|---:|",
    ]
    for record in records:
        where = record["applied_to"]
        std = record["test_accuracy_std"]
        spread = f" ± {100 * std:.1f}" if std is not None else ""
        lines.append(
            f"| {record['name']} | {where} | {100 * record['test_accuracy_mean']:.1f}{spread} "
            f"| {100 * record['train_accuracy_mean']:.1f} | {record['train_seconds_mean']:.1f} |"
        )
    return "\n".join(lines)


def write_results(out: Path, records: Sequence[dict[str, object]], settings: dict[str, object]) -> str:
    """Write ``results.md`` and ``results.json`` to ``out`` and return the Markdown table."""
    table = format_table(records)
    seeds = settings["seeds"]
    caption = (
        f"Test accuracy: mean ± sample standard deviation over {seeds} seed(s), on {settings['test_images']} "
        f"held-out images; {settings['train_images']} training images, {settings['epochs']} epochs, "
        f"data: {settings['data']}, device: {settings['device']}."
    )
    (out / "results.md").write_text(f"{table}\n\n{caption}\n")
    (out / "results.json").write_text(json.dumps({"settings": settings, "results": list(records)}, indent=2) + "\n")
    return table


def capture_output(model: nn.Module, layer: str, images: Tensor) -> Tensor:
    """Run ``model`` in eval mode on ``images`` and return the output of the submodule named ``layer``."""
    captured: list[Tensor] = []
    handle = model.get_submodule(layer).register_forward_hook(lambda module, args, output: captured.append(output))
    try:
        with torch.no_grad():
            model.eval()(images)
    finally:
        handle.remove()
    return captured[0]


def always_applied(transform: nn.Module) -> nn.Module:
    """Return a copy of ``transform`` that acts on every sample (``p = 1``), so that the figure shows its effect."""
    always = copy.deepcopy(transform).train()
    if hasattr(always, "p"):
        always.p = 1.0
    return always


def plot_input_space(figure: plt.Figure, configs: Sequence[Configuration], images: Tensor, labels: Tensor) -> None:
    """Draw one row per input-space transform, applied to the same sample images (mixed among them for MixUp)."""
    rows = [Configuration("original")] + [config for config in configs if config.space == "input"]
    axes = figure.subplots(len(rows), len(images), squeeze=False)
    figure.suptitle("input space")

    for row, config in zip(axes, rows, strict=True):
        torch.manual_seed(0)
        if config.transform is None:
            augmented = images
        elif config.mixes_labels:
            augmented, _ = always_applied(config.transform)(images, labels)
        else:
            augmented = always_applied(config.transform)(images)
        for axis, image in zip(row, augmented.cpu(), strict=True):
            axis.imshow(image.permute(1, 2, 0).squeeze(-1).clamp(0, 1), cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
        row[0].set_ylabel(config.name, rotation=0, ha="right", va="center", fontsize=8)


def plot_feature_space(
    figure: plt.Figure, configs: Sequence[Configuration], features: Tensor, channels: Sequence[int]
) -> None:
    """Draw one row per feature-space transform, applied to one sample's feature maps, with one column per channel.

    The mixing rows are left out: they need a batch of partners and run inside the model.
    """
    rows = [Configuration("original")] + [
        config for config in configs if config.space == "feature" and not config.mixes_labels
    ]
    axes = figure.subplots(len(rows), len(channels), squeeze=False)
    figure.suptitle(f"feature space: {HIDDEN_LAYER} output, {len(channels)} channels of one digit")
    low = features[:, channels].amin(dim=(0, 2, 3))
    high = features[:, channels].amax(dim=(0, 2, 3))

    for row, config in zip(axes, rows, strict=True):
        torch.manual_seed(0)
        augmented = always_applied(config.transform)(features) if config.transform is not None else features
        for column, (axis, channel) in enumerate(zip(row, channels, strict=True)):
            # Each channel keeps one colour scale in every row, so that fills and shifts are comparable.
            axis.imshow(augmented[0, channel].cpu(), cmap="viridis", vmin=low[column].item(), vmax=high[column].item())
            axis.set_xticks([])
            axis.set_yticks([])
            if config.transform is None:
                axis.set_title(f"channel {channel}", fontsize=8)
        row[0].set_ylabel(config.name, rotation=0, ha="right", va="center", fontsize=8)


def save_figure(path: Path, configs: Sequence[Configuration], model: nn.Module, data: DataSplit) -> None:
    """Save a PNG of the input-space transforms on sample images and the feature-space ones on ``HIDDEN_LAYER``."""
    images = data.test_images[:6]
    features = capture_output(model, HIDDEN_LAYER, images[:1])
    # The channels with the largest mean activation on this sample, so that no shown channel is blank.
    channels = features[0].mean(dim=(1, 2)).topk(min(4, features.shape[1])).indices.sort().values.tolist()

    figure = plt.figure(figsize=(13, 8), layout="constrained")
    input_figure, feature_figure = figure.subfigures(1, 2, width_ratios=[len(images), len(channels) + 1])
    plot_input_space(input_figure, configs, images, data.test_labels[:6])
    plot_feature_space(feature_figure, configs, features, channels)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def positive_int(text: str) -> int:
    """Parse a command-line integer that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_BUDGET.seeds} seed, {QUICK_BUDGET.epochs} epochs, {QUICK_BUDGET.train_size} "
        f"training and {QUICK_BUDGET.test_size} test images; about 50 s on 2 idle CPU cores",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        metavar="N",
        help="number of training runs per configuration, with seeds 0 to N-1 "
        f"(default: {DEFAULT_BUDGET.seeds}, with --quick: {QUICK_BUDGET.seeds})",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="number of passes over the training set in each run "
        f"(default: {DEFAULT_BUDGET.epochs}, with --quick: {QUICK_BUDGET.epochs})",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="PATH",
        help="root of a torchvision ImageFolder tree (one subfolder per class) to use instead of the digits. Images "
        f"are converted to RGB, resized to {IMAGE_SIZE}x{IMAGE_SIZE} pixels and split 75%%/25%% into training and "
        f"test images, stratified by class (with --quick: at most {QUICK_BUDGET.train_size} training and "
        f"{QUICK_BUDGET.test_size} test images)",
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device to train on, for example cpu or cuda:0 (default: cpu)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        default=Path("outputs/compare_spaces"),
        help="directory for results.md, results.json and transforms.png, created if missing "
        "(default: outputs/compare_spaces)",
    )
    return parser


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> tuple[argparse.Namespace, Budget, torch.device]:
    """Parse and check the arguments and pick the budget. Bad arguments exit with a usage message."""
    args = parser.parse_args(argv)

    try:
        device = torch.device(args.device)
    except RuntimeError as error:
        parser.error(f"--device: invalid torch device {args.device!r} ({error})")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device: {args.device!r} was requested but CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        parser.error(f"--device: {args.device!r} was requested but only {torch.cuda.device_count()} GPU(s) are visible")
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data: {str(args.data)!r} is not a directory")

    budget = QUICK_BUDGET if args.quick else DEFAULT_BUDGET
    if args.data is not None and not args.quick:
        # The small fixed training set makes the baseline overfit on the digits, so a user's folder is split 75 / 25.
        budget = replace(budget, train_size=None, test_size=None)
    budget = replace(budget, epochs=args.epochs or budget.epochs, seeds=args.seeds or budget.seeds)
    return args, budget, device


def load_dataset(
    parser: argparse.ArgumentParser, args: argparse.Namespace, budget: Budget, device: torch.device
) -> DataSplit:
    """Load and split the digits, or the image folder given by ``--data``. Load errors exit with a usage message."""
    if args.data is None:
        images, labels, classes = load_digit_images(IMAGE_SIZE)
        return split_dataset(images, labels, classes, budget, "scikit-learn digits", device)

    try:
        images, labels, classes = load_folder_images(args.data, IMAGE_SIZE)
        return split_dataset(images, labels, classes, budget, str(args.data), device)
    except (FileNotFoundError, ValueError) as error:
        parser.error(f"--data: cannot use {str(args.data)!r} as a data set: {error}")


def main(argv: Sequence[str] | None = None) -> None:
    """Run every configuration for every seed, print the table and write the outputs."""
    parser = build_parser()
    args, budget, device = parse_args(parser, argv)
    data = load_dataset(parser, args, budget, device)
    configs = make_configurations(data.num_classes)
    args.out.mkdir(parents=True, exist_ok=True)

    records = []
    figure_model = None
    progress = tqdm(total=len(configs) * budget.seeds * budget.epochs, unit="epoch")
    for config in configs:
        runs = []
        for seed in range(budget.seeds):
            progress.set_description(f"{config.label}, seed {seed}")
            result, model = train_run(config, data, budget, seed, progress)
            runs.append(result)
            if figure_model is None:
                figure_model = model
        records.append(summarise(config, runs))
    progress.close()

    settings = {
        "data": data.source,
        "device": str(device),
        "epochs": budget.epochs,
        "seeds": budget.seeds,
        "train_images": len(data.train_labels),
        "test_images": len(data.test_labels),
        "image_size": IMAGE_SIZE,
        "hidden_layer": HIDDEN_LAYER,
    }
    print(write_results(args.out, records, settings))
    save_figure(args.out / "transforms.png", configs, figure_model, data)
    print(f"wrote results.md, results.json and transforms.png to {args.out}")


if __name__ == "__main__":
    main()

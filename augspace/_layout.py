"""Layout of the pictures in :mod:`augspace.viz`: tiles, colours, labels and grids, drawn with PIL alone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont
import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

#: Blank border around a picture, in pixels.
MARGIN = 8
#: Space between neighbouring tiles, in pixels.
GAP = 4
#: Width of the column of row labels on the left of a grid, in pixels.
LABEL_WIDTH = 96
#: Height of one line of text (a title or the column titles), in pixels.
LINE_HEIGHT = 18

# matplotlib's viridis colour map (CC0) sampled at 0, 0.25, 0.5, 0.75 and 1, interpolated linearly in between.
_VIRIDIS = torch.tensor(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=torch.float32
)
_FONT_SIZE = 12
_MOSAIC_GAP = 2
_RULE_COLOUR = (200, 200, 200)

#: An image as the picture functions accept it.
ImageInput = PIL.Image.Image | Tensor


def as_image_tensor(owner: str, image: object) -> Tensor:
    """Return an image as a uint8 or floating-point tensor of shape ``(..., C, H, W)``."""
    if isinstance(image, PIL.Image.Image):
        return TF.pil_to_tensor(image if image.mode in ("L", "RGB") else image.convert("RGB"))
    if not isinstance(image, Tensor):
        raise TypeError(f"{owner}: expected a PIL image or a tensor, got {type(image).__name__}")
    if image.ndim < 3 or not (image.dtype == torch.uint8 or image.is_floating_point()):
        raise ValueError(
            f"{owner}: expected a uint8 or floating-point tensor of shape (..., C, H, W), got dtype {image.dtype} "
            f"and shape {tuple(image.shape)}"
        )
    return image


def render_draws(
    original: ImageInput, draws: Tensor, *, tile_size: int = 128, title: str | None = None
) -> PIL.Image.Image:
    """Lay out an image and its draws as a labelled grid: the original, then one column per draw.

    A single image of shape ``(C, H, W)`` takes one row. A batch of shape ``(B, C, H, W)`` takes one row per sample,
    with ``draws`` of shape ``(S, B, C, H, W)``. One channel is shown in grey, three as RGB, and other channel counts
    as the grey mean over channels.

    Args:
        original: the image or batch that was transformed.
        draws: the transformed copies, stacked along a new first dimension, as :func:`draw_samples` returns them.
        tile_size: width of each tile in pixels. The height follows the image's aspect ratio.
        title: a line of text above the grid.

    Returns:
        An RGB image ``2 * MARGIN + LABEL_WIDTH + (S + 1) * tile_size + S * GAP`` pixels wide.

    Raises:
        ValueError: if ``draws`` does not have the shape ``(S, *original.shape)``.
    """
    original = as_image_tensor("render_draws", original)
    if draws.ndim != original.ndim + 1 or draws.shape[1:] != original.shape:
        raise ValueError(
            f"render_draws: draws must have shape (S, {', '.join(map(str, original.shape))}) for an original of shape "
            f"{tuple(original.shape)}, got shape {tuple(draws.shape)}"
        )

    batch = original.unsqueeze(0) if original.ndim == 3 else original.reshape(-1, *original.shape[-3:])
    draws = draws.reshape(draws.shape[0], *batch.shape)
    rows = []
    for index in range(batch.shape[0]):
        label = "image" if original.ndim == 3 else f"sample {index}"
        images = [batch[index], *draws[:, index]]
        rows.append(_Row(label, [_image_tile(image, tile_size) for image in images]))
    return _render(rows, _column_titles(draws.shape[0]), tile_size=tile_size, title=title)


def render_feature_maps(
    before: Tensor,
    after: Tensor,
    *,
    channels: int | Sequence[int] = 3,
    tile_size: int = 128,
    title: str | None = None,
    compact: bool = False,
) -> PIL.Image.Image:
    """Lay out a layer's feature maps before and after a transform: a few channels and the mean over channels.

    Each row is one channel, or the mean over channels in the last row, and each column one map: the original, then
    one per draw. Values are coloured with the viridis colour map, scaled per row so that the original's minimum is
    dark purple and its maximum yellow. Every draw of a row shares that scale, so an erased region or a dropped
    channel shows as a change of colour, and values beyond the original's range are clipped for display.

    With ``compact=True`` the rows are folded into one: each tile becomes a small mosaic of the channels and the mean
    in reading order, and the row label lists them in the same arrangement. The grid is then about one tile high,
    the height of one row of :func:`render_draws`, which it lines up with column by column.

    Args:
        before: the feature maps of one sample, of shape ``(C, H, W)``.
        after: the transformed feature maps, of shape ``(S, C, H, W)``.
        channels: the number of channels to show, taken in decreasing order of their spatial standard deviation
            in ``before`` (the most structured first), or a sequence of channel indices.
        tile_size: width of each tile in pixels. The height follows the maps' aspect ratio.
        title: a line of text above the grid.
        compact: fold every channel and the mean into a mosaic in each tile of a single row.

    Returns:
        An RGB image, as wide as :func:`render_draws` makes a grid with the same number of draws.

    Raises:
        ValueError: if ``before`` is not 3-D, ``after`` does not have the shape ``(S, *before.shape)``, or a channel
            index is out of range.
    """
    if before.ndim != 3 or after.ndim != 4 or after.shape[1:] != before.shape:
        raise ValueError(
            "render_feature_maps: expected before of shape (C, H, W) and after of shape (S, C, H, W), got shapes "
            f"{tuple(before.shape)} and {tuple(after.shape)}"
        )
    before, after = before.detach().cpu().float(), after.detach().cpu().float()
    indices = _pick_channels(before, channels)
    maps = [(before[index], after[:, index]) for index in indices] + [(before.mean(0), after.mean(1))]
    names = [str(index) for index in indices] + ["mean"]
    column_titles = _column_titles(after.shape[0])

    if not compact:
        labels = [f"channel {name}" for name in names[:-1]] + [f"mean of {before.shape[0]}"]
        rows = [_Row(label, _feature_tiles(*pair, tile_size)) for label, pair in zip(labels, maps, strict=True)]
        return _render(rows, column_titles, tile_size=tile_size, title=title)

    per_row = math.ceil(math.sqrt(len(maps)))
    width = (tile_size - (per_row - 1) * _MOSAIC_GAP) // per_row
    tiles = [_feature_tiles(*pair, width) for pair in maps]
    mosaics = [_mosaic([column[draw] for column in tiles], per_row, tile_size) for draw in range(len(column_titles))]
    label_lines = [", ".join(names[start : start + per_row]) for start in range(0, len(names), per_row)]
    label = "\n".join(["channels" if indices else "channel", *label_lines])
    return _render([_Row(label, mosaics)], column_titles, tile_size=tile_size, title=title)


def stack(
    pictures: Sequence[PIL.Image.Image],
    *,
    direction: Literal["vertical", "horizontal"] = "vertical",
    rule: bool = False,
) -> PIL.Image.Image:
    """Paste pictures one below the other, or side by side, on a white background, aligned to the top left.

    Args:
        pictures: the pictures, in order.
        direction: ``"vertical"`` or ``"horizontal"``.
        rule: draw a light grey line one pixel wide along every join.

    Returns:
        An RGB picture whose size is the sum of the pictures' sizes along ``direction`` and their maximum across it.

    Raises:
        ValueError: if ``pictures`` is empty or ``direction`` is neither ``"vertical"`` nor ``"horizontal"``.
    """
    if not pictures:
        raise ValueError("stack: expected at least one picture, got none")
    if direction not in ("vertical", "horizontal"):
        raise ValueError(f"stack: direction must be 'vertical' or 'horizontal', got {direction!r}")

    vertical = direction == "vertical"
    widths, heights = [picture.width for picture in pictures], [picture.height for picture in pictures]
    size = (max(widths), sum(heights)) if vertical else (sum(widths), max(heights))
    canvas = PIL.Image.new("RGB", size, "white")
    draw = PIL.ImageDraw.Draw(canvas)
    offset = 0
    for index, picture in enumerate(pictures):
        canvas.paste(picture.convert("RGB"), (0, offset) if vertical else (offset, 0))
        if rule and index > 0:
            end = (size[0] - 1, offset) if vertical else (offset, size[1] - 1)
            draw.line([(0, offset) if vertical else (offset, 0), end], fill=_RULE_COLOUR)
        offset += picture.height if vertical else picture.width
    return canvas


@dataclass
class _Row:
    """One labelled row of tiles in a grid."""

    label: str
    tiles: list[PIL.Image.Image]


def _image_tile(image: Tensor, width: int) -> PIL.Image.Image:
    """Turn one image tensor of shape ``(C, H, W)`` into an RGB tile ``width`` pixels wide."""
    image = image.detach().cpu()
    if image.is_floating_point():
        image = (image.float().nan_to_num().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    if image.shape[0] != 3:
        image = image.float().mean(0, keepdim=True).round().to(torch.uint8).expand(3, -1, -1)
    return _resize(TF.to_pil_image(image), width)


def _feature_tiles(before: Tensor, after: Tensor, width: int) -> list[PIL.Image.Image]:
    """Colour one map before a transform and its ``(S, H, W)`` draws on the scale of the map before."""
    low, high = float(before.min()), float(before.max())
    span = high - low if high > low else 1.0
    maps = torch.cat([before.unsqueeze(0), after])
    scaled = ((maps - low) / span).nan_to_num().clamp(0.0, 1.0) * (len(_VIRIDIS) - 1)

    lower = scaled.floor().long().clamp(max=len(_VIRIDIS) - 2)
    weight = (scaled - lower).unsqueeze(-1)
    colours = _VIRIDIS[lower] * (1 - weight) + _VIRIDIS[lower + 1] * weight
    colours = colours.round().to(torch.uint8).permute(0, 3, 1, 2)
    return [_resize(TF.to_pil_image(colour), width) for colour in colours]


def _resize(picture: PIL.Image.Image, width: int) -> PIL.Image.Image:
    """Scale a picture to ``width`` keeping its aspect ratio: nearest when enlarging, to keep cells sharp."""
    height = max(1, round(width * picture.height / picture.width))
    enlarging = width >= picture.width
    resample = PIL.Image.Resampling.NEAREST if enlarging else PIL.Image.Resampling.LANCZOS
    return picture.resize((width, height), resample)


def _pick_channels(before: Tensor, channels: int | Sequence[int]) -> list[int]:
    """Return the channel indices to show: the given ones, or the ``channels`` most varied."""
    count = before.shape[0]
    if isinstance(channels, int) and not isinstance(channels, bool):
        spread = before.flatten(1).std(dim=1, correction=0)
        return spread.argsort(descending=True, stable=True)[: max(channels, 0)].tolist()
    indices = [int(index) for index in channels]
    if any(not 0 <= index < count for index in indices):
        raise ValueError(f"render_feature_maps: channel indices must lie in [0, {count}), got {list(channels)!r}")
    return indices


def _mosaic(tiles: list[PIL.Image.Image], per_row: int, width: int) -> PIL.Image.Image:
    """Paste equal tiles in rows of ``per_row`` on a white picture ``width`` pixels wide."""
    tile_width, tile_height = tiles[0].size
    rows = math.ceil(len(tiles) / per_row)
    mosaic = PIL.Image.new("RGB", (width, rows * tile_height + (rows - 1) * _MOSAIC_GAP), "white")
    for index, tile in enumerate(tiles):
        row, column = divmod(index, per_row)
        mosaic.paste(tile, (column * (tile_width + _MOSAIC_GAP), row * (tile_height + _MOSAIC_GAP)))
    return mosaic


def _column_titles(samples: int) -> list[str]:
    return ["original", *(f"draw {index}" for index in range(1, samples + 1))]


def _font() -> PIL.ImageFont.ImageFont | PIL.ImageFont.FreeTypeFont:
    """Return PIL's default font at a readable size; older Pillow without sizes gets the fixed bitmap font."""
    try:
        return PIL.ImageFont.load_default(size=_FONT_SIZE)
    except TypeError:
        return PIL.ImageFont.load_default()


def _fit(draw: PIL.ImageDraw.ImageDraw, text: str, width: float, font: object) -> str:
    """Shorten ``text`` with an ellipsis until it fits in ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _render(rows: list[_Row], column_titles: list[str], *, tile_size: int, title: str | None) -> PIL.Image.Image:
    """Paste labelled rows of tiles under an optional title and a line of column titles."""
    columns = len(column_titles)
    row_heights = [max(tile.height for tile in row.tiles) for row in rows]
    width = 2 * MARGIN + LABEL_WIDTH + columns * tile_size + (columns - 1) * GAP
    height = 2 * MARGIN + (LINE_HEIGHT if title else 0) + LINE_HEIGHT + sum(row_heights) + (len(rows) - 1) * GAP
    canvas = PIL.Image.new("RGB", (width, height), "white")
    draw = PIL.ImageDraw.Draw(canvas)
    font = _font()

    top = MARGIN
    if title:
        draw.text((MARGIN, top), _fit(draw, title, width - 2 * MARGIN, font), fill="black", font=font)
        top += LINE_HEIGHT
    for column, text in enumerate(column_titles):
        text = _fit(draw, text, tile_size, font)
        left = MARGIN + LABEL_WIDTH + column * (tile_size + GAP) + (tile_size - draw.textlength(text, font=font)) / 2
        draw.text((left, top), text, fill="black", font=font)
    top += LINE_HEIGHT

    # Positions are computed by hand rather than with text anchors, which PIL's bitmap fallback font lacks.
    for row, row_height in zip(rows, row_heights, strict=True):
        lines = row.label.split("\n")
        label_top = top + (row_height - len(lines) * LINE_HEIGHT) / 2
        for number, line in enumerate(lines):
            text = _fit(draw, line, LABEL_WIDTH - GAP, font)
            draw.text((MARGIN, label_top + number * LINE_HEIGHT), text, fill="black", font=font)
        for column, tile in enumerate(row.tiles):
            canvas.paste(tile, (MARGIN + LABEL_WIDTH + column * (tile_size + GAP), top))
        top += row_height + GAP
    return canvas

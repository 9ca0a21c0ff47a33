"""Tests of augspace.viz: draws, measured fractions, feature capture, grid layout and the matplotlib figure."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest
import torch
from torch import Tensor, nn
from torchvision.transforms import v2

import augspace as A
from augspace import viz

ROOT = Path(__file__).resolve().parents[1]


class TinyNet(nn.Module):
    """A conv, batch norm and ReLU stack with a pooled linear head; its "relu" layer gives 4 maps of the input size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        self.unused = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.relu(self.norm(self.conv(x))))


def tiny_net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet()


def float_image(height: int = 12, width: int = 16) -> Tensor:
    return torch.rand(3, height, width, generator=torch.Generator().manual_seed(1))


def uint8_image(height: int = 12, width: int = 16) -> Tensor:
    return torch.randint(1, 256, (3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))


def pil_image(height: int = 12, width: int = 16) -> PIL.Image.Image:
    return PIL.Image.fromarray(uint8_image(height, width).permute(1, 2, 0).numpy())


def grid_width(samples: int, tile_size: int) -> int:
    return 2 * viz.MARGIN + viz.LABEL_WIDTH + (samples + 1) * tile_size + samples * viz.GAP


def grid_height(row_heights: list[int], *, title: bool) -> int:
    title_height = viz.LINE_HEIGHT if title else 0
    return 2 * viz.MARGIN + title_height + viz.LINE_HEIGHT + sum(row_heights) + (len(row_heights) - 1) * viz.GAP


# draw_samples


@pytest.mark.parametrize("make_input", [pil_image, uint8_image, float_image], ids=["pil", "uint8", "float"])
def test_draw_samples_input_kinds(make_input) -> None:
    draws = viz.draw_samples(A.Cutout(size=0.5), make_input(), samples=3, seed=0)
    assert draws.shape == (3, 3, 12, 16)
    expected_dtype = torch.float32 if make_input is float_image else torch.uint8
    assert draws.dtype == expected_dtype


def test_draw_samples_each_draw_differs() -> None:
    draws = viz.draw_samples(A.Cutout(size=0.3), torch.ones(3, 16, 16), samples=4, seed=0)
    erased = [(draw == 0).any(dim=0) for draw in draws]
    assert not torch.equal(erased[0], erased[1])
    assert not torch.equal(erased[1], erased[2])


def test_draw_samples_same_seed_same_draws() -> None:
    first = viz.draw_samples(A.RandomErasing(p=1.0), float_image(), samples=3, seed=7)
    second = viz.draw_samples(A.RandomErasing(p=1.0), float_image(), samples=3, seed=7)
    other = viz.draw_samples(A.RandomErasing(p=1.0), float_image(), samples=3, seed=8)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_draw_samples_keeps_global_random_state() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    viz.draw_samples(A.Cutout(size=0.5), float_image(), samples=2, seed=0)
    assert torch.equal(torch.get_rng_state(), state)


def test_draw_samples_leaves_input_unchanged() -> None:
    image = float_image()
    copy = image.clone()
    viz.draw_samples(A.Cutout(size=0.5, inplace=True), image, samples=2, seed=0)
    assert torch.equal(image, copy)


def test_draw_samples_torchvision_transform() -> None:
    image = float_image()
    draws = viz.draw_samples(v2.RandomHorizontalFlip(p=1.0), image, samples=2, seed=0)
    assert draws.shape == (2, 3, 12, 16)
    assert torch.equal(draws[1], image.flip(-1))


def test_draw_samples_eval_mode_is_identity() -> None:
    image = uint8_image()
    draws = viz.draw_samples(A.Cutout(size=0.5).eval(), image, samples=3, seed=0)
    assert torch.equal(draws, image.expand(3, -1, -1, -1))


def test_draw_samples_batch_gets_draw_per_sample() -> None:
    draws = viz.draw_samples(A.Cutout(size=0.3), torch.ones(2, 3, 16, 16), samples=2, seed=0)
    assert draws.shape == (2, 2, 3, 16, 16)
    assert not torch.equal(draws[0, 0], draws[0, 1])


def test_draw_samples_rejects_shape_change() -> None:
    with pytest.raises(ValueError, match=r"turned an input of shape \(3, 12, 16\) into shape \(3, 6, 6\)"):
        viz.draw_samples(v2.Resize((6, 6)), float_image(), samples=2)


def test_draw_samples_rejects_non_tensor_output() -> None:
    with pytest.raises(TypeError, match="returned tuple, expected a tensor"):
        viz.draw_samples(lambda x: (x, x), float_image(), samples=2)


@pytest.mark.parametrize(("samples", "error"), [(0, ValueError), (True, TypeError), (2.0, TypeError)])
def test_draw_samples_rejects_bad_samples(samples: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="samples must be"):
        viz.draw_samples(A.Cutout(size=0.5), float_image(), samples=samples)


def test_draw_samples_rejects_bad_inputs() -> None:
    with pytest.raises(TypeError, match="expected a PIL image or a tensor, got list"):
        viz.draw_samples(A.Cutout(size=0.5), [[0.0]])
    with pytest.raises(ValueError, match="got dtype torch.bool"):
        viz.draw_samples(A.Cutout(size=0.5), torch.zeros(3, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"shape \(4, 4\)"):
        viz.draw_samples(A.Cutout(size=0.5), torch.zeros(4, 4))


# changed_fraction and zeroed_fraction


def test_changed_fraction_elements_and_pixels() -> None:
    before = torch.ones(2, 2, 2)
    after = before.clone().expand(2, -1, -1, -1).clone()
    after[0, 0, 0, 0] = 5.0
    after[1, :, 1, 1] = 0.0
    assert viz.changed_fraction(before, after) == pytest.approx(3 / 16)
    assert viz.changed_fraction(before, after, per="pixel") == pytest.approx(2 / 8)


def test_zeroed_fraction_counts_only_nonzero_before() -> None:
    before = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    after = torch.tensor([[[0.0, 0.0], [4.0, 0.0]]])
    assert viz.zeroed_fraction(before, after) == pytest.approx(2 / 3)


def test_zeroed_fraction_pixel_needs_every_channel() -> None:
    before = torch.ones(2, 1, 2)
    after = torch.tensor([[[0.0, 0.0]], [[0.0, 1.0]]])
    assert viz.zeroed_fraction(before, after, per="pixel") == pytest.approx(1 / 2)


def test_zeroed_fraction_all_zero_before() -> None:
    assert viz.zeroed_fraction(torch.zeros(1, 2, 2), torch.zeros(3, 1, 2, 2)) == 0.0


# capture_features


def test_capture_features_matches_layer_output() -> None:
    model = tiny_net().eval()
    x = float_image().unsqueeze(0)
    expected = model.relu(model.norm(model.conv(x)))
    features = viz.capture_features(model, "relu", x)
    assert features.shape == (1, 4, 12, 16)
    assert torch.allclose(features, expected)
    assert not features.requires_grad


def test_capture_features_restores_model() -> None:
    model = tiny_net().train()
    model.head.eval()
    running_mean = model.norm.running_mean.clone()
    viz.capture_features(model, "relu", float_image().unsqueeze(0))
    assert model.training
    assert model.conv.training
    assert not model.head.training
    assert torch.equal(model.norm.running_mean, running_mean)
    assert all(not module._forward_hooks for module in model.modules())


def test_capture_features_unknown_layer_names_close_match() -> None:
    with pytest.raises(ValueError, match="no layer named 'rleu'.*'relu'"):
        viz.capture_features(tiny_net(), "rleu", float_image().unsqueeze(0))


def test_capture_features_pattern_must_pick_one() -> None:
    with pytest.raises(ValueError, match=r"must pick exactly one layer, got 3: \['head.0', 'head.1', 'head.2'\]"):
        viz.capture_features(tiny_net(), "head.*", float_image().unsqueeze(0))


def test_capture_features_layer_not_run() -> None:
    with pytest.raises(ValueError, match="layer 'unused' did not run"):
        viz.capture_features(tiny_net(), "unused", float_image().unsqueeze(0))


def test_model_input_normalises() -> None:
    x = viz.to_model_input(torch.full((3, 2, 2), 255, dtype=torch.uint8))
    expected = [(1.0 - mean) / std for mean, std in zip(viz.IMAGENET_MEAN, viz.IMAGENET_STD, strict=True)]
    assert x.shape == (1, 3, 2, 2)
    assert x[0, :, 0, 0].tolist() == pytest.approx(expected)


def test_model_input_rejects_grey_image() -> None:
    with pytest.raises(ValueError, match=r"one RGB image of shape \(3, H, W\), got shape \(1, 2, 2\)"):
        viz.to_model_input(torch.zeros(1, 2, 2))


# Pictures


@pytest.mark.parametrize("make_input", [pil_image, uint8_image, float_image], ids=["pil", "uint8", "float"])
def test_transform_grid_size(make_input) -> None:
    grid = viz.transform_grid(A.Cutout(size=0.5), make_input(), samples=3, tile_size=32)
    assert grid.mode == "RGB"
    assert grid.size == (grid_width(3, 32), grid_height([24], title=True))


def test_transform_grid_batch_has_row_per_sample() -> None:
    grid = viz.transform_grid(A.Cutout(size=0.5), torch.rand(2, 3, 16, 16), samples=2, tile_size=20, title="")
    assert grid.size == (grid_width(2, 20), grid_height([20, 20], title=False))


def test_transform_grid_shows_pixel_values() -> None:
    uint8 = torch.zeros(3, 8, 8, dtype=torch.uint8)
    uint8[0] = 200
    from_uint8 = viz.transform_grid(A.RandomHorizontalFlip(p=0.0), uint8, samples=1, tile_size=16)
    from_float = viz.transform_grid(A.RandomHorizontalFlip(p=0.0), torch.ones(3, 8, 8) * 2.0, samples=1, tile_size=16)
    tile_centre = (viz.MARGIN + viz.LABEL_WIDTH + 8, viz.MARGIN + 2 * viz.LINE_HEIGHT + 8)
    assert from_uint8.getpixel(tile_centre) == (200, 0, 0)
    assert from_float.getpixel(tile_centre) == (255, 255, 255)


def test_transform_grid_grey_and_four_channels() -> None:
    grey = viz.transform_grid(A.Cutout(size=0.5), torch.rand(1, 8, 8), samples=1, tile_size=16)
    four = viz.transform_grid(A.Cutout(size=0.5), torch.rand(4, 8, 8), samples=1, tile_size=16)
    assert grey.size == (grid_width(1, 16), grid_height([16], title=True))
    assert four.size == grey.size


def test_transform_grid_deterministic() -> None:
    first = viz.transform_grid(A.RandomErasing(p=1.0), float_image(), samples=2, seed=3)
    second = viz.transform_grid(A.RandomErasing(p=1.0), float_image(), samples=2, seed=3)
    assert first.tobytes() == second.tobytes()


@pytest.mark.parametrize("make_input", [pil_image, uint8_image, float_image], ids=["pil", "uint8", "float"])
def test_feature_grid_size(make_input) -> None:
    grid = viz.feature_grid(tiny_net(), "relu", A.Cutout(size=0.5), make_input(), samples=2, channels=2, tile_size=32)
    assert grid.size == (grid_width(2, 32), grid_height([24, 24, 24], title=True))


def test_feature_grid_channel_indices() -> None:
    grid = viz.feature_grid(
        tiny_net(), "relu", A.Cutout(size=0.5), float_image(), samples=1, channels=[3], tile_size=16
    )
    assert grid.height == grid_height([12, 12], title=True)
    with pytest.raises(ValueError, match=r"channel indices must lie in \[0, 4\), got \[4\]"):
        viz.feature_grid(tiny_net(), "relu", A.Cutout(size=0.5), float_image(), channels=[4])


def test_feature_grid_rejects_flat_layer() -> None:
    with pytest.raises(ValueError, match=r"returned shape \(1, 4\)"):
        viz.feature_grid(tiny_net(), "head.1", A.Cutout(size=0.5), float_image())


def test_render_feature_maps_compact_is_one_tile_high() -> None:
    before = torch.rand(6, 8, 8)
    after = torch.rand(2, 6, 8, 8)
    grid = viz.render_feature_maps(before, after, channels=3, tile_size=34, compact=True)
    mosaic_height = 2 * 16 + 2
    assert grid.size == (grid_width(2, 34), grid_height([mosaic_height], title=False))


def test_render_feature_maps_colours_share_original_scale() -> None:
    before = torch.arange(4.0).view(1, 2, 2)
    after = torch.zeros(1, 1, 2, 2)
    grid = viz.render_feature_maps(before, after, channels=1, tile_size=16)
    top = viz.MARGIN + viz.LINE_HEIGHT
    original_left = viz.MARGIN + viz.LABEL_WIDTH
    draw_left = original_left + 16 + viz.GAP
    assert grid.getpixel((original_left + 12, top + 12)) == (253, 231, 37)
    assert grid.getpixel((draw_left + 12, top + 12)) == (68, 1, 84)


def test_render_shapes_checked() -> None:
    with pytest.raises(ValueError, match=r"draws must have shape \(S, 3, 4, 4\)"):
        viz.render_draws(torch.rand(3, 4, 4), torch.rand(2, 3, 4, 5))
    with pytest.raises(ValueError, match="expected before of shape"):
        viz.render_feature_maps(torch.rand(1, 3, 4, 4), torch.rand(2, 3, 4, 4))


def test_stack_sizes() -> None:
    pictures = [PIL.Image.new("RGB", (10, 4)), PIL.Image.new("L", (6, 8))]
    assert viz.stack(pictures).size == (10, 12)
    assert viz.stack(pictures, direction="horizontal").size == (16, 8)


def test_stack_rule_marks_join() -> None:
    pictures = [PIL.Image.new("RGB", (4, 4), "white"), PIL.Image.new("RGB", (4, 4), "white")]
    assert viz.stack(pictures, rule=True).getpixel((1, 4)) == (200, 200, 200)
    assert viz.stack(pictures).getpixel((1, 4)) == (255, 255, 255)


def test_stack_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one picture"):
        viz.stack([])
    with pytest.raises(ValueError, match="direction must be"):
        viz.stack([PIL.Image.new("RGB", (2, 2))], direction="diagonal")


def test_show_returns_figure() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    picture = viz.transform_grid(A.Cutout(size=0.5), float_image(), samples=1, tile_size=16)
    figure = viz.show(picture, title="Cutout")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert isinstance(figure, Figure)
    assert figure.get_suptitle() == "Cutout"
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_viz_exported() -> None:
    assert A.viz is viz
    assert "viz" in A.__all__


@pytest.mark.slow
def test_gallery_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    command = [sys.executable, str(ROOT / "examples" / "gallery.py"), "--samples", "2", "--tile-size", "48"]
    for folder in ("first", "second"):
        completed = subprocess.run(
            [*command, "--out", str(tmp_path / folder)], capture_output=True, text=True, timeout=300, check=False
        )
        assert completed.returncode == 0, completed.stderr[-4000:]

    first = sorted(path.name for path in (tmp_path / "first").iterdir())
    assert {"erasing.png", "geometry.png"} <= set(first)
    for name in first:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name

"""Tests of ``python -m augspace preview``: spec parsing, end-to-end runs, the PNG's size and the error messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest
import torch
import torchvision

import augspace as A
from augspace import viz
from augspace.__main__ import main
from augspace._preview import DEFAULT_IMAGE, PreviewError, build_transform, default_specs, parse_spec, transform_names


def run_preview(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command in this process and return its exit status, stdout and stderr."""
    try:
        status = main(["preview", *args])
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write_png(path: Path, *, width: int, height: int, value: int | None = None) -> Path:
    if value is None:
        pixels = torch.randint(
            0, 256, (height, width, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
        )
    else:
        pixels = torch.full((height, width, 3), value, dtype=torch.uint8)
    PIL.Image.fromarray(pixels.numpy()).save(path)
    return path


def block_height(tile_height: int) -> int:
    """Height of one titled grid of a single row of tiles."""
    return 2 * viz.MARGIN + 2 * viz.LINE_HEIGHT + tile_height


def grid_width(samples: int, tile_size: int) -> int:
    return 2 * viz.MARGIN + viz.LABEL_WIDTH + (samples + 1) * tile_size + samples * viz.GAP


# Spec parsing


def test_parse_spec_keywords() -> None:
    assert parse_spec("Cutout(size=0.3, holes=2)") == (A.Cutout, {"size": 0.3, "holes": 2})


def test_parse_spec_literal_values() -> None:
    cls, keywords = parse_spec(" RandomRescale(scale_factor=(0.5, 2.0), fill=-1.0, interpolation='bicubic') ")
    assert cls is A.RandomRescale
    assert keywords == {"scale_factor": (0.5, 2.0), "fill": -1.0, "interpolation": "bicubic"}


def test_parse_spec_bare_name() -> None:
    assert parse_spec("RandomVerticalFlip") == (A.RandomVerticalFlip, {})


UNSAFE_SPECS = [
    ("__import__('os').system('x')", r"only a transform name may be called, got \"__import__\('os'\)\.system\""),
    ("__import__('os')", "unknown transform '__import__'"),
    ("os.system", "'os.system' is neither a name nor a call"),
    ("Cutout.__init__", "'Cutout.__init__' is neither a name nor a call"),
    ("A.Cutout(size=0.3)", "only a transform name may be called, got 'A.Cutout'"),
    ("lambda: Cutout(size=0.3)", "is neither a name nor a call"),
    ("Cutout(size=abs(1))", "the value of 'size', abs\\(1\\), is not a literal"),
    ("Cutout(size=__import__('os').getpid())", "the value of 'size', .* is not a literal"),
    ("Cutout(size=(0.3).real)", "the value of 'size', .* is not a literal"),
    ("Cutout(size=x)", "the value of 'size', x, is not a literal"),
    ("Cutout(**{'size': 0.3})", "'\\*\\*' unpacking is not accepted"),
    ("Cutout(0.3)", "positional arguments are not accepted"),
    ("Cutout(size=0.3); import os", "invalid transform"),
    ("Cutout(size=0.3", "invalid transform"),
    ("", "invalid transform"),
    ("Foo()", "unknown transform 'Foo'.*Accepted names: Cutout"),
    ("Cutuot(size=0.3)", "Did you mean Cutout\\?"),
    ("FeatureTransform()", "unknown transform 'FeatureTransform'"),
    ("RandomTransform(p=1.0, generator=None)", "unknown transform 'RandomTransform'"),
    ("print", "unknown transform 'print'"),
    ("MixUp(alpha=1.0)", "MixUp in 'MixUp\\(alpha=1.0\\)' mixes the images of a batch"),
]


@pytest.mark.parametrize(("spec", "message"), UNSAFE_SPECS, ids=[spec for spec, _ in UNSAFE_SPECS])
def test_parse_spec_rejects(spec: str, message: str) -> None:
    with pytest.raises(PreviewError, match=message):
        parse_spec(spec)


def test_parse_spec_never_runs_code(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    specs = [
        f"__import__('pathlib').Path({str(marker)!r}).touch()",
        f"Cutout(size=__import__('pathlib').Path({str(marker)!r}).touch())",
    ]
    for spec in specs:
        with pytest.raises(PreviewError):
            parse_spec(spec)
    assert not marker.exists()


def test_parse_spec_deep_nesting_is_an_error() -> None:
    with pytest.raises(PreviewError, match="invalid transform"):
        parse_spec("Cutout(size=" + "(" * 10_000 + "0.3" + ")" * 10_000 + ")")


def test_build_transform_bad_value() -> None:
    with pytest.raises(PreviewError, match=r"cannot build 'Cutout\(size=2.0\)': Cutout: size .* got 2.0"):
        build_transform("Cutout(size=2.0)")


def test_transform_names_are_public_transforms() -> None:
    names = transform_names()
    assert "Cutout" in names
    assert "RandomTransform" not in names
    assert "FeatureTransform" not in names
    for name in names:
        assert issubclass(getattr(A, name), A.RandomTransform), name


def test_default_specs_cover_every_transform() -> None:
    specs = default_specs()
    assert sorted(spec.split("(")[0] for spec in specs) == sorted(transform_names())
    assert "Cutout(size=0.3)" in specs
    assert "RandomHorizontalFlip(p=0.5)" in specs


# End to end


def test_preview_default_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "preview.png"
    status, out, err = run_preview(["--samples", "2", "--tile-size", "32", "-o", str(output)], capsys)
    assert status == 0, err

    specs = default_specs()
    with PIL.Image.open(output) as picture:
        assert picture.format == "PNG"
        assert picture.size == (grid_width(2, 32), len(specs) * block_height(32))
    for spec in specs:
        assert spec in out
    assert f"wrote {output}" in out


def test_preview_png_written_by_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = write_png(tmp_path / "photo.png", width=40, height=30)
    output = tmp_path / "out.png"
    args = [str(image), "--transform", "Cutout(size=0.5)", "--transform", "RandomVerticalFlip(p=1.0)"]
    status, out, err = run_preview(
        [*args, "--image-size", "0", "--samples", "3", "--tile-size", "40", "-o", str(output)], capsys
    )
    assert status == 0, err

    with PIL.Image.open(output) as picture:
        assert picture.size == (grid_width(3, 40), 2 * block_height(30))
    assert "Cutout(size=0.5)" in out
    assert "RandomVerticalFlip(p=1.0)" in out


def test_preview_resizes_shorter_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = write_png(tmp_path / "wide.png", width=60, height=20)
    output = tmp_path / "out.png"
    status, _, err = run_preview(
        [str(image), "--transform", "Cutout(size=0.5)", "--image-size", "10", "--tile-size", "30", "-o", str(output)],
        capsys,
    )
    assert status == 0, err
    with PIL.Image.open(output) as picture:
        assert picture.height == block_height(10)


def test_preview_prints_measured_fractions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = write_png(tmp_path / "grey.png", width=16, height=16, value=128)
    args = [str(image), "--image-size", "0", "--samples", "2", "-o", str(tmp_path / "out.png")]
    args += ["--transform", "Cutout(size=1.0, inside=True)", "--transform", "RandomHorizontalFlip(p=0.0)"]
    status, out, err = run_preview(args, capsys)
    assert status == 0, err

    lines = out.splitlines()
    cutout = next(line for line in lines if line.startswith("Cutout(size=1.0, inside=True)"))
    flip = next(line for line in lines if line.startswith("RandomHorizontalFlip(p=0.0)"))
    assert cutout.split()[-2:] == ["100.0%", "100.0%"]
    assert flip.split()[-2:] == ["0.0%", "0.0%"]


def test_preview_with_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.png"
    args = [
        "--model",
        "resnet18",
        "--layer",
        "layer2",
        "--transform",
        "Cutout(size=0.5)",
        "--transform",
        "RandomRescale",
    ]
    args += ["--image-size", "64", "--samples", "2", "--tile-size", "64", "-o", str(output)]
    status, out, err = run_preview(args, capsys)
    assert status == 0, err

    # layer2 of a ResNet-18 gives 8x8 maps for a 64x64 image; the mosaic of 3 channels and the mean is 2x2.
    sub_tile = (64 - 2) // 2
    per_transform = block_height(64) + block_height(2 * sub_tile + 2)
    with PIL.Image.open(output) as picture:
        assert picture.size == (grid_width(2, 64), 2 * per_transform)
    assert "layer2 units changed" in out
    assert "layer2 units zeroed" in out


@pytest.mark.slow
def test_preview_weights_file_matches_seeded_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "weights.pt")
    common = ["--model", "resnet18", "--layer", "layer1", "--transform", "Cutout(size=0.5)", "--image-size", "32"]

    status, _, err = run_preview([*common, "--seed", "0", "-o", str(tmp_path / "seeded.png")], capsys)
    assert status == 0, err
    status, _, err = run_preview(
        [*common, "--seed", "0", "--weights", str(tmp_path / "weights.pt"), "-o", str(tmp_path / "loaded.png")], capsys
    )
    assert status == 0, err
    assert (tmp_path / "seeded.png").read_bytes() == (tmp_path / "loaded.png").read_bytes()


@pytest.mark.slow
def test_preview_subprocess(tmp_path: Path) -> None:
    output = tmp_path / "out.png"
    completed = subprocess.run(
        [sys.executable, "-m", "augspace", "preview", "--samples", "1", "--tile-size", "32", "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert output.read_bytes().startswith(b"\x89PNG")
    assert "pixels changed" in completed.stdout


def test_shipped_photo_is_readable() -> None:
    with PIL.Image.open(DEFAULT_IMAGE) as photo:
        assert photo.size == (256, 256)
        assert photo.mode == "RGB"
    assert (DEFAULT_IMAGE.parent / "README.md").is_file()


# Errors


def expect_usage_error(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_preview(args, capsys)
    assert status == 2
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_error_unsafe_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = "__import__('os').system('x')"
    expect_usage_error(
        ["--transform", spec, "-o", str(tmp_path / "out.png")], "only a transform name may be called", capsys
    )
    assert not (tmp_path / "out.png").exists()


def test_error_missing_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.png"
    expect_usage_error([str(missing)], f"image not found: {missing}", capsys)


def test_error_unreadable_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    expect_usage_error([str(broken)], f"cannot read the image {broken}", capsys)


def test_error_image_is_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect_usage_error([str(tmp_path)], f"cannot read the image {tmp_path}", capsys)


def test_error_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    expect_usage_error(["--model", "resnet19", "--layer", "layer2"], "unknown torchvision model 'resnet19'", capsys)


def test_error_unknown_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "resnet18", "--layer", "layer5", "--image-size", "32", "-o", str(tmp_path / "out.png")]
    expect_usage_error(args, "no layer named 'layer5' in ResNet. Close matches: 'layer4'", capsys)


def test_error_flat_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "resnet18", "--layer", "fc", "--image-size", "32", "-o", str(tmp_path / "out.png")]
    expect_usage_error(args, "layer 'fc' of resnet18 returned shape (1, 1000)", capsys)


def test_error_weights_that_do_not_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"weight": torch.zeros(1)}, tmp_path / "weights.pt")
    args = ["--model", "resnet18", "--layer", "layer2", "--weights", str(tmp_path / "weights.pt")]
    expect_usage_error(args, f"the weights in {tmp_path / 'weights.pt'} do not fit resnet18", capsys)


def test_error_missing_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "resnet18", "--layer", "layer2", "--weights", str(tmp_path / "none.pt")]
    expect_usage_error(args, f"cannot read the weights file {tmp_path / 'none.pt'}", capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet18"], "--model and --layer go together"),
        (["--layer", "layer2"], "--model and --layer go together"),
        (["--samples", "0"], "--samples must be at least 1, got 0"),
        (["--tile-size", "8"], "--tile-size must be at least 16, got 8"),
        (["--samples", "two"], "argument --samples: invalid int value: 'two'"),
    ],
)
def test_error_options(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    expect_usage_error(args, message, capsys)


def test_error_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "no" / "such" / "folder" / "out.png"
    args = ["--transform", "Cutout(size=0.5)", "--image-size", "16", "-o", str(output)]
    expect_usage_error(args, f"cannot write {output}", capsys)

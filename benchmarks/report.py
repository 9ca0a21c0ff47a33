"""Markdown output of the benchmark: a header naming the machine, then one table per case."""

from __future__ import annotations

import os
import sys

import torch

from .cases import Case
from .hooks import HookTiming
from .timing import time_against_clone


def print_header(mode: str, device: torch.device, rounds: int, warmup: int, system: str) -> None:
    """Print the conditions of the run: allocator, device, versions, threads and load."""
    import torchvision

    print(f"\n## Allocator mode: {mode}\n")
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        where = f"{os.cpu_count()} CPU cores, torch using {torch.get_num_threads()} threads"
    print(f"- device: {device} ({where}); {system}; Python {sys.version.split()[0]}")
    print(f"- torch {torch.__version__}, torchvision {torchvision.__version__}; {_anchor_versions()}")
    print(f"- {rounds} rounds after {warmup} warm-up calls; load average at start {os.getloadavg()[0]:.2f}")
    print("- ratio: median over rounds of op time / `x.clone()` time, each round timing both back to back;")
    print("  spread: first to third quartile of those ratios; extra: peak memory beyond the input")


def _anchor_versions() -> str:
    from importlib import metadata

    versions = []
    for name in ("timm", "kornia", "albumentations", "dropblock"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return ", ".join(versions)


def _format_extra(extra: float | None) -> str:
    return "n/a" if extra is None else f"{extra:.1f} MiB"


def print_case_heading(case: Case, *, quick: bool) -> None:
    """Print the heading of ``case`` and the header of its table."""
    shape = "x".join(map(str, case.quick_shape if quick else case.shape))
    dtype = str(case.dtype).removeprefix("torch.")
    target = f"; target for augspace: {case.target}" if case.target else ""
    print(f"\n### {case.key}: {case.title} ({shape} {dtype}){target}\n")
    print("| contender | draws | ratio to clone | spread | op ms | clone ms | extra |")
    print("|---|---|---|---|---|---|---|")


def print_contender_rows(
    case: Case, device: torch.device, *, quick: bool, rounds: int, warmup: int, indices: list[int] | None = None
) -> None:
    """Time the contenders of ``case`` at ``indices`` (all by default) and print their table rows.

    An unavailable or failing contender prints a line starting with ``Skipped`` instead, with the reason.
    """
    x = case.make_input(device, quick)
    chosen = range(len(case.contenders)) if indices is None else indices
    for index in chosen:
        contender = case.contenders[index]
        if contender.build is None:
            print(f"Skipped {contender.name}: {contender.note}")
            continue
        check_sync = device.type == "cuda" and contender.name.startswith("augspace")
        try:
            op = contender.build(x)
            timing = time_against_clone(op, x, rounds=rounds, warmup=warmup, check_sync=check_sync)
        except (AttributeError, ImportError, NotImplementedError, RuntimeError, TypeError, ValueError) as error:
            print(f"Skipped {contender.name}: failed with {type(error).__name__}: {str(error).splitlines()[0]}")
            continue
        print(
            f"| {contender.name} | {contender.draws} | {timing.ratio:.2f} | {timing.low:.2f} to {timing.high:.2f} "
            f"| {timing.op_ms:.2f} | {timing.clone_ms:.2f} | {_format_extra(timing.extra_mib)} |"
        )
        sys.stdout.flush()


def print_hooks(rows: list[HookTiming]) -> None:
    """Print the table of hook costs on ResNet-18."""
    print("\n### hooks: FeatureTransform on a torchvision ResNet-18 forward pass\n")
    print("| configuration | bare forward ms | with hooks ms | ratio | spread |")
    print("|---|---|---|---|---|")
    for row in rows:
        spread = f"{row.low:.5f} to {row.high:.5f}"
        print(f"| {row.name} | {row.bare_ms:.2f} | {row.hooked_ms:.3f} | {row.ratio:.5f} | {spread} |")
    training, alone = rows[2], rows[3]
    overhead = training.hooked_ms - training.bare_ms
    print(
        f"\nTraining mode adds {overhead:.2f} ms to the forward. The two Cutout calls alone take "
        f"{alone.hooked_ms:.2f} ms, and 5% of the bare forward is {0.05 * training.bare_ms:.2f} ms."
    )

"""Tests that the benchmark entry point runs: tiny inputs, few rounds, no figures checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_benchmarks(*arguments: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m benchmarks`` from the repository root and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *arguments],
        cwd=ROOT,
        env={**os.environ, **(environment or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_quick_run_prints_tables() -> None:
    # Each contender runs in a child process of its own, and its row lands in the parent's table.
    result = run_benchmarks("--quick", "--allocator=default", "--rounds=2", "--only", "dropblock", "--only", "rescale")
    assert result.returncode == 0, result.stderr
    assert "## Allocator mode: default" in result.stdout
    for case in ("### dropblock:", "### rescale:"):
        assert case in result.stdout
    assert "| augspace DropBlock(drop_prob=0.1, block_size=7) | per sample |" in result.stdout
    assert "| augspace RandomRescale(scale_factor=(0.8, 1.25)) | per sample |" in result.stdout
    assert result.stdout.count("| contender | draws |") == 2


def test_unknown_case_is_rejected() -> None:
    result = run_benchmarks("--quick", "--only", "no-such-case")
    assert result.returncode != 0
    assert "unknown case no-such-case" in result.stderr


def test_reuse_mode_child_needs_its_environment() -> None:
    environment = {"MALLOC_MMAP_MAX_": "", "MALLOC_TRIM_THRESHOLD_": ""}
    result = run_benchmarks("--quick", "--allocator=reuse", "--only", "erase", "--one-case", environment=environment)
    assert result.returncode != 0
    assert "--allocator=reuse needs MALLOC_MMAP_MAX_=0" in result.stderr


@pytest.mark.slow
def test_reuse_mode_runs_each_case_in_its_environment() -> None:
    # The parent starts one child per case with the mode's variables, so it needs none itself.
    environment = {"MALLOC_MMAP_MAX_": "", "MALLOC_TRIM_THRESHOLD_": ""}
    result = run_benchmarks("--quick", "--allocator=reuse", "--rounds=2", "--only", "mixup", environment=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("## Allocator mode: reuse") == 1
    assert "| augspace MixUp(alpha=1.0, num_classes=10, per_sample=True) | per sample |" in result.stdout

"""Timing and memory measurement: each op against ``x.clone()`` on the same tensor, in the same process.

On a machine shared with other work, the load changes from one millisecond to the next, so absolute times drift by
30% or more on short cases. Each round therefore times ``x.clone()`` and the op back to back, and the figure reported
is the median of the per-round ratios, with the interquartile range of those ratios as the spread.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

# Writing 5 to this file resets the peak resident set size (VmHWM) of the process; see proc(5).
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class Timing:
    """Result of timing one op against ``x.clone()``.

    Attributes:
        ratio: median over rounds of op time / clone time.
        low: first quartile of the per-round ratios.
        high: third quartile of the per-round ratios.
        op_ms: median op time in milliseconds.
        clone_ms: median clone time in milliseconds.
        extra_mib: peak memory the op needs beyond its input, in MiB, or ``None`` where it cannot be measured.
    """

    ratio: float
    low: float
    high: float
    op_ms: float
    clone_ms: float
    extra_mib: float | None


class Clock:
    """Wall-clock timer of a callable on one device; on CUDA it synchronises and times with CUDA events."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def time(self, function: Callable[[], object]) -> float:
        """Run ``function`` once and return its duration in seconds."""
        if self.device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(self.device)
            start.record()
            function()
            end.record()
            torch.cuda.synchronize(self.device)
            return start.elapsed_time(end) / 1000.0
        begin = time.perf_counter()
        function()
        return time.perf_counter() - begin


@contextlib.contextmanager
def no_host_sync(enabled: bool) -> Iterator[None]:
    """Make any CUDA operation that synchronises with the host raise while the block runs, when ``enabled``."""
    if not enabled:
        yield
        return
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)


def _resident_kib() -> tuple[int, int]:
    """Return the current and peak resident set size of this process in KiB."""
    status = _STATUS.read_text()
    current = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    return current, peak


def peak_extra_mib(function: Callable[[], object], device: torch.device) -> float | None:
    """Return the peak memory in MiB that one call of ``function`` uses beyond what was live before it.

    On CUDA this is the caching allocator's peak. On CPU it is the growth of the peak resident set size, which counts
    only memory the process gets from the system: in the ``reuse`` allocator mode, memory freed earlier and taken back
    does not show, so the figure is a lower bound there. Returns ``None`` where the peak cannot be reset.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        function()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return None
    before, _ = _resident_kib()
    function()
    _, peak = _resident_kib()
    return max(peak - before, 0) / 1024


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 4:
        middle = statistics.median(values)
        return min(values), middle, max(values)
    low, middle, high = statistics.quantiles(values, n=4)
    return low, middle, high


def time_against_clone(
    function: Callable[[], object],
    x: torch.Tensor,
    *,
    rounds: int,
    warmup: int,
    check_sync: bool = False,
) -> Timing:
    """Time ``function`` and ``x.clone()`` interleaved, ``rounds`` times after ``warmup`` untimed calls of each.

    Args:
        function: the op, closed over its input.
        x: the tensor whose clone is the reference.
        rounds: number of timed rounds, each timing one clone and one call.
        warmup: number of untimed calls of each before timing.
        check_sync: on CUDA, make any host synchronisation inside ``function`` raise.
    """
    clock = Clock(x.device)

    def run() -> object:
        with no_host_sync(check_sync):
            return function()

    for _ in range(warmup):
        x.clone()
        run()

    ratios, op_times, clone_times = [], [], []
    for _ in range(rounds):
        clone_time = clock.time(x.clone)
        op_time = clock.time(run)
        ratios.append(op_time / clone_time)
        op_times.append(op_time)
        clone_times.append(clone_time)

    low, ratio, high = _quartiles(ratios)
    extra = peak_extra_mib(run, x.device)
    return Timing(
        ratio=ratio,
        low=low,
        high=high,
        op_ms=statistics.median(op_times) * 1e3,
        clone_ms=statistics.median(clone_times) * 1e3,
        extra_mib=extra,
    )

"""Command line entry point: ``python -m benchmarks``.

Without ``--allocator`` it runs every case twice, each time in a fresh process. The first uses glibc's default
allocator, where every tensor above 32 MiB is fresh memory that page-faults on first touch. The second keeps freed
memory for reuse (``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...``), which is closer to what a caching GPU
allocator gives.
The environment variables must be set before the process starts, hence one process per mode.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

import torch

from .cases import Case, all_cases
from .report import print_case, print_header, print_hooks

#: Environment of each allocator mode.
ALLOCATOR_ENVIRONMENTS = {
    "default": {},
    "reuse": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "1099511627776"},
}
HOOKS = "hooks"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time augspace's transforms and comparison libraries as ratios to x.clone() on the same tensor.",
    )
    parser.add_argument("--device", default="cpu", help="device to run on, such as cpu or cuda (default: cpu)")
    parser.add_argument("--quick", action="store_true", help="tiny inputs and 3 rounds, to check that cases run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="CASE",
        help=f"run only this case (repeatable); one of {', '.join(case.key for case in all_cases())} or {HOOKS}",
    )
    parser.add_argument(
        "--allocator",
        choices=["default", "reuse", "both"],
        default="both",
        help="glibc allocator mode; 'both' runs each mode in its own process (default: both)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: 2)")
    parser.add_argument("--rounds", type=int, help="timed rounds per contender (default: 21, or 3 with --quick)")
    parser.add_argument("--warmup", type=int, help="untimed calls before timing (default: 3, or 1 with --quick)")
    return parser.parse_args(argv)


def run_in_subprocesses(arguments: argparse.Namespace, argv: list[str]) -> int:
    """Run each allocator mode in a child process with that mode's environment; return the worst exit status."""
    status = 0
    for mode, variables in ALLOCATOR_ENVIRONMENTS.items():
        environment = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
        environment.update(variables)
        child_argv = [item for item in argv if not item.startswith("--allocator")]
        command = [sys.executable, "-m", "benchmarks", *child_argv, f"--allocator={mode}"]
        sys.stdout.flush()
        status = max(status, subprocess.run(command, env=environment, check=False).returncode)
    return status


def select_cases(only: list[str] | None) -> tuple[list[Case], bool]:
    """Return the chosen cases and whether the hook measurement runs; raise ``SystemExit`` for an unknown name."""
    cases = all_cases()
    if not only:
        return cases, True
    known = {case.key for case in cases} | {HOOKS}
    unknown = sorted(set(only) - known)
    if unknown:
        raise SystemExit(f"unknown case {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    return [case for case in cases if case.key in only], HOOKS in only


def check_environment(mode: str) -> None:
    """Raise ``SystemExit`` when this process was not started with the environment of ``mode``."""
    for key, value in ALLOCATOR_ENVIRONMENTS[mode].items():
        if os.environ.get(key) != value:
            raise SystemExit(
                f"--allocator={mode} needs {key}={value} set before Python starts; run with --allocator both instead"
            )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print Markdown tables to standard output."""
    argv = sys.argv[1:] if argv is None else argv
    arguments = parse_arguments(argv)
    cases, with_hooks = select_cases(arguments.only)
    if arguments.allocator == "both":
        return run_in_subprocesses(arguments, argv)
    check_environment(arguments.allocator)

    torch.set_num_threads(arguments.threads)
    device = torch.device(arguments.device)
    rounds = arguments.rounds or (3 if arguments.quick else 21)
    warmup = arguments.warmup
    if warmup is None:
        warmup = 1 if arguments.quick else 3
    print_header(arguments.allocator, device, rounds, warmup, platform.platform())

    started = time.perf_counter()
    for case in cases:
        print_case(case, device, quick=arguments.quick, rounds=rounds, warmup=warmup)
    if with_hooks:
        from .hooks import measure_hooks

        print_hooks(measure_hooks(device, quick=arguments.quick, rounds=max(rounds // 2, 3), warmup=warmup))
    print(f"\nFinished in {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line entry point: ``python -m benchmarks``.

Without ``--allocator`` it runs every case under two allocator modes. The first is glibc's default allocator, where
every tensor above 32 MiB is fresh memory that page-faults on first touch. The second keeps freed memory for reuse
(``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...``), which is closer to what a caching GPU allocator gives.

Each contender of each case runs in a fresh child process with its mode's environment, on the same seeded input.
The environment variables must be set before the process starts. And an op's temporaries can leave a large free
region in glibc's heap, from which later tensors above 32 MiB are served without page faults: after kornia's
``RandomAffine`` had run, ``x.clone()`` of the image batch took 2 ms instead of 11 ms in the same process, which
made every ratio timed after it incomparable with those timed before.
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
from .report import print_case_heading, print_contender_rows, print_header, print_hooks

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
    # Set by the parent process for each child: run the one case given by --only (and the one contender given by
    # --contender) and print only its rows.
    parser.add_argument("--one-case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contender", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_cases_in_subprocesses(arguments: argparse.Namespace, cases: list[Case], with_hooks: bool) -> int:
    """Run each case in a child process per allocator mode and print the tables; return the worst exit status."""
    modes = ["default", "reuse"] if arguments.allocator == "both" else [arguments.allocator]
    keys = [case.key for case in cases] + ([HOOKS] if with_hooks else [])
    options = ["--device", arguments.device, "--threads", str(arguments.threads)]
    options += ["--quick"] if arguments.quick else []
    options += ["--rounds", str(arguments.rounds)] if arguments.rounds is not None else []
    options += ["--warmup", str(arguments.warmup)] if arguments.warmup is not None else []
    rounds, warmup = round_counts(arguments)

    torch.set_num_threads(arguments.threads)
    status = 0
    for mode in modes:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
        environment.update(ALLOCATOR_ENVIRONMENTS[mode])
        print_header(mode, torch.device(arguments.device), rounds, warmup, platform.platform())
        started = time.perf_counter()
        for key in keys:
            child = [sys.executable, "-m", "benchmarks", *options, "--only", key, f"--allocator={mode}", "--one-case"]
            if key == HOOKS:
                sys.stdout.flush()
                status = max(status, exit_status(subprocess.run(child, env=environment, check=False).returncode))
                continue
            case = next(case for case in cases if case.key == key)
            print_case_heading(case, quick=arguments.quick)
            status = max(status, run_contenders(case, child, environment))
        print(f"\nFinished in {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}.\n")
    return status


def run_contenders(case: Case, child: list[str], environment: dict[str, str]) -> int:
    """Time each contender of ``case`` in its own child process and print its row; return the worst exit status.

    Rows are printed as they arrive, and the reasons of skipped contenders after the table, so the table stays whole.
    """
    status = 0
    skipped = []
    for index, contender in enumerate(case.contenders):
        sys.stdout.flush()
        command = [*child, "--contender", str(index)]
        result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
        sys.stderr.write(result.stderr)
        status = max(status, exit_status(result.returncode))
        if result.returncode != 0:
            skipped.append(f"Skipped {contender.name}: its process exited with status {result.returncode}")
        for line in result.stdout.splitlines():
            if line.startswith("Skipped"):
                skipped.append(line)
            elif line.startswith("|"):
                print(line)
    for line in skipped:
        print(f"\n{line}")
    return status


def exit_status(returncode: int) -> int:
    """Map a child's return code to an exit status: a child killed by a signal (a negative code) counts as 1."""
    return 1 if returncode < 0 else returncode


def round_counts(arguments: argparse.Namespace) -> tuple[int, int]:
    """Return the timed rounds and warm-up calls, from the arguments or the defaults."""
    rounds = arguments.rounds or (3 if arguments.quick else 21)
    warmup = arguments.warmup
    if warmup is None:
        warmup = 1 if arguments.quick else 3
    return rounds, warmup


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
                f"--allocator={mode} needs {key}={value} set before Python starts; run without --one-case instead"
            )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print Markdown tables to standard output."""
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    cases, with_hooks = select_cases(arguments.only)
    if not arguments.one_case:
        return run_cases_in_subprocesses(arguments, cases, with_hooks)

    check_environment(arguments.allocator)
    torch.set_num_threads(arguments.threads)
    device = torch.device(arguments.device)
    rounds, warmup = round_counts(arguments)
    indices = None if arguments.contender is None else [arguments.contender]
    for case in cases:
        print_contender_rows(case, device, quick=arguments.quick, rounds=rounds, warmup=warmup, indices=indices)
    if with_hooks:
        from .hooks import measure_hooks

        print_hooks(measure_hooks(device, quick=arguments.quick, rounds=max(rounds // 2, 3), warmup=warmup))
    return 0


if __name__ == "__main__":
    sys.exit(main())

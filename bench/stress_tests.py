"""Run the test suite where timing assumptions break: under CPU hogs, on one core, and repeatedly.

A test that passes on a quiet machine and fails on a loaded one blocks every landing at random.
This runs, in order (each run in a new random test order, the seed printed by pytest-randomly):

1. the whole suite with one busy-loop process per core (two on the 2-core CI machines);
2. the whole suite pinned to one core with `taskset -c 0` (skipped where taskset is missing);
3. the fault tests (tests/security/test_faults.py) N times in a row (default 20).

    python bench/stress_tests.py                   # all three
    python bench/stress_tests.py --only faults --fault-runs 5
Prints one row per run: what, seconds, exit code, pytest's summary line; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def cpu_hogs(count: int) -> Iterator[None]:
    """Keep `count` processes busy-looping while the block runs."""
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(count)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.join()


def run(what: str, command: list[str]) -> tuple[str, float, int, str]:
    """Run one pytest command from the repository root; return (what, seconds, exit code, summary)."""
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    counts = [line for line in done.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    summary = counts[-1].strip("= ") if counts else done.stderr.strip()[-200:]
    if done.returncode != 0:
        failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        seed = next((line for line in done.stdout.splitlines() if "randomly-seed" in line), "")
        print(f"\n{what} failed ({seed.strip()}):\n" + "\n".join(failed[:20]), flush=True)
    print(f"| {what} | {seconds:.0f} | {done.returncode} | {summary} |", flush=True)
    return what, seconds, done.returncode, summary


def main() -> int:
    """Run the chosen stress runs and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("hogs", "pinned", "faults"), action="append")
    parser.add_argument("--fault-runs", type=int, default=20)
    args = parser.parse_args()
    chosen = args.only or ["hogs", "pinned", "faults"]
    cores = os.cpu_count() or 2
    print(f"cores {cores}, load average {os.getloadavg()[0]:.2f}")
    print("| run | seconds | exit | pytest summary |\n|---|---:|---:|---|", flush=True)
    results = []
    if "hogs" in chosen:
        with cpu_hogs(cores):
            results.append(run(f"whole suite, {cores} CPU hogs", PYTEST))
    if "pinned" in chosen:
        if shutil.which("taskset"):
            results.append(run("whole suite, taskset -c 0", ["taskset", "-c", "0", *PYTEST]))
        else:
            print("| whole suite, one core | - | - | skipped: no taskset |")
    if "faults" in chosen:
        for n in range(1, args.fault_runs + 1):
            results.append(run(f"fault tests, run {n}", [*PYTEST, "tests/security/test_faults.py"]))
    failed = [r for r in results if r[2] != 0]
    print(f"\n{len(results) - len(failed)} of {len(results)} runs green")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

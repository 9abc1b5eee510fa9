"""Run every benchmark and print their tables: `python bench/run.py [--quick]`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_match.py", "bench_parse.py", "bench_poll.py", "bench_classify.py", "bench_latency.py"]


def main() -> int:
    """Run each benchmark in its own process (clean memory numbers); fail if any fails."""
    extra = sys.argv[1:]
    status = 0
    for name in BENCHES:
        print(f"\n### {name} {' '.join(extra)}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / name), *extra], check=False)
        if done.returncode != 0:
            print(f"{name} failed with exit code {done.returncode}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())

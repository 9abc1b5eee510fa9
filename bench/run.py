"""Run every benchmark and print their tables, then one summary table: `python bench/run.py [--quick]`.

Each benchmark prints its own table, and one `@row {json}` line per row of the summary:
what was measured, regwatch's number, its anchor measured in the same run, the goal, and
whether it was met. The load average is printed with the summary: the machine may be shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHES = [
    "bench_scale.py",
    "bench_match.py",
    "bench_parse.py",
    "bench_poll.py",
    "bench_pipeline.py",
    "bench_preview.py",
    "bench_classify.py",
    "bench_latency.py",
]


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def summary(rows: list[dict[str, Any]], load_start: str, load_end: str, extra: list[str]) -> str:
    """Return the summary table as markdown."""
    met = {True: "yes", False: "**no**", None: "—"}
    lines = [
        f"Summary ({' '.join(extra) or 'full'}): {os.cpu_count()} cores, load average {load_start} at start,"
        f" {load_end} at the end.\n",
        "| what | regwatch | anchor (same run) | goal | met | load at the benchmark's start |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['what']} | {r['now']} | {r['anchor']} | {r['goal']} | {met[r['met']]} | {r.get('load', '')} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    """Run each benchmark in its own process (clean memory numbers); fail if any fails."""
    extra = sys.argv[1:]
    status = 0
    rows: list[dict[str, Any]] = []
    load_start = _load()
    for name in BENCHES:
        load = _load()
        print(f"\n### {name} {' '.join(extra)} (load average {load})", flush=True)
        with subprocess.Popen(
            [sys.executable, str(HERE / name), *extra], stdout=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("@row "):
                    rows.append({**json.loads(line[5:]), "load": load.split(",")[0]})
                else:
                    print(line, end="", flush=True)
        if proc.returncode != 0:
            print(f"{name} failed with exit code {proc.returncode}", file=sys.stderr)
            status = 1
    print("\n" + summary(rows, load_start, _load(), extra))
    return status


if __name__ == "__main__":
    raise SystemExit(main())

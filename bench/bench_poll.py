"""Benchmark a poll cycle of many feeds served by a local aiohttp server, through the real pipeline.

Rounds: (A) first poll, every feed 200: fetch, parse, identities, store 50 items per feed;
(B) every feed 304; (C) every feed 200 with 5 new items each: match and enqueue alerts.
Baseline in the same run: plain aiohttp GETs of the same feeds, no pipeline.

    python bench/bench_poll.py            # 1,000 feeds x 50 items of ~1.5 kB
    python bench/bench_poll.py --quick    # 50 feeds, a few seconds
    python bench/bench_poll.py --quick --no-pool   # parse in threads (the old way), to compare

"loop stall" is the longest the event loop went without running a 10 ms heartbeat: what
/healthz and slash commands would have waited during the round.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.feeds import serve
from bot.app import build_services
from bot.pipeline.poller import Poller
from bot.settings import load_settings
from bot.sources.workers import InThread, WorkerPool
from bot.storage import outbox

SUBSCRIPTIONS = """
[[subscription]]
name = "kaspersky"
query = 'vendor:Kaspersky'
[[subscription]]
name = "restricted"
query = '(vendor:Huawei OR vendor:ZTE OR vendor:Hikvision) AND (prohibit* OR "covered list")'
[[subscription]]
name = "directives"
query = '"emergency directive" OR "binding operational directive"'
"""


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu(skip: int) -> float:
    """CPU seconds used so far by this process's live children but `skip` (the parse workers; Linux)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and int(stat.parent.name) != skip:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def baseline(port: int, feeds: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def get(n: int) -> None:
            async with sem, session.get(f"http://127.0.0.1:{port}/feed/{n}") as resp:
                await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(get(n) for n in range(feeds)))
        return time.perf_counter() - started


class Heartbeat:
    """Record the longest gap between 10 ms wake-ups of the event loop."""

    def __init__(self) -> None:
        self.max_gap = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            self.max_gap = max(self.max_gap, now - last)
            last = now


async def bench(
    feeds: int,
    items: int,
    per_host: int,
    *,
    pool: bool = True,
    profile: bool = False,
    freeze: bool = True,
) -> list[tuple[str, ...]]:
    tmp = Path(tempfile.mkdtemp(prefix="regwatch-bench-"))
    generation = tmp / "generation"
    generation.write_text("0")
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(queue, feeds, items, str(generation)), daemon=True)
    server.start()
    port = queue.get(timeout=30)
    sources_file = tmp / "sources.toml"
    sources_file.write_text(
        "".join(
            f'[[source]]\nname = "feed {n}"\nurl = "http://127.0.0.1:{port}/feed/{n}"\nkind = "feed"\n'
            for n in range(feeds)
        )
    )
    (tmp / "subs.toml").write_text(SUBSCRIPTIONS)
    settings = load_settings(
        database_path=tmp / "bench.db",
        sources_file=sources_file,
        subscriptions_file=tmp / "subs.toml",
        allow_private_networks=True,
        poll_concurrency=50,
        http_per_host=per_host,
        log_level="WARNING",
    )
    rows: list[tuple[str, ...]] = []
    try:
        # Warm the server's cache so rounds measure the client, as against a real server.
        await baseline(port, feeds, 50)
        base = await baseline(port, feeds, 50)
        rate = f"{feeds / base:,.0f}"
        rows.append(("baseline: plain aiohttp GET, no pipeline", f"{base:.2f}", "", "", rate, "", ""))
        async with build_services(settings) as services:
            if not pool:
                poller = Poller(
                    services.adb,
                    services.fetcher,
                    services.matchers,
                    services.poller._policy,
                    offload=InThread(),
                )
                services.scheduler._poller = poller  # type: ignore[attr-defined]
            elif isinstance(services.workers, WorkerPool):
                await services.workers.warm()  # as `regwatch run` does before its first poll
            if freeze:
                gc.freeze()  # as `regwatch run` does after start-up
            for label, gen in (
                ("A: first poll, 200s (parse+store)", "0"),
                ("B: all 304", "0"),
                ("C: 200s, 5 new items each (match+enqueue)", "1"),
            ):
                generation.write_text(gen)
                if gen == "1":
                    await baseline(port, feeds, 50)  # warm the new generation
                    if profile:  # a sampling profiler (py-spy) attaches now, and stops after
                        print(f"@round C starts in pid {os.getpid()}", file=sys.stderr, flush=True)
                        await asyncio.sleep(2)
                c0, w0, t0 = cpu(), children_cpu(server.pid or 0), time.perf_counter()
                beat = Heartbeat()
                beating = asyncio.create_task(beat.run())
                results = await services.scheduler.poll_all()
                wall = time.perf_counter() - t0
                used = cpu() - c0
                workers = children_cpu(server.pid or 0) - w0
                beating.cancel()
                failed = sum(r.status == "failed" for r in results)
                new = sum(r.new_items for r in results)
                alerts = sum(r.alerts for r in results)
                if failed:
                    errors = {r.error for r in results if r.error}
                    raise SystemExit(f"{failed} polls failed: {sorted(errors)[:3]}")
                rows.append(
                    (
                        label,
                        f"{wall:.2f}",
                        f"{used:.2f}",
                        f"{workers:.2f}",
                        f"{feeds / wall:,.0f}",
                        f"{beat.max_gap * 1000:.0f}",
                        f"{new:,} new items, {alerts:,} alerts",
                    )
                )
            counts = await services.adb.call(outbox.counts)
            assert counts["pending"] > 0, "round C should have enqueued alerts"
    finally:
        server.kill()
        server.join()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak RSS of this process", f"{rss:.0f} MB", "", "", "", "", ""))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--feeds", type=int)
    ap.add_argument(
        "--per-host",
        type=int,
        default=50,
        help="REGWATCH_HTTP_PER_HOST (default 50, the poll concurrency: the local feeds stand for"
        " 1,000 hosts, each of which production would ask at most 2 requests at a time)",
    )
    ap.add_argument("--no-pool", action="store_true", help="parse in threads, not in worker processes")
    ap.add_argument(
        "--no-freeze", action="store_true", help="skip the gc.freeze() `regwatch run` does at start"
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="say on stderr when round C starts, and wait 2 s for a sampling profiler to attach",
    )
    args = ap.parse_args()
    feeds = args.feeds or (50 if args.quick else 1000)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = asyncio.run(
        bench(
            feeds, 50, args.per_host, pool=not args.no_pool, profile=args.profile, freeze=not args.no_freeze
        )
    )
    print(
        f"\n## Poll cycle: {feeds} feeds x 50 items (~1.5 kB each), local aiohttp server,"
        f" per-host limit {args.per_host}, parsing in {'threads' if args.no_pool else 'worker processes'}"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, load average {load:.1f} at the start\n"
    )
    print(
        "| round | wall s | CPU s (this process) | CPU s (parse workers) | feeds/s | loop stall ms | result |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    summary_rows(rows, feeds, args.quick)


def summary_rows(rows: list[tuple[str, ...]], feeds: int, quick: bool) -> None:
    """Print the summary rows for bench/run.py (goals are for 1,000 feeds)."""
    by = {r[0][:2]: r for r in rows}
    base = float(by["ba"][1])
    b, c = by["B:"], by["C:"]
    new_items = int(c[6].split(" new items")[0].replace(",", ""))
    scale = "" if feeds == 1000 else f" (goal at 1,000 feeds; here {feeds})"

    def emit(what: str, now: str, anchor: str, goal: str, met: bool) -> None:
        print("@row " + json.dumps({"what": what, "now": now, "anchor": anchor, "goal": goal,
                                    "met": None if quick else met}))  # fmt: skip

    emit(f"poll round, {feeds:,} feeds all 304", f"{b[1]} s wall, {b[2]} s CPU",
         f"plain aiohttp {base:.2f} s", "< 0.25 s" + scale, float(b[1]) < 0.25)  # fmt: skip
    emit(f"poll round, {feeds:,} feeds x 50 items, 5 new each, match + classify + enqueue",
         f"{c[1]} s wall, {c[2]} s CPU", "—", "< 2.5 s" + scale, float(c[1]) < 2.5)  # fmt: skip
    # Context for bench_pipeline.py's row (every item new): here 45 of each document's 50 items
    # are unchanged, and their fetch, hashing and dedupe are counted against the 5 new ones.
    per_core = new_items / max(float(c[2]) + float(c[3]), 1e-9)
    print("@row " + json.dumps({
        "what": "new items per CPU second in round C (5 new of 50 per document; service + parse workers)",
        "now": f"{per_core:,.0f} items/s per CPU second", "anchor": "—",
        "goal": "— (the goal is the whole-pipeline row)", "met": None}))  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark new items through the whole pipeline: documents whose every item is new.

A local aiohttp server (its own process) serves feeds of 50 items each, written from the match
benchmark's seeded corpus (titles, ~1.5 kB summaries); the subscriptions are the match
benchmark's 100,000 of the rare mix (or the mixed one), loaded from a TOML file as `regwatch run`
loads them. Round 1 is every feed's first poll (items recorded, no alerts); round 2 serves 50
different items on every feed, so every item of every document is new: fetch, parse (in the
parse worker), store, classify, match every subscription and enqueue the alerts. The rate is new
items per CPU second of the service, its parse workers included (the feed server excluded).

Anchors in the same run: the matcher alone on the same items (`Matcher.match_item`), and round
C of bench_poll.py's shape (5 new items of 50) is there for the cost of unchanged items.

    python bench/bench_pipeline.py              # 200 feeds x 50 items, 100,000 rare subscriptions
    python bench/bench_pipeline.py --mix mixed  # the mixed shapes (about 76 matches per item)
    python bench/bench_pipeline.py --quick      # 20 feeds, 5,000 subscriptions, a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import platform
import re
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_match import SEED, World, make_corpus, make_subscriptions
from bench.bench_poll import Heartbeat, children_cpu, cpu
from bench.feeds import serve_bodies
from bot.app import build_services
from bot.domain.models import MatchDoc
from bot.settings import load_settings
from bot.sources.workers import WorkerPool
from bot.storage import outbox
from bot.storage.items import MAX_STORED_TEXT
from bot.storage.migrations import _ITEMS_FTS

ITEMS = 50


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by this process's live threads, by kind of thread (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = re.sub(r"_\d+$", "", thread.name)
        kind = {"asyncio": "matching and other thread hops", "MainThread": "event loop"}.get(kind, kind)
        out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def render(feed: int, generation: int, docs: list[MatchDoc]) -> bytes:
    """Return an RSS 2.0 document of `docs`, each with its own link, guid and date."""
    base = datetime(2026, 11, 27, 12, tzinfo=UTC) + timedelta(hours=generation)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>Pipeline feed {feed}</title><link>https://feed{feed}.example/</link>",
        "<description>generated from the match benchmark's corpus</description>",
    ]
    for n, doc in enumerate(docs):
        link = f"https://feed{feed}.example/g{generation}/{n}"
        parts.append(
            f"<item><title>{escape(doc.title)}</title><link>{link}</link><guid>{link}</guid>"
            f"<pubDate>{format_datetime(base - timedelta(minutes=n))}</pubDate>"
            f"<description>{escape('<p>' + doc.summary + '</p>')}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def serve_files(port_queue: object, root: str, generation_file: str) -> None:
    """Serve root/<generation>/<n>.xml as /feed/<n>, with ETag/304, until killed."""
    cache: dict[Path, bytes] = {}

    def body_for(n: int) -> bytes:  # small local files: read inline, once each
        path = Path(root) / Path(generation_file).read_text().strip() / f"{n}.xml"
        if path not in cache:
            cache[path] = path.read_bytes()
        return cache[path]

    serve_bodies(port_queue, body_for)


def prepare(tmp: Path, feeds: int, subscriptions: int, mix: str) -> list[MatchDoc]:
    """Write both generations' documents and the subscriptions file; return round 2's items."""
    world = World(SEED)
    corpus = make_corpus(world, 2 * feeds * ITEMS)
    queries = make_subscriptions(world, subscriptions, mix)
    for generation in (0, 1):
        folder = tmp / "docs" / str(generation)
        folder.mkdir(parents=True)
        for feed in range(feeds):
            start = (generation * feeds + feed) * ITEMS
            (folder / f"{feed}.xml").write_bytes(render(feed, generation, corpus[start : start + ITEMS]))
    with (tmp / "subs.toml").open("w", encoding="utf-8") as out:
        for n, query in enumerate(queries):
            out.write(f"[[subscription]]\nname = \"s{n}\"\nquery = '''{query}'''\n")
    return corpus[feeds * ITEMS :]


def fts_cost(tmp: Path, docs: list[MatchDoc]) -> tuple[float, float]:
    """Return CPU µs per item for SQLite alone to insert these items, with and without the full-text index.

    The index is the service's own (its migration's table and insert trigger); rows go in by
    500 per transaction, as the service's stores batch them.
    """
    rows = [(doc.title, doc.summary[:MAX_STORED_TEXT]) for doc in docs]
    costs = []
    for indexed in (True, False):
        db = sqlite3.connect(tmp / f"fts-{indexed}.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT, text TEXT)")
        if indexed:
            db.execute(_ITEMS_FTS[0])
            db.execute(_ITEMS_FTS[1])
        started = time.process_time()
        for start in range(0, len(rows), 500):
            with db:
                db.executemany("INSERT INTO items (title, text) VALUES (?, ?)", rows[start : start + 500])
        costs.append((time.process_time() - started) / len(rows) * 1e6)
        db.close()
    return costs[0], costs[1]


async def bench(feeds: int, subscriptions: int, mix: str, profile: bool = False) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="regwatch-pipeline-"))
    second = prepare(tmp, feeds, subscriptions, mix)
    generation = tmp / "generation"
    generation.write_text("0")
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve_files, args=(queue, str(tmp / "docs"), str(generation)), daemon=True
    )
    server.start()
    port = queue.get(timeout=60)
    (tmp / "sources.toml").write_text(
        "".join(
            f'[[source]]\nname = "feed {n}"\nurl = "http://127.0.0.1:{port}/feed/{n}"\nkind = "feed"\n'
            for n in range(feeds)
        )
    )
    settings = load_settings(
        database_path=tmp / "bench.db",
        sources_file=tmp / "sources.toml",
        subscriptions_file=tmp / "subs.toml",
        allow_private_networks=True,
        poll_concurrency=50,
        http_per_host=50,  # the local feeds stand for as many hosts
        log_level="WARNING",
    )
    out: dict[str, object] = {"feeds": feeds, "subscriptions": subscriptions, "mix": mix}
    try:
        started = time.process_time()
        async with build_services(settings) as services:
            out["start_cpu"] = time.process_time() - started
            if isinstance(services.workers, WorkerPool):
                await services.workers.warm()  # as `regwatch run` does before its first poll
            compiled = await services.matchers.get()
            started = time.process_time()
            engine = compiled.matcher.prepare()  # a long-running service has its scanner built
            out["engine"] = f"{engine}, built in {time.process_time() - started:.1f} s CPU"
            gc.freeze()  # as `regwatch run` does after start-up
            for label, gen in (("prime", "0"), ("new", "1")):
                generation.write_text(gen)
                if profile and gen == "1":  # a sampling profiler (py-spy) attaches now
                    print(f"@round 2 starts in pid {os.getpid()}", file=sys.stderr, flush=True)
                    await asyncio.sleep(2)
                threads = thread_cpu()
                c0, w0, t0 = cpu(), children_cpu(server.pid or 0), time.perf_counter()
                beat = Heartbeat()
                beating = asyncio.create_task(beat.run())
                results = await services.scheduler.poll_all()
                wall = time.perf_counter() - t0
                used, workers = cpu() - c0, children_cpu(server.pid or 0) - w0
                after = thread_cpu()
                by_thread = {name: cpu - threads.get(name, 0.0) for name, cpu in after.items()}
                beating.cancel()
                failed = [r.error for r in results if r.status == "failed"]
                if failed:
                    raise SystemExit(f"{len(failed)} polls failed: {sorted(map(str, failed))[:3]}")
                out[label] = {
                    "wall": wall,
                    "cpu": used,
                    "workers": workers,
                    "new": sum(r.new_items for r in results),
                    "alerts": sum(r.alerts for r in results),
                    "stall_ms": beat.max_gap * 1000,
                    "threads": {n: c for n, c in sorted(by_thread.items(), key=lambda kv: -kv[1]) if c > 0},
                }
            counts = await services.adb.call(outbox.counts)
            out["pending"] = counts["pending"]
            # Anchor: the matcher alone on the same items, in this process, same matcher.
            matcher = compiled.matcher
            started = time.process_time()
            matched = sum(len(matcher.match_item(doc)) for doc in second)
            out["match_only"] = len(second) / max(time.process_time() - started, 1e-9)
            out["match_pairs"] = matched
            out["fts"] = fts_cost(tmp, second)
    finally:
        server.kill()
        server.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--feeds", type=int)
    ap.add_argument("--subscriptions", type=int)
    ap.add_argument("--mix", choices=("rare", "mixed"), default="rare")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="say on stderr when round 2 starts, and wait 2 s for a sampling profiler to attach",
    )
    args = ap.parse_args()
    feeds = args.feeds or (20 if args.quick else 200)
    subscriptions = args.subscriptions or (5_000 if args.quick else 100_000)
    load = os.getloadavg()[0]
    r = asyncio.run(bench(feeds, subscriptions, args.mix, args.profile))
    prime, new = r["prime"], r["new"]
    assert isinstance(prime, dict) and isinstance(new, dict)
    total = new["cpu"] + new["workers"]
    per_core = new["new"] / max(total, 1e-9)
    print(
        f"\n## Pipeline: {feeds} feeds x {ITEMS} items, every item new in round 2;"
        f" {subscriptions:,} subscriptions ({args.mix} mix), matcher {r['engine']}"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f}"
        f" at the start; start-up with the subscriptions file {r['start_cpu']:.1f} s CPU\n"
    )
    print("| round | wall s | CPU s (service) | CPU s (parse workers) | new items | alerts | loop stall ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, row in (("1: first poll (recorded, no alerts)", prime), ("2: every item new", new)):
        print(
            f"| {label} | {row['wall']:.2f} | {row['cpu']:.2f} | {row['workers']:.2f} | {row['new']:,}"
            f" | {row['alerts']:,} | {row['stall_ms']:.0f} |"
        )
    threads = ", ".join(f"{name} {cpu:.2f} s" for name, cpu in new["threads"].items())
    print(f"\nround 2, CPU of the service by thread: {threads}; parse workers {new['workers']:.2f} s")
    costs = r["fts"]
    assert isinstance(costs, tuple)
    fts, plain = costs
    print(
        f"SQLite alone inserting the same items: {fts:.0f} µs per item with the full-text index,"
        f" {plain:.0f} µs without"
    )
    print(
        f"round 2: {per_core:,.0f} new items per CPU second (service + parse workers),"
        f" {new['new'] / max(new['cpu'], 1e-9):,.0f} per CPU second of the service alone;"
        f" the matcher alone on the same items: {r['match_only']:,.0f} items/s"
        f" ({r['match_pairs']:,} matches); {r['pending']:,} alerts pending in the outbox"
    )
    assert new["new"] == feeds * ITEMS, "round 2 should find every item new"
    assert new["alerts"] > 0, "round 2 should enqueue alerts"
    scale = "" if subscriptions == 100_000 else f" (goal at 100,000 subscriptions; here {subscriptions:,})"
    row = {
        "what": f"new items through the whole pipeline (every item new: fetch, parse, store, classify,"
        f" match {subscriptions:,} {args.mix} subscriptions, enqueue)",
        "now": f"{per_core:,.0f} items per CPU second (service {new['cpu']:.2f} s + parse workers"
        f" {new['workers']:.2f} s for {new['new']:,} items, {new['alerts']:,} alerts)",
        "anchor": f"matcher alone on the same items: {r['match_only']:,.0f} items/s; SQLite alone storing"
        f" them: {fts:.0f} µs per item with the full-text index, {plain:.0f} µs without",
        "goal": ">= 10,000 items/s per core" + scale,
        "met": None if args.quick else per_core >= 10_000,
    }
    print("@row " + json.dumps(row))


if __name__ == "__main__":
    main()

"""Benchmark the steps that grow with the number of subscriptions and alerts, each with an anchor.

- `regwatch match` with a 100,000-subscription file and a tiny feed (the real command, in a
  subprocess), against the same steps done plainly in the same run: tomllib, every query parsed
  for validation and again for the matcher, names checked with a set, garbage collector on.
- restart with 100,000 subscriptions: load the file, sync it into the database, compile the
  matcher; rows written and the subscriptions version before and after.
- story lookup per poll with alerts, at 1,000 and 40,000 alerts in the window, against the
  previous lookup (every alert of the window read and compared) in the same run.

    python bench/bench_scale.py            # 100,000 subscriptions; 1,000 and 40,000 alerts
    python bench/bench_scale.py --quick    # 5,000 subscriptions; 500 and 2,000 alerts
    python bench/bench_scale.py --story    # the story lookup only (1,000 and 40,000 alerts)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_match import SEED, World, make_subscriptions
from bot.config_files import load_subscriptions
from bot.domain.clock import iso
from bot.domain.story import same_story, story_key
from bot.domain.vendors import VendorCatalog
from bot.pipeline.matching import compile_subscriptions
from bot.storage import items, subscriptions
from bot.storage.db import connect
from bot.storage.items import NewAlert, NewItem
from bot.storage.sources import SourceConfig, add

ROOT = Path(__file__).resolve().parent.parent
FEED = ROOT / "tests/fixtures/feeds/spec_rss2sample_nasa_liftoff.xml"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# The pre-change steps of `regwatch match`, run in a fresh process like the command.
ANCHOR = """
import sys, tomllib
from bot.domain.matcher import Matcher
from bot.domain.query import parse_query
from bot.domain.vendors import VendorCatalog
import bot.cli, bot.sources.adapters, bot.domain.classifier, bot.app
vendors = VendorCatalog.load_default()
entries = tomllib.loads(open(sys.argv[1], encoding="utf-8").read())["subscription"]
names = set()
for entry in entries:
    assert entry["name"] not in names
    names.add(entry["name"])
    parse_query(entry["query"], vendors)
parsed = ((n, parse_query(e["query"], vendors)) for n, e in enumerate(entries))
Matcher._build(object.__new__(Matcher), parsed)  # without pausing the garbage collector
"""


QUICK = "--quick" in sys.argv  # goals are judged at full size only


def row(what: str, now: str, anchor: str, goal: str, met: bool | None) -> None:
    """Print one summary row for bench/run.py."""
    judged = None if QUICK else met
    print("@row " + json.dumps({"what": what, "now": now, "anchor": anchor, "goal": goal, "met": judged}))


def write_subscriptions(path: Path, count: int) -> None:
    """Write `count` generated subscriptions (the match benchmark's mixed shapes) as TOML."""
    queries = make_subscriptions(World(SEED), count, "mixed")
    with path.open("w", encoding="utf-8") as out:
        for n, query in enumerate(queries):
            out.write(f"[[subscription]]\nname = \"s{n}\"\nquery = '''{query}'''\n")


def _run(command: list[str]) -> tuple[float, float]:
    """Run a command; return (wall s, CPU s of the child): the CPU time is what load does not inflate."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def bench_match(path: Path, count: int, runs: int) -> None:
    """Time the real command and the anchor, interleaved; report medians (CPU and wall)."""
    ours: list[tuple[float, float]] = []
    anchor: list[tuple[float, float]] = []
    for _ in range(runs):
        ours.append(_run([sys.executable, "-m", "bot", "match", "--subscriptions", str(path), str(FEED)]))
        anchor.append(_run([sys.executable, "-c", ANCHOR, str(path)]))
    cpu, wall = _median([c for _, c in ours]), _median([w for w, _ in ours])
    anchor_cpu = _median([c for _, c in anchor])
    print(
        f"regwatch match, {count:,} subscriptions: CPU {cpu:.2f} s, wall {wall:.2f} s"
        f" (anchor CPU {anchor_cpu:.2f} s), medians of {runs}"
    )
    row(
        f"`regwatch match` with a {count:,}-subscription TOML, tiny feed",
        f"{cpu:.2f} s CPU ({wall:.2f} s wall)",
        f"same steps plainly: {anchor_cpu:.2f} s CPU ({anchor_cpu / cpu:.1f}x)",
        "< 3 s",
        cpu < 3,
    )


def bench_restart(path: Path, count: int) -> None:
    """Start twice on one database: the second start must write nothing and build once."""
    vendors = VendorCatalog.load_default()
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "bench.db")
        entries = [(e.name, e.query) for e in load_subscriptions(path, vendors)]
        subscriptions.sync_file(db, entries, NOW)  # the first start
        version = subscriptions.version(db)
        changes = db.conn.total_changes
        # CPU time of this process: the machine is shared, wall time follows the load.
        started = time.process_time()
        # As build_services does: the file's parsed queries seed the first matcher build.
        loaded_entries = load_subscriptions(path, vendors)
        loaded = time.process_time()
        subscriptions.sync_file(db, [(e.name, e.query) for e in loaded_entries], NOW)
        synced = time.process_time()
        parsed = {e.query: e.parsed for e in loaded_entries}
        compiled = compile_subscriptions(subscriptions.list_subscriptions(db), vendors, parsed)
        built = time.process_time()
        written = db.conn.total_changes - changes
        bumped = subscriptions.version(db) - version
        db.conn.close()
    total = built - started
    print(
        f"restart, {count:,} subscriptions: load {loaded - started:.2f} s, sync {synced - loaded:.2f} s,"
        f" compile {built - synced:.2f} s ({len(compiled.by_id):,} subscriptions);"
        f" rows written {written}, version bumped by {bumped}"
    )
    row(
        f"restart with {count:,} subscriptions",
        f"{total:.2f} s CPU; {written} rows written, version +{bumped}, matcher built once",
        "—",
        "unchanged rows untouched, start < 3 s",
        written == 0 and bumped == 0 and total < 3,
    )


def _fill_window(db: object, alerts: int) -> tuple[int, int]:
    conn = db.conn  # type: ignore[attr-defined]
    src = add(db, SourceConfig("bench", "https://bench.example/feed", "feed", None), NOW)  # type: ignore[arg-type]
    sub = subscriptions.add(db, "vendor:Kaspersky", "console", NOW)  # type: ignore[arg-type]
    world = World(SEED, 20_000, 100)
    titles = [" ".join(world.words(9)) for _ in range(alerts)]
    when = iso(NOW - timedelta(hours=1))
    conn.executemany(
        "INSERT INTO items (id, source_id, identity, title, text, fetched_at) VALUES (?, ?, ?, ?, '', ?)",
        [(n + 1, src.id, f"w{n}", title, when) for n, title in enumerate(titles)],
    )
    conn.executemany(
        "INSERT INTO outbox (subscription_id, item_id, target, link_key, terms, status, next_attempt_at,"
        " created_at) VALUES (?, ?, 'console', ?, '[]', 'sent', ?, ?)",
        [(sub.id, n + 1, f"k{n}", when, when) for n in range(alerts)],
    )
    return src.id, sub.id


def _old_lookup(db: object, since: datetime, key: object) -> int | None:
    rows = db.execute(  # type: ignore[attr-defined]
        "SELECT o.id, i.title, i.action FROM outbox o JOIN items i ON i.id = o.item_id"
        " WHERE o.target = ? AND o.created_at >= ? AND o.story_of IS NULL ORDER BY o.id",
        ("console", iso(since)),
    ).fetchall()
    keys = [(r[0], story_key(r[1], r[2])) for r in rows]
    return next((alert_id for alert_id, other in keys if same_story(key, other)), None)  # type: ignore[arg-type]


def bench_story(alerts: int, polls: int = 20) -> tuple[float, float]:
    """Return (ms per poll with one alert, old lookup ms) with `alerts` alerts in the window."""
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "bench.db")
        source_id, sub_id = _fill_window(db, alerts)
        window = timedelta(hours=48)

        def poll(n: int) -> None:
            item = NewItem(
                f"new{n}", None, None, None, None, f"US sanctions {n} Kaspersky Lab leaders", "", NOW
            )
            items.store_poll(
                db,
                source_id,
                NOW,
                NOW,
                [item],
                [NewAlert(0, sub_id, "console", ("Kaspersky",))],
                etag=None,
                last_modified=None,
                body_hash=None,
                story_window=window,
            )

        poll(0)  # the first poll of a process reads the window once
        started = time.perf_counter()
        for n in range(1, polls + 1):
            poll(n)
        ours = (time.perf_counter() - started) / polls * 1000
        key = story_key("US sanctions 99 Kaspersky Lab leaders", None)
        started = time.perf_counter()
        for _ in range(3):
            _old_lookup(db, NOW - window, key)
        old = (time.perf_counter() - started) / 3 * 1000
        db.conn.close()
    return ours, old


def bench_enqueue(polls: int = 10, subs: int = 100, per_poll: int = 20) -> float:
    """Return ms per poll storing `per_poll` items that alert `subs` subscriptions each."""
    from bot.domain.delivery_schedule import parse_schedule
    from bot.storage import schedules

    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "bench.db")
        src = add(db, SourceConfig("bench", "https://bench.example/feed", "feed", None), NOW)
        sub_ids = []
        for n in range(subs):
            sub = subscriptions.add(db, "vendor:Kaspersky", f"discord:{n + 1}", NOW)
            if n % 2:  # half of them in a daily digest: their alerts are held
                schedules.set_schedule(db, sub.id, parse_schedule("daily", "09:00"), NOW)
            sub_ids.append(sub.id)
        world = World(SEED, 20_000, 100)
        spent = 0.0
        for p in range(polls):
            new = [
                NewItem(f"p{p}i{n}", None, None, None, None, " ".join(world.words(9)), "", NOW)
                for n in range(per_poll)
            ]
            alerts = [
                NewAlert(i, s, f"discord:{k + 1}", ("Kaspersky",))
                for i in range(per_poll)
                for k, s in enumerate(sub_ids)
            ]
            started = time.perf_counter()
            items.store_poll(
                db,
                src.id,
                NOW,
                NOW,
                new,
                alerts,
                etag=None,
                last_modified=None,
                body_hash=None,
                story_window=timedelta(hours=48),
            )
            spent += time.perf_counter() - started
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == polls * per_poll * subs
        db.conn.close()
    return spent / polls * 1000


def main() -> int:
    """Run the three benchmarks and print their summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 subscriptions, a few seconds")
    parser.add_argument("--story", action="store_true", help="only the story lookup")
    args = parser.parse_args()
    count = 5_000 if args.quick else 100_000
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"## Scale: {count:,} subscriptions; {os.cpu_count()} cores; load average at start {load}\n")
    if not args.story:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "subs.toml"
            write_subscriptions(path, count)
            bench_match(path, count, 1 if args.quick else 3)
            bench_restart(path, count)
    sizes = (500, 2_000) if args.quick else (1_000, 40_000)
    measured = {size: bench_story(size) for size in sizes}
    for size, (ours, old) in measured.items():
        print(
            f"story lookup, {size:,} alerts in the window: {ours:.1f} ms per poll (old lookup {old:.1f} ms)"
        )
    (small, (small_ms, _)), (large, (large_ms, large_old)) = measured.items()
    enqueue_ms = bench_enqueue(3 if args.quick else 10)
    print(
        f"store + enqueue, 20 items x 100 subscriptions (2,000 alerts) per poll: {enqueue_ms:.1f} ms per poll"
    )
    row(
        "story lookup per poll with alerts",
        f"{small_ms:.1f} ms at {small:,} alerts, {large_ms:.1f} ms at {large:,}",
        f"previous lookup at {large:,}: {large_old:.0f} ms",
        "flat in window size",
        large_ms < 3 * small_ms,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

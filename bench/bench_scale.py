"""Benchmark the steps that grow with the number of subscriptions and alerts, each with an anchor.

- `regwatch match` with a 100,000-subscription file and a tiny feed (the real command, in a
  subprocess), against the same steps done plainly in the same run: tomllib, every query parsed
  for validation and again for the matcher, names checked with a set, garbage collector on.
- restart with 100,000 subscriptions: load the file, sync it into the database, compile the
  matcher; rows written and the subscriptions version before and after.
- story lookup per poll with alerts, at 1,000 and 40,000 alerts in the window, against the
  previous lookup (every alert of the window read and compared) in the same run.
- the cluster: `regwatch run` on SQLite, then one and three `regwatch worker` processes on a
  PostgreSQL 15 started for the run (tests/pgserver.py), on a latency-bound load: loopback feeds
  answering after 200 ms (304s too) and the fake Discord answering every REST call after 100 ms.
  Polls per second, alert latency p50/p99 (item published -> its message in the fake channel),
  CPU% of regwatch's processes, of PostgreSQL's and of this harness (/proc/<pid>/stat), and, with
  three workers, the takeover after a SIGKILL of a worker in the middle of a Discord POST.
  Without PostgreSQL's binaries its PostgreSQL part is skipped with the reason.

    python bench/bench_scale.py            # 100,000 subscriptions; 1,000 and 40,000 alerts; 300 feeds
    python bench/bench_scale.py --quick    # 5,000 subscriptions; 500 and 2,000 alerts; 20 feeds
    python bench/bench_scale.py --story    # the story lookup only (1,000 and 40,000 alerts)
    python bench/bench_scale.py --cluster [--quick]   # the cluster only
    BENCH_LOGS=DIR BENCH_LOG_LEVEL=INFO python bench/bench_scale.py --cluster   # keep the logs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
        subscriptions.sync_file(db, ((e.name, e.query) for e in loaded_entries), NOW)  # as app.py
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
    from bot.storage import delivery_settings

    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "bench.db")
        src = add(db, SourceConfig("bench", "https://bench.example/feed", "feed", None), NOW)
        sub_ids = []
        for n in range(subs):
            sub = subscriptions.add(db, "vendor:Kaspersky", f"discord:{n + 1}", NOW)
            if n % 2:  # half of them in a daily digest: their alerts are held
                delivery_settings.set_schedule(db, sub.id, parse_schedule("daily", "09:00"), NOW)
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


# -- the cluster mode: SQLite `run` vs PostgreSQL with 1 and 3 `regwatch worker` processes -------------

VENDORS = ("Kaspersky", "Huawei", "ZTE", "Hikvision", "Dahua", "DJI")  # one Discord channel each
FEED_DELAY = 0.2  # every feed answers after 200 ms (304s too): a latency-bound load
BENCH_LINK = re.compile(r"https://bench\.example/\d+")
POST_PATH = re.compile(r"/channels/(\d+)/messages$")
DISCORD_DELAY = 0.1  # the fake Discord answers every REST call after 100 ms
# The feeds are spread over ten loopback hosts, as thousands of sources are over many sites: per-host
# slots are shared by the workers on PostgreSQL, so 300 feeds on one host would cap every worker
# together at REGWATCH_HTTP_PER_HOST requests in flight.
FEED_HOSTS = tuple(f"127.0.0.{n}" for n in range(1, 11))


def _cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of one process (/proc/<pid>/stat), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    """Return the pids whose parent is `parent` (the PostgreSQL backends of a postmaster)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU% (of one core) of a set of processes between start() and stop()."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self._seen: dict[int, float] = {}
        self._began = 0.0
        self._wall = 0.0

    def _sample(self) -> None:
        for pid in self._pids():
            self._seen[pid] = max(self._seen.get(pid, 0.0), _cpu_seconds(pid))

    def start(self) -> None:
        self._seen = {}
        self._sample()
        self._base = dict(self._seen)
        self._began = time.monotonic()

    def sample(self) -> None:
        """Read the processes now (a short-lived backend is counted while it lives)."""
        self._sample()

    def stop(self) -> float:
        self._sample()
        self._wall = time.monotonic() - self._began
        spent = sum(v - self._base.get(pid, 0.0) for pid, v in self._seen.items())
        return 100 * spent / self._wall if self._wall else 0.0


@dataclass
class ModeResult:
    """One mode's numbers."""

    name: str
    polls_per_s: float
    p50: float
    p99: float
    alerts: int
    delivered: int
    cpu_regwatch: float
    cpu_db: float
    cpu_harness: float
    load: str
    per_host: int  # the most requests in flight to one feed host at once (limit: CLUSTER_CONCURRENCY)
    takeover: str = "—"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Cluster:
    """The loopback feeds, the slowed fake Discord, and what was published and delivered when."""

    def __init__(self, sources: int) -> None:
        from tests.feedserver import FeedServer

        self.sources = sources
        self.feeds = FeedServer(host=FEED_HOSTS[0], also_on=FEED_HOSTS[1:])
        self.fake: Any = None
        self.channels: list[Any] = []
        self.published: dict[str, float] = {}
        self.delivered: dict[str, float] = {}
        self.extra: dict[int, list[str]] = {}
        self.rounds = 0
        self._counts: dict[int, int] = {}
        self.posters: dict[int, int] = {}  # channel id -> client port of its latest POST
        self.posting: dict[int, list[str]] = {}  # channel id -> the links in its latest POST
        self.post_log: list[tuple[float, int]] = []  # (when, channel id) of every message POST

    async def new_discord(self) -> None:
        """A fresh fake Discord for each mode: nonces of a previous mode's outbox ids must not match."""
        from tests.fakediscord import FakeDiscord

        if self.fake is not None:
            await self.fake.stop()
        fake = FakeDiscord()
        handle = fake.rest.handle

        async def slow(request: Any) -> Any:
            posted = POST_PATH.search(request.path) if request.method == "POST" else None
            if posted is not None and request.transport is not None:
                # Which connection (so which process) posts to a channel now (its lease holder), and
                # the alerts it posts (aiohttp keeps the body read for the handler).
                channel = int(posted.group(1))
                self.post_log.append((time.monotonic(), channel))
                self.posters[channel] = request.transport.get_extra_info("peername")[1]
                self.posting[channel] = BENCH_LINK.findall((await request.read()).decode(errors="replace"))
            await asyncio.sleep(DISCORD_DELAY)
            response = await handle(request)
            self._see_messages()
            return response

        fake.rest.handle = slow  # type: ignore[method-assign]
        await fake.start()
        self.fake = fake
        self.channels = [fake.add_channel(f"alerts-{v.lower()}") for v in VENDORS]
        self._counts = {}
        self.posters = {}
        self.posting = {}

    async def __aenter__(self) -> Cluster:
        await self.feeds.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.fake is not None:
            await self.fake.stop()
        await self.feeds.stop()

    def _see_messages(self) -> None:
        now = time.monotonic()
        for channel in self.channels:
            messages = self.fake.messages(channel.id)
            for message in messages[self._counts.get(channel.id, 0) :]:
                # Embeds (a lone alert) or plain text (a batch): every link of the message.
                for link in BENCH_LINK.findall(json.dumps(message)):
                    self.delivered.setdefault(link, now)
            self._counts[channel.id] = len(messages)

    def reset(self) -> None:
        """Publish the bare fixture on every feed (each mode starts from the same feeds)."""
        from tests.helpers import with_items

        self.extra = {n: [] for n in range(self.sources)}
        body = with_items("spec_rss2sample_nasa_liftoff.xml")
        for n in range(self.sources):
            self.feeds.set(f"/f{n}.xml", body, delay=FEED_DELAY)

    def publish(self, feed: int, channel: int) -> str:
        """Add one new item for one channel's vendor at the top of one feed; return its link."""
        from tests.helpers import rss_item, with_items

        self.rounds += 1
        link = f"https://bench.example/{self.rounds}"
        title = f"Regulator bans {VENDORS[channel]} equipment, notice {self.rounds}"
        self.extra[feed].insert(0, rss_item(title, link))
        self.feeds.set(
            f"/f{feed}.xml",
            with_items("spec_rss2sample_nasa_liftoff.xml", *self.extra[feed]),
            delay=FEED_DELAY,
        )
        self.published[link] = time.monotonic()
        return link

    def hits(self) -> int:
        return len(self.feeds.requests)

    def feed_url(self, feed: int) -> str:
        """Return feed `feed`'s URL, on one of the FEED_HOSTS in turn."""
        return self.feeds.url(f"/f{feed}.xml", host=FEED_HOSTS[feed % len(FEED_HOSTS)])


def _subscribe(database: str, cluster: Cluster) -> None:
    """One Discord subscription per channel (its vendor), written before the processes start."""
    from bot.storage.db import connect as open_db

    db = open_db(database)
    for vendor, channel in zip(VENDORS, cluster.channels, strict=True):
        subscriptions.add(db, f"vendor:{vendor}", f"discord:{channel.id}", NOW)
    db.conn.close()


async def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: {what} not reached in {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def run_mode(
    cluster: Cluster,
    name: str,
    tmp: Path,
    env: dict[str, str],
    database: str,
    *,
    role: str,
    processes: int,
    window: float,
    db_pids: Callable[[], list[int]],
    kill: bool,
) -> ModeResult:
    """Start the processes, wait until every feed is primed, publish for `window` s, measure."""
    cluster.reset()
    cluster.published.clear()
    cluster.delivered.clear()
    cluster.feeds.max_in_flight_by_host.clear()
    _subscribe(database, cluster)
    procs = []
    for n in range(processes):
        log = (tmp / f"{name}-{n}.log").open("wb")
        procs.append(
            subprocess.Popen(  # noqa: ASYNC220 -- started once, watched below
                [sys.executable, "-m", "bot", role], cwd=tmp, env=env, stdout=log, stderr=log
            )
        )
    try:
        first = cluster.hits()
        await _wait(lambda: cluster.hits() - first >= cluster.sources, 120, "every feed primed")
        await asyncio.sleep(1.0)  # the first polls' results are stored
        started_hits = cluster.hits()
        meter = CpuMeter(lambda: [p.pid for p in procs])
        db_meter = CpuMeter(db_pids)
        meter.start()
        db_meter.start()
        harness = resource.getrusage(resource.RUSAGE_SELF)
        began = time.monotonic()
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        links = []
        n = 0
        while time.monotonic() - began < window:
            links.append(cluster.publish(n % cluster.sources, n % len(VENDORS)))
            n += 1
            db_meter.sample()
            await asyncio.sleep(0.25)
        wall = time.monotonic() - began
        polls = (cluster.hits() - started_hits) / wall
        cpu = meter.stop()
        db_cpu = db_meter.stop()
        after = resource.getrusage(resource.RUSAGE_SELF)
        harness_cpu = 100 * ((after.ru_utime - harness.ru_utime) + (after.ru_stime - harness.ru_stime)) / wall
        # Let the window's items arrive (up to two poll intervals and the deliveries).
        await _wait_quiet(cluster, links, 30)
        if os.environ.get("BENCH_LOGS"):
            _dump_outbox(database, Path(os.environ["BENCH_LOGS"]) / f"{name}-outbox.txt")
            (Path(os.environ["BENCH_LOGS"]) / f"{name}-messages.json").write_text(
                json.dumps(cluster.fake.messages(cluster.channels[0].id)[-3:], indent=1, default=str)
            )
        latencies = [cluster.delivered[u] - cluster.published[u] for u in links if u in cluster.delivered]
        result = ModeResult(
            name, polls, _percentile(latencies, 0.5), _percentile(latencies, 0.99), len(links),
            len(latencies), cpu, db_cpu, harness_cpu, load,
            max(cluster.feeds.max_in_flight_by_host.values(), default=0),
        )  # fmt: skip
        if kill:
            result.takeover = await _takeover(cluster, procs, database, env)
        return result
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if os.environ.get("BENCH_LOGS"):  # keep the processes' logs (the temporary folder goes)
            _keep_logs(tmp, Path(os.environ["BENCH_LOGS"]))


def _keep_logs(tmp: Path, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    for log_file in tmp.glob("*.log"):
        shutil.copy(log_file, keep / log_file.name)


async def _wait_quiet(cluster: Cluster, links: list[str], timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(u in cluster.delivered for u in links):  # noqa: ASYNC110
        await asyncio.sleep(0.1)


def _dump_outbox(database: str, path: Path) -> None:
    from bot.storage.db import connect as open_db

    db = open_db(database)
    rows = db.execute(
        "SELECT target, status, attempts, last_error, next_attempt_at, created_at, sent_at"
        " FROM outbox ORDER BY id"
    ).fetchall()
    db.conn.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(" | ".join(str(v) for v in r) for r in rows))


def _pid_of_client(port: int, server_port: int) -> int | None:
    """Return the pid owning the loopback TCP connection from `port` to `server_port` (/proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote = int(parts[1].split(":")[1], 16), int(parts[2].split(":")[1], 16)
        if local == port and remote == server_port:
            inodes.add(f"socket:[{parts[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if inodes & set(links):
            return int(entry.name)
    return None


def _leases(database: str) -> list[tuple[str, str, str]]:
    import psycopg

    with psycopg.connect(database) as conn:
        return [
            (str(k), str(key), str(o)) for k, key, o in conn.execute("SELECT kind, key, owner FROM leases")
        ]


async def _takeover(
    cluster: Cluster, procs: list[subprocess.Popen[bytes]], database: str, env: dict[str, str]
) -> str:
    """SIGKILL a worker mid-POST; time until its channel leases are others' and that alert is delivered."""
    lease = float(env["REGWATCH_LEASE_SECONDS"])
    # New alerts for every channel; the first worker seen posting one is killed during that POST
    # (the fake Discord answers after 100 ms, the message is not stored): it holds that channel's
    # lease, and the alert stays pending under it until the lease expires and another worker takes it.
    cluster.posters.clear()
    for n in range(len(VENDORS)):
        cluster.publish(n, n)
    await _wait(lambda: bool(cluster.posters), 120, "a POST to kill a worker in")
    channel_id, port = next(iter(cluster.posters.items()))
    pid = _pid_of_client(port, cluster.fake.port)
    victim = next((p for p in procs if p.pid == pid), None)
    if victim is None:
        return "the posting worker was not found in /proc/net/tcp: no takeover measured"
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    before = _leases(database)
    victim.wait()
    owner = next((o for k, key, o in before if k == "channel" and key == f"discord:{channel_id}"), None)
    if owner is None:
        return "the killed worker's lease was not found: no takeover measured"
    held = sorted((k, key) for k, key, o in before if o == owner)
    channels = sum(1 for k, _ in held if k == "channel")
    mine = {int(key.split(":")[1]) for k, key in held if k == "channel"}
    taken: float | None = None
    deadline = killed + 4 * lease + 60
    while time.monotonic() < deadline:
        rows = _leases(database)
        if taken is None and not any(o == owner and k == "channel" for k, _, o in rows):
            taken = time.monotonic() - killed
        if taken is not None and any(t > killed + 0.05 and c in mine for t, c in cluster.post_log):
            break
        await asyncio.sleep(0.05)
    # Its channels flow again: the first POST to one of them after the kill (another worker's).
    flows_again = next((t - killed for t, c in cluster.post_log if t > killed + 0.05 and c in mine), None)
    chores = [key for k, key in held if k == "chore"]
    hosts = sum(1 for k, _ in held if k == "host")
    return (
        f"killed mid-POST holding {channels} channel leases"
        + (f", the chores {', '.join(chores)}" if chores else "")
        + (f", {hosts} per-host request slots" if hosts else "")
        + f" (lease {lease:g} s); its channel leases taken over after "
        + (f"{taken:.1f} s" if taken is not None else "more than the deadline")
        + "; the first POST to one of its channels by another worker "
        + (f"{flows_again:.1f} s after the kill" if flows_again is not None else "not within the deadline")
    )


def _worker_env(tmp: Path, cluster: Cluster, **extra: str) -> dict[str, str]:
    empty = tmp / "none.toml"
    empty.write_text("")
    sources = tmp / "sources.toml"
    sources.write_text(
        "".join(
            f'[[source]]\nname = "src{n}"\nurl = "{cluster.feed_url(n)}"\n' for n in range(cluster.sources)
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGWATCH_")}
    env.update(
        REGWATCH_SOURCES_FILE=str(sources),
        REGWATCH_SUBSCRIPTIONS_FILE=str(empty),
        REGWATCH_ALLOW_PRIVATE_NETWORKS="true",
        REGWATCH_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        REGWATCH_DISCORD_TOKEN=cluster.fake.token,
        REGWATCH_DISCORD_API_BASE=cluster.fake.api_base,
        REGWATCH_DISCORD_GATEWAY_URL=cluster.fake.gateway_url,
        REGWATCH_POLL_INTERVAL_SECONDS="5",
        REGWATCH_STORY_WINDOW_HOURS="0",
        REGWATCH_POLL_CONCURRENCY=str(CLUSTER_CONCURRENCY),
        REGWATCH_HTTP_PER_HOST=str(CLUSTER_CONCURRENCY),
        REGWATCH_LEASE_SECONDS=str(CLUSTER_LEASE),
        REGWATCH_SOURCE_CLAIM_SECONDS="10",
        REGWATCH_SHUTDOWN_GRACE_SECONDS="2",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


CLUSTER_CONCURRENCY = 2  # polls at once per process (and per host): 10 polls/s at most per process
CLUSTER_LEASE = 3


async def bench_cluster(sources: int, window: float) -> list[ModeResult] | str:
    """Run the three modes on one set of feeds and one fake Discord; return results or why skipped."""
    from tests.pgserver import PgServer, available

    reason = available()
    results: list[ModeResult] = []
    async with Cluster(sources) as cluster:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            folder = tmp / "sqlite"
            folder.mkdir()
            db_path = folder / "regwatch.db"
            await cluster.new_discord()
            env = _worker_env(folder, cluster, REGWATCH_DATABASE_PATH=str(db_path))
            results.append(
                await run_mode(
                    cluster, "SQLite, `regwatch run`", folder, env, str(db_path), role="run",
                    processes=1, window=window, db_pids=list, kill=False,
                )
            )  # fmt: skip
            if reason is not None:
                return f"PostgreSQL part skipped: {reason}"
            server = PgServer()
            server.start()
            try:
                pid_file = server.socket_dir / "data" / "postmaster.pid"
                postmaster = int(pid_file.read_text().split()[0])

                def db_pids() -> list[int]:
                    return [postmaster, *_children(postmaster)]

                for count in (1, 3):
                    url = server.fresh_database()
                    folder = tmp / f"pg{count}"
                    folder.mkdir()
                    await cluster.new_discord()
                    env = _worker_env(folder, cluster, REGWATCH_DATABASE_URL=url)
                    results.append(
                        await run_mode(
                            cluster, f"PostgreSQL, {count} `regwatch worker`", folder, env, url,
                            role="worker", processes=count, window=window, db_pids=db_pids, kill=count == 3,
                        )
                    )  # fmt: skip
            finally:
                server.stop()
    return results


def cluster_main(quick: bool) -> None:
    """Print the cluster table and its summary rows."""
    sources, window = (20, 3.0) if quick else (300, 30.0)
    print(
        f"\n### Cluster: {sources} loopback feeds answering after {FEED_DELAY * 1000:.0f} ms,"
        f" on {len(FEED_HOSTS)} loopback hosts, fake Discord after {DISCORD_DELAY * 1000:.0f} ms,"
        f" {len(VENDORS)} channels; poll interval 5 s,"
        f" {CLUSTER_CONCURRENCY} polls at once per process, leases {CLUSTER_LEASE} s;"
        f" one new item every 0.25 s for {window:.0f} s\n"
    )
    # A worker killed mid-POST resets its connection: the fake Discord's server logs it, as expected.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    outcome = asyncio.run(bench_cluster(sources, window))
    if isinstance(outcome, str):
        print(outcome)
        return
    print(
        "| mode | polls/s | CPU% regwatch | CPU% PostgreSQL | CPU% harness | alert latency p50 / p99"
        " | delivered | most in flight per host | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in outcome:
        print(
            f"| {r.name} | {r.polls_per_s:.1f} | {r.cpu_regwatch:.0f} | {r.cpu_db:.0f}"
            f" | {r.cpu_harness:.0f} | {r.p50:.2f} s / {r.p99:.2f} s | {r.delivered}/{r.alerts}"
            f" | {r.per_host} (limit {CLUSTER_CONCURRENCY}) | {r.load} |"
        )
    for r in outcome:
        if r.takeover != "—":
            print(f"\ntakeover ({r.name}): {r.takeover}")
    if len(outcome) == 3:
        one, three = outcome[1], outcome[2]
        ratio = three.polls_per_s / one.polls_per_s if one.polls_per_s else 0.0
        row(
            "polls/s, 3 workers vs 1 (PostgreSQL; feeds 200 ms, Discord 100 ms)",
            f"{three.polls_per_s:.1f}/s (CPU {three.cpu_regwatch:.0f}%), p99 {three.p99:.1f} s",
            f"1 worker {one.polls_per_s:.1f}/s; SQLite run {outcome[0].polls_per_s:.1f}/s",
            ">= 2.5x",
            ratio >= 2.5,
        )


def main() -> int:
    """Run the three benchmarks and print their summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 subscriptions, a few seconds")
    parser.add_argument("--story", action="store_true", help="only the story lookup")
    parser.add_argument(
        "--cluster", action="store_true", help="only SQLite run vs PostgreSQL 1 and 3 workers"
    )
    args = parser.parse_args()
    if args.cluster:
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        print(f"## Scale: {os.cpu_count()} cores; load average at start {load}")
        cluster_main(args.quick)
        return 0
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
    cluster_main(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Per-host politeness across processes: REGWATCH_HTTP_PER_HOST holds for all workers together.

Each process has its own per-host semaphore; on PostgreSQL a fetch also takes one of the host's
shared slots (leases 'host', 'HOST:N'), so K workers never send more than the limit at once to
one host. The feed server holds every request until one more than the limit is in flight to its
host (or a short patience passed): fetchers over the limit then show it, whatever the machine's
speed, and fetchers within it pass (slowly). No timing is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from bot.domain.errors import FetchError
from bot.sources.http import Fetcher
from bot.storage import leases
from tests.delivery.kit import wait_until
from tests.feedserver import FeedServer
from tests.security.test_ssrf import FixedDNS
from tests.test_cli import NASA, regwatch, sources_file

UA = "regwatch-test/1.0 (+https://example.org/regwatch)"
HOSTS = ("alpha.example", "beta.example")
LIMIT = 2


def _urls(feed_server: FeedServer, per_host: int, tag: str) -> list[str]:
    urls = []
    for host in HOSTS:
        for n in range(per_host):
            path = f"/{tag}/{host}/{n}.xml"
            feed_server.serve_fixture(path, NASA)
            urls.append(f"http://{host}:{feed_server.port}{path}")
    return urls


@contextlib.asynccontextmanager
async def _fetcher(pg_url: str | None, owner: str) -> AsyncIterator[Fetcher]:
    """A Fetcher (two host names on the loopback server), sharing host slots when a database is given."""
    dns = FixedDNS({host: ["127.0.0.1"] for host in HOSTS})
    async with Fetcher(user_agent=UA, per_host=LIMIT, dns=dns, allowed_networks=["127.0.0.1/32"]) as fetcher:
        if pg_url is None:
            yield fetcher
            return
        async with leases.host_slots(pg_url, owner) as slots:
            fetcher.share_hosts(slots)
            yield fetcher


def _host_leases(pg_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT key, owner FROM leases WHERE kind = 'host' ORDER BY key").fetchall()
    return [(str(k), str(o)) for k, o in rows]


async def test_without_shared_slots_two_fetchers_send_twice_the_limit_to_a_host(feed_server: FeedServer):
    # The control: each process keeps its own limit, so two of them reach 2 x LIMIT on one host
    # (the server holds the requests until that many are in flight: no race, no timing).
    urls = _urls(feed_server, LIMIT, "a") + _urls(feed_server, LIMIT, "b")
    feed_server.hold_per_host(2 * LIMIT, patience=60)
    async with _fetcher(None, "a") as one, _fetcher(None, "b") as two:
        half = len(urls) // 2
        results = await asyncio.gather(
            *(one.fetch(u) for u in urls[:half]), *(two.fetch(u) for u in urls[half:])
        )
    assert all(r.status == 200 for r in results)
    assert feed_server.max_in_flight_by_host == {host: 2 * LIMIT for host in HOSTS}


async def test_two_fetchers_on_their_own_connections_never_exceed_the_limit_per_host(
    feed_server: FeedServer, pg_url: str
):
    # Six requests per host from each of two fetchers, each with its own pool of connections.
    urls_one, urls_two = _urls(feed_server, 6, "a"), _urls(feed_server, 6, "b")
    feed_server.hold_per_host(LIMIT + 1, patience=0.2)
    async with _fetcher(pg_url, "one") as one, _fetcher(pg_url, "two") as two:
        results = await asyncio.gather(*(one.fetch(u) for u in urls_one), *(two.fetch(u) for u in urls_two))
    assert all(r.status == 200 for r in results) and len(results) == 24
    assert len(feed_server.requests) == 24
    # The limit is per host: each host got at most LIMIT at once, both hosts were served.
    assert set(feed_server.max_in_flight_by_host) == set(HOSTS)
    assert all(1 <= m <= LIMIT for m in feed_server.max_in_flight_by_host.values())
    assert _host_leases(pg_url) == []  # every slot given back


async def test_slots_are_leases_taken_at_once_released_and_taken_over_when_expired(pg_url: str):
    async with leases.host_slots(pg_url, "one") as one, leases.host_slots(pg_url, "two") as two:
        first = await one.take("alpha.example", 2, 30)
        second = await two.take("alpha.example", 2, 30)
        assert first is not None and second is not None and first != second
        assert await one.take("alpha.example", 2, 30) is None  # both slots held
        assert await two.take("beta.example", 2, 30) is not None  # another host has its own
        held = _host_leases(pg_url)
        assert sorted(k for k, _ in held if k.startswith("alpha")) == ["alpha.example:0", "alpha.example:1"]
        assert [o for k, o in held if k.startswith("beta")] == ["two"]
        assert sorted(o for k, o in held if k.startswith("alpha")) == ["one", "two"]
        await one.release(first)
        third = await two.take("alpha.example", 2, 30)
        assert third is not None
        assert await one.take("alpha.example", 2, 30) is None
        # A slot whose holder died lapses at the end of its lease; then it is taken over.
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE leases SET until = now() - interval '1 second' WHERE token = %s", (second,))
        taken_over = await one.take("alpha.example", 2, 30)
        assert taken_over is not None and taken_over != second
        await two.release(second)  # the old holder's release finds nothing of its own to delete
        assert await two.take("alpha.example", 2, 30) is None


async def test_a_slot_is_released_when_the_fetch_is_cancelled(feed_server: FeedServer, pg_url: str):
    feed_server.serve_fixture("/slow.xml", NASA, delay=60)
    async with _fetcher(pg_url, "one") as fetcher:
        task = asyncio.create_task(fetcher.fetch(f"http://alpha.example:{feed_server.port}/slow.xml"))
        # The request reached the server, under its slot.
        await wait_until(lambda: feed_server.in_flight == 1, timeout=30, what="request in flight")
        assert [k for k, _ in _host_leases(pg_url)] in (["alpha.example:0"], ["alpha.example:1"])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _host_leases(pg_url) == []


async def test_a_database_failure_fails_the_fetch_without_sending(feed_server: FeedServer, pg_url: str):
    url = feed_server.serve_fixture("/f.xml", NASA).replace("127.0.0.1", "alpha.example")
    async with _fetcher(None, "x") as fetcher:
        async with leases.host_slots(pg_url, "one") as slots:
            pass  # the pool is closed: every statement fails
        fetcher.share_hosts(slots)
        with pytest.raises(FetchError, match=r"^cannot take a request slot for alpha\.example: the database"):
            await fetcher.fetch(url)
    assert feed_server.requests == []  # fail closed: no request without a slot


async def test_two_worker_processes_keep_the_per_host_limit_together(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    # 16 sources on one host, two workers each allowed 4 polls at once and 2 per host.
    urls = [feed_server.serve_fixture(f"/w{n}.xml", NASA) for n in range(16)]
    env = {
        "REGWATCH_SOURCES_FILE": sources_file(tmp_path, *urls),
        "REGWATCH_DATABASE_URL": pg_url,
        "REGWATCH_POLL_CONCURRENCY": "4",
        "REGWATCH_HTTP_PER_HOST": str(LIMIT),
    }
    feed_server.hold_per_host(LIMIT + 1, patience=0.2)
    folders = [tmp_path / f"w{i}" for i in range(2)]
    for folder in folders:
        folder.mkdir()
    done = await asyncio.gather(*(regwatch(f, "worker", "--once", **env) for f in folders))
    for code, _, err in done:
        assert code == 0, err
    assert sorted(feed_server.hits(f"/w{n}.xml") for n in range(16)) == [1] * 16
    assert feed_server.max_in_flight_by_host.keys() == {"127.0.0.1"}
    assert 1 <= feed_server.max_in_flight_by_host["127.0.0.1"] <= LIMIT
    with psycopg.connect(pg_url) as conn:
        left = conn.execute("SELECT COUNT(*) FROM leases").fetchone()
    assert left == (0,)

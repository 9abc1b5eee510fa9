"""Several `regwatch worker --once` processes on one PostgreSQL database: each item alerts once, each
source is fetched once per round, and a worker killed after a send is taken over once its lease expires."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.feedserver import FeedServer
from tests.helpers import rss_item, with_items
from tests.test_cli import NASA, SUBS, env_for, regwatch, sources_file

SOURCES = 20
ALERT_LINK = re.compile(r"https://kaspersky\.example/(\d+)/(\d+)")


def _publish(feed_server: FeedServer, round_no: int) -> None:
    """Give every source the real fixture, plus one new Kaspersky item per source from round 1 on."""
    for n in range(SOURCES):
        extra = [
            rss_item(
                f"Regulator bans Kaspersky software, notice {n}-{r}", f"https://kaspersky.example/{n}/{r}"
            )
            for r in range(1, round_no + 1)
        ]
        feed_server.set(f"/f{n}.xml", with_items(NASA, *extra))


def _make_due(pg_url: str) -> None:
    """The interval has passed: every source is due again (as it would be after REGWATCH_POLL_INTERVAL)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE sources SET next_check_at = '2000-01-01T00:00:00+00:00'")


def _hits(feed_server: FeedServer) -> list[int]:
    return [feed_server.hits(f"/f{n}.xml") for n in range(SOURCES)]


def _env(tmp_path: Path, feed_server: FeedServer, pg_url: str, **extra: str) -> dict[str, str]:
    urls = [feed_server.url(f"/f{n}.xml") for n in range(SOURCES)]
    return {
        "REGWATCH_SOURCES_FILE": sources_file(tmp_path, *urls),
        "REGWATCH_DATABASE_URL": pg_url,
        "REGWATCH_LEASE_SECONDS": "20",
        # The items' titles are alike: no story grouping, so each is an alert of its own.
        "REGWATCH_STORY_WINDOW_HOURS": "0",
        **extra,
    }


async def _workers(tmp_path: Path, count: int, env: dict[str, str]) -> list[tuple[int, str, str]]:
    """Start `count` workers together, each in its own folder, and wait for all."""
    folders = [tmp_path / f"w{i}" for i in range(count)]
    for folder in folders:
        folder.mkdir(exist_ok=True)
    return list(await asyncio.gather(*(regwatch(f, "worker", "--once", **env) for f in folders)))


def _state(pg_url: str) -> tuple[list[tuple[str, int]], int]:
    with psycopg.connect(pg_url) as conn:
        statuses = conn.execute(
            "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status"
        ).fetchall()
        held = conn.execute("SELECT COUNT(*) FROM leases").fetchone()
    assert held is not None
    return [(str(s), int(c)) for s, c in statuses], int(held[0])


@pytest.mark.parametrize("count", [2, 3])
async def test_workers_together_alert_each_new_item_once_and_fetch_each_source_once(
    count: int, tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    env = _env(tmp_path, feed_server, pg_url)
    _publish(feed_server, 0)
    first = await _workers(tmp_path, count, env)
    for code, _, err in first:
        assert code == 0, err
    assert _hits(feed_server) == [1] * SOURCES  # the first round: each source fetched by one worker
    assert not any("ALERT" in o for _, o, _ in first)  # a first poll records, alerts nothing

    _publish(feed_server, 1)
    _make_due(pg_url)
    second = await _workers(tmp_path, count, env)
    for code, _, err in second:
        assert code == 0, err
    assert _hits(feed_server) == [2] * SOURCES  # one more fetch per source between all the workers
    out = "".join(o for _, o, _ in second)
    alerted = [m.groups() for m in ALERT_LINK.finditer(out)]
    assert sorted(alerted) == sorted((str(n), "1") for n in range(SOURCES))  # each new item once
    polled = [int(m.group(1)) for m in re.finditer(r"worker: polled (\d+) sources \(0 failed", out)]
    assert len(polled) == count and sum(polled) == SOURCES
    delivered = [int(m.group(1)) for m in re.finditer(r"delivered (\d+) alerts", out)]
    assert sum(delivered) == SOURCES
    assert _state(pg_url) == ([("sent", SOURCES)], 0)  # nothing pending, every lease given back


async def test_a_worker_killed_after_a_send_is_taken_over_and_each_alert_goes_out_once(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    env = _env(tmp_path, feed_server, pg_url, REGWATCH_LEASE_SECONDS="2")
    _publish(feed_server, 0)
    ((code, _, err),) = await _workers(tmp_path, 1, env)
    assert code == 0, err
    _publish(feed_server, 1)
    _make_due(pg_url)
    # The worker dies (SIGKILL) right after its third alert was printed, before marking it sent:
    # it keeps the console channel's lease, which nobody renews.
    ((code, killed_out, _),) = await _workers(tmp_path, 1, {**env, "REGWATCH_FAILPOINTS": "after_send@3"})
    assert code == -9
    printed = [m.groups() for m in ALERT_LINK.finditer(killed_out)]
    assert len(printed) == 3
    statuses, held = _state(pg_url)
    assert dict(statuses) == {"pending": SOURCES - 2, "sent": 2} and held == 1
    # A new worker finds nothing due to poll, waits for the dead worker's lease to expire, then
    # delivers the rest: the one printed but not marked is printed again (the console has no
    # nonce to drop it; Discord would), every other alert once.
    ((code, out, err),) = await _workers(tmp_path, 1, env)
    assert code == 0, err
    rest = [m.groups() for m in ALERT_LINK.finditer(out)]
    every = {(str(n), "1") for n in range(SOURCES)}
    assert len(rest) == len(set(rest)) == SOURCES - 2
    assert set(rest) == every - set(printed[:2])
    assert _state(pg_url) == ([("sent", SOURCES)], 0)


async def test_two_workers_post_to_discord_over_rest_each_item_once_per_channel(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    from tests.fakediscord import FakeDiscord

    async with FakeDiscord() as fake:
        channels = [fake.add_channel(f"alerts-{n}") for n in range(4)]
        env = _env(
            tmp_path,
            feed_server,
            pg_url,
            REGWATCH_DISCORD_TOKEN=fake.token,
            REGWATCH_DISCORD_API_BASE=fake.api_base,
            REGWATCH_DISCORD_GATEWAY_URL=fake.gateway_url,
        )
        await _subscribe_and_prime(tmp_path, feed_server, pg_url, channels, env)
        second = await _workers(tmp_path, 2, env)
        for code, _, err in second:
            assert code == 0, err
        assert _hits(feed_server) == [2] * SOURCES
        every = sorted(f"https://kaspersky.example/{n}/1" for n in range(SOURCES))
        for channel in channels:
            posted = [e["url"] for m in fake.messages(channel.id) for e in m["embeds"]]
            assert sorted(posted) == every, channel.name  # each item once in each channel
        assert fake.gateway.identifies == []  # workers never open a gateway session
        nonces = [c.json["nonce"] for c in fake.requests("POST", r"^/channels/\d+/messages$")]
        assert len(nonces) == len(set(nonces))
        # The console subscriptions of the subscriptions file alert too, once per item.
        assert _state(pg_url) == ([("sent", SOURCES * (len(channels) + 1))], 0)


async def _subscribe_and_prime(
    tmp_path: Path, feed_server: FeedServer, pg_url: str, channels: list[Any], env: dict[str, str]
) -> None:
    """Subscribe each channel to Kaspersky, let two workers prime the feeds, publish, make all due."""
    (tmp_path / "setup").mkdir()
    for channel in channels:
        code, _, err = await regwatch(
            tmp_path / "setup", "subs", "add", "vendor:Kaspersky", "--target", f"discord:{channel.id}", **env
        )
        assert code == 0, err
    _publish(feed_server, 0)
    for code, _, err in await _workers(tmp_path, 2, env):
        assert code == 0, err
    _publish(feed_server, 1)
    _make_due(pg_url)


async def _wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_two_running_workers_share_the_work_and_give_their_leases_back_on_sigterm(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    env = {
        **env_for(tmp_path),
        **_env(tmp_path, feed_server, pg_url),
        "REGWATCH_POLL_INTERVAL_SECONDS": "5",
        "REGWATCH_LOG_LEVEL": "INFO",
    }
    (tmp_path / "subs.toml").write_text(SUBS)
    _publish(feed_server, 0)
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    processes = []
    for log in logs:
        with log.open("wb") as output:
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "worker", cwd=tmp_path, env=env, stdout=output, stderr=output
                )
            )
    try:
        await _wait_for(lambda: min(_hits(feed_server)) >= 1)  # every source primed by one of them
        _publish(feed_server, 1)
        await _wait_for(lambda: _state(pg_url)[0] == [("sent", SOURCES)])
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            assert await asyncio.wait_for(process.wait(), 60) == 0
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    out = "".join(log.read_text() for log in logs)
    alerted = [m.groups() for m in ALERT_LINK.finditer(out)]
    assert sorted(alerted) == sorted((str(n), "1") for n in range(SOURCES)), out[-3000:]
    assert _state(pg_url) == ([("sent", SOURCES)], 0)  # every lease given back on SIGTERM
    assert out.count("stopped cleanly") == 2


async def test_a_worker_killed_after_a_discord_post_is_taken_over_without_a_second_message(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    from tests.fakediscord import FakeDiscord

    async with FakeDiscord() as fake:
        channels = [fake.add_channel(f"alerts-{n}") for n in range(2)]
        (tmp_path / "none.toml").write_text("")
        env = _env(
            tmp_path,
            feed_server,
            pg_url,
            REGWATCH_LEASE_SECONDS="2",
            REGWATCH_SUBSCRIPTIONS_FILE=str(tmp_path / "none.toml"),  # Discord subscriptions only
            REGWATCH_DISCORD_TOKEN=fake.token,
            REGWATCH_DISCORD_API_BASE=fake.api_base,
            REGWATCH_DISCORD_GATEWAY_URL=fake.gateway_url,
        )
        await _subscribe_and_prime(tmp_path, feed_server, pg_url, channels, env)
        # Two workers; the first Discord message accepted kills its worker before it is marked sent.
        killed, survivor = await _workers(tmp_path, 2, env | {"REGWATCH_FAILPOINTS": "after_send@1"})
        codes = sorted([killed[0], survivor[0]])
        assert codes[0] == -9  # at least one worker died right after a POST
        # Whatever is left (the killed worker's channel, once its lease expired) goes out now.
        ((code, _, err),) = await _workers(tmp_path, 1, env)
        assert code == 0, err
        every = sorted(f"https://kaspersky.example/{n}/1" for n in range(SOURCES))
        for channel in channels:
            posted = [e["url"] for m in fake.messages(channel.id) for e in m["embeds"]]
            assert sorted(posted) == every, (
                channel.name
            )  # each item once per channel: the re-send was dropped
        nonces = [c.json["nonce"] for c in fake.requests("POST", r"^/channels/\d+/messages$")]
        assert len(nonces) > len(set(nonces))  # the re-send carried the same nonce as the killed post
        assert _state(pg_url) == ([("sent", SOURCES * len(channels))], 0)

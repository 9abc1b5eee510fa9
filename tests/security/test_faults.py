"""Faults: Discord storms and outages, gateway drops, broken sources, a locked or full database, kills.

Each case asserts the outcome: every expected alert delivered exactly once, nothing half written,
the service still running. SIGTERM in the middle of a poll is tested in tests/test_service.py
(test_health_metrics_and_sigterm_mid_poll_leave_an_intact_outbox); single kills at the two
failpoints in tests/test_cli.py and tests/chat/test_bot_process.py. Here: the rest, and a seeded
campaign of SIGKILLs at random moments.
"""

from __future__ import annotations

import io
import logging
import random
import re
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import build_services
from bot.delivery.console import ConsoleSink
from bot.settings import Settings, load_settings
from bot.storage import sources
from tests.chat.running import Regwatch, kaspersky_item
from tests.chat.test_bot_process import Deployment
from tests.fakediscord import FakeDiscord
from tests.feedserver import RESET, FeedServer
from tests.helpers import rss_item, with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"
MESSAGES = r"^/channels/\d+/messages$"
SUBS = '[[subscription]]\nname = "k"\nquery = "kaspersky"\n'


def item(n: int) -> str:
    """Return a fresh RSS item about Kaspersky, number n."""
    return rss_item(f"Kaspersky notice {n}", f"https://example.gov/k/{n}", guid=f"k-{n}")


def settings_for(tmp_path: Path, url: str, **overrides: object) -> Settings:
    """Return settings for one source at `url` and one console subscription."""
    (tmp_path / "sources.toml").write_text(f'[[source]]\nname = "F"\nurl = "{url}"\n')
    (tmp_path / "subs.toml").write_text(SUBS)
    return load_settings(
        **{
            "database_path": tmp_path / "regwatch.db",
            "sources_file": tmp_path / "sources.toml",
            "subscriptions_file": tmp_path / "subs.toml",
            "allow_private_networks": True,
            "poll_interval_seconds": 60,
            "http_timeout_seconds": 5,
            **overrides,
        }
    )


# -- Discord -----------------------------------------------------------------------------------


async def test_429_storm_and_5xx_deliver_every_alert_exactly_once(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("kaspersky")
    storm = fake.inject("POST", MESSAGES, 429, times=12, retry_after=0.01)
    app.publish(
        *(kaspersky_item(title=f"Kaspersky notice {n}", link=f"https://example.gov/k/{n}") for n in range(5))
    )
    _, sent = await app.poll_and_deliver()
    # discord.py waits out each 429 and gives up after five tries; the alerts stay pending and
    # are retried as the (injected) clock moves, until the storm is over.
    assert storm.hits == 5 and sent == 0
    for minutes in (5, 10, 20, 40):
        app.clock.offset = timedelta(minutes=minutes)
        sent += (await app.services.dispatcher.drain()).sent
    assert storm.hits == 12 and sent == 5
    # Then Discord has an outage: 503s (not retried by discord.py) for a while, some after the
    # message was made. Nothing is lost and nothing doubles.
    fake.inject("POST", MESSAGES, 503, times=2, after_commit=True)
    fake.inject("POST", MESSAGES, 503, times=3)
    app.publish(
        *(
            kaspersky_item(title=f"Kaspersky notice {n}", link=f"https://example.gov/k/{n}")
            for n in range(5, 8)
        )
    )
    await app.poll_and_deliver()
    for hours in range(1, 49):  # retries fall due as the (injected) clock moves, backing off
        app.clock.offset = timedelta(hours=hours)
        await app.services.dispatcher.drain()
        if {row[1] for row in await app.outbox_rows()} == {"sent"}:
            break
    urls = [e["url"] for m in fake.messages(fake.channel.id) for e in m["embeds"]]
    assert sorted(urls) == sorted(f"https://example.gov/k/{n}" for n in range(8))
    assert {row[1] for row in await app.outbox_rows()} == {"sent"}


async def test_gateway_disconnects_and_resumes_while_alerts_keep_flowing(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("kaspersky")
    await fake.disconnect_gateway(4000)
    app.publish(kaspersky_item(title="Kaspersky notice 1", link="https://example.gov/k/1"))
    _, sent = await app.poll_and_deliver()
    assert sent == 1  # REST does not need the gateway
    await fake.wait_resumed()
    await fake.invalidate_session(resumable=False)  # a full re-IDENTIFY
    await fake.wait_ready(count=2, timeout=60)  # discord.py waits a few seconds before IDENTIFY
    app.publish(kaspersky_item(title="Kaspersky notice 2", link="https://example.gov/k/2"))
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    assert [m["embeds"][0]["url"] for m in fake.messages(fake.channel.id)] == [
        "https://example.gov/k/1",
        "https://example.gov/k/2",
    ]
    assert "(subscription" in (await fake.invoke("watch keywords", options={"query": "huawei"})).content


# -- sources -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["timeout", "reset"])
async def test_source_timeout_or_reset_fails_cleanly_backs_off_then_recovers(
    tmp_path: Path, feed_server: FeedServer, fault: str
) -> None:
    url = feed_server.set("/f.xml", with_items(NASA))
    out = io.StringIO()
    settings = settings_for(tmp_path, url, http_timeout_seconds=0.5)
    async with build_services(settings, sinks={"console": ConsoleSink(out)}) as services:
        await services.scheduler.poll_all()
        if fault == "timeout":
            feed_server.set("/f.xml", with_items(NASA, item(1)), delay=3)
            expected = "timed out after 0.5 s"
        else:
            feed_server.set("/f.xml", with_items(NASA, item(1)))
            feed_server.reset("/f.xml")
            expected = "connection broken while reading the response"
        [failed] = await services.scheduler.poll_all()
        assert failed.status == "failed" and expected in (failed.error or "")
        [src] = await services.adb.call(sources.list_sources)
        assert src.failures == 1 and expected in (src.last_error or "")
        assert src.next_check_at > datetime.now(UTC) + timedelta(seconds=30)  # backed off
        if fault == "reset":
            assert feed_server.requests[-1].status == RESET
        feed_server.set("/f.xml", with_items(NASA, item(1)))
        [ok] = await services.scheduler.poll_all()
        assert ok.status == "new" and ok.alerts == 1
        assert (await services.dispatcher.drain()).sent == 1
        [src] = await services.adb.call(sources.list_sources)
        assert src.failures == 0 and src.last_error is None
    assert out.getvalue().count("Kaspersky notice 1") == 1


# -- the database ------------------------------------------------------------------------------


async def test_locked_database_fails_the_poll_cleanly_and_the_next_poll_alerts_once(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = feed_server.set("/f.xml", with_items(NASA))
    out = io.StringIO()
    async with build_services(settings_for(tmp_path, url), sinks={"console": ConsoleSink(out)}) as services:
        await services.scheduler.poll_all()
        await services.adb.call(lambda db: db.execute("PRAGMA busy_timeout=200"))  # not 30 s in a test
        feed_server.set("/f.xml", with_items(NASA, item(1)))
        other = sqlite3.connect(tmp_path / "regwatch.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            with caplog.at_level(logging.WARNING):
                [failed] = await services.scheduler.poll_all()
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert failed.status == "failed" and "database is locked" in (failed.error or "")
        [line] = [r.getMessage() for r in caplog.records if "could not store the poll" in r.getMessage()]
        assert line == "source 1 (F): could not store the poll, nothing was stored: database is locked"
        counts = await services.adb.call(
            lambda db: db.execute(
                "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM outbox)"
            ).fetchone()
        )
        assert counts == (4, 0)  # the primed items only: nothing half written
        [ok] = await services.scheduler.poll_all()
        assert ok.status == "new" and ok.alerts == 1
        assert (await services.dispatcher.drain()).sent == 1
    assert out.getvalue().count("Kaspersky notice 1") == 1


async def test_full_disk_fails_cleanly_keeps_running_and_recovers(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = feed_server.set("/f.xml", with_items(NASA))
    out = io.StringIO()
    async with build_services(settings_for(tmp_path, url), sinks={"console": ConsoleSink(out)}) as services:
        await services.scheduler.poll_all()

        def fill(db: object) -> int:
            conn = services.adb.db.conn
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={pages}")  # no room for one more page: SQLITE_FULL
            return pages

        pages = await services.adb.call(fill)
        many = [item(n) for n in range(1, 300)]  # enough new rows to need new pages
        feed_server.set("/f.xml", with_items(NASA, *many))
        with caplog.at_level(logging.WARNING):
            [failed] = await services.scheduler.poll_all()
        assert failed.status == "failed" and "database or disk is full" in (failed.error or "")
        [line] = [r.getMessage() for r in caplog.records if "could not store the poll" in r.getMessage()]
        assert line.endswith("nothing was stored: database or disk is full")
        counts = await services.adb.call(
            lambda db: db.execute(
                "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM outbox)"
            ).fetchone()
        )
        assert counts == (4, 0)
        await services.adb.call(
            lambda db: db.execute(f"PRAGMA max_page_count={pages * 1000}")
        )  # space is back
        [ok] = await services.scheduler.poll_all()
        assert ok.status == "new" and ok.alerts == 299
        assert (await services.dispatcher.drain()).sent == 299
    printed = out.getvalue()
    assert all(printed.count(f"Kaspersky notice {n}\n") == 1 for n in range(1, 300))


# -- SIGKILL at chosen points of the work -------------------------------------------------------

# Every point where a kill could lose or double an alert (bot/failpoints.py): inside the poll's
# transaction before its outbox rows, after the commit before any POST, after a POST before the
# alerts are marked, after the second message of a channel's batch run, after a digest's POST.
KILL_POINTS = ("store_before_outbox", "after_enqueue", "after_send", "after_send@2", "after_digest_post")
DIGEST_LINK = re.compile(r"\(<(https://example\.gov/k/\d+)>\)")


async def test_sigkill_campaign_delivers_every_alert_exactly_once(
    fake_discord: FakeDiscord, feed_server: FeedServer, tmp_path: Path
) -> None:
    """Kill `regwatch` with SIGKILL at seeded random choices of failpoints, publishing between runs.

    Each round publishes new items and runs `run --once` (or, for a digest point, `digest run`)
    armed to die at one point; the round asserts the process did die there, so the campaign
    cannot pass by finishing early. The fake Discord honours nonce + enforce_nonce like Discord,
    and a message is rebuilt after a crash with the alerts it was composed with, so a re-send finds
    the message made before the kill. At the end every published item is in the instant channel
    exactly once, in the digest channel exactly once, and the outbox is all sent.
    """
    rng = random.Random(11)
    plan = [*KILL_POINTS, *rng.choices(KILL_POINTS, k=4)]
    rng.shuffle(plan)
    deployment = Deployment(fake_discord, feed_server, tmp_path)
    instant = fake_discord.channel
    digests = fake_discord.world.add_channel(fake_discord.guild.id, "digests")
    for channel in (instant, digests):
        code, out = await deployment.run("subs", "add", "kaspersky", "--target", f"discord:{channel.id}")
        assert code == 0, out
    code, out = await deployment.run("subs", "schedule", "2", "daily", "09:00")
    assert code == 0, out
    code, out = await deployment.run("run", "--once")  # the first poll records, alerts nothing
    assert code == 0, out

    published: list[str] = []
    killed_at: list[str] = []
    for point in plan:
        # A second message in one run needs more alerts than one message holds (10 embeds).
        count = 12 if point == "after_send@2" else rng.randint(1, 3)
        published[:0] = [item(len(published) + n) for n in range(count)]
        feed_server.set("/feed.xml", with_items(NASA, *published))
        if point == "after_digest_post":
            code, out = await deployment.run("run", "--once")
            assert code == 0, out
            code, out = await deployment.run("digest", "run", REGWATCH_FAILPOINTS=point)
        else:
            code, out = await deployment.run("run", "--once", REGWATCH_FAILPOINTS=point)
        assert code == -signal.SIGKILL, f"not killed at {point} (exit {code}):\n{out}"
        killed_at.append(point)

    for command in (("run", "--once"), ("run", "--once"), ("digest", "run")):  # restarts finish the work
        code, out = await deployment.run(*command)
        assert code == 0, out
    assert set(killed_at) == set(KILL_POINTS) and len(killed_at) >= 4
    expected = sorted(f"https://example.gov/k/{n}" for n in range(len(published)))
    # (alerts waiting together go out batched: up to 10 embeds per message)
    urls = [e["url"] for m in fake_discord.messages(instant.id) for e in m["embeds"]]
    assert sorted(urls) == expected, f"killed at {killed_at}"
    digest_links = [
        link
        for m in fake_discord.messages(digests.id)
        for e in m["embeds"]
        for link in DIGEST_LINK.findall(e.get("description", ""))
    ]
    assert sorted(digest_links) == expected, f"killed at {killed_at}"
    assert {status for status, _ in deployment.outbox()} == {"sent"}

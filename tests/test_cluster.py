"""The cluster test: 3 `regwatch worker` processes on one PostgreSQL, 60 sources, 21 Discord channels.

The loopback feed server serves 60 sources; the fake Discord holds 20 channels with an instant
subscription each (60 new items per channel: batches of up to 10, the default rate cap of 5
messages per 5 s) and one channel with a daily digest that is due. Three story copies (one
headline on sources 0-2) make one first alert and two additions per channel, shown as edits of
the first message. A round of three workers is SIGKILLed at a failpoint (REGWATCH_FAILPOINTS,
armed in all three: whichever reaches it dies): after a POST, mid-batch (the second message),
or mid-digest. Then rounds of three fresh workers run until the work is done (a deadline, not
a fixed wait; leases last 2 s so the takeover is quick). Asserted: every (item, channel) visible
exactly once, exactly one digest, each source fetched exactly once per interval, and at the end
an outbox all sent and an empty lease table.

Selected alone with `-m cluster`; it runs in the normal suite too.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.domain.delivery_schedule import parse_schedule
from bot.storage import delivery_settings, subscriptions
from bot.storage.db import connect
from tests.chat.running import shown
from tests.fakediscord import FakeDiscord
from tests.feedserver import FeedServer
from tests.helpers import rss_item, with_items
from tests.test_cli import NASA, regwatch, sources_file

pytestmark = pytest.mark.cluster

SOURCES = 60
CHANNELS = 20
WORKERS = 3
STORY = (0, 1, 2)  # these sources carry one story under one headline: a first alert and two additions
DIGESTED = (3, 4, 5)  # the digest subscription's items
ITEM_URL = re.compile(r"https://regulator\.example/notice/\d+")


def _url(n: int) -> str:
    return f"https://regulator.example/notice/{n}"


def _publish(feed_server: FeedServer, *, new: bool) -> None:
    """Each source: the real fixture; from round 1 on, one new Kaspersky notice of its own."""
    for n in range(SOURCES):
        extra = []
        if new:
            if n in STORY:
                title = "Commerce Department sales ban on Kaspersky software takes effect, notice 7777"
            elif n in DIGESTED:  # not an urgent action: it waits for the digest
                title = f"Regulator reviews Kaspersky software, notice {1000 + n}"
            else:
                title = f"Regulator bans Kaspersky software, notice {1000 + n}"
            extra.append(rss_item(title, _url(n)))
        feed_server.set(f"/f{n}.xml", with_items(NASA, *extra))


def _hits(feed_server: FeedServer) -> list[int]:
    return [feed_server.hits(f"/f{n}.xml") for n in range(SOURCES)]


def _query(pg_url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def _done(pg_url: str) -> bool:
    statuses = _query(pg_url, "SELECT DISTINCT status FROM outbox")
    return statuses == [("sent",)] and _query(pg_url, "SELECT COUNT(*) FROM leases") == [(0,)]


async def _round(tmp_path: Path, env: dict[str, str], name: str, **extra: str) -> list[Any]:
    folders = [tmp_path / f"{name}-w{i}" for i in range(WORKERS)]
    for folder in folders:
        folder.mkdir(exist_ok=True)
    done = await asyncio.gather(*(regwatch(f, "worker", "--once", **env, **extra) for f in folders))
    for code, _, err in done:
        assert code in (0, -9), err
    if extra.get("REGWATCH_LOG_LEVEL") == "DEBUG":
        return [
            [code, *[line for line in err.splitlines() if "igest" in line or "chore" in line]]
            for code, _, err in done
        ]
    return [code for code, _, _ in done]


def _visible(fake: FakeDiscord, channel_id: int) -> list[str]:
    """Every item link shown in a channel's live messages (after edits), once per message it is in."""
    found = []
    for message in fake.messages(channel_id):
        found += sorted(set(ITEM_URL.findall(json.dumps(message))))
    return found


@pytest.mark.parametrize("failpoint", ["after_send", "after_send@2", "after_digest_post"])
async def test_three_workers_one_killed_at_a_failpoint_deliver_everything_once(
    failpoint: str, tmp_path: Path, feed_server: FeedServer, pg_url: str
):
    async with FakeDiscord() as fake:
        channels = [fake.add_channel(f"alerts-{n}") for n in range(CHANNELS)]
        digest_channel = fake.add_channel("digest")
        (tmp_path / "none.toml").write_text("")
        env = {
            "REGWATCH_SOURCES_FILE": sources_file(
                tmp_path, *(feed_server.url(f"/f{n}.xml") for n in range(SOURCES))
            ),
            "REGWATCH_SUBSCRIPTIONS_FILE": str(tmp_path / "none.toml"),  # Discord subscriptions only
            "REGWATCH_DATABASE_URL": pg_url,
            "REGWATCH_LEASE_SECONDS": "2",
            "REGWATCH_DISCORD_TOKEN": fake.token,
            "REGWATCH_DISCORD_API_BASE": fake.api_base,
            "REGWATCH_DISCORD_GATEWAY_URL": fake.gateway_url,
        }
        now = datetime.now(UTC)
        db = connect(pg_url)
        try:
            for channel in channels:
                subscriptions.add(
                    db, "vendor:Kaspersky", f"discord:{channel.id}", now, guild_id=fake.guild.id
                )
            digest = subscriptions.add(
                db,
                " OR ".join(f'"notice {1000 + n}"' for n in DIGESTED),
                f"discord:{digest_channel.id}",
                now - timedelta(days=2),
                guild_id=fake.guild.id,
            )
        finally:
            db.conn.close()

        _publish(feed_server, new=False)
        assert await _round(tmp_path, env, "prime") == [0] * WORKERS
        assert _hits(feed_server) == [1] * SOURCES  # each source fetched by one worker

        # The digest subscription turns daily now: its alerts of this round wait for the digest.
        db = connect(pg_url)
        try:
            delivery_settings.set_schedule(db, digest.id, parse_schedule("daily", "00:00"), now)
        finally:
            db.conn.close()
        _publish(feed_server, new=True)
        _query(pg_url, "UPDATE sources SET next_check_at = '2000-01-01T00:00:00+00:00' RETURNING id")
        mid_digest = failpoint == "after_digest_post"
        codes = await _round(
            tmp_path, env, "kill", **({} if mid_digest else {"REGWATCH_FAILPOINTS": failpoint})
        )
        assert mid_digest or -9 in codes, codes  # a worker died at the failpoint
        assert _hits(feed_server) == [2] * SOURCES  # every poll of the round finished before the kill
        # Every alert of the digest is planned into it now; the period ends (it began two days ago).
        assert _query(pg_url, f"SELECT status FROM outbox WHERE subscription_id = {digest.id}") == [
            ("digest",)
        ] * len(DIGESTED)
        _query(pg_url, "UPDATE digest_state SET last_digest_at = '2000-01-01T00:00:00+00:00' RETURNING 1")
        codes = await _round(
            tmp_path, env, "digest", **({"REGWATCH_FAILPOINTS": failpoint} if mid_digest else {})
        )
        assert not mid_digest or -9 in codes, codes  # the digest's poster died right after its POST

        # Fresh workers until everything is sent and every lease is gone (the killed worker's
        # leases expire after 2 s, are taken over, and those left are purged by a chore holder).
        deadline = time.monotonic() + 180
        rounds = 0
        last: object = None
        while not _done(pg_url):
            assert time.monotonic() < deadline, (
                _query(pg_url, "SELECT status, COUNT(*) FROM outbox GROUP BY status")
                + _query(pg_url, "SELECT kind, key, owner FROM leases")
                + _query(pg_url, "SELECT * FROM digest_state")
                + [last]
            )
            rounds += 1
            last = await _round(tmp_path, env, f"after{rounds}", REGWATCH_LOG_LEVEL="DEBUG")

        assert _hits(feed_server) == [2] * SOURCES  # nothing fetched again: the round's polls had committed
        every = sorted(_url(n) for n in range(SOURCES))
        every = {_url(n) for n in range(SOURCES)}
        story_urls = {_url(n) for n in STORY}
        for channel in channels:
            # What was posted: each message (one nonce) carries the same items on every re-send,
            # and each item is in exactly one message; the story's later copies are never posted.
            by_nonce: dict[str, list[str]] = {}
            for call in fake.requests("POST", rf"^/channels/{channel.id}/messages$"):
                urls = sorted(set(ITEM_URL.findall(json.dumps(call.json))))
                assert by_nonce.setdefault(call.json["nonce"], urls) == urls, channel.name
            posted = [u for urls in by_nonce.values() for u in urls]
            assert len(posted) == len(set(posted)), (channel.name, by_nonce)  # no item in two messages
            # One copy of the story (whichever was stored first) is its first alert.
            firsts = set(posted) & story_urls
            assert len(firsts) == 1, (channel.name, firsts)  # one first alert per story
            [first_url] = firsts
            assert set(posted) == every - story_urls | {first_url}, channel.name
            assert len(fake.messages(channel.id)) == len(by_nonce)  # Discord dropped every re-send
            # The story's copies were added as edits of the first alert's message, not posted.
            [first] = [m for m in fake.messages(channel.id) if first_url in ITEM_URL.findall(json.dumps(m))]
            edits = fake.requests("PATCH", rf"^/channels/{channel.id}/messages/{first['id']}$")
            edited = {u for call in edits for u in ITEM_URL.findall(json.dumps(call.json))}
            assert edited >= story_urls, channel.name
            # What is visible now: every item once, the story's copies listed on its first alert,
            # and the first alert's batch-mates still in the edited message.
            live = _visible(fake, channel.id)
            assert len(live) == len(set(live)), channel.name
            assert set(live) == every, (channel.name, every - set(live))
        [posted] = fake.messages(digest_channel.id)  # exactly one digest, of its three alerts
        assert shown(posted["content"]).startswith(
            f"Daily digest at 00:00 for subscription #{digest.id}: 3 alerts"
        )
        assert sorted(set(ITEM_URL.findall(json.dumps(posted)))) == sorted(_url(n) for n in DIGESTED)
        nonces = [c.json["nonce"] for c in fake.requests("POST", r"^/channels/\d+/messages$")]
        messages = sum(len(fake.messages(c.id)) for c in [*channels, digest_channel])
        assert len(set(nonces)) == messages  # a re-send carried its message's nonce; no other repeats
        assert fake.gateway.identifies == []

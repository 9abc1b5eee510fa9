"""Server use cases on a real database: quotas, duplicates, and one server never reaching another."""

from __future__ import annotations

import re

import pytest

from bot.domain.errors import FetchError, ParseError, QueryError
from bot.domain.models import Entry
from bot.domain.vendors import VendorCatalog
from bot.services.guild import GuildService, Limits, UserError
from bot.sources.http import Fetcher
from bot.storage import sources, subscriptions
from bot.storage.sources import SourceConfig
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox, real_entries
from tests.feedserver import FeedServer

SERVER_A, SERVER_B = 111111111111111111, 222222222222222222
CHANNEL_A, CHANNEL_B = 333333333333333333, 444444444444444444
USER = 555555555555555555


def mentions_trump(entry: Entry) -> bool:
    """Tell whether the word 'Trump' is in an entry's title or text (what the query 'trump' matches)."""
    return re.search(r"\btrump\b", f"{entry.title} {entry.text}", re.IGNORECASE) is not None


def service(box: Outbox, fetcher: Fetcher, clock: Clock, **limits: object) -> GuildService:
    """Return the service on the box's database with these limits."""
    return GuildService(box.adb, VendorCatalog.load_default(), fetcher, Limits(**limits), clock=clock)  # type: ignore[arg-type]


async def test_subscribe_checks_the_query_the_quota_and_duplicates(
    box: Outbox, fetcher: Fetcher, clock: Clock
) -> None:
    guild = service(box, fetcher, clock, max_subscriptions=2)

    with pytest.raises(QueryError) as bad:
        await guild.subscribe(SERVER_A, CHANNEL_A, USER, "kaspersky AND (")
    assert bad.value.position >= 0
    sub, warnings = await guild.subscribe(SERVER_A, CHANNEL_A, USER, "vendor:Kaspersky action:ban")
    assert warnings == ()
    assert (sub.guild_id, sub.target, sub.created_by, sub.origin, sub.origin_channel_id) == (
        SERVER_A,
        f"discord:{CHANNEL_A}",
        f"discord:{USER}",
        "discord",
        CHANNEL_A,
    )
    with pytest.raises(UserError, match=rf"already has this subscription \(id {sub.id}\)"):
        await guild.subscribe(SERVER_A, CHANNEL_A, USER, "vendor:Kaspersky action:ban")
    _, unknown = await guild.subscribe(SERVER_A, CHANNEL_A, USER, "vendor:Acme", origin_channel_id=CHANNEL_B)
    assert unknown, "an unknown vendor falls back to the phrase, and the user is told"
    with pytest.raises(UserError, match=r"the most allowed \(2\)"):
        await guild.subscribe(SERVER_A, CHANNEL_B, USER, "huawei")
    other, _ = await guild.subscribe(SERVER_B, CHANNEL_B, USER, "huawei")  # the quota is per server
    assert other.guild_id == SERVER_B
    assert len(await box.call(subscriptions.list_subscriptions)) == 3


async def test_a_server_cannot_list_or_remove_another_servers_subscriptions(
    box: Outbox, fetcher: Fetcher, clock: Clock
) -> None:
    guild = service(box, fetcher, clock)
    mine, _ = await guild.subscribe(SERVER_A, CHANNEL_A, USER, "kaspersky")

    assert await guild.list_subscriptions(SERVER_B) == []
    with pytest.raises(UserError, match=f"no subscription with id {mine.id}"):
        await guild.remove_subscription(SERVER_B, mine.id)
    assert [s.id for s in await guild.list_subscriptions(SERVER_A)] == [mine.id]
    await guild.remove_subscription(SERVER_A, mine.id)
    assert await box.call(subscriptions.list_subscriptions) == []


async def test_vendor_queries_come_from_the_catalog(box: Outbox, fetcher: Fetcher, clock: Clock) -> None:
    guild = service(box, fetcher, clock)
    assert guild.vendor_query("AO Kaspersky Lab") == 'vendor:"Kaspersky"'
    assert guild.vendor_query("huawei", actions_only=True) == 'vendor:"Huawei" action:any'
    with pytest.raises(UserError, match="/watch keywords"):
        guild.vendor_query("Acme Widgets")


async def test_add_source_checks_the_address_the_interval_the_quota_and_the_feed(
    box: Outbox, fetcher: Fetcher, clock: Clock, feed_server: FeedServer
) -> None:
    guild = service(box, fetcher, clock, max_sources=1, allow_private=True)
    url = feed_server.serve_fixture("/nasa.xml", "spec_rss2sample_nasa_liftoff.xml")

    with pytest.raises(FetchError):
        await service(box, fetcher, clock).add_source(SERVER_A, url)  # private addresses refused by default
    with pytest.raises(UserError, match="at least 5"):
        await guild.add_source(SERVER_A, url, interval_minutes=1)
    not_a_feed = feed_server.serve_fixture("/page.html", "edge_not_a_feed.html")
    with pytest.raises(ParseError):
        await guild.add_source(SERVER_A, not_a_feed)
    assert feed_server.hits("/nasa.xml") == 0, "refused requests must not fetch"

    source, message = await guild.add_source(SERVER_A, f"  {url} ", interval_minutes=30)
    assert (source.guild_id, source.origin, source.interval_seconds, source.name) == (
        SERVER_A,
        "discord",
        1800,
        "Liftoff News",
    )
    assert message == "RSS feed with 4 items."
    with pytest.raises(UserError, match=r"the most allowed \(1\)"):
        await guild.add_source(SERVER_A, not_a_feed)
    # Another server adding the same address gets its own entry, told exactly what a first server
    # is told: nothing says that A watches it. The URL is still one source, fetched once.
    same, told = await guild.add_source(SERVER_B, url)
    assert same.id != source.id and same.guild_id == SERVER_B and told == message
    assert len(await box.call(sources.list_sources)) == 2  # the box's source and this one


async def test_sources_visible_and_removable_are_the_servers_own(
    box: Outbox, fetcher: Fetcher, clock: Clock
) -> None:
    guild = service(box, fetcher, clock)
    await box.call(sources.sync_config, [SourceConfig("CISA news", "https://www.cisa.gov/news.xml")], clock())
    [catalog] = [s for s in await box.call(sources.list_sources) if s.origin == "config"]
    own_a = await box.call(
        sources.add_for_guild, SourceConfig("A's feed", "https://a.example/feed"), clock(), SERVER_A
    )
    assert own_a is not None

    assert {s.id for s in await guild.visible_sources(SERVER_A)} == {catalog.id, own_a.id}
    assert {s.id for s in await guild.visible_sources(SERVER_B)} == {catalog.id}
    for server, source_id in ((SERVER_B, own_a.id), (SERVER_A, catalog.id), (SERVER_A, 999)):
        with pytest.raises(UserError, match=f"no source of its own with id {source_id}"):
            await guild.remove_source(server, source_id)
    removed = await guild.remove_source(SERVER_A, own_a.id)
    assert removed.id == own_a.id and await box.call(sources.get, own_a.id) is None


async def test_preview_recent_alerts_and_why_see_only_what_the_server_may_see(
    box: Outbox, fetcher: Fetcher, clock: Clock
) -> None:
    guild = service(box, fetcher, clock)
    shared = real_entries()[:20]
    about_trump = sum(1 for e in shared if mentions_trump(e))
    sub_a, _ = await guild.subscribe(SERVER_A, CHANNEL_A, USER, "trump")
    await box.enqueue(sub_a.id, 20)  # the shared source's items, alerting server A
    own_b = await box.call(
        sources.add_for_guild, SourceConfig("B's feed", "https://b.example/feed"), clock(), SERVER_B
    )
    assert own_b is not None
    more = real_entries()[20:40]
    await box.enqueue([], 20, source_id=own_b.id)  # B's own source: items, no alerts

    seen_by_a = await guild.preview("trump", guild_id=SERVER_A, limit=3)
    seen_by_b = await guild.preview("trump", guild_id=SERVER_B, limit=3)
    assert (seen_by_a.scanned, seen_by_a.total) == (20, about_trump) and len(seen_by_a.top) == 3
    in_b = sum(1 for e in more if mentions_trump(e))
    assert (seen_by_b.scanned, seen_by_b.total) == (40, about_trump + in_b)
    assert sum(n for _, n in seen_by_a.per_day) == about_trump
    clock.advance(days=2)
    assert (await guild.preview("trump", days=1, guild_id=SERVER_A)).scanned == 0

    recent_a = await guild.recent_alerts(SERVER_A, count=100)
    assert len(recent_a) == 20 and all(status == "pending" for _, status in recent_a)  # capped at 25
    assert [a.id for a, _ in recent_a] == sorted((a.id for a, _ in recent_a), reverse=True)
    assert await guild.recent_alerts(SERVER_B) == []
    assert len(await guild.recent_alerts(SERVER_A, count=0)) == 1

    alerted = real_entries()[0].link
    assert alerted is not None
    why_a = await guild.why(SERVER_A, alerted)
    assert why_a.found and any(f"Subscription {sub_a.id} (trump)" in line for line in why_a.lines)
    why_b = await guild.why(SERVER_B, alerted)
    assert why_b.found and why_b.lines[-1] == "This server has no subscriptions."
    hidden = more[0].link
    assert hidden is not None
    assert not (await guild.why(SERVER_A, hidden)).found  # another server's own source stays hidden
    assert (await guild.why(SERVER_B, hidden)).found

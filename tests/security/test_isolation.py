"""Tenant isolation: a server can read, remove and target only what is its own.

Every id a command takes is checked against the caller's server in bot/services/guild.py
(`remove_subscription`, `remove_source`, `recent_alerts`, `why` filter by guild id). The
per-command cases in tests/chat/test_bot_e2e.py (test_servers_are_isolated,
test_sources_are_per_server, test_alerts_recent_and_why_are_per_server) are the long forms;
here each cross-server attempt is made in turn and must fail with a plain message, changing nothing.
"""

from __future__ import annotations

import json
import re

import pytest

from bot.domain.clock import utcnow
from bot.storage import items, sources, subscriptions
from bot.storage.items import NewAlert, NewItem
from tests.chat.running import Regwatch, kaspersky_item
from tests.fakediscord import FakeDiscord, Permission
from tests.fakediscord.options import OptionError
from tests.helpers import with_items

NASA = "spec_rss2sample_nasa_liftoff.xml"


async def other_server(app: Regwatch) -> tuple[object, object]:
    """Add a second server with its own admin; wait until the bot sees it."""
    fake = app.fake
    other = fake.add_guild("Other Server")
    admin = fake.add_member("other-admin", permissions=Permission.MANAGE_GUILD, guild_id=other.id)
    await fake.wait_for(lambda: app.bot.get_guild(other.id))
    return other, admin


async def test_cross_server_ids_are_refused_and_nothing_changes(app: Regwatch) -> None:
    fake = app.fake
    other, other_admin = await other_server(app)
    as_other = {"guild_id": other.id, "user_id": other_admin.user.id}  # type: ignore[attr-defined]
    mine = await app.subscribe("kaspersky")
    url = app.feeds.set("/mine.xml", with_items(NASA))
    added = await fake.invoke("source add", options={"url": url, "name": "My vendor blog"})
    found = re.search(r"\(source (\d+)\)", added.content)
    assert found, added.content
    my_source = int(found.group(1))

    # Remove: my subscription and my source, from the other server.
    refused = await fake.invoke("watch remove", options={"id": mine}, **as_other)
    assert refused.ephemeral
    assert refused.content == f"This server has no subscription with id {mine}. /watch list shows them."
    refused = await fake.invoke("source remove", options={"id": my_source}, **as_other)
    assert (
        refused.content
        == f"This server has no source of its own with id {my_source}. /source list shows them."
    )
    # Ids that exist nowhere read the same: no oracle for which ids exist.
    missing = await fake.invoke("watch remove", options={"id": 999_999}, **as_other)
    assert missing.content == "This server has no subscription with id 999999. /watch list shows them."

    # Read: lists, autocomplete and recent alerts show nothing of mine.
    listed = await fake.invoke("watch list", **as_other)
    assert f"`{mine}`" not in listed.content and "kaspersky" not in listed.content
    assert await fake.autocomplete("watch", "remove", "id", str(mine), **as_other) == []
    assert "My vendor blog" not in (await fake.invoke("source list", **as_other)).content

    # Nothing changed.
    assert [s.id for s in await app.services.adb.call(subscriptions.list_subscriptions)] == [mine]
    assert my_source in [s.id for s in await app.services.adb.call(sources.list_sources)]


async def test_alerts_of_one_server_are_not_shown_to_another(app: Regwatch) -> None:
    fake = app.fake
    other, other_admin = await other_server(app)
    as_other = {"guild_id": other.id, "user_id": other_admin.user.id}  # type: ignore[attr-defined]
    await app.prime()
    sub_id = await app.subscribe("vendor:Kaspersky")
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    assert (await fake.invoke("alerts recent", **as_other)).content == "No alerts yet for this server."
    why = await fake.invoke(
        "alerts why", options={"link": "https://www.bis.gov/press/kaspersky-final-determination"}, **as_other
    )
    assert f"Subscription {sub_id}" not in why.content and "This server has no subscriptions." in why.content


async def test_a_channel_of_another_server_cannot_be_targeted(app: Regwatch) -> None:
    fake = app.fake
    other, _ = await other_server(app)
    their_channel = fake.add_channel("their-alerts", guild_id=other.id)  # type: ignore[attr-defined]
    # Discord resolves channel options within the invoking server only (the fake does the same),
    # so such an interaction never reaches the bot.
    with pytest.raises(OptionError, match="no such target"):
        await fake.invoke("watch keywords", options={"query": "kaspersky", "channel": their_channel})
    assert await app.services.adb.call(subscriptions.list_subscriptions) == []


async def test_preview_and_why_do_not_show_items_of_another_servers_own_source(app: Regwatch) -> None:
    fake = app.fake
    other, other_admin = await other_server(app)
    secret = app.feeds.set(
        "/secret.xml",
        with_items(NASA, kaspersky_item(title="Kaspersky internal memo", link="https://x.example/m")),
    )
    added = await fake.invoke(
        "source add", options={"url": secret, "name": "Their private feed"},
        guild_id=other.id, user_id=other_admin.user.id,  # type: ignore[attr-defined]
    )  # fmt: skip
    assert "(source " in added.content, added.content
    await app.services.scheduler.poll_all()
    preview = await fake.invoke("watch preview", options={"query": "memo"})
    assert "Kaspersky internal memo" not in preview.content
    why = await fake.invoke("alerts why", options={"link": "https://x.example/m"})
    assert "internal memo" not in why.content and "Their private feed" not in why.content
    assert "has not seen" in why.content
    # The server that owns the source sees it.
    theirs = await fake.invoke(
        "watch preview",
        options={"query": "memo"},
        guild_id=other.id,
        user_id=other_admin.user.id,  # type: ignore[attr-defined]
    )
    assert "Kaspersky internal memo" in theirs.content


def alerts_in(fake: FakeDiscord, channel_id: int) -> list[dict[str, object]]:
    """Return the alert messages in a channel (the welcome a new server gets is no alert)."""
    return [m for m in fake.messages(channel_id) if m["embeds"]]


def _embed_text(message: dict[str, object]) -> str:
    return json.dumps(message, ensure_ascii=False)


async def test_a_servers_own_source_never_alerts_or_shows_another_server(app: Regwatch) -> None:
    """A's private source: B's subscriptions never match it; B adding the same URL learns nothing."""
    fake = app.fake
    other, other_admin = await other_server(app)
    as_b = {"guild_id": other.id, "user_id": other_admin.user.id}  # type: ignore[attr-defined]
    b_channel = other.system_channel_id  # type: ignore[attr-defined]
    items: list[str] = []
    conf = app.feeds.set("/confidential.xml", with_items(NASA))
    added = await fake.invoke("source add", options={"url": conf, "name": "A's confidential feed"})
    a_id = int(re.search(r"\(source (\d+)\)", added.content).group(1))  # type: ignore[union-attr]
    await app.subscribe("kaspersky")
    await app.subscribe("kaspersky", **as_b)
    await app.services.scheduler.poll_all()  # first polls: recorded, no alerts

    items.insert(0, kaspersky_item("Kaspersky memo one", "https://conf.example/1"))
    app.feeds.set("/confidential.xml", with_items(NASA, *items))
    await app.services.scheduler.poll_all()
    assert (await app.services.dispatcher.drain()).sent == 1
    [a_alert] = fake.messages(fake.channel.id)
    assert "A's confidential feed" in _embed_text(a_alert)
    assert alerts_in(fake, b_channel) == []  # B's subscription never matched A's source
    # B sees nothing of it: not in lists, status, previews or explanations.
    for command, options in (
        ("source list", {}),
        ("source status", {}),
        ("watch preview", {"query": "memo"}),
        ("alerts why", {"link": "https://conf.example/1"}),
        ("alerts recent", {}),
    ):
        seen = await fake.invoke(command, options=options, **as_b)
        assert "confidential" not in seen.content and "memo one" not in seen.content, (command, seen.content)

    # B adds the same URL: the same answer as for a URL nobody watches (a fresh id, its own name,
    # never polled), and a fresh URL added next gets the next id: nothing tells B that A watches it.
    hits = app.feeds.hits("/confidential.xml")
    fresh_url = app.feeds.set("/fresh.xml", with_items(NASA))
    b_added = await fake.invoke("source add", options={"url": conf, "name": "B feed"}, **as_b)
    b_fresh = await fake.invoke("source add", options={"url": fresh_url, "name": "B fresh"}, **as_b)
    shape = r"Watching \*\*B (feed|fresh)\*\* \(source (\d+)\): RSS feed with \d+ items\. Its first poll"
    first, second = re.match(shape, b_added.content), re.match(shape, b_fresh.content)
    assert first and second, (b_added.content, b_fresh.content)
    b_id = int(first.group(2))
    assert b_id != a_id and int(second.group(2)) == b_id + 1
    assert "confidential" not in b_added.content and "already" not in b_added.content
    status = await fake.invoke("source status", **as_b)
    assert f"`{b_id}` B feed: not polled yet" in status.content, status.content
    assert "confidential" not in status.content

    # One fetch of the URL per poll, whoever watches it; each server's alert names its own source.
    items.insert(0, kaspersky_item("Kaspersky memo two", "https://conf.example/2"))
    app.feeds.set("/confidential.xml", with_items(NASA, *items))
    await app.services.scheduler.poll_all()
    assert app.feeds.hits("/confidential.xml") == hits + 2  # B's add-time check, then one poll
    assert (await app.services.dispatcher.drain()).sent == 2
    [b_alert] = alerts_in(fake, b_channel)
    assert "B feed" in _embed_text(b_alert) and "confidential" not in _embed_text(b_alert)
    assert "A's confidential feed" in _embed_text(fake.messages(fake.channel.id)[-1])
    assert "memo one" not in _embed_text(b_alert)

    # B removes its source: A keeps its own, and B's id means nothing to A.
    removed = await fake.invoke("source remove", options={"id": b_id}, **as_b)
    assert removed.content == f"Removed source {b_id} (B feed)."
    mine = await fake.invoke("source list")
    assert f"`{a_id}` A's confidential feed" in mine.content
    refused = await fake.invoke("source remove", options={"id": b_id})
    assert "no source of its own" in refused.content


async def test_a_private_source_is_refused_to_other_subscriptions_by_the_storage_itself(
    app: Regwatch,
) -> None:
    """Even an alert the pipeline wrongly asked for is not enqueued for a server that cannot see it."""
    other, other_admin = await other_server(app)
    conf = app.feeds.set("/confidential.xml", with_items(NASA))
    await app.fake.invoke("source add", options={"url": conf, "name": "Private"})
    await app.subscribe("kaspersky", guild_id=other.id, user_id=other_admin.user.id)  # type: ignore[attr-defined]
    adb = app.services.adb
    [private] = [s for s in await adb.call(sources.list_sources) if not s.shared]
    [b_sub] = await adb.call(subscriptions.list_subscriptions, guild_id=other.id)  # type: ignore[attr-defined]
    console = await adb.call(subscriptions.add, "kaspersky", "console", utcnow())
    wrong = [NewAlert(0, b_sub.id, b_sub.target, ("kaspersky",)), NewAlert(0, console.id, "console", ())]
    stored, enqueued = await adb.call(
        items.store_poll,
        private.id,
        utcnow(),
        utcnow(),
        [NewItem("guid:x", "x", None, None, None, "Kaspersky", "text", None)],
        wrong,
        etag=None,
        last_modified=None,
        body_hash=None,
    )
    assert (stored, enqueued) == (1, 0)

"""Story copies added to a batched message: the edit re-renders the whole message as it stands."""

from __future__ import annotations

import json
from datetime import timedelta

import discord

from bot.delivery.additions import build_story_edit
from bot.delivery.digest import DigestRunner, DigestSent
from bot.delivery.discord_sink import DiscordSink
from bot.delivery.dispatcher import DrainResult
from bot.delivery.embed import EMBED_TOTAL_MAX, embed_length
from bot.delivery.pacing import PacedDispatcher
from bot.domain.identity import canonical_link, link_key
from bot.domain.vendors import VendorCatalog
from bot.storage import items, sources
from bot.storage.items import NewAlert, NewItem
from bot.storage.outbox import StoryCopy, StoryMessage
from bot.storage.sources import SourceConfig
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox, real_entries
from tests.fakediscord import FakeDiscord


async def store_copy(box: Outbox, clock: Clock, sub: int, target: str, n: int, headline: int) -> str:
    """Store another outlet's copy of a captured headline (a story copy for `target`); return its link."""
    entry = real_entries()[headline]
    source = await box.call(
        sources.add, SourceConfig(f"Wire {n}", f"https://copies.example/{n}/rss"), clock()
    )
    link = f"https://copies.example/{n}/story"
    item = NewItem(
        f"copy-{n}", None, link, canonical_link(link), link_key(link), entry.title, entry.text, clock()
    )
    await box.call(
        items.store_poll,
        source.id,
        clock(),
        clock(),
        [item],
        [NewAlert(0, sub, target, (entry.title.split()[0],))],
        etag=None,
        last_modified=None,
        body_hash=None,
        story_window=timedelta(hours=48),
    )
    return link


def links(message: dict[str, object]) -> set[str]:
    """Return every link shown in a message's embeds (alert URLs and the copies' masked links)."""
    text = json.dumps(message)
    return {u for u in real_links() | copy_links() if u in text}


def real_links() -> set[str]:
    return {e.link for e in real_entries()[:3] if e.link}


def copy_links() -> set[str]:
    return {f"https://copies.example/{n}/story" for n in (1, 2)}


async def test_copies_added_to_a_batch_keep_every_alert_of_the_message_in_view(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    target = f"discord:{fake.channel.id}"
    sub = await box.subscribe(target=target, guild_id=fake.guild.id)
    await box.enqueue(sub, 3)
    dispatcher = PacedDispatcher(box.adb, {"discord": DiscordSink(client, box.adb, clock=clock)}, clock=clock)
    assert await dispatcher.drain() == DrainResult(sent=3)
    [batch] = fake.messages(fake.channel.id)
    assert len(batch["embeds"]) == 3 and links(batch) == real_links()
    titles = [e["title"] for e in batch["embeds"]]

    # Two outlets carry the batch's second headline; both copies come due in the same drain, so
    # the second edit is made after the first copy was sent (and must still show it).
    clock.advance(minutes=5)
    await store_copy(box, clock, sub, target, 1, headline=1)
    await store_copy(box, clock, sub, target, 2, headline=1)
    clock.advance(minutes=5)
    assert await dispatcher.drain() == DrainResult(sent=2)

    edits = fake.requests("PATCH", rf"^/channels/{fake.channel.id}/messages/{batch['id']}$")
    assert len(edits) == 2 and all(e.status == 200 for e in edits)
    [edited] = fake.messages(fake.channel.id)  # edited in place: no new message
    assert edited["id"] == batch["id"]
    assert [e["title"] for e in edited["embeds"]] == titles  # every alert of the batch, in order
    assert links(edited) == real_links() | copy_links()
    also = [[f["value"] for f in e["fields"] if f["name"] == "Also reported by"] for e in edited["embeds"]]
    assert also[0] == [] and also[2] == []
    [value] = also[1]
    assert "Wire 1" in value and "Wire 2" in value
    assert edited["content"] == batch["content"] and edited["components"] == batch["components"]
    assert all(e.json["allowed_mentions"]["parse"] == [] for e in edits)  # an edit pings nobody
    rows = await box.rows()
    assert {r.status for r in rows} == {"sent"} and {r.external_id for r in rows} == {batch["id"]}


async def test_a_message_with_many_copies_stays_within_discords_total(box: Outbox, clock: Clock) -> None:
    sub = await box.subscribe(target="discord:1", guild_id=1)
    await box.enqueue(sub, 10, text_repeat=20)
    alerts = tuple(await box.pending())
    # Long source names: each first alert lists ten copies, each name near its 80-unit cut.
    copies = tuple(
        StoryCopy(f"{'Regional wire service ' * 4}{n}", "t", f"https://c.example/{n}") for n in range(30)
    )
    edit = build_story_edit(StoryMessage(alerts, {a.id: copies for a in alerts}))
    assert len(edit["embeds"]) == 10
    assert sum(embed_length(e) for e in edit["embeds"]) <= EMBED_TOTAL_MAX
    assert all(e["fields"][-1]["name"] == "Also reported by" for e in edit["embeds"])


async def test_a_copy_of_a_story_first_told_in_a_digest_goes_out_on_its_own(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    target = f"discord:{fake.channel.id}"
    clock.now = clock().replace(minute=30)
    hourly = await box.subscribe(target=target, guild_id=fake.guild.id, mode="hourly")
    instant = await box.subscribe(target=target, guild_id=fake.guild.id)
    dispatcher = PacedDispatcher(box.adb, {"discord": DiscordSink(client, box.adb, clock=clock)}, clock=clock)
    runner = DigestRunner(box.adb, dispatcher, VendorCatalog.load_default(), clock=clock)
    await box.enqueue(hourly, 2)
    assert await dispatcher.drain() == DrainResult()  # planned into the digest
    clock.now = clock().replace(minute=0) + timedelta(hours=1)
    assert await runner.run_due() == [DigestSent(hourly, 2, 1)]
    [digest] = fake.messages(fake.channel.id)

    # Another outlet carries the digest's second headline, for the instant subscription.
    link = await store_copy(box, clock, instant, target, 1, headline=1)
    clock.advance(minutes=5)
    assert await dispatcher.drain() == DrainResult(sent=1)
    assert fake.requests("PATCH", rf"^/channels/{fake.channel.id}/messages/") == []  # the digest stays
    [kept, alone] = fake.messages(fake.channel.id)
    assert kept == digest
    assert alone["embeds"][0]["url"] == link

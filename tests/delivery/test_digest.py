"""Digests on a real outbox, sent to the fake Discord: once per period, in parts, after failures, catch-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord

from bot.delivery.digest import DigestRunner, DigestScheduler, DigestSent
from bot.delivery.discord_sink import DiscordSink
from bot.delivery.dispatcher import DrainResult
from bot.delivery.pacing import PacedDispatcher
from bot.domain.vendors import VendorCatalog
from bot.storage import delivery_settings, subscriptions
from bot.storage.delivery_settings import RateCap
from tests.chat.running import shown
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox
from tests.fakediscord import FakeDiscord

MESSAGES = r"^/channels/\d+/messages$"


def runner_for(
    box: Outbox, clock: Clock, client: discord.Client | None
) -> tuple[DigestRunner, PacedDispatcher]:
    """Return a digest runner and its dispatcher, with the Discord sink (none when client is None)."""
    sinks = {"discord": DiscordSink(client, box.adb, clock=clock)} if client is not None else {}
    dispatcher = PacedDispatcher(box.adb, sinks, clock=clock)
    return DigestRunner(box.adb, dispatcher, VendorCatalog.load_default(), clock=clock), dispatcher


async def test_a_daily_digest_goes_out_once_per_period(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    clock.now = clock().replace(hour=6)
    sub = await box.subscribe(
        target=f"discord:{fake.channel.id}", guild_id=fake.guild.id, mode="daily", at="09:00"
    )
    ids = await box.enqueue(sub, 3)
    runner, dispatcher = runner_for(box, clock, client)
    assert await dispatcher.drain() == DrainResult()  # planned into the digest, nothing posted
    assert await box.statuses() == ["digest"] * 3

    clock.now = clock().replace(hour=8, minute=59)
    assert await runner.run_due() == []
    clock.now = clock().replace(hour=9, minute=0, second=1)
    assert await runner.run_due() == [DigestSent(sub, 3, 1)]
    [message] = fake.messages(fake.channel.id)
    assert shown(message["content"]).startswith(
        f"Daily digest at 09:00 for subscription #{sub}: 3 alerts since"
    )
    rows = await box.rows()
    assert [(r.id, r.status, r.external_id) for r in rows] == [(i, "sent", message["id"]) for i in ids]

    clock.advance(minutes=30)
    assert await runner.run_due() == []  # once per period
    clock.advance(days=1)
    assert await runner.run_due() == [DigestSent(sub, 0, 0)]  # an empty period closes quietly
    assert len(fake.messages(fake.channel.id)) == 1
    [later] = await box.enqueue(sub)
    await dispatcher.drain()
    clock.advance(days=1)
    assert await runner.run_due() == [DigestSent(sub, 1, 1)]
    assert len(fake.messages(fake.channel.id)) == 2
    assert (await box.rows())[-1].id == later


async def test_a_digest_whose_post_failed_is_sent_once_later(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id, mode="hourly")
    await box.enqueue(sub, 2)
    runner, dispatcher = runner_for(box, clock, client)
    await dispatcher.drain()
    clock.advance(hours=1, seconds=1)
    # Discord made the message but the answer was lost: the retry must not post a second one.
    fake.inject("POST", MESSAGES, 503, after_commit=True)

    assert await runner.run_due() == []
    assert await box.statuses() == ["digest", "digest"]
    assert len(fake.messages(fake.channel.id)) == 1
    assert [d.id for d in await runner.due()] == [sub]  # still due
    assert await runner.run_due() == [DigestSent(sub, 2, 1)]
    [message] = fake.messages(fake.channel.id)
    assert [c.json["nonce"] for c in fake.requests("POST", MESSAGES)] == [message["nonce"]] * 2
    assert await box.statuses() == ["sent", "sent"]


async def test_a_digest_too_big_for_one_message_goes_in_parts_and_pings_once(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    role = fake.add_role("vendor-watch")
    sub = await box.subscribe(
        target=f"discord:{fake.channel.id}", guild_id=fake.guild.id, mention_role_id=role.id, mode="hourly"
    )
    await box.enqueue(sub, 80, terms=("Kaspersky Lab",), text_repeat=2)
    runner, dispatcher = runner_for(box, clock, client)
    await dispatcher.drain()

    [sent] = await runner.run_now(sub)
    messages = fake.messages(fake.channel.id)
    assert sent == DigestSent(sub, 80, len(messages)) and len(messages) > 1
    assert all(c.status == 200 for c in fake.requests("POST", MESSAGES))
    assert [m["mention_roles"] for m in messages] == [[str(role.id)]] + [[]] * (len(messages) - 1)
    for n, message in enumerate(messages, 1):
        assert f"(part {n} of {len(messages)})" in shown(message["content"])
    lines = sum(e["description"].count("\n") + 1 for m in messages for e in m["embeds"])
    assert lines == 80
    assert {r.external_id for r in await box.rows()} == {messages[0]["id"]}


async def test_alerts_a_full_channel_moved_aside_go_out_in_the_hourly_catch_up(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    clock.now = clock().replace(minute=20)
    await box.call(delivery_settings.set_rate_cap, fake.guild.id, RateCap(5, 5, overflow_cap=2))
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    await box.enqueue(sub, 4)
    runner, dispatcher = runner_for(box, clock, client)
    assert await dispatcher.drain() == DrainResult(sent=2)
    assert await box.statuses() == ["sent", "sent", "digest", "digest"]

    clock.now = clock().replace(minute=59)
    assert await runner.run_due() == []  # the first full hour after the oldest waiting alert
    clock.now = clock().replace(minute=0) + timedelta(hours=1)
    assert await runner.run_due() == [DigestSent(sub, 2, 1)]
    digest = fake.messages(fake.channel.id)[-1]
    text = shown(digest["content"])
    assert text.startswith(f"Digest for subscription #{sub}: 2 alerts")
    assert "2 of these alerts came in faster than this channel's rate cap allows" in text
    assert await runner.run_due() == []


async def test_a_digest_waits_in_a_process_without_its_sink(box: Outbox, clock: Clock) -> None:
    sub = await box.subscribe(target="discord:123456789012345678", mode="hourly")
    await box.enqueue(sub, 2)
    runner, dispatcher = runner_for(box, clock, None)
    await dispatcher.drain()
    clock.advance(hours=1, seconds=1)

    assert await runner.run_due() == []
    assert await box.statuses() == ["digest", "digest"]
    [state] = await box.call(delivery_settings.digest_subscriptions, sub)
    assert state.last_digest_at is not None and state.last_digest_at < clock() - timedelta(hours=1)


async def test_digest_jobs_follow_the_subscriptions_and_a_missed_digest_goes_out_once_at_start(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    # Cron jobs run on the wall clock: pick times hours away from it, so none fires during the test;
    # and not the test clock's hour (a day later, the next firing would be that very moment).
    wall = datetime.now(UTC).hour
    hour = next(h for h in ((wall + k) % 24 for k in range(6, 18)) if h != clock().hour)
    target = f"discord:{fake.channel.id}"
    daily = await box.subscribe(target=target, guild_id=fake.guild.id, mode="daily", at=f"{hour:02d}:00")
    await box.enqueue(daily, 2)
    runner, dispatcher = runner_for(box, clock, client)
    await dispatcher.drain()
    clock.advance(days=1)  # the service was down when the digest was due

    digests = DigestScheduler(runner, box.adb, check_seconds=3600)
    await digests.start()
    try:
        [missed] = fake.messages(fake.channel.id)
        assert "2 alerts since" in shown(missed["content"])
        fire = digests.fire_time(daily, clock())
        assert fire is not None and fire.hour == hour and clock() < fire <= clock() + timedelta(days=1)
    finally:
        await digests.stop()
    assert await box.statuses() == ["sent", "sent"]

    clock.advance(minutes=5)
    digests = DigestScheduler(runner, box.adb, check_seconds=3600)
    await digests.start()  # a restart: the missed digest went out already
    try:
        assert len(fake.messages(fake.channel.id)) == 1
        weekly = await box.subscribe(
            target=target, guild_id=fake.guild.id, mode="weekly", at=f"{hour:02d}:30", day="mon"
        )
        assert digests.fire_time(weekly, clock()) is None
        await digests.rebuild()
        weekly_fire = digests.fire_time(weekly, clock())
        assert weekly_fire is not None and weekly_fire.weekday() == 0 and weekly_fire.minute == 30
        await box.call(subscriptions.remove, daily)
        await digests.rebuild()
        assert digests.fire_time(daily, clock()) is None
    finally:
        await digests.stop()


async def test_a_digest_counts_against_the_channels_rate_cap_and_waits_for_room(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    await box.call(delivery_settings.set_rate_cap, fake.guild.id, RateCap(2, 300))
    clock.now = clock().replace(minute=59)
    target = f"discord:{fake.channel.id}"
    instant = await box.subscribe(target=target, guild_id=fake.guild.id)
    hourly = await box.subscribe(target=target, guild_id=fake.guild.id, mode="hourly")
    runner, dispatcher = runner_for(box, clock, client)
    await box.enqueue(hourly, 2)
    for second in (0, 30):  # the cap's two messages in five minutes, at :59:00 and :59:30
        clock.now = clock().replace(second=second)
        await box.enqueue(instant)
        assert await dispatcher.drain() == DrainResult(sent=1)

    clock.now = clock().replace(minute=0) + timedelta(hours=1, seconds=30)
    assert await runner.run_due() == []  # due, but the channel has no room: it waits
    clock.now = clock().replace(minute=3, second=59)
    assert await runner.run_due() == []
    assert len(fake.messages(fake.channel.id)) == 2
    clock.now = clock().replace(minute=4, second=0)  # the first message left the window
    assert await runner.run_due() == [DigestSent(hourly, 2, 1)]
    assert len(fake.messages(fake.channel.id)) == 3

    # The digest took the room the first message left: the next alert waits for the second's.
    await box.enqueue(instant)
    assert await dispatcher.drain() == DrainResult()
    [waiting] = [r for r in await box.rows() if r.status == "pending"]
    assert waiting.next_attempt_at == clock().replace(minute=4, second=30)

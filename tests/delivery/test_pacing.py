"""The paced dispatcher on a real outbox and the fake Discord: batches, rate caps, overflow, quiet hours."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import discord

from bot.delivery.claims import ChannelClaims
from bot.delivery.console import ConsoleSink
from bot.delivery.discord_sink import DiscordSink
from bot.delivery.dispatcher import DrainResult
from bot.delivery.embed import nonce_for
from bot.delivery.pacing import ChannelLimiter, PacedDispatcher
from bot.domain.delivery_schedule import parse_quiet_hours
from bot.storage import delivery_settings, leases, outbox, send_times
from bot.storage.delivery_settings import RateCap
from tests.delivery.harness import Clock
from tests.delivery.kit import Outbox
from tests.fakediscord import FakeDiscord

MESSAGES = r"^/channels/\d+/messages$"


def paced(box: Outbox, clock: Clock, client: discord.Client, **sinks: object) -> PacedDispatcher:
    """Return a paced dispatcher with the Discord sink (and any other sinks given)."""
    all_sinks = {"discord": DiscordSink(client, box.adb, clock=clock), **sinks}
    return PacedDispatcher(box.adb, all_sinks, clock=clock)


def test_the_channel_limiter_counts_a_sliding_window_on_the_clock(clock: Clock) -> None:
    limiter = ChannelLimiter(clock)
    cap = RateCap(3, 10)
    start = clock()
    for _ in range(3):
        assert limiter.wait("discord:1", cap) == 0
        limiter.record("discord:1")
        clock.advance(seconds=2)
    assert clock() == start + timedelta(seconds=6)
    assert limiter.wait("discord:1", cap) == 4.0  # the first message leaves the window at start + 10 s
    assert limiter.wait("discord:2", cap) == 0  # each channel has its own window
    clock.now = start + timedelta(seconds=10)
    assert limiter.wait("discord:1", cap) == 0


async def test_a_full_rate_cap_defers_the_rest_without_counting_an_attempt(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    await box.call(delivery_settings.set_rate_cap, fake.guild.id, RateCap(2, 60))
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    ids = await box.enqueue(sub, 25)
    dispatcher = paced(box, clock, client)

    result = await dispatcher.drain()
    first_two = fake.messages(fake.channel.id)
    assert len(first_two) == 2, "the cap allows two messages a minute"
    sent = sum(len(m["embeds"]) for m in first_two)
    assert result == DrainResult(sent=sent) and 10 < sent <= 20
    assert dispatcher.deferred == 25 - sent
    rows = await box.rows()
    waiting = [r for r in rows if r.status == "pending"]
    assert [r.id for r in waiting] == ids[sent:]
    assert all(r.attempts == 0 and r.next_attempt_at == clock() + timedelta(seconds=60) for r in waiting)

    clock.advance(seconds=59)
    assert await dispatcher.drain() == DrainResult()
    clock.advance(seconds=1)
    assert await dispatcher.drain() == DrainResult(sent=25 - sent)
    messages = fake.messages(fake.channel.id)
    assert len(messages) == 3 and sum(len(m["embeds"]) for m in messages) == 25
    by_message = [m["id"] for m in messages for _ in m["embeds"]]
    assert [r.external_id for r in await box.rows()] == by_message
    assert len(fake.requests("POST", MESSAGES)) == 3


async def test_alerts_over_the_overflow_cap_go_to_the_digest_but_urgent_ones_do_not(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    await box.call(delivery_settings.set_rate_cap, fake.guild.id, RateCap(5, 5, overflow_cap=4))
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    plain = await box.enqueue(sub, 6)
    [ban] = await box.enqueue(sub, 1, action="ban")

    assert await paced(box, clock, client).drain() == DrainResult(sent=5)
    status = {r.id: r.status for r in await box.rows()}
    assert [status[i] for i in plain] == ["sent"] * 4 + ["digest"] * 2
    assert status[ban] == "sent"
    spilled = await box.call(lambda db: db.execute("SELECT id FROM outbox WHERE overflow = 1").fetchall())
    assert [r[0] for r in spilled] == plain[4:]
    [message] = fake.messages(fake.channel.id)
    assert len(message["embeds"]) == 5


async def test_a_batch_discord_refuses_is_retried_alert_by_alert(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    await box.enqueue(sub, 3)
    alerts = await box.pending()
    fake.inject("POST", MESSAGES, 400)

    assert await paced(box, clock, client).drain() == DrainResult(sent=3)
    [refused, *singles] = fake.requests("POST", MESSAGES)
    assert refused.status == 400 and len(refused.json["embeds"]) == 3
    assert [c.json["nonce"] for c in singles] == [nonce_for(a) for a in alerts]
    assert [len(m["embeds"]) for m in fake.messages(fake.channel.id)] == [1, 1, 1]
    assert await box.statuses() == ["sent"] * 3


async def test_a_batch_that_meets_a_server_error_waits_together(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    await box.enqueue(sub, 3)
    fake.inject("POST", MESSAGES, 503)
    dispatcher = paced(box, clock, client)

    assert await dispatcher.drain() == DrainResult(retrying=3)
    rows = await box.rows()
    assert all(r.attempts == 1 and r.next_attempt_at == clock() + timedelta(seconds=5) for r in rows)
    clock.advance(seconds=5)
    assert await dispatcher.drain() == DrainResult(sent=3)
    [message] = fake.messages(fake.channel.id)
    assert len(message["embeds"]) == 3
    assert {r.external_id for r in await box.rows()} == {message["id"]}


async def test_one_message_pings_each_wanted_role_once_and_console_alerts_go_one_by_one(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    analysts, legal = fake.add_role("analysts"), fake.add_role("legal")
    target = f"discord:{fake.channel.id}"
    all_news = await box.subscribe(target=target, guild_id=fake.guild.id, mention_role_id=analysts.id)
    bans_only = await box.subscribe(
        "president", target=target, guild_id=fake.guild.id, mention_role_id=legal.id
    )
    await box.call(delivery_settings.set_mention, bans_only, legal.id, ("ban",))
    console = await box.subscribe()
    await box.enqueue(all_news)
    await box.enqueue(bans_only)
    await box.enqueue(console, 2)
    out = io.StringIO()

    assert await paced(box, clock, client, console=ConsoleSink(out)).drain() == DrainResult(sent=4)
    [message] = fake.messages(fake.channel.id)
    assert len(message["embeds"]) == 2
    assert message["mention_roles"] == [str(analysts.id)]  # no ban: legal's filter keeps it quiet
    assert message["content"] == f"<@&{analysts.id}>"
    assert out.getvalue().count("ALERT [") == 2

    await box.enqueue(all_news)
    await box.enqueue(bans_only, action="ban")
    clock.advance(minutes=1)
    assert await paced(box, clock, client).drain() == DrainResult(sent=2)
    second = fake.messages(fake.channel.id)[1]
    assert second["mention_roles"] == [str(analysts.id), str(legal.id)]
    assert second["content"] == f"<@&{analysts.id}> <@&{legal.id}>"


async def test_quiet_hours_hold_alerts_until_they_end(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    await box.call(delivery_settings.set_quiet_hours, fake.guild.id, "*", parse_quiet_hours("22:00", "07:00"))
    clock.now = clock().replace(hour=23)
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    await box.enqueue(sub, 2)
    [urgent] = await box.enqueue(sub, 1, action="sanction")
    dispatcher = paced(box, clock, client)

    assert await dispatcher.drain() == DrainResult(sent=1)  # the urgent one bypasses quiet hours
    rows = await box.rows()
    morning = (clock() + timedelta(days=1)).replace(hour=7)
    assert [(r.status, r.next_attempt_at) for r in rows if r.id != urgent] == [("pending", morning)] * 2
    clock.now = morning - timedelta(seconds=1)
    assert await dispatcher.drain() == DrainResult()
    clock.now = morning
    assert await dispatcher.drain() == DrainResult(sent=2)
    assert [len(m["embeds"]) for m in fake.messages(fake.channel.id)] == [1, 2]


async def test_a_channels_rate_cap_holds_when_its_lease_moves_to_another_worker(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    fake = discord_at_fake
    await box.call(delivery_settings.set_rate_cap, fake.guild.id, RateCap(2, 60))
    sub = await box.subscribe(target=f"discord:{fake.channel.id}", guild_id=fake.guild.id)
    # Two workers on one database, each delivering only the channels whose lease it holds.
    first, second = paced(box, clock, client), paced(box, clock, client)
    first.claims = ChannelClaims(box.adb, "worker-a", 10, clock=clock)
    second.claims = ChannelClaims(box.adb, "worker-b", 10, clock=clock)
    start = clock()
    for _ in range(2):  # two messages: the cap's two a minute
        await box.enqueue(sub)
        assert await first.drain() == DrainResult(sent=1)
    assert len(fake.messages(fake.channel.id)) == 2

    # The first worker stalls; its lease expires and the second takes the channel over.
    clock.advance(seconds=11)
    await box.enqueue(sub, 3)
    assert await second.drain() == DrainResult()
    assert [lease.owner for lease in await box.call(leases.held, "channel")] == ["worker-b"]
    assert len(fake.messages(fake.channel.id)) == 2, "the new holder counts the old holder's messages"
    waiting = [r for r in await box.rows() if r.status == "pending"]
    assert len(waiting) == 3 and {r.next_attempt_at for r in waiting} == {start + timedelta(seconds=60)}

    clock.now = start + timedelta(seconds=60)
    assert await second.drain() == DrainResult(sent=3)
    assert len(fake.messages(fake.channel.id)) == 3


async def test_a_one_shot_drain_waits_out_a_short_rate_cap_and_not_a_long_one(
    box: Outbox, clock: Clock, discord_at_fake: FakeDiscord, client: discord.Client
) -> None:
    """`run --once` delivers its round's alerts through a cap an earlier process's messages filled."""

    def wall() -> datetime:
        return datetime.now(UTC)

    clock.now = wall()  # the second half runs on the wall clock: one time line for both
    fake = discord_at_fake
    target = f"discord:{fake.channel.id}"
    sub = await box.subscribe(target=target, guild_id=fake.guild.id)
    await box.enqueue(sub, 12)  # two messages of at most 10 embeds

    # A long window: not waited for; the alerts stay pending for the service's next drain.
    await box.call(delivery_settings.set_rate_cap, fake.guild.id, RateCap(1, 600))
    await box.call(send_times.record, target, clock(), forget_before=clock() - timedelta(seconds=600))
    result = await paced(box, clock, client).drain_through_caps(max_wait=5)
    assert result == DrainResult() and result.capped_until == clock() + timedelta(seconds=600)
    assert fake.messages(fake.channel.id) == []

    # A one-second window on the wall clock, full from an earlier process: waited for, twice.
    await box.call(delivery_settings.set_rate_cap, fake.guild.id, RateCap(1, 1))
    await box.call(send_times.record, target, wall(), forget_before=wall() - timedelta(seconds=600))
    await box.call(outbox.defer, [r.id for r in await box.rows()], wall())
    result = await paced(box, wall, client).drain_through_caps(max_wait=30)
    assert result == DrainResult(sent=12) and result.capped_until is None
    messages = fake.messages(fake.channel.id)
    assert [len(m["embeds"]) for m in messages] in ([10, 2], [2, 10])
    assert {r.status for r in await box.rows()} == {"sent"}

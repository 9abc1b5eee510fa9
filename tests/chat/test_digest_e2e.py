"""Digests, bursts and delivery settings end to end: the real discord.py client against the fake Discord."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.chat.running import MESSAGES, Regwatch, regwatch_at, shown
from tests.helpers import rss_item


def news(n: int, title: str | None = None, **kw: Any) -> str:
    """Return a short, fresh RSS item about Kaspersky with a unique link."""
    return rss_item(
        title or f"Kaspersky update number {n}",
        f"https://news.example/k/{n}",
        guid=f"https://news.example/k/{n}",
        published=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5),
        description=kw.pop("description", f"Item {n} about Kaspersky."),
    )


async def pending(app: Regwatch) -> int:
    rows = await app.outbox_rows()
    return sum(1 for r in rows if r[1] != "sent")


async def test_burst_of_300_matches_reaches_discord_in_at_most_30_messages_within_the_cap(
    discord_at_fake, feed_server, tmp_path
):
    async with regwatch_at(discord_at_fake, feed_server, tmp_path) as app:
        fake = app.fake
        await app.prime()
        await app.subscribe("kaspersky")
        app.publish(*(news(n) for n in range(300)))
        [result] = await app.services.scheduler.poll_all()
        assert result.alerts == 300
        per_round = []
        for _ in range(40):
            before = len(fake.requests("POST", MESSAGES))
            await app.services.dispatcher.drain()
            per_round.append(len(fake.requests("POST", MESSAGES)) - before)
            if not await pending(app):
                break
            app.clock.offset += timedelta(seconds=5)  # the cap: 5 messages per 5 s per channel
        messages = fake.messages(fake.channel.id)
        assert len(messages) <= 30 and max(per_round) <= 5, per_round
        urls = [e["url"] for m in messages for e in m["embeds"]]
        assert len(urls) == 300 and len(set(urls)) == 300  # none lost, none twice
        assert all(len(m["embeds"]) <= 10 for m in messages)
        assert {r[1] for r in await app.outbox_rows()} == {"sent"}


async def test_overflow_beyond_the_cap_goes_to_the_next_digest_with_a_note(
    discord_at_fake, feed_server, tmp_path
):
    async with regwatch_at(discord_at_fake, feed_server, tmp_path) as app:
        fake = app.fake
        await app.prime()
        answer = await fake.invoke(
            "settings rate-limit", options={"messages": 5, "seconds": 5, "overflow_cap": 10}
        )
        assert "5 messages per 5 s; beyond 10 waiting alerts" in answer.content
        await app.subscribe("kaspersky")
        app.publish(*(news(n) for n in range(25)))
        _, sent = await app.poll_and_deliver()
        assert sent == 10
        [instant] = fake.messages(fake.channel.id)
        assert len(instant["embeds"]) == 10
        assert await pending(app) == 15

        [digest] = await app.services.digests.runner.run_now()
        assert digest.alerts == 15
        [_, message] = fake.messages(fake.channel.id)
        assert "Digest for subscription" in shown(message["content"])
        assert "15 of these alerts came in faster than this channel's rate cap allows" in shown(
            message["content"]
        )
        assert sum(e["description"].count("• ") for e in message["embeds"]) == 15
        assert await pending(app) == 0


async def test_daily_digest_in_discord_groups_by_vendor_and_action_and_mentions_by_severity(
    discord_at_fake, feed_server, tmp_path
):
    async with regwatch_at(discord_at_fake, feed_server, tmp_path) as app:
        fake = app.fake
        role = fake.add_role("compliance")
        guild = app.bot.get_guild(fake.guild.id)
        assert guild is not None
        await fake.wait_for(lambda: guild.get_role(role.id))
        await app.prime()
        answer = await fake.invoke("settings timezone", options={"name": "Europe/Vilnius"})
        assert "Europe/Vilnius" in answer.content
        sub = await app.subscribe("kaspersky OR huawei")
        answer = await fake.invoke("watch schedule", options={"id": sub, "mode": "daily", "time": "09:00"})
        assert f"Subscription {sub}: daily digest at 09:00 (Europe/Vilnius" in answer.content, answer.content
        listed = await fake.invoke("watch list")
        assert "(daily digest at 09:00)" in listed.content, listed.content
        answer = await fake.invoke("watch mention", options={"id": sub, "role": role, "only": "high"})
        assert f"mentions <@&{role.id}> for high alerts" in answer.content, answer.content

        app.publish(
            news(1, "Kaspersky opens a transparency centre"),
            news(2, "Kaspersky patches its VPN"),
            news(3, "Huawei shows a new phone", description="Huawei news."),
            news(4, "Commerce bans Huawei equipment from federal networks", description="Huawei ban."),
        )
        _, sent = await app.poll_and_deliver()
        assert sent == 1  # the ban: urgent, at once, with the mention (severity high)
        [urgent] = fake.messages(fake.channel.id)
        assert urgent["content"] == f"<@&{role.id}>" and "bans Huawei" in shown(urgent["embeds"][0]["title"])

        [digest] = await app.services.digests.runner.run_now()
        assert digest.alerts == 3 and digest.messages == 1
        [_, message] = fake.messages(fake.channel.id)
        assert shown(message["content"]).startswith(
            f"Daily digest at 09:00 for subscription #{sub}: 3 alerts"
        )
        assert message["mention_roles"] == []  # nothing of high severity waited for the digest
        titles = [shown(e["title"]) for e in message["embeds"]]
        assert sorted(titles) == ["Huawei · other news (1)", "Kaspersky · other news (2)"]
        kaspersky = next(e for e in message["embeds"] if "Kaspersky" in e["title"])
        lines = kaspersky["description"].splitlines()
        assert len(lines) == 2 and "https://news.example/k/" in lines[0]
        [post] = [c for c in fake.requests("POST", MESSAGES) if c.json.get("embeds") == message["embeds"]]
        assert post.json["enforce_nonce"] is True and len(post.json["nonce"]) <= 25
        assert await app.services.digests.runner.run_now() == [] or await pending(app) == 0


async def test_settings_and_schedule_refuse_bad_input_in_plain_words(discord_at_fake, feed_server, tmp_path):
    async with regwatch_at(discord_at_fake, feed_server, tmp_path) as app:
        fake = app.fake
        sub = await app.subscribe("kaspersky")
        answer = await fake.invoke("settings timezone", options={"name": "Mars/Olympus"})
        assert "Unknown time zone 'Mars/Olympus'; use an IANA name such as Europe/Vilnius" in answer.content
        answer = await fake.invoke("watch schedule", options={"id": sub, "mode": "daily", "time": "9am"})
        assert "Time must be HH:MM on a 24-hour clock (e.g. 09:00), not '9am'" in answer.content
        answer = await fake.invoke("watch schedule", options={"id": sub, "mode": "weekly", "time": "09:00"})
        assert "A weekly digest needs a day" in answer.content
        answer = await fake.invoke("watch schedule", options={"id": 9999, "mode": "hourly"})
        assert "This server has no subscription 9999" in answer.content
        answer = await fake.invoke("settings quiet-hours", options={"start": "22:00", "end": "7"})
        assert "End must be HH:MM" in answer.content
        answer = await fake.invoke("settings quiet-hours", options={"start": "22:00", "end": "07:00"})
        assert "Quiet hours for every channel of this server: 22:00-07:00" in answer.content
        answer = await fake.invoke("settings quiet-hours", options={"start": "off"})
        assert "Quiet hours removed" in answer.content
        member = fake.add_member("intern")
        for command, options in (
            ("settings timezone", {"name": "UTC"}),
            ("settings rate-limit", {"messages": 1, "seconds": 1}),
            ("watch schedule", {"id": sub, "mode": "hourly"}),
        ):
            # /settings is hidden from members by default: act as a server that granted it anyway.
            answer = await fake.invoke(
                command, options=options, user_id=member.user.id, permission_override=True
            )
            assert "Manage Server" in answer.content, command


async def test_quiet_hours_in_a_server_hold_alerts_then_post_them_together(
    discord_at_fake, feed_server, tmp_path
):
    async with regwatch_at(discord_at_fake, feed_server, tmp_path) as app:
        fake = app.fake
        await app.prime()
        now = app.clock()
        start, end = (
            (now - timedelta(hours=1)).strftime("%H:%M"),
            (now + timedelta(hours=1)).strftime("%H:%M"),
        )
        answer = await fake.invoke("settings quiet-hours", options={"start": start, "end": end})
        assert f"{start}-{end} (urgent actions still go out), UTC" in answer.content, answer.content
        await app.subscribe("kaspersky")
        app.publish(news(1), news(2), news(3, "Treasury sanctions Kaspersky executives"))
        _, sent = await app.poll_and_deliver()
        assert sent == 1  # the sanction bypasses quiet hours
        app.clock.offset = timedelta(minutes=50)
        assert (await app.services.dispatcher.drain()).sent == 0
        app.clock.offset = timedelta(hours=1, minutes=1)  # quiet hours are over
        assert (await app.services.dispatcher.drain()).sent == 2
        [urgent, together] = fake.messages(fake.channel.id)
        assert "sanctions" in shown(urgent["embeds"][0]["title"])
        assert len(together["embeds"]) == 2

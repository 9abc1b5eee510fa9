"""Admins see what happened and fix it in place: pause announcements and /watch edit."""

from __future__ import annotations

import re

from bot.domain.clock import utcnow
from bot.storage import sources, subscriptions
from bot.storage.sources import SourceConfig
from tests.chat.running import KASPERSKY_LINK, Regwatch, kaspersky_item
from tests.fakediscord import Permission


async def test_a_pause_nobody_could_be_told_about_opens_the_next_command_reply(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    # Made in the channel it posts to, which is also the server's system channel: when regwatch
    # loses Send Messages there, no channel is left to post the notice in.
    sub_id = await app.subscribe("vendor:Kaspersky")
    fake.dms.closed.add(fake.admin.user.id)  # and its admin takes no DMs from server members
    fake.set_overwrite(fake.channel.id, fake.bot_user_id, deny=Permission.SEND_MESSAGES)
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and fake.messages(fake.channel.id) == []

    # The next reply in that server, whatever the command, starts with the news; only once.
    first = await fake.invoke("source list")
    assert first.content.startswith(f"⚠ Subscription {sub_id} is paused: regwatch lacks permission")
    assert f"/watch remove id:{sub_id}" in first.content
    second = await fake.invoke("source list")
    assert "⚠" not in second.content and "is paused" not in second.content


async def test_watch_edit_changes_query_channel_and_pause_in_place(app: Regwatch) -> None:
    fake = app.fake
    alerts = await app.add_alerts_channel()
    await app.prime()
    sub_id = await app.subscribe("vendor:Huawei")

    edited = await fake.invoke(
        "watch edit", options={"id": sub_id, "query": "vendor:Kaspersky", "channel": alerts, "paused": True}
    )
    assert edited.content.startswith(
        f"Subscription {sub_id} now watches `vendor:Kaspersky` in <#{alerts.id}>"
    )
    assert "**paused**" in edited.content
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and fake.messages(alerts.id) == []  # held while paused

    resumed = await fake.invoke("watch edit", options={"id": sub_id, "paused": False})
    assert "paused" not in resumed.content
    assert (await app.services.dispatcher.drain()).sent == 1
    [message] = fake.messages(alerts.id)
    assert message["embeds"][0]["url"] == KASPERSKY_LINK
    assert fake.messages(fake.channel.id) == []
    listed = await fake.invoke("watch list")
    assert f"`{sub_id}` <#{alerts.id}> `vendor:Kaspersky`" in listed.content

    nothing = await fake.invoke("watch edit", options={"id": sub_id})
    assert nothing.content.startswith("Nothing to change")
    missing = await fake.invoke("watch edit", options={"id": sub_id + 100, "paused": True})
    assert "no subscription with id" in missing.content
    refused = await fake.invoke(
        "watch edit", options={"id": sub_id, "paused": True}, user_id=fake.member.user.id
    )
    assert "Manage Server" in refused.content


async def test_long_lists_page_instead_of_being_cut(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    queries = [
        f'vendor:Huawei AND "long phrase number {n} about export controls and prohibitions"'
        for n in range(50)
    ]
    for query in queries:
        await app.services.adb.call(
            subscriptions.add,
            query,
            f"discord:{fake.channel.id}",
            utcnow(),
            guild_id=fake.guild.id,
            origin="discord",
        )
    first = await fake.invoke("watch list")
    found = re.search(r"Page 1 of (\d+) \(50 in all\); `/watch list page:2` shows the next\.$", first.content)
    assert found, first.content[-200:]
    total = int(found.group(1))
    assert total > 1
    seen: list[str] = []
    for page in range(1, total + 1):
        result = await fake.invoke("watch list", options={"page": page})
        assert len(result.content) <= 2000 and not result.content.rstrip(".").endswith("…")
        seen += re.findall(r"long phrase number (\d+) ", result.content)
    assert sorted(int(n) for n in seen) == list(range(50))  # every subscription, once
    last = await fake.invoke("watch list", options={"page": total})
    assert last.content.endswith(f"Page {total} of {total} (50 in all).")

    status = await fake.invoke("source status")
    assert status.content.startswith("1 sources, 0 failing.") and "Page" not in status.content
    # Times as Discord timestamps: each reader sees their own time zone, and "… ago".
    [source] = await app.services.adb.call(sources.list_sources)
    assert source.last_ok_at is not None
    stamp = int(source.last_ok_at.timestamp())
    assert f"ok, last checked <t:{stamp}:f> (<t:{stamp}:R>)" in status.content


async def test_source_remove_and_alerts_why_suggest_this_servers_own(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.subscribe("vendor:Kaspersky")
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 1
    choices = await fake.autocomplete("alerts why", None, "link", "kasp")
    assert [c["value"] for c in choices] == [KASPERSKY_LINK]
    assert await fake.autocomplete("alerts why", None, "link", "nothing-like-this") == []

    # Sources of this server and of another one (stored only: nothing polls them here).
    other = fake.world.add_guild()
    for guild_id, name in ((fake.guild.id, "Our agency feed"), (other.id, "Their feed")):
        config = SourceConfig(name, f"https://example.org/{guild_id}.xml", "feed", None)
        await app.services.adb.call(sources.add_for_guild, config, utcnow(), guild_id)
    choices = await fake.autocomplete("source remove", None, "id", "")
    assert [c["name"].split(": ", 1)[1] for c in choices] == ["Our agency feed"]  # not the catalog's


async def test_watch_edit_sets_the_schedule_with_the_checks_of_subs_edit(app: Regwatch) -> None:
    fake = app.fake
    sub_id = await app.subscribe("vendor:Huawei")
    edited = await fake.invoke("watch edit", options={"id": sub_id, "schedule": "weekly 09:30 mon"})
    assert edited.content == (
        f"Subscription {sub_id} now watches `vendor:Huawei` in <#{fake.channel.id}>."
        " Delivery: weekly digest on Mon at 09:30."
    )
    listed = await fake.invoke("watch list")
    assert "(weekly digest on Mon at 09:30)" in listed.content
    bad = await fake.invoke("watch edit", options={"id": sub_id, "schedule": "daily"})
    assert bad.content == "A daily digest needs a time, HH:MM (e.g. 09:00)."
    nothing = await fake.invoke("watch edit", options={"id": sub_id})
    assert nothing.content == "Nothing to change: give a query, a channel, a schedule, or paused true/false."

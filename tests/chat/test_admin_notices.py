"""Admins see what happened and fix it in place: pause announcements and /watch edit."""

from __future__ import annotations

from tests.chat.running import KASPERSKY_LINK, Regwatch, kaspersky_item
from tests.fakediscord import Permission


async def test_a_pause_nobody_could_be_told_about_opens_the_next_command_reply(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    # Made in the channel it posts to, which is also the server's system channel: when regwatch
    # loses Send Messages there, no channel is left to post the notice in.
    sub_id = await app.subscribe("vendor:Kaspersky")
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

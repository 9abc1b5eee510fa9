"""A subscription paused because regwatch lost a permission is announced to the admin who made it, by DM.

Once per pause, not once per alert; when the DM is refused, the next command reply in that server
says it instead (tests/chat/test_admin_notices.py covers that fallback with DMs closed).
"""

from __future__ import annotations

from datetime import timedelta

from bot.storage import subscriptions
from tests.chat.running import Regwatch, kaspersky_item
from tests.fakediscord import Permission


async def test_the_admin_who_made_it_gets_one_dm_and_the_next_reply_stays_clean(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    sub_id = await app.subscribe("vendor:Kaspersky", user_id=fake.admin.user.id)
    fake.set_overwrite(fake.channel.id, fake.bot_user_id, deny=Permission.SEND_MESSAGES)
    app.publish(kaspersky_item())
    _, sent = await app.poll_and_deliver()
    assert sent == 0 and fake.messages(fake.channel.id) == []

    # One DM channel opened with the admin, one message posted in it, through the REST API.
    [opened] = fake.requests("POST", r"^/users/@me/channels$")
    assert opened.json == {"recipient_id": fake.admin.user.id} and opened.status == 200
    [dm] = fake.dms.messages_to(fake.admin.user.id)
    assert dm["author"]["id"] == str(fake.bot_user_id)
    text = dm["content"]
    assert f"paused subscription {sub_id} (`vendor:Kaspersky`) in the server **" in text
    assert f"cannot post to <#{fake.channel.id}> because regwatch lacks permission" in text
    assert f"/watch remove id:{sub_id}" in text and "you created the subscription" in text
    assert dm["mentions"] == [] and not dm["mention_everyone"]
    [sub] = await app.services.adb.call(subscriptions.list_subscriptions)
    assert sub.paused

    # Told already: the next command reply does not repeat it.
    listed = await fake.invoke("source list")
    assert "⚠" not in listed.content and "is paused" not in listed.content

    # More alerts while paused, and a retry after the pause that fails again: still one DM.
    app.publish(kaspersky_item("Kaspersky added to the Entity List", "https://www.bis.gov/kaspersky-2"))
    await app.poll_and_deliver()
    refused = len(fake.requests("POST", rf"^/channels/{fake.channel.id}/messages$"))
    app.clock.offset += timedelta(hours=2)
    await app.services.dispatcher.drain()
    retried = fake.requests("POST", rf"^/channels/{fake.channel.id}/messages$")[refused:]
    assert retried and {c.status for c in retried} == {403}  # delivery was retried, and refused again
    assert len(fake.dms.messages_to(fake.admin.user.id)) == 1
    assert len(fake.requests("POST", r"^/users/@me/channels$")) == 1


async def test_a_subscription_made_without_discord_has_nobody_to_dm(app: Regwatch) -> None:
    fake = app.fake
    await app.prime()
    await app.services.adb.call(
        subscriptions.add,
        "vendor:Kaspersky",
        f"discord:{fake.channel.id}",
        app.clock(),
        guild_id=fake.guild.id,
        created_by="cli",
        origin="cli",
    )
    fake.set_overwrite(fake.channel.id, fake.bot_user_id, deny=Permission.SEND_MESSAGES)
    app.publish(kaspersky_item())
    await app.poll_and_deliver()
    assert fake.requests("POST", r"^/users/@me/channels$") == []
    first = await fake.invoke("source list")
    assert first.content.startswith("⚠ Subscription")
